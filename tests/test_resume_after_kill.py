"""A lost worker holds no run for long: every activity heartbeats, so one lost with
its worker is retried after its heartbeat timeout, not its start-to-close timeout.
The case here is a model call lost while it runs its reply's file write."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import start_run, stop_process, worker_process

WAIT = 60  # seconds


def _e2e_first_turn(req: ChatRequest) -> bool:
    return "end-to-end" in req.system_prompt.lower() and req.turn == 0


async def test_a_file_write_lost_with_its_worker_is_retried_after_its_heartbeat_timeout(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    # The e2e specialist writes to /memories/ (PostgreSQL) first; the test holds
    # the table, so the model activity running the write is blocked when its worker dies.
    llm.add_rule(
        _e2e_first_turn, Reply.tool_calls([("write_file", {"file_path": "/memories/notes.md", "content": "kept"})])
    )
    first = worker_process(settings)
    second = None
    async with pool.acquire() as conn:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("LOCK TABLE memories IN EXCLUSIVE MODE")
        try:
            handle = await start_run(client, settings, chain=["test-model"])
            child = client.get_workflow_handle(f"{handle.id}/e2e_test_specialist-1")

            async def writing() -> bool:
                # The model answered, and a write waits on the locked table: the model
                # activity stored the answer and is running the reply's file call.
                if not any(_e2e_first_turn(r.request) and r.completed for r in llm.requests):
                    return False
                waiting = await pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                return waiting > 0

            for _ in range(WAIT * 10):
                if await writing():
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the specialist's first model call never got to its write")
            stop_process(first)  # SIGKILL, the write blocked on the table
            second = worker_process(settings)
        finally:
            await lock.rollback()
        try:
            result: AgentResult = await handle.result()
        finally:
            stop_process(second)
    assert len(result.children) == 3

    # What Temporal recorded for the write: a second attempt of its model
    # call, after the first one's heartbeat timed out (not its start-to-close timeout).
    history = await child.fetch_history()
    retried = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt > 1
    ]
    assert len(retried) == 1, "only the lost model call was retried"
    lost = retried[0].last_failure.timeout_failure_info
    assert lost.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    # Its answer was kept: the model was asked once for that turn.
    assert sum(1 for r in llm.requests if _e2e_first_turn(r.request)) == 1
    # The workflow task after the retried write went to the new worker at once,
    # not first to the dead worker's sticky queue to time out there
    # (activities/sticky_reset.py).
    sticky_timeouts = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        and e.workflow_task_timed_out_event_attributes.timeout_type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    ]
    assert sticky_timeouts == [], "a workflow task waited for the dead worker's sticky queue"
