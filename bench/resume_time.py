"""P5, resume time: how long a run waits after its worker is SIGKILLed.

A run is started on a ``python worker.py`` process; the worker is SIGKILLed
at one of two moments, and a new worker is started at once:

  model      during a model call (the scripted model holds that call's answer;
             the kill comes as soon as the call reaches it)
  file_write during a file tool: a 4 MiB ``write_file``, which the model
             activity runs right after it stored the answer; the kill comes
             as soon as the answer is in the bucket (the retried attempt
             reuses it and writes the file again, idempotently)

The scripted model answers every other call at once. For each kill it prints
the time from the new worker's start to the run's next completed model call,
and where that time went, as a timeline from the new worker's start:

  worker ready           its "worker start-up" line: interpreter and imports,
                         connections, workers built (the worker measures these)
  lost attempt timed out Temporal gave up on the killed attempt: its last
                         heartbeat (or start) + the heartbeat timeout
  retry scheduled        after the retry policy's first interval
  retry started          the retried activity on the new worker
  ...                    the run's history from there (a workflow task that
                         waited for the dead worker's sticky queue shows as
                         "timed out")
  model call done        the scripted model answered the run's next call

Last, the figure to compare: the median time over all kills (goal <= 3 s).

    python bench/resume_time.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
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

from harness import Bench, bench_services, machine_line, worker_environment  # noqa: E402
from temporalio.api.enums.v1 import EventType, PendingActivityState  # noqa: E402
from temporalio.api.workflow.v1 import PendingActivityInfo  # noqa: E402
from temporalio.client import WorkflowHandle  # noqa: E402

from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT  # noqa: E402
from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit, s3_client  # noqa: E402
from scripted_llm import ChatRequest, Reply  # noqa: E402

BIG_FILE = "x" * (4 * 1024 * 1024)
HOLD_SECONDS = 120.0
START_UP = re.compile(r"^worker start-up (?P<total>[\d.]+) s: (?P<phases>.*)$")


class Worker:
    """One ``python worker.py``: when it started, when it was ready and the start-up phases it reported."""

    def __init__(self, bench: Bench) -> None:
        self.started = time.time()
        self.ready: float | None = None
        self.phases = ""
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
        for line in self.process.stdout:
            found = START_UP.match(line.strip())
            if found and self.ready is None:
                self.ready = time.time()
                self.phases = found["phases"]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def brain_for(held: set[str]):
    """Turn 0 writes a file, turn 1 answers; a "model" run's first turn-1 call is held."""

    def brain(request: ChatRequest) -> Reply:
        tag = request.first_user_text
        if request.turn == 0:
            content = BIG_FILE if tag.startswith("file_write") else "small"
            return Reply.tool_calls([("write_file", {"file_path": "/notes/resume.md", "content": content})])
        if tag.startswith("model") and tag not in held:
            held.add(tag)
            return Reply.text("done", delay=HOLD_SECONDS)
        return Reply.text("done")

    return brain


def wait_for_kept_answer(bench: Bench, run_id: str) -> None:
    """Until the model's answer to the run's first call is stored (deepagents_temporal/answers.py):
    from then on the activity writes the transcript and runs the reply's file calls."""
    s3 = s3_client(bench.settings)
    while not any(s3.list_objects(bench.settings.s3_bucket, prefix=f"runs/{run_id}/answers/", recursive=True)):
        time.sleep(0.002)


async def pending(handle: WorkflowHandle, activity: str) -> PendingActivityInfo | None:
    description = await handle.describe()
    for info in description.raw_description.pending_activities:
        if info.activity_type.name == activity:
            return info
    return None


async def wait_started(handle: WorkflowHandle, activity: str) -> PendingActivityInfo:
    while True:
        info = await pending(handle, activity)
        if info is not None and info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            return info
        await asyncio.sleep(0.005)


async def wait_timed_out(handle: WorkflowHandle, lost: PendingActivityInfo) -> PendingActivityInfo | None:
    """The activity once Temporal has given up on the attempt ``lost`` (None if it completed first)."""
    while True:
        info = await pending(handle, lost.activity_type.name)
        if info is None or info.attempt > lost.attempt:
            return info
        await asyncio.sleep(0.01)


