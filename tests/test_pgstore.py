"""The PostgreSQL store's run bookkeeping: migrations, idempotent upserts, indexes.

Runs against the dev stack's PostgreSQL, in databases created for this module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from deepagents_temporal.devstack import DevStack
from deepagents_temporal.pgstore import (
    ArtifactRecord,
    DecisionKind,
    DecisionRecord,
    RunRecord,
    RunStatus,
    create_pool,
    get_run,
    list_artifacts,
    list_decisions,
    list_runs,
    list_runs_query,
    migrate,
    migration_files,
    record_artifact,
    record_decision,
    upsert_run,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NewDatabase = Callable[[], Awaitable[str]]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
async def new_database(stack: DevStack) -> AsyncIterator[NewDatabase]:
    """Creates empty databases on demand; drops them when the module is done."""
    admin = await asyncpg.connect(stack.database_url)
    created: list[str] = []

    async def create() -> str:
        name = f"test_pgstore_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(stack.database_url, name)

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def pool(new_database: NewDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await new_database())
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


def _run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def _sha(char: str) -> str:
    return char * 64


# --------------------------------------------------------------------------- migrations


async def test_migrations_applied_twice_is_a_no_op(new_database: NewDatabase) -> None:
    dsn = await new_database()
    versions = [version for version, _sql in migration_files()]
    # In order of their number, each once, starting with the base schema.
    assert versions == sorted(set(versions)) and versions[0] == "0001_runs"

    assert await migrate(dsn) == versions
    assert await migrate(dsn) == []

    conn = await asyncpg.connect(dsn)
    try:
        assert [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")] == versions
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {"runs", "decisions", "artifacts", "memories", "schema_migrations"} <= tables
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_migration_once(new_database: NewDatabase) -> None:
    dsn = await new_database()
    results = await asyncio.gather(*(migrate(dsn) for _ in range(4)))
    versions = [version for version, _sql in migration_files()]
    # The advisory lock queues them: one applies everything, the others find nothing to do.
    assert sorted(results, key=len) == [[], [], [], versions]


# --------------------------------------------------------------------------- runs


async def test_run_status_moves_forward_and_never_back(pool: asyncpg.Pool) -> None:
    run_id = _run_id()
    started = RunRecord(
        run_id=run_id,
        workflow_name="AgentWorkflow",
        profile="qa",
        agent="supervisor",
        request="test the login page",
        created_at=T0,
        updated_at=T0,
    )
    assert await upsert_run(pool, started)
    run = await get_run(pool, run_id)
    assert run is not None
    assert (run.status, run.created_at, run.completed_at, run.total_tokens) == (RunStatus.STARTED, T0, None, 0)

    # A progress update carries only what changed; the rest is kept.
    progress = RunRecord(
        run_id=run_id,
        workflow_name="AgentWorkflow",
        status=RunStatus.IN_PROGRESS,
        models_used=["gpt-a"],
        input_tokens=100,
        output_tokens=20,
        updated_at=T0 + timedelta(seconds=5),
    )
    assert await upsert_run(pool, progress)
    run = await get_run(pool, run_id)
    assert run is not None
    assert run.status is RunStatus.IN_PROGRESS
    assert (run.profile, run.agent, run.request) == ("qa", "supervisor", "test the login page")
    assert (run.input_tokens, run.output_tokens, run.total_tokens, run.models_used) == (100, 20, 120, ["gpt-a"])
    assert run.created_at == T0

    done_at = T0 + timedelta(seconds=30)
    completed = progress.model_copy(
        update={
            "status": RunStatus.COMPLETED,
            "models_used": ["gpt-a", "gpt-b"],
            "input_tokens": 300,
            "output_tokens": 50,
            "updated_at": done_at,
        }
    )
    assert await upsert_run(pool, completed)
    # Retrying the same final write is harmless.
    assert await upsert_run(pool, completed)
    final = await get_run(pool, run_id)
    assert final is not None
    assert (final.status, final.completed_at, final.total_tokens) == (RunStatus.COMPLETED, done_at, 350)
    assert final.models_used == ["gpt-a", "gpt-b"]

    # Late writes (a retried progress activity, a stray STARTED, another final
    # status) do not regress it, whatever their event time.
    for late in (
        progress,
        progress.model_copy(update={"updated_at": done_at + timedelta(minutes=1)}),
        started,
        completed.model_copy(
            update={"status": RunStatus.FAILED, "error": "boom", "updated_at": done_at + timedelta(1)}
        ),
    ):
        assert not await upsert_run(pool, late)
    assert await get_run(pool, run_id) == final


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.CANCELLED])
async def test_failed_and_cancelled_runs_keep_their_error(pool: asyncpg.Pool, status: RunStatus) -> None:
    run_id = _run_id()
    await upsert_run(pool, RunRecord(run_id=run_id, workflow_name="ReportingWorkflow", created_at=T0, updated_at=T0))
    ended_at = T0 + timedelta(seconds=3)
    ended = RunRecord(
        run_id=run_id,
        workflow_name="ReportingWorkflow",
        status=status,
        error=f"{status.value.lower()}: template missing",
        updated_at=ended_at,
    )
    assert await upsert_run(pool, ended)
    assert not await upsert_run(
        pool, RunRecord(run_id=run_id, workflow_name="ReportingWorkflow", status=RunStatus.IN_PROGRESS)
    )
    run = await get_run(pool, run_id)
    assert run is not None
    assert (run.status, run.error, run.completed_at, run.created_at) == (status, ended.error, ended_at, T0)


async def test_first_write_may_be_terminal_and_defaults_come_from_the_database(pool: asyncpg.Pool) -> None:
    run_id = _run_id()
    before = await pool.fetchval("SELECT now()")
    await upsert_run(pool, RunRecord(run_id=run_id, workflow_name="AgentWorkflow", status=RunStatus.COMPLETED))
    run = await get_run(pool, run_id)
    assert run is not None and run.created_at is not None
    assert run.created_at >= before and run.completed_at == run.updated_at
    assert await get_run(pool, "no-such-run") is None


async def test_runs_table_rejects_unknown_status(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("INSERT INTO runs (run_id, workflow_name, status) VALUES ($1, 'w', 'DONE')", _run_id())


async def test_records_survive_the_temporal_data_converter() -> None:
    records = [
        RunRecord(run_id="r", workflow_name="w", status=RunStatus.FAILED, error="x", created_at=T0, models_used=["m"]),
        DecisionRecord(
            run_id="r",
            seq=3,
            kind=DecisionKind.MODEL_CALL,
            tool_calls=[{"name": "ls", "args": {}}],
            payload={"finish_reason": "tool_calls"},
            created_at=T0,
        ),
        ArtifactRecord(run_id="r", key="runs/r/files/a.txt", size=3, sha256=_sha("a"), content_type="text/plain"),
    ]
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads(records)
    assert converter.from_payloads(payloads, [type(r) for r in records]) == records


# --------------------------------------------------------------------------- decisions and artifacts


async def test_decisions_are_upserted_by_seq_and_listed_in_order(pool: asyncpg.Pool) -> None:
    run_id = _run_id()

    def decision(seq: int, **fields: object) -> DecisionRecord:
        values: dict[str, object] = {
            "run_id": run_id,
            "seq": seq,
            "kind": DecisionKind.MODEL_CALL,
            "agent": "supervisor",
            "step": seq,
            "created_at": T0 + timedelta(seconds=seq),
        }
        values.update(fields)
        return DecisionRecord.model_validate(values)

    call = decision(
        1,
        model="gpt-a",
        attempt=2,
        summary="asked for ls",
        input_tokens=10,
        output_tokens=2,
        total_tokens=12,
        tool_calls=[{"id": "c1", "name": "ls", "args": {"path": "/"}}],
        payload={"finish_reason": "tool_calls"},
    )
    # Out of order, and seq 1 twice (a retried activity, or a replay).
    await record_decision(pool, decision(2, kind=DecisionKind.TOOL_RESULT, summary="3 files"))
    await record_decision(pool, call)
    await record_decision(pool, decision(0, kind=DecisionKind.ROUTING, summary="delegate to e2e"))
    await record_decision(pool, call.model_copy(update={"created_at": T0 + timedelta(hours=1)}))
    await record_decision(pool, decision(3, kind=DecisionKind.VALIDATION, payload={"ok": True, "errors": []}))

    decisions = await list_decisions(pool, run_id)
    assert [d.seq for d in decisions] == [0, 1, 2, 3]
    assert [d.kind for d in decisions] == ["routing", "model_call", "tool_result", "validation"]
    assert decisions[1] == call  # the first created_at is kept
    assert decisions[3].payload == {"ok": True, "errors": []}
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE run_id = $1", run_id) == 4
    assert await list_decisions(pool, "no-such-run") == []


async def test_artifact_upsert_keeps_one_row_with_the_latest_content(pool: asyncpg.Pool) -> None:
    run_id = _run_id()
    key = f"reports/{run_id}/report.xlsx"
    first = ArtifactRecord(
        run_id=run_id, key=key, size=10, sha256=_sha("a"), content_type="application/x", created_at=T0, updated_at=T0
    )
    second = ArtifactRecord(
        run_id=run_id,
        key=key,
        size=20,
        sha256=_sha("b"),
        created_at=T0 + timedelta(seconds=9),
        updated_at=T0 + timedelta(seconds=9),
    )
    await record_artifact(pool, first)
    await record_artifact(pool, first)
    await record_artifact(pool, second)
    await record_artifact(pool, ArtifactRecord(run_id=run_id, key=f"logs/{run_id}/run.log", size=0, sha256=_sha("c")))

    artifacts = await list_artifacts(pool, run_id)
    assert [a.key for a in artifacts] == [f"logs/{run_id}/run.log", key]
    report = artifacts[1]
    assert (report.size, report.sha256, report.content_type) == (20, _sha("b"), "application/x")
    assert (report.created_at, report.updated_at) == (T0, T0 + timedelta(seconds=9))


# --------------------------------------------------------------------------- listing


async def test_list_runs_on_10000_runs_uses_indexes(new_database: NewDatabase) -> None:
    pool = await create_pool(await new_database())
    try:
        await migrate(pool)
        # Every tenth run is a sub-agent of the run before it; statuses rotate.
        await pool.execute(
            """
            INSERT INTO runs (run_id, parent_run_id, workflow_name, status, created_at, updated_at)
            SELECT format('bulk-%s', lpad(g::text, 5, '0')),
                   CASE WHEN g % 10 = 0 THEN format('bulk-%s', lpad((g - 1)::text, 5, '0')) END,
                   'AgentWorkflow',
                   (ARRAY['STARTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'])[1 + g % 5],
                   $1::timestamptz + g * interval '1 second',
                   $1::timestamptz + g * interval '1 second'
            FROM generate_series(1, 10000) AS g
            """,
            T0,
        )
        await pool.execute("ANALYZE runs")

        shapes = {
            "runs_recent_idx": {},
            "runs_status_recent_idx": {"status": RunStatus.COMPLETED},
            "runs_parent_idx": {"parent_run_id": "bulk-09999"},
            "runs_top_level_recent_idx": {"top_level": True},
        }
        for index, filters in shapes.items():
            sql, args = list_runs_query(20, **filters)
            plan = "\n".join(row[0] for row in await pool.fetch(f"EXPLAIN {sql}", *args))
            assert f"Index Scan using {index}" in plan or f"Index Scan Backward using {index}" in plan, plan
            assert "Seq Scan" not in plan, plan

        recent = await list_runs(pool)
        assert [r.run_id for r in recent] == [f"bulk-{n:05d}" for n in range(10000, 9980, -1)]
        completed = await list_runs(pool, limit=5, status="COMPLETED")
        assert [r.run_id for r in completed] == [f"bulk-{n:05d}" for n in (9997, 9992, 9987, 9982, 9977)]
        assert all(r.status is RunStatus.COMPLETED for r in completed)
        children = await list_runs(pool, parent_run_id="bulk-09999")
        assert [r.run_id for r in children] == ["bulk-10000"]
        top_level = await list_runs(pool, limit=3, top_level=True)
        assert [r.run_id for r in top_level] == ["bulk-09999", "bulk-09998", "bulk-09997"]
    finally:
        await pool.close()


async def test_late_started_row_still_fills_in_the_request(new_database: NewDatabase) -> None:
    pool = await create_pool(await new_database())
    try:
        await migrate(pool)
        base = dict(run_id="late", workflow_name="AgentWorkflow")
        in_progress = RunRecord(
            **base,
            status=RunStatus.IN_PROGRESS,
            created_at=T0 + timedelta(seconds=1),
            updated_at=T0 + timedelta(seconds=2),
        )
        started = RunRecord(
            **base, status=RunStatus.STARTED, request="test the search box", created_at=T0, updated_at=T0
        )
        assert await upsert_run(pool, in_progress)
        assert not await upsert_run(pool, started)  # stale for the status...
        run = await get_run(pool, "late")
        assert run is not None and run.status is RunStatus.IN_PROGRESS
        assert run.request == "test the search box"  # ...but its request is kept
        assert run.created_at == T0
    finally:
        await pool.close()
