"""What reaches PostgreSQL is storable: escaped, capped, marked; refused rows cost nothing else.

Unit tests of ``pgstore/storable.py`` (pure functions), then the same hostile
values written to the real PostgreSQL of the test stack, the memory store's
refusals, the error classification, and the ``record`` activity on a real
worker when PostgreSQL refuses a row anyway.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, UnsandboxedWorkflowRunner

from deepagents_temporal import pgstore
from deepagents_temporal.failures import innermost_failure_message
from deepagents_temporal.pgstore import (
    ArtifactRecord,
    DecisionKind,
    DecisionRecord,
    PostgresStore,
    RunRecord,
    RunStatus,
)
from deepagents_temporal.pgstore.memory import UnstorableValueError
from deepagents_temporal.pgstore.storable import (
    ERROR_CHARS,
    JSON_CHARS,
    JSON_DEPTH,
    REQUEST_CHARS,
    SUMMARY_CHARS,
    escape_text,
    storable_json,
    storable_text,
    unstorable_reason,
)
from deepagents_temporal.schema import AgentResult, RecordBatch
from deepagents_temporal.settings import Settings
from deepagents_temporal.storage_errors import Cause, classify, describe
from scripted_llm import ScriptedLLM
from tests.helpers import start_run
from worker import WORKFLOWS, build_worker

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MEGABYTE = 1024 * 1024


def deep(levels: int, leaf: Any = 1) -> Any:
    """``levels`` dicts nested in one another (built without recursion)."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def depth_of(value: Any) -> int:
    """Containers nested in ``value`` (iterative)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def strings_in(value: Any) -> list[str]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


HOSTILE_TEXTS = {
    "nul": "before\x00after",
    "surrogates": "lone \ud800 high and \udfff low",
    "megabyte": "x" * MEGABYTE,
    "megabyte-of-nul": "\x00" * MEGABYTE,
    "controls": "".join(chr(c) for c in range(32)) + "\x7f",
    "unicode": "ünïcödé 日本語 😀 \u200b\ufeff",
    "empty": "",
}

HOSTILE_JSON = {
    "nul-key-and-value": {"pa\x00th": "con\x00tent"},
    "surrogate-key-and-value": {"\ud800": ["\udc00", {"k": "\udbff"}]},
    "ten-thousand-deep": deep(10_000),
    "megabyte-string": {"content": "y" * MEGABYTE},
    "two-hundred-calls": [{"id": f"c{i}", "name": "write_file", "args": {"content": "z" * 5000}} for i in range(200)],
    "many-keys": {f"key{i}": i for i in range(5000)},
    "non-finite": {"nan": math.nan, "inf": math.inf, "minus": -math.inf},
    "huge-int": {"n": 10**5000},
    "not-json": {"when": T0, "bytes": b"\xff\x00", "tuple": (1, 2), "set": {"s"}},
    "wide-and-deep": [deep(30, "w" * 3000) for _ in range(300)],
}


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("name", list(HOSTILE_TEXTS))
def test_storable_text_escapes_caps_marks_and_is_idempotent(name: str) -> None:
    original = HOSTILE_TEXTS[name]
    made = storable_text(original, SUMMARY_CHARS)
    assert made is not None and len(made) <= SUMMARY_CHARS
    assert "\x00" not in made
    made.encode("utf-8")  # no lone surrogates left
    assert storable_text(made, SUMMARY_CHARS) == made
    escaped = escape_text(original)
    if len(escaped) <= SUMMARY_CHARS:
        assert made == escaped
    else:
        dropped = len(escaped) - len(made.rsplit("… [truncated", 1)[0])
        assert made.endswith(f"… [truncated {dropped} chars]")
        assert escaped.startswith(made.rsplit("… [truncated", 1)[0])


def test_escapes_are_visible_and_everything_else_is_kept() -> None:
    assert escape_text("a\x00b") == "a\\u0000b"
    assert escape_text("\ud800x\udfff") == "\\ud800x\\udfff"
    assert escape_text(HOSTILE_TEXTS["unicode"]) == HOSTILE_TEXTS["unicode"]
    assert storable_text(None, 10) is None
    assert storable_text("short", 10) == "short"


def test_column_caps_follow_what_a_reader_needs() -> None:
    assert len(storable_text("r" * MEGABYTE, REQUEST_CHARS)) == REQUEST_CHARS
    assert len(storable_text("e" * MEGABYTE, ERROR_CHARS)) == ERROR_CHARS
    assert SUMMARY_CHARS < ERROR_CHARS < REQUEST_CHARS


# --------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_storable_json_is_bounded_plain_json_and_idempotent(name: str) -> None:
    made = storable_json(HOSTILE_JSON[name])
    text = json.dumps(made, ensure_ascii=False, allow_nan=False)  # plain JSON, no NaN
    text.encode("utf-8")  # no lone surrogates
    assert not any("\x00" in s for s in strings_in(made))  # jsonb refuses NUL in strings and keys
    assert len(text) <= JSON_CHARS
    assert depth_of(made) <= JSON_DEPTH
    assert storable_json(made) == made


def test_storable_json_marks_every_cut_where_it_happened() -> None:
    assert storable_json(deep(10_000)) == storable_json(deep(JSON_DEPTH + 5))
    assert any("nested deeper than" in s for s in strings_in(storable_json(deep(10_000))))
    assert any("truncated" in s for s in strings_in(storable_json(HOSTILE_JSON["megabyte-string"])))
    calls = storable_json(HOSTILE_JSON["two-hundred-calls"])
    assert isinstance(calls, list) and calls[-1].endswith("more items truncated]")
    assert "more keys truncated" in storable_json(HOSTILE_JSON["many-keys"])["…"]
    assert storable_json(HOSTILE_JSON["non-finite"]) == {"nan": "NaN", "inf": "Infinity", "minus": "-Infinity"}
    assert "integer of" in storable_json(HOSTILE_JSON["huge-int"])["n"]
    assert storable_json({"pa\x00th": "\ud800"}) == {"pa\\u0000th": "\\ud800"}


def test_small_plain_json_is_unchanged() -> None:
    value = {"id": "call_1", "args": {"file_path": "/a.md", "offset": 3, "ok": True, "none": None, "x": 1.5}}
    assert storable_json(value) == value
    assert storable_json(None) is None


def test_unstorable_reason_names_what_and_where() -> None:
    assert unstorable_reason({"content": "fine 😀", "n": [1, 2.5, None]}) is None
    reason = unstorable_reason({"content": "a\x00b"})
    assert reason is not None and "value['content']" in reason and "NUL" in reason
    assert "U+D800" in (unstorable_reason({"list": ["ok", "\ud800"]}) or "")
    assert "nests deeper than" in (unstorable_reason(deep(10_000)) or "")
    assert "nan" in (unstorable_reason({"x": math.nan}) or "")
    assert "key" in (unstorable_reason({"k\x00": 1}) or "")


# --------------------------------------------------------------------------- PostgreSQL


def _run_id() -> str:
    return f"storable-{uuid.uuid4().hex[:12]}"


async def test_hostile_values_are_written_and_read_back_made_storable(pool: asyncpg.Pool) -> None:
    for text in HOSTILE_TEXTS.values():
        run_id = _run_id()
        await pgstore.upsert_run(
            pool,
            RunRecord(
                run_id=run_id,
                workflow_name="AgentWorkflow",
                profile=text,
                agent=text,
                request=text,
                error=text,
                models_used=[text, "m"],
                status=RunStatus.FAILED,
                created_at=T0,
                updated_at=T0,
            ),
        )
        run = await pgstore.get_run(pool, run_id)
        assert run is not None and run.status is RunStatus.FAILED
        assert (run.request, run.error) == (storable_text(text, REQUEST_CHARS), storable_text(text, ERROR_CHARS))
        assert run.models_used[1] == "m"

    samples = list(HOSTILE_JSON.values())
    texts = list(HOSTILE_TEXTS.values())
    for seq, sample in enumerate(samples):
        text = texts[seq % len(texts)]
        await pgstore.record_decision(
            pool,
            DecisionRecord(
                run_id=run_id,
                seq=seq,
                kind=DecisionKind.MODEL_CALL,
                agent=text,
                model=text,
                summary=text,
                tool_calls=[{"id": text, "name": text, "args": sample}],
                payload={"sample": sample},
            ),
        )
        await pgstore.record_artifact(
            pool, ArtifactRecord(run_id=run_id, key=f"runs/{run_id}/{seq}/{text}", size=1, sha256="a" * 64)
        )
    decisions = await pgstore.list_decisions(pool, run_id)
    assert [d.seq for d in decisions] == list(range(len(samples)))
    for decision, sample in zip(decisions, samples, strict=True):
        assert decision.payload == storable_json({"sample": sample})
        assert decision.tool_calls is not None and len(decision.tool_calls) == 1
        assert decision.summary is not None and len(decision.summary) <= SUMMARY_CHARS
    assert len(await pgstore.list_artifacts(pool, run_id)) == len(samples)


async def test_memory_store_refuses_what_it_cannot_keep_exactly(pool: asyncpg.Pool) -> None:
    store = PostgresStore(pool)
    namespace = ("storable", uuid.uuid4().hex[:8])
    for value, fragment in [
        ({"content": "a\x00b"}, "value['content'] contains a NUL character"),
        ({"content": "\ud800"}, "lone surrogate (U+D800)"),
        (deep(10_000), "nests deeper than"),
        ({"score": math.nan}, "nan"),
    ]:
        with pytest.raises(UnstorableValueError) as refused:
            await store.aput(namespace, "note", value)
        assert fragment in str(refused.value) and "note" in str(refused.value)
    with pytest.raises(UnstorableValueError):
        await store.aput(namespace, "k\x00ey", {"content": "fine"})
    assert await store.asearch(namespace) == []  # nothing of a refused batch was written
    await store.aput(namespace, "note", {"content": "fine 😀", "deep": deep(50)})
    item = await store.aget(namespace, "note")
    assert item is not None and item.value["content"] == "fine 😀"


# --------------------------------------------------------------------------- classification


async def test_errors_are_classified_as_outages_or_content(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.PostgresError) as nul_text:
        await pool.execute("SELECT $1::text", "a\x00b")
    with pytest.raises(asyncpg.PostgresError) as nul_json:
        await pool.execute("SELECT $1::jsonb", '{"a": "\\u0000"}')
    with pytest.raises(asyncpg.PostgresError) as check:
        await pool.execute(
            "INSERT INTO runs (run_id, workflow_name, status) VALUES ($1, 'w', 'BOGUS')", f"check-{uuid.uuid4().hex}"
        )
    with pytest.raises(asyncpg.PostgresError) as int_range:  # raised by asyncpg before sending
        await pool.execute("SELECT $1::int", 2**40)
    for refused in (nul_text, nul_json, check, int_range):
        assert classify(refused.value) is Cause.CONTENT, describe(refused.value)
    assert "runs" in describe(check.value)  # the server names the table when it knows it

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(OSError) as refused_connection:
        await asyncpg.connect(host="127.0.0.1", port=port, user="x", database="x", timeout=5)
    for outage in (
        refused_connection.value,
        TimeoutError(),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("pool is closing"),
    ):
        assert classify(outage) is Cause.OUTAGE, describe(outage)
    assert classify(RuntimeError("something else")) is Cause.UNKNOWN
    assert classify(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")) is Cause.CONTENT


# --------------------------------------------------------------------------- the record activity


@workflow.defn(name="RecordProbe")
class RecordProbe:
    """Runs the `record` activity once on a batch and says how it ended."""

    @workflow.run
    async def run(self, batch: RecordBatch) -> str:
        try:
            await workflow.execute_activity(
                "record",
                batch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=1)),
            )
        except ActivityError as err:
            return f"failed: {innermost_failure_message(err)}"
        return "written"


def _bad_decision(run_id: str) -> DecisionRecord:
    # seq is an integer column: a value past 2**31 - 1 is refused whatever the text.
    return DecisionRecord(run_id=run_id, seq=2**31, kind=DecisionKind.VALIDATION, summary="refused")


async def test_a_refused_row_fails_once_and_the_others_are_written(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    run_id = _run_id()
    batch = RecordBatch(
        run=RunRecord(run_id=run_id, workflow_name="AgentWorkflow", status=RunStatus.COMPLETED, updated_at=T0),
        decisions=[
            DecisionRecord(run_id=run_id, seq=0, kind=DecisionKind.VALIDATION, summary="kept \x00"),
            _bad_decision(run_id),
            DecisionRecord(run_id=run_id, seq=1, kind=DecisionKind.VALIDATION, summary="kept too"),
        ],
        artifacts=[ArtifactRecord(run_id=run_id, key=f"runs/{run_id}/a.md", size=3, sha256="b" * 64)],
    )
    probe = await build_worker(
        client, settings, pool, workflows=[*WORKFLOWS, RecordProbe], workflow_runner=UnsandboxedWorkflowRunner()
    )
    async with probe:
        handle = await client.start_workflow(
            RecordProbe.run,
            batch,
            id=f"probe-{run_id}",
            task_queue=settings.temporal_task_queue,
            execution_timeout=timedelta(minutes=1),
        )
        outcome = await handle.result()

    assert outcome.startswith("failed: PostgreSQL refused 1 row(s)"), outcome
    assert "decisions" in outcome and "seq=2147483648" in outcome and "column seq" in outcome
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [1]  # not retried: it could never heal
    run = await pgstore.get_run(pool, run_id)
    assert run is not None and run.status is RunStatus.COMPLETED
    assert [d.summary for d in await pgstore.list_decisions(pool, run_id)] == ["kept \\u0000", "kept too"]
    assert [a.key for a in await pgstore.list_artifacts(pool, run_id)] == [f"runs/{run_id}/a.md"]


class _AddARefusedRow(Interceptor):
    """Adds a row PostgreSQL refuses to every batch the `record` activity writes."""

    def __init__(self) -> None:
        self.injected = 0

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        outer = self

        class _Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> object:
                if activity.info().activity_type == "record":
                    batch: RecordBatch = input.args[0]
                    run_id = batch.run.run_id if batch.run else activity.info().workflow_id
                    batch.decisions.append(_bad_decision(run_id))
                    outer.injected += 1
                return await super().execute_activity(input)

        return _Inbound(next)


async def test_a_refused_row_neither_fails_nor_holds_the_run(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    injector = _AddARefusedRow()
    async with await build_worker(client, settings, pool, interceptors=[injector]):
        handle = await start_run(client, settings)
        result: AgentResult = await asyncio.wait_for(handle.result(), 150)
    assert injector.injected > 0
    for run_id in [handle.id, *result.children]:
        run = await pgstore.get_run(pool, run_id)
        assert run is not None and run.status is RunStatus.COMPLETED, run_id
    failures = [
        e.activity_task_failed_event_attributes.failure
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert failures and all("PostgreSQL refused 1 row(s)" in f.message for f in failures)
    assert all(f.application_failure_info.non_retryable for f in failures)