async def timeline(handle: WorkflowHandle, since: float) -> list[tuple[float, str]]:
    """The run's history events after ``since`` (epoch seconds) that matter to resuming."""
    names: dict[int, str] = {}
    events: list[tuple[float, str]] = []
    async for event in handle.fetch_history_events():
        when = event.event_time.ToDatetime().timestamp()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        if when < since:
            continue
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            events.append((when, f"{names[event.event_id]} scheduled"))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            events.append((when, f"{names[attributes.scheduled_event_id]} attempt {attributes.attempt} started"))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attributes = event.activity_task_completed_event_attributes
            events.append((when, f"{names[attributes.scheduled_event_id]} completed"))
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        ):
            events.append((when, "workflow task " + EventType.Name(kind).rsplit("_", 1)[1].lower()))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            events.append((when, "workflow task timed out (it waited on the dead worker's sticky queue)"))
    return events


async def one_kill(bench: Bench, scenario: str, worker: Worker) -> tuple[float, Worker, list[tuple[float, str]]]:
    """Kill ``worker`` during ``scenario``; returns (resume seconds, new worker, timeline from its start)."""
    tag = f"{scenario}-{uuid.uuid4().hex[:8]}"
    handle = await bench.client.start_workflow(
        "AgentWorkflow",
        AgentInput(request=tag, model_chain=["bench-model"], max_steps=4),
        id=f"bench-resume-{tag}",
        task_queue=bench.settings.temporal_task_queue,
        result_type=AgentResult,
    )
    llm = bench.llm
    # Either way it is a model call's activity that is lost: the file calls of
    # a reply run in it (activities/file_calls.py).
    activity = "call_model"
    if scenario == "model":
        await asyncio.to_thread(
            llm.wait_for, lambda r: r.request.first_user_text == tag and r.request.turn == 1 and r.in_flight, 60
        )
    else:
        await asyncio.to_thread(llm.wait_for, lambda r: r.request.first_user_text == tag and r.ok, 60)
        await asyncio.wait_for(asyncio.to_thread(wait_for_kept_answer, bench, handle.id), 60)
    lost = await asyncio.wait_for(wait_started(handle, activity), 60)
    worker.kill()
    replacement = Worker(bench)
    timed_out = asyncio.create_task(wait_timed_out(handle, lost))
    record = await asyncio.to_thread(
        llm.wait_for,
        lambda r: r.request.first_user_text == tag and r.ok and r.started >= replacement.started,
        120,
    )
    assert record.finished is not None
    await handle.result()
    retry = await timed_out
    assert replacement.ready is not None
    events: list[tuple[float, str]] = [(replacement.ready, f"worker ready ({replacement.phases})")]
    beat = lost.last_heartbeat_time if lost.HasField("last_heartbeat_time") else lost.last_started_time
    due = beat.ToDatetime().timestamp() + ACTIVITY_HEARTBEAT_TIMEOUT.total_seconds()
    events.append((due, f"heartbeat timeout due (last heartbeat or start + {ACTIVITY_HEARTBEAT_TIMEOUT.seconds} s)"))
    if retry is not None:
        events.append((retry.scheduled_time.ToDatetime().timestamp(), f"{activity} retry scheduled"))
    events += await timeline(handle, replacement.started)
    events += [(record.started, "model call sent"), (record.finished, "model call done")]
    events = sorted((when - replacement.started, what) for when, what in events if when <= record.finished + 0.001)
    return record.finished - replacement.started, replacement, events


async def main(repeats: int) -> None:
    print(machine_line(), flush=True)
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
            rows: list[tuple[str, float, float]] = []
            for _ in range(repeats):
                for scenario in ("model", "file_write"):
                    resume, worker, events = await one_kill(bench, scenario, worker)
                    assert worker.ready is not None
                    rows.append((scenario, resume, worker.ready - worker.started))
                    print(f"kill during {scenario}: resume {resume:.2f} s; seconds from the new worker's start:")
                    for when, what in events:
                        print(f"  {when:6.2f}  {what}")
                    print(flush=True)
        finally:
            worker.kill()
        print(f"{'kill during':>12} {'resume s':>9} {'new worker start-up s':>22} {'rest s':>7}")
        for scenario, resume, start_up in rows:
            print(f"{scenario:>12} {resume:>9.2f} {start_up:>22.2f} {resume - start_up:>7.2f}")
        times = [resume for _, resume, _ in rows]
        print(f"resume time, median over {len(times)} kills: {statistics.median(times):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.repeats))
    hard_exit(0)
