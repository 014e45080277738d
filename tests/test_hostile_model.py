"""A hostile model cannot leave a run RUNNING: fuzzing the agent loop with bad outputs.

The scripted model answers with what a broken or malicious model might send:
NUL characters in paths and contents, lone surrogates, megabyte arguments,
JSON nested ten thousand levels deep, two hundred tool calls in one turn,
arguments of the wrong type, unknown tools, a file of non-UTF-8 bytes read
and searched, an error text with a NUL. Every tool and every PostgreSQL
record sees these values. For each case, several runs at once on one worker:

* the run ends (COMPLETED, or FAILED with a reason naming the problem) within
  a bound, instead of waiting forever on a write PostgreSQL refuses;
* where a call was bad and the run went on, the model got an error tool
  message for exactly that call;
* the run's rows (and its sub-agents') are in PostgreSQL with the status
  Temporal reports, and every tool call has its decision row.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from minio import Minio
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from deepagents_temporal import pgstore
from deepagents_temporal.pgstore import DecisionKind, RunStatus
from deepagents_temporal.pgstore.storable import escape_text
from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import failure_message, start_run

MEGABYTE = 1024 * 1024
# How long one hostile run may take, all cases running at once on one worker
# (about 15 s for all of them on two cores).
RUN_BOUND_SECONDS = 150
TERMINAL = {"COMPLETED", "FAILED"}


def deep_json(levels: int) -> str:
    """A JSON object nested ``levels`` deep, as text (json.dumps would overflow the stack)."""
    return '{"a":' * levels + "1" + "}" * levels


@dataclass
class Case:
    """One run: the supervisor's hostile turns, then a plain final answer."""

    name: str
    # Each turn's tool calls: (id, tool name, args dict or raw JSON text); "{tag}" in
    # strings is replaced by the run's tag (its own folder under /uploads/).
    turns: list[list[tuple[str, str, Any]]]
    bad: set[str] = field(default_factory=set)  # calls that must come back as "Error: ..."
    good: set[str] = field(default_factory=set)  # calls that must succeed
    request: str = "Hostile case"
    final: str = "done"
    first_reply: Reply | None = None  # instead of the first turn's tool calls (an error reply)
    # FAILED is accepted only with one of these in its reason (a problem of the model
    # reply that the model activity reports instead of the tool).
    may_fail_with: tuple[str, ...] = ()
    must_fail_with: str | None = None
    uploads: dict[str, bytes] = field(default_factory=dict)


