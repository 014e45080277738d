"""`python worker.py` as people run it: the model chain from its environment, and
a clean stop on SIGINT / SIGTERM with a model call in flight."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import asyncpg
import pytest
from temporalio.client import Client

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.helpers import (
    calls_made_twice,
    model_results,
    start_run,
    stop_process,
    unique_request,
    worker_output,
    worker_process,
)
from worker import build_worker


async def test_the_workers_model_chain_comes_from_their_environment(
    client: Client, settings: Settings, llm: ScriptedLLM
) -> None:
    llm.unknown_model("missing-primary", "missing-fallback")
    process = worker_process(
        settings,
        DEEPAGENT_MODEL="missing-primary",
        DEEPAGENT_FALLBACK_MODELS=" missing-fallback , test-model ",
    )
    try:
        # An empty chain in the run: the workers decide.
        handle = await start_run(client, settings, chain=[])
        result: AgentResult = await handle.result()
    finally:
        stop_process(process)
    assert result.models_used == ["test-model"]
    first = (await model_results(client, handle))[0]
    assert [e.model for e in first.failed_attempts] == ["missing-primary", "missing-fallback"]
    assert first.model == "test-model" and first.attempt == 3
    assert [r.model for r in llm.requests[:3]] == ["missing-primary", "missing-fallback", "test-model"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_worker_cleanly_and_the_run_goes_on(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool, sig: signal.Signals
) -> None:
    llm.add_rule(None, Reply.hold(60), times=1)
    process = worker_process(settings)
    try:
        request = unique_request()
        handle = await start_run(client, settings, request)
        held = await asyncio.to_thread(llm.wait_for, lambda r: r.in_flight, 60)
        process.send_signal(sig)
        await asyncio.to_thread(process.wait, 60)
    except subprocess.TimeoutExpired:
        stop_process(process)
        raise
    finally:
        stop_process(process)
    output = worker_output(process)
    assert process.returncode == 0, output
    assert "worker: shutting down" in output
    assert "Traceback" not in output, output
    # The held call was given up with the worker; another worker finishes the run.
    assert held.aborted and not held.completed
    async with await build_worker(client, settings, pool):
        result: AgentResult = await handle.result()
    assert result.answer.strip()
    assert not calls_made_twice(llm.requests, request), "a completed model call was made twice"
