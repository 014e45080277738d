"""P4, concurrency: many runs at once on one worker process.

R runs (500 by default) of S steps (10) are started together; each step is one
model call that the scripted model answers after a fixed latency (200 ms) with
one ``write_todos`` call, the last with text. One ``python worker.py`` process
serves them all, configured only through its environment (the settings used
are printed). The ideal wall time is what the runs would take if nothing but
the model's latency counted: S x latency, plus the start-up of one run alone
(measured first, on the same worker). Prints the wall time, the ideal, the
worker's peak RSS and, last, the figure to compare: wall / ideal (goal <= 1.3).

    python bench/concurrency.py [--runs 500] [--steps 10] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from harness import bench_services, peak_rss_mib, worker_environment  # noqa: E402

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
    """Enough of everything for every run's model call to be in flight at once."""
    return {
        "DEEPAGENT_MODEL_CONCURRENCY": str(runs),
        "DEEPAGENT_MAX_CONCURRENT_WORKFLOW_TASKS": "200",
        "DEEPAGENT_MAX_CONCURRENT_ACTIVITIES": "200",
        "DEEPAGENT_WORKFLOW_TASK_POLLERS": "20",
        "DEEPAGENT_ACTIVITY_TASK_POLLERS": "20",
    }


async def main(runs: int, steps: int, latency: float) -> None:
    async with bench_services() as bench:
        client, settings = bench.client, bench.settings
        bench.llm.brain = latency_brain(steps, latency)
        tuning = worker_settings(runs)
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=worker_environment(settings, **tuning),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            async def one_run(tag: str) -> AgentResult:
                return await client.execute_workflow(
                    "AgentWorkflow",
                    AgentInput(request="benchmark", model_chain=["bench-model"], max_steps=steps + 1),
                    id=f"bench-conc-{tag}-{uuid.uuid4().hex[:8]}",
                    task_queue=settings.temporal_task_queue,
                    result_type=AgentResult,
                )

            await one_run("warm")  # the worker's imports and first connections, not counted
            started = time.perf_counter()
            await one_run("alone")
            alone = time.perf_counter() - started
            start_up = max(alone - steps * latency, 0.0)
            started = time.perf_counter()
            results = await asyncio.gather(*(one_run(str(n)) for n in range(runs)))
            wall = time.perf_counter() - started
            rss = peak_rss_mib(worker.pid)
        finally:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        assert all(result.steps == steps for result in results), "a run did not take every step"
        ideal = steps * latency + start_up
        print("worker settings: " + " ".join(f"{name}={value}" for name, value in tuning.items()))
        print(f"runs {runs} x steps {steps}, model latency {latency * 1000:.0f} ms")
        print(f"one run alone {alone:.2f} s (start-up and bookkeeping beyond the model {start_up:.2f} s)")
        print(f"all runs together {wall:.2f} s, ideal {ideal:.2f} s, worker peak RSS {rss:.0f} MiB")
        print(f"wall / ideal: {wall / ideal:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2, help="the scripted model's latency per call, seconds")
    options = parser.parse_args()
    asyncio.run(main(options.runs, options.steps, options.latency))
    hard_exit(0)
