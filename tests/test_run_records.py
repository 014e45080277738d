"""PostgreSQL bookkeeping of real runs: status lifecycle, decision timeline, artifact index, memories."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from minio import Minio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from deepagents_temporal import pgstore
from deepagents_temporal.pgstore import DecisionKind, RunStatus
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import model_results, start_run
from worker import build_worker


def is_supervisor(req: ChatRequest) -> bool:
    return "task" in req.tool_names


async def test_qa_run_records_lifecycle_timeline_and_artifacts(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()

    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status is RunStatus.COMPLETED
    assert run.parent_run_id is None and run.profile == "qa" and run.agent == "qa_orchestrator"
    assert run.completed_at is not None and run.created_at <= run.completed_at
    assert run.models_used == ["test-model"]
    assert run.total_tokens == result.usage.total_tokens > 0

    children = await pgstore.list_runs(pool, parent_run_id=handle.id)
    assert sorted(c.run_id for c in children) == sorted(result.children)
    assert all(c.status is RunStatus.COMPLETED for c in children)

    # The supervisor's timeline: plan, delegate three ways, close todos, answer.
    timeline = await pgstore.list_decisions(pool, handle.id)
    assert [d.seq for d in timeline] == list(range(len(timeline)))
    model_calls = [d for d in timeline if d.kind is DecisionKind.MODEL_CALL]
    assert [d.step for d in model_calls] == [1, 2, 3, 4]
    assert [[c["name"] for c in d.tool_calls or []] for d in model_calls] == [
        ["write_todos"],
        ["write_todos", "task", "task", "task"],
        ["write_todos"],
        [],
    ]
    assert all(d.model == "test-model" and d.attempt == 1 and d.total_tokens for d in model_calls)
    routing = [d.payload["subagent_type"] for d in timeline if d.kind is DecisionKind.ROUTING]
    assert routing == ["e2e_test_specialist", "integration_test_specialist", "functional_test_specialist"]
    tool_results = [d for d in timeline if d.kind is DecisionKind.TOOL_RESULT]
    assert len(tool_results) == 1 + 4 + 1  # one per tool call

    # The artifact index is exactly the run's deliverables, files and log in the bucket.
    indexed = {a.key: (a.size, a.sha256) for a in await pgstore.list_artifacts(pool, handle.id)}
    s3 = s3_client(settings)
    in_bucket = {}
    for prefix in (f"runs/{handle.id}/files/", f"reports/{handle.id}/"):
        for obj in s3.list_objects(settings.s3_bucket, prefix=prefix, recursive=True):
            in_bucket[obj.object_name] = obj.size
    in_bucket[f"logs/{handle.id}/run.log"] = s3.stat_object(settings.s3_bucket, f"logs/{handle.id}/run.log").size
    assert {key: size for key, (size, _sha) in indexed.items()} == in_bucket
    assert f"reports/{handle.id}/final_answer.md" in indexed
    assert len([k for k in indexed if k.startswith(f"runs/{handle.id}/files/scenarios/")]) == 3


async def test_failed_run_ends_failed_with_its_reason(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.unknown_model("gpt-missing")
    handle = await start_run(client, settings, chain=["gpt-missing"])
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status is RunStatus.FAILED
    assert run.error and "all models failed" in run.error and "gpt-missing" in run.error
    assert run.completed_at is not None


async def test_cancelled_run_ends_cancelled(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.add_rule(lambda r: is_supervisor(r) and r.turn == 1, Reply.hold(30))
    handle = await start_run(client, settings)
    await asyncio.to_thread(llm.wait_for, lambda rec: is_supervisor(rec.request) and rec.request.turn == 1, 30)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status.name == "CANCELED"  # Temporal's spelling
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status is RunStatus.CANCELLED and run.error == "cancelled"
    # The first step's decisions were kept.
    assert [d.kind for d in await pgstore.list_decisions(pool, handle.id)][:2] == [
        DecisionKind.MODEL_CALL,
        DecisionKind.TOOL_RESULT,
    ]


class _FailRecordOnceAfterWriting(Interceptor):
    """Lets every `record` activity write, then fails its first attempt: an injected retry."""

    def __init__(self) -> None:
        self.injected = 0

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        outer = self

        class _Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> object:
                result = await super().execute_activity(input)
                info = activity.info()
                if info.activity_type == "record" and info.attempt == 1:
                    outer.injected += 1
                    raise RuntimeError("injected failure after the database write")
                return result

        return _Inbound(next)


async def test_record_retried_after_its_write_duplicates_nothing(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    injector = _FailRecordOnceAfterWriting()
    async with await build_worker(client, settings, pool, interceptors=[injector]):
        handle = await start_run(client, settings)
        result: AgentResult = await handle.result()
    assert injector.injected > 0

    history = await handle.fetch_history()
    model_calls = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "call_model"
    )
    timeline = await pgstore.list_decisions(pool, handle.id)
    assert sum(1 for d in timeline if d.kind is DecisionKind.MODEL_CALL) == model_calls == result.steps
    asked = sum(len(call.message.tool_calls) for call in await model_results(client, handle))
    assert sum(1 for d in timeline if d.kind is DecisionKind.TOOL_RESULT) == asked
    assert [d.seq for d in timeline] == list(range(len(timeline)))  # nothing lost in between
    # The artifact index is what the bucket holds for the run: every file the
    # agents wrote, the deliverable and the log, with their sizes.
    s3: Minio = s3_client(settings)
    in_bucket = {
        o.object_name: o.size
        for prefix in (f"runs/{handle.id}/files/", f"reports/{handle.id}/")
        for o in s3.list_objects(settings.s3_bucket, prefix=prefix, recursive=True)
    }
    in_bucket[f"logs/{handle.id}/run.log"] = s3.stat_object(settings.s3_bucket, f"logs/{handle.id}/run.log").size
    indexed = {a.key: a.size for a in await pgstore.list_artifacts(pool, handle.id)}
    assert indexed == in_bucket
    assert any(key.startswith(f"runs/{handle.id}/files/") for key in indexed)
    assert (await pgstore.get_run(pool, handle.id)).status is RunStatus.COMPLETED
    rows = await pool.fetchval("SELECT count(*) FROM runs WHERE run_id = $1 OR parent_run_id = $1", handle.id)
    assert rows == 1 + len(result.children)


def _memory_write(path: str, content: str) -> Reply:
    return Reply.tool_calls([("write_file", {"file_path": path, "content": content})])


async def test_memories_written_in_one_run_are_read_in_the_next(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    note = "The search team prefers Playwright for E2E tests."
    llm.add_rule(lambda r: is_supervisor(r) and r.turn == 0, _memory_write("/memories/preferences.md", note), times=1)
    first = await start_run(client, settings, user_id=user)
    await first.result()

    llm.clear()
    llm.add_rule(
        lambda r: is_supervisor(r) and r.turn == 0,
        Reply.tool_calls([("read_file", {"file_path": "/memories/preferences.md"})]),
        times=1,
    )
    second = await start_run(client, settings, user_id=user)
    await second.result()
    seen = [m["content"] for r in llm.requests for m in r.request.messages if m.get("role") == "tool"]
    assert any(note in content for content in seen), seen
    # Not in the run's S3 prefix: memories live in PostgreSQL.
    s3: Minio = s3_client(settings)
    assert not list(s3.list_objects(settings.s3_bucket, prefix=f"runs/{first.id}/files/memories", recursive=True))

    # Another user does not see them.
    llm.clear()
    llm.add_rule(
        lambda r: is_supervisor(r) and r.turn == 0,
        Reply.tool_calls([("read_file", {"file_path": "/memories/preferences.md"})]),
        times=1,
    )
    other = await start_run(client, settings, user_id=f"{user}-other")
    await other.result()
    seen_other = [m["content"] for r in llm.requests for m in r.request.messages if m.get("role") == "tool"]
    assert not any(note in content for content in seen_other)
    assert any("not found" in content.lower() for content in seen_other), seen_other
    # The memory is a PostgreSQL row in the first user's namespace only.
    namespaces = await pool.fetch("SELECT namespace FROM memories WHERE value::text LIKE '%' || $1 || '%'", note)
    assert len(namespaces) == 1 and user in namespaces[0]["namespace"]
