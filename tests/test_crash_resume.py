"""A worker SIGKILLed mid-run: another worker finishes it, paying no completed model call twice."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
from temporalio.client import Client

from deepagents_temporal import pgstore
from deepagents_temporal.pgstore import DecisionKind, RunStatus
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import calls_made_twice, model_results, start_run, stop_process, unique_request, worker_process


def _is_synthesis_call(req: ChatRequest) -> bool:
    # The supervisor's last call: after planning, delegating and closing the todos.
    return "task" in req.tool_names and req.turn == 3


async def test_sigkilled_worker_run_resumes_without_paying_twice(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.add_rule(_is_synthesis_call, Reply.hold(60), times=1)
    first = worker_process(settings)
    second = None
    try:
        request = unique_request()
        handle = await start_run(client, settings, request, chain=["test-model", "fallback-model"])
        held = await asyncio.to_thread(llm.wait_for, lambda record: _is_synthesis_call(record.request), 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = worker_process(settings)
        result: AgentResult = await handle.result()
    finally:
        for process in (first, second):
            stop_process(process)

    assert result.answer.strip() and len(result.children) == 3
    assert held.aborted and not held.completed
    assert not calls_made_twice(llm.requests, request), "a completed model call was made twice"
    # The lost call was retried on the same model: a crash does not burn a fallback.
    calls = await model_results(client, handle)
    assert calls[-1].model == "test-model" and calls[-1].attempt == 2 and not calls[-1].failed_attempts
    assert "fallback-model" not in {r.model for r in llm.requests}

    # PostgreSQL saw the same story once: COMPLETED, one row per decision.
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status is RunStatus.COMPLETED
    timeline = await pgstore.list_decisions(pool, handle.id)
    assert [d.seq for d in timeline] == list(range(len(timeline)))
    assert [d.step for d in timeline if d.kind is DecisionKind.MODEL_CALL] == [1, 2, 3, 4]
