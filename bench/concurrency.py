"""P4, concurrency: many runs at once on one worker process, next to the floor.

R runs (500 by default) of S steps (10) are started together; each step is one
model call that the scripted model answers after a fixed latency (200 ms) with
one ``write_todos`` call, the last with text. One ``python worker.py`` process
serves them all, configured only through its environment (the settings used
are printed). The ideal wall time is what the runs would take if nothing but
the model's latency counted: S x latency, plus the start-up of one run alone
(measured first, on the same worker).

Then the floor, on the same server: R runs of a bare workflow doing S
activities that each sleep the latency (bench/floor_workflow.py), on one
worker process of their own with the same limits (its activity slots those of
ours for model calls). It shows what Temporal itself allows on this machine
for the same load.

Prints, for ours and the floor, the wall time, the ideal and the worker's peak
RSS; then ours / floor; last, the figure to compare: wall / ideal (goal <= 1.3).
The worker settings can be set in the environment to try others (see
``worker_settings``).

    python bench/concurrency.py [--runs 500] [--steps 10] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from floor_workflow import SleepFloorWorkflow  # noqa: E402
from harness import Bench, bench_services, machine_line, peak_rss_mib, worker_environment  # noqa: E402

from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit  # noqa: E402
from scripted_llm import ChatRequest, Reply  # noqa: E402

TODO_CALL = ("write_todos", {"todos": [{"content": "keep going", "status": "in_progress"}]})


def latency_brain(steps: int, latency: float):
    def brain(request: ChatRequest) -> Reply:
        if request.turn >= steps - 1:
            return Reply.text("done", delay=latency)
        return Reply.tool_calls([TODO_CALL], delay=latency)

    return brain


def worker_settings(runs: int) -> dict[str, str]:
    """Enough of everything for every run's model call to be in flight at once; each can be
    set in the benchmark's environment instead, to try other values."""
    defaults = {
        "DEEPAGENT_MODEL_CONCURRENCY": str(runs),
        "DEEPAGENT_MAX_CONCURRENT_WORKFLOW_TASKS": "200",
        "DEEPAGENT_MAX_CONCURRENT_ACTIVITIES": "200",
        "DEEPAGENT_WORKFLOW_TASK_POLLERS": "20",
        "DEEPAGENT_ACTIVITY_TASK_POLLERS": "20",
    }
    return {name: os.environ.get(name, value) for name, value in defaults.items()}


@dataclass
class Figures:
    alone: float  # one run by itself, seconds
    wall: float  # all runs together
    ideal: float
    rss: float  # the worker's peak RSS, MiB


async def measure(
    process: subprocess.Popen, one_run: Callable[[str], Awaitable[None]], runs: int, steps: int, latency: float
) -> Figures:
    """Time one run alone, then ``runs`` together, on the worker ``process`` (stopped after)."""
    try:
        await one_run("warm")  # the worker's imports and first connections, not counted
        started = time.perf_counter()
        await one_run("alone")
        alone = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(one_run(str(n)) for n in range(runs)))
        wall = time.perf_counter() - started
        rss = peak_rss_mib(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return Figures(alone, wall, steps * latency + max(alone - steps * latency, 0.0), rss)


async def ours(bench: Bench, tuning: dict[str, str], runs: int, steps: int, latency: float) -> Figures:
    client, settings = bench.client, bench.settings
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")],
        cwd=ROOT,
        env=worker_environment(settings, **tuning),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def one_run(tag: str) -> None:
        result = await client.execute_workflow(
            "AgentWorkflow",
            AgentInput(request="benchmark", model_chain=["bench-model"], max_steps=steps + 1),
            id=f"bench-conc-{tag}-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
            result_type=AgentResult,
        )
        assert result.steps == steps, f"run {tag} took {result.steps} steps, not {steps}"

    return await measure(worker, one_run, runs, steps, latency)


async def floor(bench: Bench, tuning: dict[str, str], runs: int, steps: int, latency: float) -> Figures:
    queue = f"bench-floor-{uuid.uuid4().hex[:6]}"
    # Ours' limits: its workflow-task slots and pollers, and as many activity
    # slots as it has for model calls (the sleeps stand for them).
    limits = [
        tuning["DEEPAGENT_MAX_CONCURRENT_WORKFLOW_TASKS"],
        tuning["DEEPAGENT_MODEL_CONCURRENCY"],
        tuning["DEEPAGENT_WORKFLOW_TASK_POLLERS"],
        tuning["DEEPAGENT_ACTIVITY_TASK_POLLERS"],
    ]
    code = (
        "import asyncio, sys; sys.path.insert(0, sys.argv[1]); import floor_workflow; "
        "asyncio.run(floor_workflow.serve(*sys.argv[2:4], *map(int, sys.argv[4:])))"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT / "bench"), bench.settings.temporal_address or "", queue, *limits],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def one_run(tag: str) -> None:
        await bench.client.execute_workflow(
            SleepFloorWorkflow.run,
            args=[steps, latency],
            id=f"bench-floor-{tag}-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )

    return await measure(worker, one_run, runs, steps, latency)


async def main(runs: int, steps: int, latency: float) -> None:
    tuning = worker_settings(runs)
    print(machine_line(), flush=True)
    async with bench_services() as bench:
        bench.llm.brain = latency_brain(steps, latency)
        agent = await ours(bench, tuning, runs, steps, latency)
        bare = await floor(bench, tuning, runs, steps, latency)
    print("worker settings: " + " ".join(f"{name}={value}" for name, value in tuning.items()))
    print(f"runs {runs} x steps {steps}, model latency {latency * 1000:.0f} ms")
    print(f"{'':>6} {'one run alone s':>16} {'all runs s':>11} {'ideal s':>8} {'wall/ideal':>11} {'peak RSS MiB':>13}")
    for name, f in (("ours", agent), ("floor", bare)):
        print(f"{name:>6} {f.alone:>16.2f} {f.wall:>11.2f} {f.ideal:>8.2f} {f.wall / f.ideal:>11.2f} {f.rss:>13.0f}")
    print(f"ours / floor wall time: {agent.wall / bare.wall:.2f}")
    print(f"wall / ideal: {agent.wall / agent.ideal:.2f} (floor {bare.wall / bare.ideal:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="the scripted model's latency per call, seconds")
    options = parser.parse_args()
    asyncio.run(main(options.runs, options.steps, options.latency))
    hard_exit(0)
