"""Small helpers the tests share: starting runs and reading their histories."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from deepagents_temporal.failures import failure_messages
from deepagents_temporal.schema import AgentInput, AgentResult, ModelCallResult
from deepagents_temporal.settings import Settings

QA_REQUEST = "Generate test scenarios for e-commerce search feature"


async def start_run(
    client: Client, settings: Settings, request: str = QA_REQUEST, *, chain: list[str] | None = None, **fields: object
) -> WorkflowHandle:
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        "AgentWorkflow",
        AgentInput(request=request, model_chain=chain or settings.model_chain, **fields),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
    )


async def model_results(client: Client, handle: WorkflowHandle) -> list[ModelCallResult]:
    """Every completed call_model result in the workflow's history, in order."""
    history = await handle.fetch_history()
    model_calls = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "call_model"
    }
    results = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads = event.activity_task_completed_event_attributes.result.payloads
            if event.activity_task_completed_event_attributes.scheduled_event_id not in model_calls:
                continue
            # decode() also fetches payloads that ExternalStorage moved to S3.
            results.append((await client.data_converter.decode(payloads, [ModelCallResult]))[0])
    return results


def failure_message(err: BaseException) -> str:
    """All messages down the failure's cause chain, joined."""
    return " | ".join(failure_messages(err))
