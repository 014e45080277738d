"""Long runs, end to end: summarization in a run, continue-as-new mid-turn, with
sub-agents, replay of a history with a hop, and `result` of a run that hopped.

Hops are forced with ``continue_as_new_steps`` (small here; in production
Temporal's suggestion or the history length decides). The scripted model's
brain for these runs counts the agent's steps from the conversation itself,
summaries included, so a run answers the same however often it hopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from deepagents_temporal import s3
from deepagents_temporal.profiles.library import get_builtin_profile
from deepagents_temporal.schema import AgentResult, Progress
from deepagents_temporal.services import data_converter, s3_client
from deepagents_temporal.settings import Settings
from deepagents_temporal.summarization import SUMMARY_HEADER, SUMMARY_SYSTEM_PROMPT
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import ROOT, bucket_text, start_run
from tests.test_cli import _env
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
_STEPS = re.compile(r"STEPS=(\d+)")


def steps_before(req: ChatRequest) -> int:
    """The agent's model calls before this one: those in the request plus those a summary stands for."""
    text = "\n".join(req.user_texts)
    summarized = max((int(n) for n in _STEPS.findall(text)), default=0)
    if SUMMARY_SYSTEM_PROMPT in req.system_prompt:
        return summarized + text.count("## assistant")
    return summarized + req.turn


@pytest.fixture
def brains(llm: ScriptedLLM) -> Iterator[dict[str, Callable[[ChatRequest, int], Reply]]]:
    """Brains by request marker: each gets the request and the agent's step (0 = first call)."""
    table: dict[str, Callable[[ChatRequest, int], Reply]] = {}
    before = llm.brain

    def brain(req: ChatRequest) -> Reply:
        for marker, answer in table.items():
            if marker in req.first_user_text or any(marker in t for t in req.user_texts):
                if SUMMARY_SYSTEM_PROMPT in req.system_prompt:
                    return Reply.text(f"The agent worked on {marker}. STEPS={steps_before(req)}")
                return answer(req, steps_before(req))
        return before(req)

    llm.brain = brain
    try:
        yield table
    finally:
        llm.brain = before


