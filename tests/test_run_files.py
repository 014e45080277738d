"""The run's files, deliverable, log and artifacts in the bucket, through the real agent loop.

Real servers (Temporal dev server, S3, the scripted OpenAI-compatible model);
file tools are driven by the model's tool calls, so every byte goes through
the model activity, the workflow, the file_tool activity and the bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
from typing import Any

import asyncpg
import pytest
from minio import Minio
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from deepagents_temporal.schema import AgentResult, FileToolInput, ModelCallInput, ModelCallResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from scripted_llm.demo_specialists import DEMO_SPECIALISTS
from tests.helpers import start_run
from worker import build_worker

SPECIALISTS = tuple(DEMO_SPECIALISTS)  # e2e_test_specialist, integration_test_specialist, functional_test_specialist
SUPERVISOR = "qa_orchestrator"
# Comfortably under Temporal's 2 MB payload limit, and far under what a 50 MB
# result would weigh if it entered history.
MAX_EVENT_BYTES = 256 * 1024


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


def is_supervisor(req: ChatRequest) -> bool:
    return "task" in req.tool_names


def supervisor_turn(turn: int):
    return lambda req: is_supervisor(req) and req.turn == turn


def read_object(s3: Minio, bucket: str, key: str) -> bytes:
    response = s3.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def list_keys(s3: Minio, bucket: str, prefix: str = "") -> set[str]:
    return {o.object_name for o in s3.list_objects(bucket, prefix=prefix, recursive=True)}


def tool_messages_seen(llm: ScriptedLLM) -> dict[str, str]:
    """tool_call_id -> content of every tool message the model was sent."""
    seen: dict[str, str] = {}
    for record in llm.requests:
        for message in record.request.messages:
            if message.get("role") == "tool":
                seen[str(message.get("tool_call_id"))] = str(message.get("content") or "")
    return seen


async def history_event_sizes(client: Client, workflow_id: str) -> list[int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [event.ByteSize() for event in history.events]


def allowed_for_run(key: str, run_id: str) -> bool:
    """Where a run may leave objects: its own areas, and payloads of its own workflows."""
    return key.startswith((f"runs/{run_id}/", f"logs/{run_id}/", f"reports/{run_id}/")) or (
        key.startswith("payloads/") and f"/wi/{run_id}" in key
    )


# --------------------------------------------------------------------------- the qa run


async def test_qa_run_leaves_files_deliverable_log_and_artifacts(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    run_id = handle.id
    bucket = settings.s3_bucket
    assert result.run_id == run_id

    # Each specialist saved its scenarios in the run's file system.
    files = list_keys(s3, bucket, f"runs/{run_id}/files/")
    for name in SPECIALISTS:
        kind = DEMO_SPECIALISTS[name][0]
        key = f"runs/{run_id}/files/scenarios/{kind}.md"
        assert key in files, (key, sorted(files))
        text = read_object(s3, bucket, key).decode("utf-8")
        assert "**Given**" in text and "**Then**" in text

    # The supervisor's final answer, byte for byte.
    final_key = f"reports/{run_id}/final_answer.md"
    assert read_object(s3, bucket, final_key).decode("utf-8") == result.answer

    # run.log: JSON lines, each with the run id, from the supervisor and every specialist.
    log_key = f"logs/{run_id}/run.log"
    lines = read_object(s3, bucket, log_key).decode("utf-8").splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    assert all(r["run_id"] == run_id for r in records)
    agents = {r["agent"] for r in records}
    assert {SUPERVISOR, *SPECIALISTS} <= agents, agents
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)

    # Artifacts: every listed key is in the bucket with the recorded size and sha256.
    keys = [a.key for a in result.artifacts]
    assert final_key in keys and log_key in keys
    for name in SPECIALISTS:
        assert f"runs/{run_id}/files/scenarios/{DEMO_SPECIALISTS[name][0]}.md" in keys
    assert len(keys) == len(set(keys)), keys
    for artifact in result.artifacts:
        data = read_object(s3, bucket, artifact.key)
        assert artifact.size == len(data), artifact.key
        assert artifact.sha256 == hashlib.sha256(data).hexdigest(), artifact.key


# --------------------------------------------------------------------------- file tools in the loop


async def test_file_tools_through_the_agent_loop(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    bucket = settings.s3_bucket
    template_key = f"templates/test-{uuid.uuid4().hex[:8]}/brief.md"
    template = b"# Brief\nTest the search box.\n"
    await asyncio.to_thread(s3.put_object, bucket, template_key, io.BytesIO(template), len(template))
    template_path = "/" + template_key

    script = [
        [("write_file", {"file_path": "/work/notes.md", "content": "alpha\nbeta\ngamma\nbeta\n"}, "w1")],
        [("read_file", {"file_path": "/work/notes.md"}, "r1")],
        [("edit_file", {"file_path": "/work/notes.md", "old_string": "beta", "new_string": "BETA"}, "e1")],
        [
            ("read_file", {"file_path": "/../../etc/passwd"}, "p1"),
            ("write_file", {"file_path": "/../../etc/passwd", "content": "root::0:0::/:/bin/sh\n"}, "p2"),
            ("write_file", {"file_path": "/templates/x", "content": "overwrite the templates\n"}, "t1"),
            ("read_file", {"file_path": template_path}, "t2"),
        ],
        [("edit_file", {"file_path": "/work/notes.md", "old_string": "gamma", "new_string": "GAMMA"}, "e2")],
        [("read_file", {"file_path": "/work/notes.md"}, "r2")],
    ]
    for turn, calls in enumerate(script):
        llm.add_rule(supervisor_turn(turn), Reply.tool_calls(calls), times=1)
    llm.add_rule(supervisor_turn(len(script)), Reply.text("done with the files"), times=1)

    before = await asyncio.to_thread(list_keys, s3, bucket)
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    run_id = handle.id
    assert result.answer == "done with the files"

    seen = tool_messages_seen(llm)
    assert seen["w1"] == "Updated file /work/notes.md"
    assert seen["r1"] == "     1\talpha\n     2\tbeta\n     3\tgamma\n     4\tbeta"
    # A non-unique edit is an error the model reads, and changes nothing.
    assert seen["e1"].startswith("Error:") and "appears 2 times" in seen["e1"], seen["e1"]
    # Path attacks and writes to read-only areas are errors too.
    for call_id in ("p1", "p2"):
        assert seen[call_id].startswith("Error:") and "'..' is not allowed" in seen[call_id], seen[call_id]
    assert seen["t1"].startswith("Error:") and "read-only" in seen["t1"], seen["t1"]
    # Templates are readable.
    assert seen["t2"] == "     1\t# Brief\n     2\tTest the search box."
    assert seen["e2"].startswith("Successfully replaced 1 instance"), seen["e2"]
    assert seen["r2"] == "     1\talpha\n     2\tbeta\n     3\tGAMMA\n     4\tbeta"

    assert read_object(s3, bucket, f"runs/{run_id}/files/work/notes.md") == b"alpha\nbeta\nGAMMA\nbeta\n"
    assert list_keys(s3, bucket, f"runs/{run_id}/files/") == {f"runs/{run_id}/files/work/notes.md"}

    # Nothing was written outside the run's own areas.
    after = await asyncio.to_thread(list_keys, s3, bucket)
    strays = sorted(k for k in after - before if not allowed_for_run(k, run_id))
    assert not strays, strays
    assert "templates/x" not in after
    assert not [k for k in after if k.endswith("etc/passwd")]
    assert read_object(s3, bucket, template_key) == template

    # The file's artifact entry describes the object as it is now.
    notes = [a for a in result.artifacts if a.key == f"runs/{run_id}/files/work/notes.md"]
    assert notes
    data = read_object(s3, bucket, notes[-1].key)
    assert (notes[-1].size, notes[-1].sha256) == (len(data), hashlib.sha256(data).hexdigest())


async def test_artifacts_have_one_current_entry_per_key(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    """A file written then edited is one artifact, described as it is at the end of the run."""
    llm.add_rule(
        supervisor_turn(0),
        Reply.tool_calls([("write_file", {"file_path": "/a.md", "content": "one\n"}, "w1")]),
        times=1,
    )
    llm.add_rule(
        supervisor_turn(1),
        Reply.tool_calls([("edit_file", {"file_path": "/a.md", "old_string": "one", "new_string": "two"}, "e1")]),
        times=1,
    )
    llm.add_rule(supervisor_turn(2), Reply.text("done"), times=1)
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    keys = [a.key for a in result.artifacts]
    assert len(keys) == len(set(keys)), keys
    for artifact in result.artifacts:
        data = read_object(s3, settings.s3_bucket, artifact.key)
        assert (artifact.size, artifact.sha256) == (len(data), hashlib.sha256(data).hexdigest()), artifact.key


# --------------------------------------------------------------------------- retries


WRITING_TOOLS = ("write_file", "edit_file")


class _FailAfterWrite(ActivityInboundInterceptor):
    """Loses the first attempt's result of whichever activity wrote a file.

    ``model_runs_files=False`` makes every model activity act as one from before
    it ran a reply's file calls (a rolling upgrade): the workflow then runs them
    as ``file_tool`` activities."""

    def __init__(self, next: ActivityInboundInterceptor, outer: FailAfterWriteInterceptor) -> None:
        super().__init__(next)
        self._outer = outer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        request = input.args[0] if input.args else None
        if isinstance(request, ModelCallInput) and not self._outer.model_runs_files:
            request.files = None
        result = await self.next.execute_activity(input)
        if info.attempt != 1:
            return result
        wrote: list[str] = []
        if isinstance(result, ModelCallResult):
            wrote = [o.summary.split()[0] for o in result.file_outputs if o is not None and not o.error]
        elif isinstance(request, FileToolInput) and info.activity_type == "file_tool":
            wrote = [request.call.name]
        wrote = [tool for tool in wrote if tool in WRITING_TOOLS]
        if wrote:
            # The objects are written; the result is lost as if the worker died now.
            self._outer.injected.extend((tool, info.activity_type, info.attempt) for tool in wrote)
            raise ApplicationError(f"injected failure after {', '.join(wrote)}", type="InjectedFailure")
        return result


class FailAfterWriteInterceptor(Interceptor):
    def __init__(self, model_runs_files: bool = True) -> None:
        self.model_runs_files = model_runs_files
        self.injected: list[tuple[str, str, int]] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailAfterWrite(next, self)


@pytest.mark.parametrize("model_runs_files", [True, False], ids=["in-model-activity", "file-tool-activity"])
async def test_write_and_edit_are_idempotent_under_a_retry(
    client: Client, settings: Settings, llm: ScriptedLLM, s3: Minio, pool: asyncpg.Pool, model_runs_files: bool
) -> None:
    injecting_interceptor = FailAfterWriteInterceptor(model_runs_files)
    bucket = settings.s3_bucket
    path = "/notes/idem.md"
    llm.add_rule(
        supervisor_turn(0),
        Reply.tool_calls([("write_file", {"file_path": path, "content": "line one\nstatus: draft\n"}, "w1")]),
        times=1,
    )
    # Applied twice, this edit would leave "draft-final-final".
    llm.add_rule(
        supervisor_turn(1),
        Reply.tool_calls(
            [("edit_file", {"file_path": path, "old_string": "draft", "new_string": "draft-final"}, "e1")]
        ),
        times=1,
    )
    llm.add_rule(supervisor_turn(2), Reply.text("saved"), times=1)

    worker = await build_worker(client, settings, pool, interceptors=[injecting_interceptor])
    async with worker:
        handle = await start_run(client, settings)
        result: AgentResult = await handle.result()
    run_id = handle.id
    assert result.answer == "saved"

    # The failure really was injected, once per writing tool, after the write,
    # in the activity that wrote it.
    activity_type = "call_model" if model_runs_files else "file_tool"
    assert sorted(injecting_interceptor.injected) == [("edit_file", activity_type, 1), ("write_file", activity_type, 1)]
    # The lost model results were not paid for again: one request per turn.
    assert len(llm.requests) == 3

    key = f"runs/{run_id}/files/notes/idem.md"
    assert list_keys(s3, bucket, f"runs/{run_id}/files/") == {key}
    assert read_object(s3, bucket, key) == b"line one\nstatus: draft-final\n"

    # The retried attempts reported the success, not "already exists" / "not found".
    seen = tool_messages_seen(llm)
    assert seen["w1"] == f"Updated file {path}"
    assert seen["e1"] == f"Successfully replaced 1 instance(s) of the string in '{path}'"


async def test_a_reply_writing_one_file_twice_applies_each_call_once_under_retries(
    client: Client, settings: Settings, llm: ScriptedLLM, s3: Minio, pool: asyncpg.Pool
) -> None:
    """A retried model activity runs its reply's file calls again: a second write of
    the reply must not be among them (it would be replayed over its own effect)."""
    injecting_interceptor = FailAfterWriteInterceptor(model_runs_files=True)
    path = "/notes/twice.md"
    llm.add_rule(
        supervisor_turn(0),
        Reply.tool_calls(
            [
                ("write_file", {"file_path": path, "content": "line one\nstatus: draft\n"}, "w1"),
                ("edit_file", {"file_path": path, "old_string": "draft", "new_string": "draft-x"}, "e1"),
                ("read_file", {"file_path": path}, "r1"),
                ("edit_file", {"file_path": path, "old_string": "status", "new_string": "state"}, "e2"),
            ]
        ),
        times=1,
    )
    llm.add_rule(supervisor_turn(1), Reply.text("saved"), times=1)

    async with await build_worker(client, settings, pool, interceptors=[injecting_interceptor]):
        handle = await start_run(client, settings)
        result: AgentResult = await handle.result()
    assert result.answer == "saved"
    # Lost once each: the model activity (it ran the first write) and the file_tool
    # activities of the two edits (left to the workflow, in order).
    assert sorted(injecting_interceptor.injected) == [
        ("edit_file", "file_tool", 1),
        ("edit_file", "file_tool", 1),
        ("write_file", "call_model", 1),
    ]
    assert len(llm.requests) == 2

    key = f"runs/{handle.id}/files/notes/twice.md"
    assert read_object(s3, settings.s3_bucket, key) == b"line one\nstate: draft-x\n"
    seen = tool_messages_seen(llm)
    assert seen["w1"] == f"Updated file {path}"
    assert seen["e1"] == seen["e2"] == f"Successfully replaced 1 instance(s) of the string in '{path}'"
    assert "draft-x" in seen["r1"] and "state" not in seen["r1"]


# --------------------------------------------------------------------------- very large results


BIG_BYTES = 50 * 1024 * 1024


def _big_answer() -> str:
    line = "Scenario line: given a catalogue, when searching, then results are relevant. "
    line = line + "x" * (99 - len(line)) + "\n"
    text = line * (BIG_BYTES // len(line) + 1)
    return text[:BIG_BYTES]


async def test_fifty_megabyte_tool_result_keeps_histories_small(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    """A specialist answers with 50 MB: that becomes the supervisor's task tool result."""
    big = _big_answer()
    llm.add_rule(lambda r: "integration test specialist" in r.system_prompt.lower(), Reply.text(big), times=1)
    handle = await start_run(client, settings)
    result: AgentResult = await asyncio.wait_for(handle.result(), timeout=300)
    assert result.answer.strip()
    big_child = f"{handle.id}/integration_test_specialist-1"
    assert big_child in result.children

    child_result = await client.get_workflow_handle(big_child, result_type=AgentResult).result()
    assert len(child_result.answer) == BIG_BYTES

    # The model saw the big result clipped, not whole.
    final_request = llm.requests[-1].request
    tool_contents = [str(m.get("content")) for m in final_request.messages if m.get("role") == "tool"]
    clipped = [c for c in tool_contents if "characters of this tool result left out" in c]
    assert len(clipped) == 1 and len(clipped[0]) < 200_000

    # The big payloads went to the bucket (ExternalStorage, payloads/), and the answer is stored once as a message.
    big_payloads = [
        o
        for o in s3.list_objects(settings.s3_bucket, prefix="payloads/", recursive=True)
        if handle.id in o.object_name and (o.size or 0) >= BIG_BYTES
    ]
    print(f"\npayloads >= 50 MB: {[(o.object_name, o.size) for o in big_payloads]}")
    assert big_payloads

    # Histories: no event anywhere near the 2 MB limit, and small in total.
    for workflow_id in [handle.id, *result.children]:
        sizes = await history_event_sizes(client, workflow_id)
        print(f"\n{workflow_id}: {len(sizes)} events, {sum(sizes)} B in all, largest {max(sizes)} B")
        assert max(sizes) < MAX_EVENT_BYTES, (workflow_id, max(sizes))
        assert sum(sizes) < 2 * 1024 * 1024, (workflow_id, sum(sizes))
