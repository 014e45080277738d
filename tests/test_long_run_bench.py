"""bench/long_run.py, small: its run completes across hops and its figures are what happened.

The 1,000-step figures are in docs/benchmarks.md; here the same code runs 12
steps against the test stack, forced to continue as new every 5 steps.
"""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from bench.long_run import long_run
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM


async def test_the_long_run_benchmark_completes_a_small_run(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    result, figures = await long_run(client, settings, llm, pool, 12, 20 * 1024, continue_as_new_steps=5)
    assert result.answer == "done after 12 steps"
    assert figures.steps == 13
    # Hops after steps 5 and 10; each run's history is far from Temporal's limits.
    assert figures.hops == 2
    assert 0 < figures.largest_history_events < 1_000
    assert 0 < figures.largest_history_bytes < 1_000_000
    assert figures.request_bytes_lean is None  # the run ends before step 100
