"""P5, resume time: how long a run waits after its worker is SIGKILLed.

A run is started on a ``python worker.py`` process; the worker is SIGKILLed
at one of two moments, and a new worker is started at once:

  model      during a model call (the scripted model holds that call's answer)
  file_tool  during a file tool (a 4 MiB ``write_file``; the kill comes when
             Temporal shows the file_tool activity pending)

The scripted model answers every other call at once. For each kill it prints
the time from the new worker's start to the run's next completed model call,
split into: the new worker's start-up (start to its first printed line, its
imports and connections), and the rest (Temporal noticing the lost activity
through its heartbeat timeout, then dispatching the retry, and the retried
work itself). Last, the figure to compare: the median time over all kills
(goal <= 3 s).

    python bench/resume_time.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from harness import Bench, bench_services, worker_environment  # noqa: E402
from temporalio.client import WorkflowHandle  # noqa: E402

from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit  # noqa: E402
from scripted_llm import ChatRequest, Reply  # noqa: E402

BIG_FILE = "x" * (4 * 1024 * 1024)
HOLD_SECONDS = 120.0


class Worker:
    """One ``python worker.py``: when it started and when it printed its first line."""

    def __init__(self, bench: Bench) -> None:
        self.started = time.time()
        self.ready: float | None = None
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=worker_environment(bench.settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            if self.ready is None:
                self.ready = time.time()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def brain_for(held: set[str]):
    """Turn 0 writes a file, turn 1 answers; a "model" run's first turn-1 call is held."""

    def brain(request: ChatRequest) -> Reply:
        tag = request.first_user_text
        if request.turn == 0:
            content = BIG_FILE if tag.startswith("file_tool") else "small"
            return Reply.tool_calls([("write_file", {"file_path": "/notes/resume.md", "content": content})])
        if tag.startswith("model") and tag not in held:
            held.add(tag)
            return Reply.text("done", delay=HOLD_SECONDS)
        return Reply.text("done")

    return brain


async def wait_for_pending(handle: WorkflowHandle, activity: str) -> None:
    while True:
        description = await handle.describe()
        if any(p.activity_type.name == activity for p in description.raw_description.pending_activities):
            return
        await asyncio.sleep(0.005)


async def one_kill(bench: Bench, scenario: str, worker: Worker) -> tuple[float, float, Worker]:
    """Kill ``worker`` during ``scenario``; returns (resume seconds, new worker start-up seconds, new worker)."""
    tag = f"{scenario}-{uuid.uuid4().hex[:8]}"
    handle = await bench.client.start_workflow(
        "AgentWorkflow",
        AgentInput(request=tag, model_chain=["bench-model"], max_steps=4),
        id=f"bench-resume-{tag}",
        task_queue=bench.settings.temporal_task_queue,
        result_type=AgentResult,
    )
    llm = bench.llm
    if scenario == "model":
        await asyncio.to_thread(
            llm.wait_for, lambda r: r.request.first_user_text == tag and r.request.turn == 1 and r.in_flight, 60
        )
    else:
        await asyncio.wait_for(wait_for_pending(handle, "file_tool"), 60)
    worker.kill()
    replacement = Worker(bench)
    record = await asyncio.to_thread(
        llm.wait_for,
        lambda r: r.request.first_user_text == tag and r.ok and r.started >= replacement.started,
        120,
    )
    assert record.finished is not None
    await handle.result()
    assert replacement.ready is not None
    return record.finished - replacement.started, replacement.ready - replacement.started, replacement


async def main(repeats: int) -> None:
    async with bench_services() as bench:
        bench.llm.brain = brain_for(set())
        worker = Worker(bench)
        try:
            # Warm-up: the first run on a fresh stack pays its own start-up.
            await bench.client.execute_workflow(
                "AgentWorkflow",
                AgentInput(request="warm", model_chain=["bench-model"], max_steps=4),
                id=f"bench-resume-warm-{uuid.uuid4().hex[:8]}",
                task_queue=bench.settings.temporal_task_queue,
                result_type=AgentResult,
            )
            times: list[float] = []
            print(f"{'kill during':>12} {'resume s':>9} {'new worker start-up s':>22} {'rest s':>7}")
            for _ in range(repeats):
                for scenario in ("model", "file_tool"):
                    resume, start_up, worker = await one_kill(bench, scenario, worker)
                    times.append(resume)
                    print(f"{scenario:>12} {resume:>9.2f} {start_up:>22.2f} {resume - start_up:>7.2f}", flush=True)
        finally:
            worker.kill()
        print(f"resume time, median over {len(times)} kills: {statistics.median(times):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.repeats))
    hard_exit(0)