def note(n: int, size: int = 3000) -> str:
    return (f"note {n} " * (size // 7 + 1))[:size]


def notes_brain(steps: int) -> Callable[[ChatRequest, int], Reply]:
    """Todos first, then one note file a step, todos done, then the answer."""

    def answer(req: ChatRequest, step: int) -> Reply:
        if step == 0:
            return Reply.tool_calls([("write_todos", {"todos": [{"content": "write notes", "status": "in_progress"}]})])
        if step <= steps:
            return Reply.tool_calls([("write_file", {"file_path": f"/notes/n{step:02d}.md", "content": note(step)})])
        if step == steps + 1:
            return Reply.tool_calls([("write_todos", {"todos": [{"content": "write notes", "status": "completed"}]})])
        return Reply.text(f"wrote {steps} notes")

    return answer


async def all_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the workflow (one per hop), oldest first."""
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    runs.sort(key=lambda r: r.start_time)
    return [await client.get_workflow_handle(workflow_id, run_id=r.run_id).fetch_history() for r in runs]


def ended_by_continue_as_new(history: WorkflowHistory) -> bool:
    return history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def run_rows(pool: asyncpg.Pool, run_id: str) -> tuple[list, list]:
    runs = await pool.fetch("SELECT * FROM runs WHERE run_id = $1", run_id)
    decisions = await pool.fetch(
        "SELECT seq, kind, summary, payload FROM decisions WHERE run_id = $1 ORDER BY seq", run_id
    )
    return runs, decisions


def read_object(settings: Settings, key: str) -> str:
    client = s3_client(settings)
    response = client.get_object(settings.s3_bucket, key)
    try:
        return response.read().decode("utf-8")
    finally:
        response.close()
        response.release_conn()


async def _replays(settings: Settings, histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))
    for history in histories:
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert outcome.replay_failure is None, f"{history.workflow_id}: {outcome.replay_failure}"


async def test_a_run_forced_to_hop_twice_mid_turn_stays_one_run(
    client: Client, settings: Settings, worker: Worker, pool: asyncpg.Pool, brains: dict
) -> None:
    marker = f"notes-{uuid.uuid4().hex[:8]}"
    brains[marker] = notes_brain(3)  # 6 model calls: todos, 3 notes, todos done, answer
    handle = await start_run(client, settings, f"write notes ({marker})", continue_as_new_steps=2)
    result: AgentResult = await handle.result()

    # Hops after steps 2 and 4, each between a tool result and the next model call.
    histories = await all_runs(client, handle.id)
    assert [ended_by_continue_as_new(h) for h in histories] == [True, True, False]
    assert result.answer == "wrote 3 notes"
    assert result.steps == 6
    # Todos, files and usage made before the hops are all in the result.
    assert [(t.content, t.status) for t in result.todos] == [("write notes", "completed")]
    keys = {a.key for a in result.artifacts}
    assert {f"runs/{handle.id}/files/notes/n0{i}.md" for i in (1, 2, 3)} <= keys
    assert s3.log_key(handle.id) in keys
    runs, decisions = await run_rows(pool, handle.id)
    assert len(runs) == 1
    row = runs[0]
    assert row["status"] == "COMPLETED"
    assert row["total_tokens"] == result.usage.total_tokens > 0
    model_calls = [d for d in decisions if d["kind"] == "model_call"]
    assert len(model_calls) == 6
    assert [d["seq"] for d in decisions] == list(range(len(decisions)))
    # run.log: every step of every hop, in order, once.
    log = read_object(settings, s3.log_key(handle.id))
    steps = [int(n) for n in re.findall(r"step (\d+): test-model answered", log)]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert log.count("continuing as new after step") == 2
    assert log.index("continuing as new after step 2") < log.index("step 3: test-model answered")

    # The progress query of the last run goes on from the earlier runs' events.
    progress: Progress = await client.get_workflow_handle(handle.id).query("progress", 0, result_type=Progress)
    assert progress.step == 6 and progress.done
    # Numbered on from the earlier runs' events; the last of those are carried for the live view.
    seqs = [e.seq for e in progress.events]
    assert seqs == list(range(seqs[0], progress.next_seq))
    assert any("continuing as new after step 4" in e.text for e in progress.events)
    assert any(e.kind == "final" and e.text == "finished after 6 model calls" for e in progress.events)

    # Replay of every run, the ones that continued as new included.
    await _replays(settings, histories)
    tag = os.environ.get("RECORD_HISTORIES")
    if tag:
        for n, history in enumerate(histories):
            record = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
            (HISTORIES / f"{tag}_hop_{n}.json").write_text(json.dumps(record, indent=1) + "\n")

    # `result` of a run that hopped: the CLI follows it by workflow id to its last run.
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "result", handle.id],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "wrote 3 notes" in shown.stdout
    assert f"runs/{handle.id}/files/notes/n01.md" in shown.stdout or "n01.md" in shown.stdout
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "status", handle.id],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "status: COMPLETED" in status.stdout
    assert "- [completed] write notes" in status.stdout


async def test_a_hop_while_sub_agents_run_waits_for_them(
    client: Client, settings: Settings, worker: Worker, brains: dict
) -> None:
    marker = f"team-{uuid.uuid4().hex[:8]}"

    def supervisor(req: ChatRequest, step: int) -> Reply:
        if "task" not in req.tool_names:
            # A sub-agent: two steps, then its answer.
            if step < 2:
                return Reply.tool_calls([("ls", {"path": "/"})])
            return Reply.text(f"specialist done ({marker})")
        if step == 0:
            return Reply.tool_calls(
                [
                    ("task", {"subagent_type": name, "description": f"work on {marker}"})
                    for name in ("e2e_test_specialist", "functional_test_specialist")
                ]
            )
        return Reply.text("both specialists answered")

    brains[marker] = supervisor
    handle = await start_run(client, settings, f"plan tests ({marker})", continue_as_new_steps=1)
    result: AgentResult = await handle.result()
    assert result.answer == "both specialists answered"
    assert len(result.children) == 2

    histories = await all_runs(client, handle.id)
    assert [ended_by_continue_as_new(h) for h in histories] == [True, False]
    first = list(histories[0].events)
    completed = [
        i for i, e in enumerate(first) if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
    ]
    started = [
        i for i, e in enumerate(first) if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    # Both children were started, and had returned, before the supervisor continued as new.
    assert len(started) == 2 and len(completed) == 2
    assert max(completed) < len(first) - 1
    # Each sub-agent hopped too (one step per run) and its parent got its final answer.
    for child in result.children:
        child_runs = await all_runs(client, child)
        assert len(child_runs) == 3
    await _replays(settings, histories)


async def test_a_long_conversation_is_summarized_and_keeps_what_matters(
    client: Client, settings: Settings, worker: Worker, pool: asyncpg.Pool, llm: ScriptedLLM, brains: dict
) -> None:
    marker = f"summary-{uuid.uuid4().hex[:8]}"
    brains[marker] = notes_brain(8)
    profile = get_builtin_profile("qa").model_copy(update={"summarize_after_tokens": 4000})
    handle = await start_run(client, settings, f"write notes ({marker})", profile_snapshot=profile)
    result: AgentResult = await handle.result()
    assert result.answer == "wrote 8 notes"
    assert result.steps == 11

    mine = [r.request for r in llm.requests if marker in json.dumps(r.request.messages)]
    summaries = [r for r in mine if SUMMARY_SYSTEM_PROMPT in r.system_prompt]
    assert summaries, "no summarization call"
    after = next(r for r in mine[mine.index(summaries[0]) + 1 :] if SUMMARY_SYSTEM_PROMPT not in r.system_prompt)
    # The request after the summary: the system prompt, one summary message, the recent messages whole.
    assert after.messages[0]["role"] == "system" and "QA lead" in after.messages[0]["content"]
    summary = after.messages[1]
    assert summary["role"] == "user" and summary["content"].startswith(SUMMARY_HEADER)
    assert "/conversation_history/supervisor-001.md" in summary["content"]
    assert "- [in_progress] write notes" in summary["content"]
    assert "- /notes/n01.md" in summary["content"]  # as the agent reads it back
    rest = after.messages[2:]
    assert rest and rest[0]["role"] != "tool"
    called = {c["id"] for m in rest for c in m.get("tool_calls") or []}
    assert {m["tool_call_id"] for m in rest if m["role"] == "tool"} <= called
    # The condensed messages are whole in the run's files, the request among them.
    history = read_object(settings, f"runs/{handle.id}/files/conversation_history/supervisor-001.md")
    assert f"write notes ({marker})" in history and note(1) in history

    # A decision row and a line in the live view.
    rows = await pool.fetch("SELECT summary, payload FROM decisions WHERE run_id = $1 ORDER BY seq", handle.id)
    summarized = [json.loads(r["payload"]) for r in rows if "summary of" in r["summary"]]
    assert summarized and summarized[0]["summarization"]["history_path"] == "/conversation_history/supervisor-001.md"
    assert summarized[0]["summarization"]["tokens_before"] >= 4000
    log = read_object(settings, s3.log_key(handle.id))
    assert "summarized" in log and "/conversation_history/supervisor-001.md" in log


async def test_old_large_tool_traffic_is_shortened_in_the_request_only(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, brains: dict
) -> None:
    marker = f"lean-{uuid.uuid4().hex[:8]}"
    steps = 14  # 28 messages after the request: the oldest are shortened

    def answer(req: ChatRequest, step: int) -> Reply:
        if step < steps:
            return Reply.tool_calls(
                [("write_file", {"file_path": f"/big/b{step:02d}.md", "content": note(step, 6000)})]
            )
        if step == steps:
            return Reply.tool_calls([("read_file", {"file_path": "/big/b00.md"})])
        if step <= steps + 11:
            # 22 messages more: the read's result is old by the last call.
            return Reply.tool_calls([("ls", {"path": "/big"})])
        return Reply.text("done")

    brains[marker] = answer
    handle = await start_run(client, settings, f"big files ({marker})", max_steps=40)
    result: AgentResult = await handle.result()
    assert result.answer == "done"
    last = [r.request for r in llm.requests if marker in json.dumps(r.request.messages)][-1]
    calls = [c for m in last.messages for c in m.get("tool_calls") or []]
    first_write = json.loads(calls[0]["function"]["arguments"])
    assert first_write["file_path"] == "/big/b00.md"
    assert "the whole is in the run's file /big/b00.md" in first_write["content"]
    assert len(first_write["content"]) < 500
    # An old large tool result: its head and the run's file that holds it whole.
    read = next(m for m in last.messages if m.get("tool_call_id") == calls[steps]["id"])
    assert len(read["content"]) < 600
    found = re.search(r"the run's file (/large_tool_results/\S+\.txt)", read["content"])
    assert found, read["content"]
    whole = await asyncio.to_thread(read_object, settings, f"runs/{handle.id}/files{found.group(1)}")
    # That file holds the result as the model was sent it while it was recent.
    mine = [r.request for r in llm.requests if marker in json.dumps(r.request.messages)]
    sent_whole = next(m["content"] for m in mine[steps + 1].messages if m.get("tool_call_id") == calls[steps]["id"])
    assert whole == sent_whole and len(whole) > 2_000
    assert read["content"].startswith(whole[:200])
    # The recent messages go whole.
    assert last.messages[-1]["role"] == "tool" and "b13.md" in last.messages[-1]["content"]
    # The stored files keep everything.
    text = await asyncio.to_thread(
        bucket_text, s3_client(settings), settings.s3_bucket, [f"runs/{handle.id}/files/big/"]
    )
    assert note(0, 6000) in text


async def test_run_follows_a_run_that_continues_as_new_to_its_end(
    client: Client, settings: Settings, worker: Worker, brains: dict
) -> None:
    marker = f"cli-{uuid.uuid4().hex[:8]}"
    brains[marker] = notes_brain(3)
    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "run", "--continue-as-new-steps", "2", f"write notes ({marker})"],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr
    run_id = re.search(r"^run id: (\S+)$", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert len(await all_runs(client, run_id)) == 3
    # Every step's line, across both hops, once; then the answer and the final status.
    steps = [int(n) for n in re.findall(r"step (\d+): test-model answered", out)]
    assert steps == [1, 2, 3, 4, 5, 6], out
    assert out.count("continuing as new after step") == 2
    assert "wrote 3 notes" in out
    assert "status: COMPLETED in 6 supervisor steps" in out
