"""Worker roles against the dev server: each role polls the queues it should and no
others, and a run completes with the roles in separate `python worker.py --role`
processes, its model calls on the model queue and the rest on the main one."""

from __future__ import annotations

import asyncio
import re
import uuid

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.helpers import start_run, stop_process, worker_output, worker_process
from worker import ROLES, build_worker

WORKFLOW, ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
IO_ACTIVITIES = {
    "file_tool",
    "save_deliverable",
    "write_log_part",
    "compose_run_log",
    "record",
    "resolve_profile",
    "routing_options",
    "list_mcp_tools",
    "mcp_tool",
    "run_graph",
    "report_load_template",
    "report_validate_data",
    "report_compute_figures",
    "report_write_xlsx",
    "report_write_summary",
    "fetch_url",
    "search_documents",
    "document_split",
    "document_section_prompt",
    "document_section_notes",
    "document_write_outputs",
    "onboarding_load_checklist",
    "onboarding_read_documents",
    "onboarding_check_fields",
    "onboarding_write_outputs",
}


async def _pollers(client: Client, queue: str, kind: TaskQueueType) -> int:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
        )
    )
    return len(response.pollers)


def _registered(workers: object) -> dict[str, set[str]]:
    """Task queue -> what the role's workers registered there (activity names, "workflows")."""
    found: dict[str, set[str]] = {}
    for each in workers.workers:  # type: ignore[attr-defined]
        config = each.config()
        names = {getattr(a, "__temporal_activity_definition").name for a in config.get("activities") or []}
        if config.get("workflows"):
            names.add("workflows")
        found[each.task_queue] = names
    return found


# What each role registers: on the main queue, on the model queue.
EXPECTED = {
    "all": ({"workflows", "call_model", *IO_ACTIVITIES}, {"call_model"}),
    "workflows": ({"workflows"}, None),
    "models": (None, {"call_model"}),
    # call_model on the main queue serves runs started before the model queue existed.
    "io": ({"call_model", *IO_ACTIVITIES}, None),
}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_polls_its_queues_and_no_others(
    client: Client, settings: Settings, pool: asyncpg.Pool, role: str
) -> None:
    own = settings.model_copy(update={"temporal_task_queue": f"roles-{role}-{uuid.uuid4().hex[:8]}"})
    main, models = own.temporal_task_queue, own.model_task_queue
    assert models == f"{main}-models"
    workers = await build_worker(client, own, pool, role=role)
    want_main, want_models = EXPECTED[role]
    registered = _registered(workers)
    assert registered.get(main) == want_main
    assert registered.get(models) == want_models

    expected = {
        (main, WORKFLOW): want_main is not None and "workflows" in want_main,
        (main, ACTIVITY): want_main is not None and bool(want_main - {"workflows"}),
        (models, ACTIVITY): want_models is not None,
        (models, WORKFLOW): False,
    }
    async with workers:
        # The server lists a poller once its poll arrives.
        for (queue, kind), polled in expected.items():
            if polled:
                async with asyncio.timeout(30):
                    while not await _pollers(client, queue, kind):
                        await asyncio.sleep(0.2)
        seen = {key: bool(await _pollers(client, *key)) for key in expected}
    assert seen == expected


async def test_a_run_completes_with_each_role_in_its_own_process(
    client: Client, settings: Settings, llm: ScriptedLLM
) -> None:
    # Model settings only where model calls are made: the other roles get none.
    no_model = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "http://127.0.0.1:9/unused"}
    processes = [
        worker_process(settings, DEEPAGENT_WORKER_ROLE="workflows", **no_model),
        worker_process(settings, DEEPAGENT_WORKER_ROLE="io", **no_model),
    ]
    try:
        handle = await start_run(client, settings)
        # Without a models worker the first model call waits on the model queue, unstarted.
        async with asyncio.timeout(60):
            while True:
                pending = (await handle.describe()).raw_description.pending_activities
                calls = [p for p in pending if p.activity_type.name == "call_model"]
                if calls:
                    break
                await asyncio.sleep(0.2)
        assert calls[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        assert not llm.requests

        processes.append(worker_process(settings, DEEPAGENT_WORKER_ROLE="models"))
        result: AgentResult = await handle.result()
    finally:
        for process in processes:
            stop_process(process)
    assert result.answer.strip() and len(result.children) == 3

    outputs = [worker_output(p) for p in processes]
    main, models = settings.temporal_task_queue, settings.model_task_queue
    assert f"worker (workflows) polling task queue {main!r} (workflows)" in outputs[0], outputs[0]
    assert f"worker (io) polling task queue {main!r} (file, log and PostgreSQL activities" in outputs[1], outputs[1]
    assert f"worker (models) polling task queue {models!r} (model calls, 20 at once)" in outputs[2], outputs[2]
    # Each says how long it took to start, by phase.
    seconds = r"\d+\.\d\d s"
    phases = rf"interpreter and imports {seconds}, connections {seconds}, workers built {seconds}"
    start_up = rf"^worker start-up {seconds}: {phases}$"
    assert all(re.search(start_up, output, re.MULTILINE) for output in outputs), outputs

    # Every model call of the run and its sub-agents went to the model queue, the rest to the main one.
    queues: dict[str, set[str]] = {}
    for workflow_id in [handle.id, *result.children]:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled = event.activity_task_scheduled_event_attributes
                queues.setdefault(scheduled.activity_type.name, set()).add(scheduled.task_queue.name)
    assert queues.pop("call_model") == {models}
    assert queues and set().union(*queues.values()) == {main}
