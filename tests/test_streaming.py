"""The models' text as it is written (PostgreSQL NOTIFY from call_model) and `starter.py watch`.

Streamed text adds up to the answers the run keeps; a worker killed while an
answer streams leaves that answer once in the result while viewers start it
over with the new attempt; `watch` follows a run it did not start to its end,
refuses an unknown id, and detaches on Ctrl-C leaving the run alone.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from cli.live_view import PlainView, RunWatcher, render_panel
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from deepagents_temporal.token_stream import (
    CUT_NOTICE,
    GAP_MARK,
    MAX_LIVE_CHARS,
    MAX_PAYLOAD_BYTES,
    StreamBoard,
    StreamChunk,
    StreamListener,
    TokenPublisher,
    channel,
)
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.cli_process import CliProcess, cluster_env
from tests.helpers import model_results, start_run, stop_process, unique_request, worker_process
from worker import build_worker

PATIENCE = 120
# The supervisor's synthesis, streamed slowly enough to kill its worker midway.
SYNTHESIS = "\n".join(
    f"Scenario {n}: search for product {n} returns matching items ranked by relevance." for n in range(1, 13)
)


def _chunk(**fields: object) -> StreamChunk:
    values: dict = dict(run_id="r", workflow_id="r", call="run-1/5", agent="supervisor", step=2, attempt=1)
    values.update(model="m", seq=0)
    values.update(fields)
    return StreamChunk(**values)


def test_the_board_starts_a_call_over_on_a_new_attempt_and_ignores_stale_chunks() -> None:
    board = StreamBoard()
    board.apply(_chunk(seq=0, text="Hello "))
    board.apply(_chunk(seq=1, text="wor"))
    restarted = board.apply(_chunk(attempt=2, seq=0, text="Hello "))
    assert restarted is not None and restarted.restarted
    assert board.apply(_chunk(attempt=1, seq=2, text="ld")) is None, "a chunk of the lost attempt came late"
    board.apply(_chunk(attempt=2, seq=1, text="world"))
    board.apply(_chunk(attempt=2, seq=2, end=True))
    call = board.calls["r"]
    assert (call.text, call.ended, call.restarts) == ("Hello world", True, 1)
    # A viewer that missed chunks marks the gap; a repeated chunk is not shown twice.
    board.apply(_chunk(call="run-1/9", step=3, seq=0, text="a"))
    assert board.apply(_chunk(call="run-1/9", step=3, seq=0, text="a")) is None
    board.apply(_chunk(call="run-1/9", step=3, seq=3, text="b"))
    assert board.calls["r"].text == f"a{GAP_MARK}b"
    # An older call's chunk never replaces the newer call.
    assert board.apply(_chunk(call="run-1/5", step=2, seq=5, text="x")) is None


def test_the_panel_shows_the_tail_of_each_answer_being_written_and_a_restart() -> None:
    watcher = RunWatcher(None, "r")  # type: ignore[arg-type] - rendering asks no server
    lines = "".join(f"line {n}\n" for n in range(1, 21))
    watcher.take_chunk(_chunk(seq=0, text=lines))
    watcher.take_chunk(_chunk(attempt=2, seq=0, text=lines + "line 21 is being wr"))
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=100).print(render_panel(watcher, []))
    shown = out.getvalue()
    assert "[supervisor] step 2, m, attempt 2 (started over" in shown
    assert "line 21 is being wr" in shown and re.search(r"line 16\b", shown) and not re.search(r"line 15\b", shown)
    # Once the answer is complete it leaves the panel (the events and the result have it).
    watcher.take_chunk(_chunk(attempt=2, seq=1, end=True))
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=100).print(render_panel(watcher, []))
    assert "line 21" not in out.getvalue()


def test_plain_lines_are_whole_lines_whatever_the_chunks_arriving_together(capsys: pytest.CaptureFixture) -> None:
    watcher, view = RunWatcher(None, "r"), PlainView()  # type: ignore[arg-type] - no server asked
    watcher.take_chunk(_chunk(seq=0, text="Scenario 1: sea"))
    view.stream(watcher)
    # Shown together: the end marker arrived before the view looked.
    watcher.take_chunk(_chunk(seq=1, text="rch\nScenario 2: "))
    watcher.take_chunk(_chunk(seq=2, text="cart"))
    watcher.take_chunk(_chunk(seq=3, end=True))
    view.stream(watcher)
    watcher.take_chunk(_chunk(attempt=2, seq=0, text="Scenario 1: search\n"))
    view.stream(watcher)
    lines = [line.split("│ ", 1)[1] for line in capsys.readouterr().out.splitlines() if "│ " in line]
    assert lines == ["Scenario 1: search", "Scenario 2: cart", "Scenario 1: search"]


def test_channels_are_plain_identifiers_of_one_run() -> None:
    names = {channel("qa-20261202-040429-abc123"), channel("qa-20261202-040429-abc123/e2e-1"), channel("x")}
    assert len(names) == 3
    assert all(name.isidentifier() and len(name.encode()) < 63 for name in names)


@asynccontextmanager
async def _listening(settings: Settings, run_id: str) -> AsyncIterator[tuple[StreamBoard, list[StreamChunk]]]:
    board, chunks = StreamBoard(), []

    def take(chunk: StreamChunk) -> None:
        chunks.append(chunk)
        board.apply(chunk)

    assert settings.database_url is not None
    async with StreamListener(settings.database_url.get_secret_value(), run_id, take):
        yield board, chunks


async def test_a_writer_sends_in_order_in_notify_sized_chunks_and_cuts_huge_answers(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    run_id = f"test-stream-{uuid.uuid4().hex[:12]}"
    text = "".join(f"{n} \u00e9\U0001f600\x01 " for n in range(60_000))  # over MAX_LIVE_CHARS, 6-byte escapes
    async with _listening(settings, run_id) as (board, chunks):
        writer = TokenPublisher(pool).writer(_chunk(run_id=run_id, workflow_id=run_id))
        for start in range(0, len(text), 1000):
            writer.add(text[start : start + 1000])
        await writer.close()
        async with asyncio.timeout(PATIENCE):
            while not board.calls.get(run_id) or not board.calls[run_id].ended:
                await asyncio.sleep(0.05)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert all(len(c.model_dump_json().encode()) <= MAX_PAYLOAD_BYTES for c in chunks)
    assert board.calls[run_id].text == text[:MAX_LIVE_CHARS] + CUT_NOTICE


async def test_a_broken_character_or_a_closed_pool_never_fails_the_call(settings: Settings, pool: asyncpg.Pool) -> None:
    """Live text is a courtesy: what a model sends, or a database gone away, must not fail a paid answer."""
    run_id = f"test-stream-{uuid.uuid4().hex[:12]}"
    async with _listening(settings, run_id) as (board, _):
        writer = TokenPublisher(pool).writer(_chunk(run_id=run_id, workflow_id=run_id))
        writer.add("half an emoji: \ud83d and the rest")
        await writer.close()  # must not raise
        async with asyncio.timeout(PATIENCE):
            while not board.calls.get(run_id) or not board.calls[run_id].ended:
                await asyncio.sleep(0.05)
    assert board.calls[run_id].text == "half an emoji: ? and the rest"

    assert settings.database_url is not None
    gone = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    await gone.close()
    writer = TokenPublisher(gone).writer(_chunk(run_id=run_id, workflow_id=run_id))
    writer.add("nobody will see this")
    await writer.close()  # must not raise either


async def test_streamed_text_adds_up_to_each_answer_the_run_keeps(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    run_id = f"test-stream-{uuid.uuid4().hex[:12]}"
    async with _listening(settings, run_id) as (board, chunks):
        handle = await start_run(client, settings, unique_request(), run_id=run_id)
        result: AgentResult = await handle.result()
        # The last chunks are sent before the activity returns; give the listener a moment to read them.
        async with asyncio.timeout(PATIENCE):
            while not board.calls.get(run_id) or not board.calls[run_id].ended:
                await asyncio.sleep(0.1)

    # Every supervisor answer with text was streamed whole, in order, once.
    calls = await model_results(client, handle)
    streamed = {}
    for chunk in chunks:
        if chunk.workflow_id == run_id:
            streamed.setdefault(chunk.step, []).append(chunk)
    for step, call in enumerate(calls, start=1):
        mine = streamed.get(step, [])
        assert [c.seq for c in mine] == list(range(len(mine))), f"step {step}: chunks out of order or missing"
        assert "".join(c.text for c in mine) == call.message.content, f"step {step}"
        assert not mine or mine[-1].end
    assert board.calls[run_id].text == result.answer and result.answer.strip()
    # The sub-agents' text came on the same channel, each under its own workflow id.
    assert set(result.children) <= {c.workflow_id for c in chunks}


async def test_with_streaming_off_the_models_get_plain_requests_and_the_run_completes(
    client: Client, settings: Settings, pool: asyncpg.Pool, llm: ScriptedLLM
) -> None:
    plain = settings.model_copy(
        update={"deepagent_stream_text": False, "temporal_task_queue": f"plain-{uuid.uuid4().hex[:8]}"}
    )
    request = unique_request()
    async with await build_worker(client, plain, pool):
        handle = await start_run(client, plain, request)
        result: AgentResult = await handle.result()
    assert result.answer.strip()
    mine = [r for r in llm.requests if request in str(r.request.messages)]
    assert mine and not any(r.request.stream for r in mine)
    assert result.usage.total_tokens > 0  # a plain completion reports its usage


def _is_synthesis_call(req: ChatRequest) -> bool:
    # The supervisor's last call: after planning, delegating and closing the todos.
    return "task" in req.tool_names and req.turn == 3


async def test_a_worker_killed_mid_answer_leaves_it_once_and_viewers_start_it_over(
    client: Client, settings: Settings, llm: ScriptedLLM
) -> None:
    llm.add_rule(_is_synthesis_call, Reply.text(SYNTHESIS, stream_gap=0.25), times=1)
    llm.add_rule(_is_synthesis_call, Reply.text(SYNTHESIS), times=1)
    run_id = f"test-stream-{uuid.uuid4().hex[:12]}"
    first, second, watcher = worker_process(settings), None, None
    try:
        async with _listening(settings, run_id) as (board, _chunks):
            with llm.paused():
                handle = await start_run(client, settings, unique_request(), run_id=run_id)
                # Attached by a command that did not start the run; it follows the run (and so
                # listens) once it says what the first model call waits for.
                watcher = CliProcess(["watch", run_id], cluster_env(settings))
                await asyncio.to_thread(watcher.wait_for, r"\[qa_orchestrator\] waiting for test-model", PATIENCE)
            await asyncio.to_thread(watcher.wait_for, r"│ Scenario 2:", PATIENCE)
            assert board.calls[run_id].chunk.attempt == 1 and not board.calls[run_id].ended
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            second = worker_process(settings)
            result: AgentResult = await handle.result()
            async with asyncio.timeout(PATIENCE):
                while not board.calls[run_id].ended:
                    await asyncio.sleep(0.1)
            code = await asyncio.to_thread(watcher.wait, PATIENCE)
    finally:
        for process in (first, second):
            stop_process(process)
        if watcher is not None:
            watcher.stop()

    # The kept answer is the second attempt's, once: no text of the lost attempt in it.
    assert result.answer == SYNTHESIS
    calls = await model_results(client, handle)
    # Attempt 2, or a later one when a loaded machine also cost attempt 2 its heartbeat.
    kept_by = calls[-1].attempt
    assert kept_by >= 2 and calls[-1].message.content == SYNTHESIS
    # A listener started the text over with that attempt and ended with the answer itself.
    shown = board.calls[run_id]
    assert shown.text == SYNTHESIS and shown.chunk.attempt == kept_by and 1 <= shown.restarts <= kept_by - 1
    # So did `watch`: the lost attempt's lines, a line saying it starts over, then every line once.
    assert code == 0, watcher.output
    output = watcher.output
    before, notice, after = output.partition("writes the answer again from its start")
    assert notice, output
    assert "│ Scenario 1:" in before
    # And the rest of the run's story: todos, sub-agents, model calls.
    assert "[qa_orchestrator] todo list:" in before and "e2e_test_specialist (" in before
    assert "[qa_orchestrator] step 1: test-model answered" in before
    streamed_after = [line.split("│ ", 1)[1] for line in after.splitlines() if "│ " in line]
    assert streamed_after == SYNTHESIS.splitlines(), after
    assert f"run id: {run_id}" in after and "status: COMPLETED" in after


async def test_watch_refuses_an_unknown_run_and_ctrl_c_detaches_leaving_the_run_alone(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    unknown = CliProcess(["watch", "no-such-run"], cluster_env(settings))
    assert await asyncio.to_thread(unknown.wait, PATIENCE) == 2
    assert "error: no run 'no-such-run'" in unknown.output and "Traceback" not in unknown.output

    with llm.paused():
        handle = await start_run(client, settings, unique_request())
        watcher = CliProcess(["watch", handle.id], cluster_env(settings))
        try:
            await asyncio.to_thread(watcher.wait_for, r"^watching run .*RUNNING", PATIENCE)
            watcher.process.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(watcher.wait, PATIENCE) == 130
        finally:
            watcher.stop()
        assert "detached" in watcher.output and "Traceback" not in watcher.output
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    result: AgentResult = await handle.result()
    assert result.answer.strip()
