"""A model answer is paid for once: failures after the answer arrived never make a retry ask again.

Each test runs its own Temporal and S3 servers (the session's PostgreSQL) so it
can stop one of them while the model is answering, then loses the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle

from deepagents_temporal.devstack import DevStack, start_dev_stack
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import connect, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import calls_made_twice, model_results, start_run, stop_process, unique_request, worker_process

WAIT = 60  # seconds any one step of these tests may take


@pytest.fixture
async def own_stack() -> AsyncIterator[DevStack]:
    started = await start_dev_stack(ephemeral=True, postgres=False)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
def own_settings(own_stack: DevStack, settings: Settings) -> Settings:
    """The test's settings (scripted model, session PostgreSQL) on this test's own Temporal and S3."""
    return settings.model_copy(
        update={
            "temporal_address": own_stack.temporal_address,
            "s3_endpoint": own_stack.s3_endpoint,
            "s3_access_key": SecretStr(own_stack.s3_access_key),
            "s3_secret_key": SecretStr(own_stack.s3_secret_key),
        }
    )


def _is_synthesis_call(req: ChatRequest) -> bool:
    # The supervisor's last call: after planning, delegating and closing the todos.
    return "task" in req.tool_names and req.turn == 3


async def _answer_delivered(llm: ScriptedLLM) -> None:
    """Wait until the held synthesis call was answered, in full, to a connected client."""
    record = await asyncio.to_thread(
        llm.wait_for, lambda r: _is_synthesis_call(r.request) and r.finished is not None, WAIT
    )
    assert record.completed, "the model's answer did not reach the worker"


async def _until(condition, what: str) -> None:  # noqa: ANN001 - an async predicate
    for _ in range(WAIT * 10):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {WAIT} s: {what}")


async def _finish_with_another_worker(handle: WorkflowHandle, own_settings: Settings) -> AgentResult:
    second = worker_process(own_settings)
    try:
        return await handle.result()
    finally:
        stop_process(second)


async def _assert_paid_once(
    client: Client, handle: WorkflowHandle, llm: ScriptedLLM, result: AgentResult, request: str
) -> None:
    assert result.answer.strip() and len(result.children) == 3
    assert any(r.request.first_user_text == request for r in llm.requests), "the run's calls are in the log"
    twice = [(r.seq, r.request.system_prompt[:40], r.request.turn) for r in calls_made_twice(llm.requests, request)]
    assert not twice, f"a completed model call was made twice: {twice}"
    last = (await model_results(client, handle))[-1]
    assert (last.attempt, last.returned_on_attempt) == (1, 2), "the second attempt returns the first one's answer"


async def test_s3_down_after_the_answer_and_the_worker_lost(
    own_stack: DevStack, own_settings: Settings, llm: ScriptedLLM
) -> None:
    """The answer waits in the heartbeat details while S3 is down; the next worker returns it."""
    client = await connect(own_settings)
    llm.add_rule(_is_synthesis_call, Reply.hold(2), times=1)
    first = worker_process(own_settings)
    try:
        request = unique_request()
        handle = await start_run(client, own_settings, request, chain=["test-model"])
        await asyncio.to_thread(llm.wait_for, lambda r: _is_synthesis_call(r.request) and r.in_flight, WAIT)
        async with own_stack.stopped("s3"):
            await _answer_delivered(llm)

            async def answer_in_heartbeat() -> bool:
                pending = (await handle.describe()).raw_description.pending_activities
                for activity in pending:
                    if activity.activity_type.name == "call_model" and activity.heartbeat_details.payloads:
                        details = await client.data_converter.decode(activity.heartbeat_details.payloads)
                        return bool(details and details[0].get("answer"))
                return False

            await _until(answer_in_heartbeat, "the answer in the model call's heartbeat details")
            stop_process(first)  # SIGKILL, while it waits for S3
        result = await _finish_with_another_worker(handle, own_settings)
    finally:
        stop_process(first)
    await _assert_paid_once(client, handle, llm, result, request)


async def test_temporal_down_after_the_answer_and_the_worker_lost(
    own_stack: DevStack, own_settings: Settings, llm: ScriptedLLM
) -> None:
    """The answer is in the bucket by step before the attempt reports it; the next worker returns it."""
    client = await connect(own_settings)
    llm.add_rule(_is_synthesis_call, Reply.hold(2), times=1)
    first = worker_process(own_settings)
    try:
        request = unique_request()
        handle = await start_run(client, own_settings, request, chain=["test-model"])
        await asyncio.to_thread(llm.wait_for, lambda r: _is_synthesis_call(r.request) and r.in_flight, WAIT)
        s3 = s3_client(own_settings)
        prefix = f"runs/{handle.id}/answers/"

        def kept_answers() -> set[str]:
            return {o.object_name for o in s3.list_objects(own_settings.s3_bucket, prefix=prefix, recursive=True)}

        # Every model call keeps its answer there: wait for the synthesis call's, not an earlier step's.
        earlier = kept_answers()
        async with own_stack.stopped("temporal"):
            await _answer_delivered(llm)

            async def answer_in_bucket() -> bool:
                return bool(kept_answers() - earlier)

            await _until(answer_in_bucket, "the synthesis call's answer under runs/<run id>/answers/")
            stop_process(first)  # SIGKILL, before it could report the result
        result = await _finish_with_another_worker(handle, own_settings)
    finally:
        stop_process(first)
    await _assert_paid_once(client, handle, llm, result, request)