def _calls(prefix: str, items: list[tuple[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(f"{prefix}-{i}", name, args) for i, (name, args) in enumerate(items)]


def _many_calls() -> list[tuple[str, str, Any]]:
    calls = []
    for i in range(50):
        calls.append((f"many-w{i}", "write_file", {"file_path": f"/many/{i}.md", "content": f"file {i}\x00"}))
        calls.append((f"many-l{i}", "ls", {"path": "/many/"}))
        calls.append((f"many-u{i}", f"no_such_tool_{i}", {"i": i}))
        calls.append((f"many-r{i}", "read_file", {"file_path": f"/missing/{i}.md"}))
    return calls


MANY = _many_calls()

CASES = [
    Case(
        "nul-path",
        [
            [
                ("nul-path-w", "write_file", {"file_path": "/nul\x00.md", "content": "x"}),
                ("nul-path-e", "edit_file", {"file_path": "/a\x00", "old_string": "a", "new_string": "b"}),
                ("nul-path-r", "read_file", {"file_path": "/\x00"}),
                ("nul-path-l", "ls", {"path": "/\x00/"}),
                ("nul-path-m", "write_file", {"file_path": "/memories/n\x00.md", "content": "x"}),
                ("nul-path-g", "glob", {"pattern": "*\x00*"}),
                ("nul-path-s", "grep", {"pattern": "\x00", "path": "/\x00"}),
                ("nul-id\x00", "ls\x00", {}),
            ]
        ],
        bad={"nul-path-w", "nul-path-e", "nul-path-r", "nul-path-l", "nul-path-m", "nul-id\x00"},
    ),
    Case(
        "nul-content",
        [
            [
                ("nul-content-w", "write_file", {"file_path": "/nul.md", "content": "line\x00one\nline two"}),
                ("nul-content-r", "read_file", {"file_path": "/nul.md"}),
                ("nul-content-e", "edit_file", {"file_path": "/nul.md", "old_string": "\x00", "new_string": "\x00!"}),
                ("nul-content-g", "grep", {"pattern": "one", "path": "/"}),
                ("nul-content-m", "write_file", {"file_path": "/memories/nul.md", "content": "a\x00b"}),
                ("nul-content-t", "write_todos", {"todos": [{"content": "t\x00do", "status": "pending"}]}),
            ]
        ],
        bad={"nul-content-m"},
        good={"nul-content-w", "nul-content-r", "nul-content-e", "nul-content-g", "nul-content-t"},
        request="Hostile \x00 request with a NUL",
        final="final answer with a NUL \x00 inside",
    ),
    Case(
        "surrogates",
        [
            [
                ("sur-w", "write_file", '{"file_path": "/s\\ud800.md", "content": "\\udfff"}'),
                ("sur-t", "write_todos", '{"todos": [{"content": "\\ud800", "status": "pending"}]}'),
            ]
        ],
        bad={"sur-w", "sur-t"},
        may_fail_with=("surrogate",),
    ),
    Case(
        "megabyte",
        [
            [
                ("mb-w", "write_file", {"file_path": "/big.md", "content": "b" * MEGABYTE}),
                ("mb-r", "read_file", {"file_path": "/big.md"}),
                ("mb-m", "write_file", {"file_path": "/memories/big.md", "content": "m" * MEGABYTE}),
                ("mb-i", "write_file", "{" + "x" * MEGABYTE),
                ("mb-t", "write_todos", {"todos": [{"content": "t" * MEGABYTE, "status": "pending"}]}),
                ("mb-s", "task", {"description": "d" * MEGABYTE, "subagent_type": "no_such_specialist"}),
                ("mb-g", "grep", {"pattern": "b" * 10_000, "path": "/"}),
            ]
        ],
        bad={"mb-i", "mb-s"},
        good={"mb-w", "mb-r", "mb-m", "mb-t"},
    ),
    Case(
        "deep",
        [
            [
                ("deep-w", "write_file", deep_json(10_000)),
                ("deep-t", "write_todos", deep_json(10_000)),
                ("deep-s", "task", deep_json(10_000)),
                ("deep-u", "nested", json.loads(deep_json(100))),
                ("deep-f", "write_file", {"file_path": "/d.md", "content": json.loads(deep_json(100))}),
                ("deep-d", "write_todos", {"todos": [{"content": json.loads(deep_json(100)), "status": "pending"}]}),
            ]
        ],
        bad={"deep-w", "deep-t", "deep-s", "deep-u", "deep-f", "deep-d"},
    ),
    Case("many", [MANY], bad={c[0] for c in MANY if c[0][5] in "ur"}, good={c[0] for c in MANY if c[0][5] in "wl"}),
    Case(
        "non-utf8",
        [
            [
                ("bin-r", "read_file", {"file_path": "/uploads/{tag}/latin1.txt"}),
                ("bin-g", "grep", {"pattern": "caf", "path": "/uploads/{tag}/"}),
                ("bin-n", "read_file", {"file_path": "/uploads/{tag}/nul.txt"}),
                ("bin-s", "grep", {"pattern": "one", "path": "/uploads/{tag}/"}),
                ("bin-l", "ls", {"path": "/uploads/{tag}/"}),
                ("bin-o", "glob", {"pattern": "**", "path": "/uploads/{tag}/"}),
                ("bin-w", "write_file", {"file_path": "/uploads/{tag}/new.txt", "content": "x"}),
                (
                    "bin-e",
                    "edit_file",
                    {"file_path": "/uploads/{tag}/latin1.txt", "old_string": "c", "new_string": "d"},
                ),
            ]
        ],
        bad={"bin-r", "bin-w", "bin-e"},
        good={"bin-g", "bin-n", "bin-s", "bin-l", "bin-o"},
        uploads={"latin1.txt": "café crème \xff\xfe".encode("latin-1"), "nul.txt": b"line\x00one\nsecond line\n"},
    ),
    Case(
        "wrong-types",
        [
            _calls(
                "wt",
                [
                    ("write_file", {"file_path": 123, "content": ["x"]}),
                    ("read_file", {"file_path": "/x.md", "offset": "abc"}),
                    ("read_file", {"file_path": "/x.md", "limit": -5}),
                    ("ls", {"path": {"a": 1}}),
                    ("edit_file", {}),
                    ("grep", {"pattern": None}),
                    ("glob", {"pattern": 7}),
                    ("write_todos", {"todos": "not a list"}),
                    ("write_todos", {"todos": [{"content": "x", "status": "done"}]}),
                    ("task", {"description": 5, "subagent_type": []}),
                    ("write_file", "null"),
                    ("write_file", ""),
                    ("ls", '{"path": NaN}'),
                    ("read_file", '{"file_path": "/x.md", "offset": 1' + "0" * 5000 + "}"),
                    ("launch_rockets", {"count": 3}),
                    ("write_file", {"file_path": "/ok.md", "content": "ok", "extra": True}),
                ],
            )
        ],
        bad={f"wt-{i}" for i in range(16)},
    ),
    Case(
        "not-an-object",
        [[("obj-l", "ls", "[1, 2, 3]"), ("obj-s", "write_file", '"just a string"')]],
        bad={"obj-l", "obj-s"},
        # langchain-openai itself refuses such a reply, so no tool message can say
        # it: the call fails over and the run ends naming the problem.
        may_fail_with=("tool call arguments must be a JSON object",),
    ),
    Case(
        "sub-agent",
        [
            [
                (
                    "sub-t",
                    "task",
                    {"description": "Check this \x00 for me [{tag}-child]", "subagent_type": "e2e_test_specialist"},
                ),
                ("sub-x", "task", {"description": "x\x00", "subagent_type": "no\x00such"}),
            ]
        ],
        bad={"sub-x"},
        good={"sub-t"},
    ),
    Case(
        "error-text",
        [],
        first_reply=Reply.error(400, "bad request: \x00 is not allowed here " + "e" * 5000),
        must_fail_with="bad request",
    ),
]


def is_supervisor(req: ChatRequest) -> bool:
    return "task" in req.tool_names


def _fill(value: Any, tag: str) -> Any:
    if isinstance(value, str):
        return value.replace("{tag}", tag)
    if isinstance(value, dict):
        return {k: _fill(v, tag) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, tag) for v in value]
    return value


def _script(llm: ScriptedLLM, case: Case, tag: str) -> None:
    def supervisor_turn(turn: int | None) -> Callable[[ChatRequest], bool]:
        def match(req: ChatRequest) -> bool:
            if not is_supervisor(req) or tag not in req.first_user_text:
                return False
            return req.turn >= len(case.turns) if turn is None else req.turn == turn

        return match

    for turn, calls in enumerate(case.turns):
        reply = Reply.tool_calls([(_fill(name, tag), _fill(args, tag), call_id) for call_id, name, args in calls])
        llm.add_rule(supervisor_turn(turn), reply)
    if case.first_reply is not None:
        llm.add_rule(supervisor_turn(0), case.first_reply)
    llm.add_rule(supervisor_turn(None), Reply.text(f"{case.final} [{tag}]"))
    llm.add_rule(
        lambda req: not is_supervisor(req) and f"{tag}-child" in req.first_user_text,
        Reply.text("sub-agent done \x00"),
    )


def _tool_messages(llm: ScriptedLLM, tag: str) -> dict[str, str]:
    """tool_call_id -> content of every tool message the model was sent in this run."""
    seen: dict[str, str] = {}
    for record in llm.requests:
        if tag not in record.request.first_user_text:
            continue
        for message in record.request.messages:
            if message.get("role") == "tool":
                seen[str(message.get("tool_call_id"))] = str(message.get("content") or "")
    return seen


async def _end_of(handle: WorkflowHandle, bound: float) -> tuple[str, str | None]:
    """(Temporal's status, failure reason) once the run ends, or ("RUNNING", None) past ``bound`` seconds."""
    try:
        await asyncio.wait_for(handle.result(), bound)
    except WorkflowFailureError as err:
        return (await handle.describe()).status.name, failure_message(err)
    except TimeoutError:
        await handle.terminate("hostile test: still running past the bound")
        return "RUNNING", None
    return (await handle.describe()).status.name, None


async def _play(
    case: Case,
    client: Client,
    settings: Settings,
    llm: ScriptedLLM,
    pool: asyncpg.Pool,
    s3: Minio,
    bound: float = RUN_BOUND_SECONDS,
) -> list[str]:
    """Run one case for at most ``bound`` seconds; return what went wrong (empty when all holds)."""
    tag = f"hostile-{case.name}-{uuid.uuid4().hex[:8]}"
    for name, data in case.uploads.items():
        await asyncio.to_thread(s3.put_object, settings.s3_bucket, f"uploads/{tag}/{name}", io.BytesIO(data), len(data))
    _script(llm, case, tag)
    handle = await client.start_workflow(
        "AgentWorkflow",
        AgentInput(request=f"{case.request} [{tag}]", model_chain=settings.model_chain),
        id=f"test-{tag}",
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
        execution_timeout=timedelta(seconds=bound),
    )
    status, reason = await _end_of(handle, bound + 30)
    problems: list[str] = []
    say = problems.append

    # 1. It ended, as expected.
    if status not in TERMINAL:
        say(f"run is {status}, not COMPLETED or FAILED")
    elif case.must_fail_with is not None:
        if status != "FAILED" or case.must_fail_with not in (reason or ""):
            say(f"expected FAILED naming {case.must_fail_with!r}, got {status}: {reason}")
    elif status == "FAILED" and not any(fragment in (reason or "") for fragment in case.may_fail_with):
        say(f"FAILED without a reason naming the problem: {reason}")

    # 2. The model was told which calls were bad.
    if status == "COMPLETED":
        seen = _tool_messages(llm, tag)
        for call_id in sorted(case.bad):
            if not seen.get(call_id, "").startswith("Error:"):
                say(f"call {call_id!r}: no error message, the model saw {seen.get(call_id, '<nothing>')[:200]!r}")
        for call_id in sorted(case.good):
            if call_id not in seen or seen[call_id].startswith("Error:"):
                say(f"call {call_id!r} should have worked, the model saw {seen.get(call_id, '<nothing>')[:200]!r}")

    # 3. Its rows are in PostgreSQL with Temporal's status, sub-agents' too.
    run = await pgstore.get_run(pool, handle.id)
    if run is None or run.status.value != status:
        say(f"runs row: {run.status.value if run else 'missing'}, Temporal says {status}")
    elif status == "FAILED" and not run.error:
        say("FAILED run's row has no error")
    for child in await pgstore.list_runs(pool, parent_run_id=handle.id):
        child_status = (await client.get_workflow_handle(child.run_id).describe()).status.name
        if child.status.value != child_status:
            say(f"sub-agent {child.run_id}: row {child.status.value}, Temporal says {child_status}")
    if status == "COMPLETED":
        decisions = await pgstore.list_decisions(pool, handle.id)
        recorded = {
            d.payload.get("tool_call_id") for d in decisions if d.kind is DecisionKind.TOOL_RESULT and d.payload
        }
        asked = {escape_text(call_id) for calls in case.turns for call_id, _, _ in calls}
        if missing := asked - recorded:
            say(f"no tool-result decision for {sorted(missing)[:5]}")
        if [d.seq for d in decisions] != list(range(len(decisions))):
            say("decision sequence has gaps")
    for name in case.uploads:
        await asyncio.to_thread(s3.remove_object, settings.s3_bucket, f"uploads/{tag}/{name}")
    return [f"{case.name}: {p}" for p in problems]


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


async def test_hostile_model_outputs_end_every_run_with_its_rows(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool, s3: Minio
) -> None:
    problems = await asyncio.gather(*(_play(case, client, settings, llm, pool, s3) for case in CASES))
    found = [p for case_problems in problems for p in case_problems]
    assert not found, "\n".join(found)


async def test_hostile_rows_are_stored_escaped_and_capped(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    """What a person reading the tables sees: NULs visible, megabytes cut and marked."""
    tag = f"hostile-rows-{uuid.uuid4().hex[:8]}"
    case = Case(
        "rows",
        [[("rows-w", "write_file", {"file_path": "/n.md", "content": "z" * MEGABYTE + "\x00"})]],
        request="Request \x00 " + "r" * MEGABYTE,
    )
    _script(llm, case, tag)
    handle = await start_run(client, settings, f"{case.request} [{tag}]")
    await asyncio.wait_for(handle.result(), RUN_BOUND_SECONDS)
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status is RunStatus.COMPLETED
    assert run.request is not None and run.request.startswith("Request \\u0000 rrr")
    assert run.request.endswith("chars]") and len(run.request) <= 10_000
    result_rows = [d for d in await pgstore.list_decisions(pool, handle.id) if d.kind is DecisionKind.TOOL_RESULT]
    assert result_rows and all(len(d.summary or "") <= 500 for d in result_rows)
    size = await pool.fetchval(
        "SELECT max(pg_column_size(tool_calls) + pg_column_size(payload)) FROM decisions WHERE run_id = $1", handle.id
    )
    assert size < 64 * 1024  # a megabyte argument does not make a megabyte row


# Replies the model activity cannot hand to the workflow as they are. Today:
# arguments nested deeper than ~195 levels in a workflow tool's call break the
# workflow's decoding of the model result (pydantic's JSON recursion limit), so
# its workflow task fails forever and the run stays RUNNING; lone surrogates
# cannot be serialized (the run FAILS after the model was asked again on each
# retry); a JSON array as arguments fails the reply's parsing (FAILED, "all
# models failed"). activities/model.py should turn each into an invalid tool
# call, which the model reads as an error message.
MODEL_ACTIVITY_CASES = [
    Case(
        "deep-workflow-tool",
        [
            [
                ("dw-t", "write_todos", {"todos": [{"content": json.loads(deep_json(250)), "status": "pending"}]}),
                ("dw-s", "task", {"description": json.loads(deep_json(250)), "subagent_type": "e2e_test_specialist"}),
            ]
        ],
        bad={"dw-t", "dw-s"},
    ),
    Case(
        "surrogates-as-errors",
        [[("sa-w", "write_file", '{"file_path": "/s\\ud800.md", "content": "\\udfff"}')]],
        bad={"sa-w"},
    ),
]


async def test_replies_the_model_activity_cannot_carry_become_error_messages(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool, s3: Minio
) -> None:
    problems = await asyncio.gather(
        *(_play(case, client, settings, llm, pool, s3, bound=30) for case in MODEL_ACTIVITY_CASES)
    )
    found = [p for case_problems in problems for p in case_problems]
    assert not found, "\n".join(found)
