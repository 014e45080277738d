"""Chaos at any size: qa runs while their worker is SIGKILLed again and again and
the Temporal and S3 servers are restarted under them.

    .venv/bin/python -m tests.chaos --runs 50        # prints the figures; --help for the options

What it does: an embedded stack of its own in persistent mode (in a temporary
folder, removed at the end), the scripted model answering every call after
0.3-1 s (``--latency``), and one ``python worker.py`` at a time. First the S3
server is restarted, then the worker killed, then the Temporal dev server
restarted (on its database file), then the worker killed again and again
until every run has ended. Each
disruption comes once every open run has completed a model call since the last
one, and a random 0.2-1 s later: a restart at a moment a model call is in
flight, a kill with SIGKILL and a new worker started at once.

A kill lands while model calls are in flight, never in the few milliseconds
between an answer's last byte and the worker keeping it in the bucket: the
scripted model holds all answers for that moment (``ScriptedLLM.paused``). A
call lost in those milliseconds is made again (no design keeps an answer it
has not yet received); ``--kill-anywhere`` lets kills land there too and shows
how often that happens.

When every run has ended it checks what a user would: every run COMPLETED;
every expected artifact in the bucket with the sha256 the store recorded; the
store's statuses equal Temporal's; no completed model call made twice (the
scripted model's request log). Then it prints the figures: runs, kills,
restarts, repeated model calls, and the time from each new worker's start to
each open run's next completed model call (median, max).

``tests/test_chaos.py`` runs it with 5 runs and asserts every check.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import asyncpg
from minio import Minio
from pydantic import SecretStr
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from deepagents_temporal import pgstore
from deepagents_temporal.devstack import DevStack, delete_dev_stack_data, start_dev_stack
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.services import connect, hard_exit, open_database, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, RequestRecord, ScriptedLLM
from tests.helpers import QA_REQUEST, stop_process, worker_process

# How long the scripted model takes per call, by default: spread evenly over
# this range, chosen by the request (a retried call takes as long).
LATENCY = (0.3, 1.0)
_LATENCY_STEPS = 8
JITTER = (0.2, 1.0)  # seconds between the progress a disruption waits for and the disruption
# The disruptions, in order; then kills until every run has ended.
DISRUPTIONS = ("s3", "kill", "temporal")  # then kills
PROGRESS_WAIT = 120.0  # at most this long for every open run to progress with a worker
RUN_TIMEOUT = timedelta(minutes=30)
_RUN_MARK = re.compile(r"\(chaos run (\d+)\)")

T = TypeVar("T")


@dataclass
class ChaosReport:
    runs: int = 0
    completed: int = 0
    kills: int = 0
    restarts: Counter[str] = field(default_factory=Counter)
    model_calls: int = 0
    repeated_calls: int = 0
    # From each new worker's start to each open run's next completed model call.
    resume_seconds: list[float] = field(default_factory=list)
    # From each new worker's start to the first completed model call of any run.
    first_call_seconds: list[float] = field(default_factory=list)
    # From each worker's start to its "polling" line.
    boot_seconds: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, other: ChaosReport) -> None:
        """Another round's figures added to these."""
        for name in ("runs", "completed", "kills", "model_calls", "repeated_calls", "elapsed_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.restarts.update(other.restarts)
        for name in ("resume_seconds", "first_call_seconds", "boot_seconds", "problems"):
            getattr(self, name).extend(getattr(other, name))

    def figures(self) -> str:
        def spread(values: list[float]) -> str:
            if not values:
                return "n/a"
            return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s (n={len(values)})"

        restarts = ", ".join(f"{name} {n}" for name, n in sorted(self.restarts.items())) or "none"
        lines = [
            f"runs:                     {self.runs} ({self.completed} completed)",
            f"worker kills:             {self.kills}",
            f"server restarts:          {restarts}",
            f"model calls completed:    {self.model_calls}",
            f"repeated model calls:     {self.repeated_calls}",
            f"new worker -> each open run's next model call: {spread(self.resume_seconds)}",
            f"new worker -> first model call of any run:     {spread(self.first_call_seconds)}",
            f"worker start -> polling:                       {spread(self.boot_seconds)}",
            f"elapsed:                  {self.elapsed_seconds:.0f} s",
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["checks: all passed"]
        return "\n".join(lines)


def _latency_bucket(request: ChatRequest) -> int:
    return int(request.key[:8], 16) % _LATENCY_STEPS


def _run_of(record: RequestRecord) -> int | None:
    """Which chaos run a model call belongs to: its request (or delegation) names it."""
    for text in record.request.user_texts:
        found = _RUN_MARK.search(text)
        if found:
            return int(found.group(1))
    return None


class _Worker:
    """One ``python worker.py`` at a time; its output appended to a log file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self._settings = settings
        self._log_path = log_path
        self._process = None
        self.starts: list[float] = []
        # From each start to the worker's "polling" line.
        self.boot_seconds: list[float] = []

    def start(self) -> None:
        started = time.time()
        self.starts.append(started)
        self._process = worker_process(self._settings)
        log = open(self._log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the copying thread

        def copy(source=self._process.stdout) -> None:  # noqa: ANN001
            with log:
                for line in source:
                    if line.startswith("worker polling"):
                        self.boot_seconds.append(time.time() - started)
                    log.write(line)
                    log.flush()

        threading.Thread(target=copy, daemon=True).start()

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(10)

    def stop(self) -> None:
        stop_process(self._process)


async def _retrying(call: Callable[[], Awaitable[T]], attempts: int = 120) -> T:
    """A Temporal call, retried while the server restarts."""
    for attempt in range(attempts):
        try:
            return await call()
        except RPCError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


class _Chaos:
    def __init__(self, stack: DevStack, llm: ScriptedLLM, settings: Settings, client: Client, rng_seed: int | None):
        import random

        self.stack, self.llm, self.settings, self.client = stack, llm, settings, client
        self.s3 = s3_client(settings)
        self.rng = random.Random(rng_seed)
        self.handles: list[WorkflowHandle] = []
        self.closed: dict[int, float] = {}  # run index -> when Temporal closed it
        self.events: list[tuple[float, str]] = [(time.time(), "start")]
        self.report = ChaosReport()

    async def start_runs(self, runs: int) -> None:
        batch = uuid.uuid4().hex[:8]
        for i in range(runs):
            handle = await self.client.start_workflow(
                "AgentWorkflow",
                AgentInput(request=f"{QA_REQUEST} (chaos run {i})", model_chain=["chaos-model"]),
                id=f"chaos-{batch}-{i}",
                task_queue=self.settings.temporal_task_queue,
                result_type=AgentResult,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                execution_timeout=RUN_TIMEOUT,
            )
            self.handles.append(handle)
        self.report.runs = runs

    async def refresh_closed(self) -> None:
        for i, handle in enumerate(self.handles):
            if i in self.closed:
                continue
            described = await _retrying(handle.describe)
            if described.status is not WorkflowExecutionStatus.RUNNING:
                closed_at = described.close_time.timestamp() if described.close_time else time.time()
                self.closed[i] = closed_at

    def open_runs(self) -> set[int]:
        return set(range(len(self.handles))) - set(self.closed)

    async def wait_for_progress(self, since: float) -> None:
        """Until every open run completed a model call after ``since``, or ended."""
        deadline = time.monotonic() + PROGRESS_WAIT
        while time.monotonic() < deadline:
            await self.refresh_closed()
            progressed = {_run_of(r) for r in self.llm.requests if r.ok and (r.finished or 0) > since}
            if not self.open_runs() - progressed:
                return
            await asyncio.sleep(0.2)
        self.report.problems.append(f"runs {sorted(self.open_runs())} made no model call within {PROGRESS_WAIT:.0f} s")

    async def kill_between_answers(self, worker: _Worker) -> None:
        """SIGKILL the worker at a moment no model answer is on its way to it or
        received but not yet kept: the scripted model holds every answer until
        each one it delivered is kept by step in the bucket (runs/*/answers/)."""
        with self.llm.paused():
            deadline = time.monotonic() + PROGRESS_WAIT
            while time.monotonic() < deadline:
                delivered = len({r.key for r in self.llm.requests if r.ok})
                if await asyncio.to_thread(self._answers_kept) >= delivered:
                    break
                await asyncio.sleep(0.05)
            else:
                self.report.problems.append(f"answers delivered but not kept within {PROGRESS_WAIT:.0f} s")
            worker.kill()

    def _answers_kept(self) -> int:
        objects = self.s3.list_objects(self.settings.s3_bucket, prefix="runs/", recursive=True)
        return sum(1 for obj in objects if "/answers/" in (obj.object_name or ""))

    async def restart_while_a_call_is_in_flight(self, server: str) -> None:
        """Restart ``server`` at a moment a model call is in flight (skipped when
        the open runs make no more model calls)."""
        deadline, checked = time.monotonic() + PROGRESS_WAIT, 0.0
        while not any(r.in_flight for r in self.llm.requests):
            if time.monotonic() - checked > 0.5:
                await self.refresh_closed()
                checked = time.monotonic()
                if not self.open_runs() or checked > deadline:
                    return
            await asyncio.sleep(0.02)
        self.events.append((time.time(), f"{server} stopping"))
        await self.stack.restart(server)
        self.report.restarts[server] += 1


async def run_chaos(
    runs: int,
    data_dir: Path,
    *,
    seed: int | None = None,
    latency: tuple[float, float] = LATENCY,
    kill_anywhere: bool = False,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Chaos with ``runs`` qa runs on a stack of its own in ``data_dir`` (removed at the end)."""
    t0 = time.monotonic()
    llm = ScriptedLLM()
    llm.start()
    low, high = latency
    for index in range(_LATENCY_STEPS):
        delay = low + (high - low) * index / (_LATENCY_STEPS - 1)
        llm.add_rule(lambda r, index=index: _latency_bucket(r) == index, Reply.hold(delay))
    stack = await start_dev_stack(data_dir, log=say)
    worker: _Worker | None = None
    pool: asyncpg.Pool | None = None
    chaos: _Chaos | None = None
    try:
        settings = stack.settings(
            Settings(),
            temporal_task_queue="chaos",
            openai_api_key=SecretStr("sk-chaos-not-a-real-key"),
            openai_base_url=llm.base_url,
            deepagent_model="chaos-model",
            deepagent_fallback_models=[],
            s3_bucket="chaos",
        )
        client = await connect(settings)
        pool = await open_database(settings)
        chaos = _Chaos(stack, llm, settings, client, seed)
        worker = _Worker(settings, data_dir / "logs" / "workers.log")
        worker.start()
        await chaos.start_runs(runs)
        say(f"chaos: {runs} runs started; killing the worker every few seconds")
        since, disruptions = worker.starts[-1], 0
        while chaos.open_runs():
            step = DISRUPTIONS[disruptions] if disruptions < len(DISRUPTIONS) else "kill"
            # Every open run has recovered from the last disruption before the next
            # (so a kill's resume times are complete, and measure that kill alone).
            await chaos.wait_for_progress(since)
            await asyncio.sleep(chaos.rng.uniform(*JITTER))
            await chaos.refresh_closed()
            if not chaos.open_runs():
                break
            disruptions += 1
            if step != "kill":
                say(f"chaos: restarting {step} while a model call is in flight")
                await chaos.restart_while_a_call_is_in_flight(step)
            elif kill_anywhere:
                worker.kill()
            else:
                await chaos.kill_between_answers(worker)
            since = time.time()
            chaos.events.append((since, "kill" if step == "kill" else f"{step} back"))
            if step == "kill":
                chaos.report.kills += 1
                worker.start()
                say(f"chaos: kill {chaos.report.kills}, {len(chaos.open_runs())} runs open")
        chaos.report.completed = await _check(chaos, pool, s3_client(settings), settings.s3_bucket)
        _figures(chaos, worker.starts[1:])
        chaos.report.boot_seconds = list(worker.boot_seconds)
    finally:
        if worker is not None:
            worker.stop()
        if pool is not None:
            await pool.close()
        llm.stop()
        await stack.stop()
        if chaos is None or chaos.report.problems:
            kept = Path(tempfile.mkdtemp(prefix="deepagents-chaos-logs-"))
            shutil.copytree(data_dir / "logs", kept, dirs_exist_ok=True)
            say(f"chaos: the servers' and workers' logs are kept in {kept}")
        delete_dev_stack_data(data_dir)
    chaos.report.elapsed_seconds = time.monotonic() - t0
    return chaos.report


async def _check(chaos: _Chaos, pool: asyncpg.Pool, s3: Minio, bucket: str) -> int:
    """What a user would check after the storm; returns how many runs COMPLETED."""
    problems = chaos.report.problems
    completed = 0
    for handle in chaos.handles:
        described = await _retrying(handle.describe)
        if described.status is not WorkflowExecutionStatus.COMPLETED:
            problems.append(f"{handle.id} ended {described.status.name}")
            continue
        completed += 1
        result: AgentResult = await handle.result()
        # The store's statuses equal Temporal's, for the run and each sub-agent.
        for workflow_id in [handle.id, *result.children]:
            temporal = (await _retrying(chaos.client.get_workflow_handle(workflow_id).describe)).status
            row = await pgstore.get_run(pool, workflow_id)
            if row is None or row.status.value != temporal.name:
                problems.append(f"{workflow_id}: store says {row.status if row else None}, Temporal {temporal.name}")
        # Every expected artifact is in the bucket with the checksum the store recorded.
        rows = {a.key: a for a in await pgstore.list_artifacts(pool, handle.id)}
        expected = [f"reports/{handle.id}/final_answer.md", f"logs/{handle.id}/run.log"]
        files = [key for key in rows if key.startswith(f"runs/{handle.id}/files/")]
        if [key for key in expected if key not in rows] or len(files) < len(result.children):
            problems.append(f"{handle.id}: artifacts recorded: {sorted(rows)}")
        for key, row in rows.items():
            digest = await asyncio.to_thread(_sha256_of, s3, bucket, key)
            if digest != row.sha256:
                problems.append(f"{key}: bucket sha256 {digest}, store {row.sha256}")
    completed_calls = Counter(r.key for r in chaos.llm.requests if r.completed)
    chaos.report.model_calls = sum(completed_calls.values())
    chaos.report.repeated_calls = sum(n - 1 for n in completed_calls.values() if n > 1)
    if chaos.report.repeated_calls:
        problems.append(f"{chaos.report.repeated_calls} completed model calls were made again")
        t0 = chaos.events[0][0]
        events = ", ".join(f"{what} at {at - t0:.2f}" for at, what in chaos.events)
        for key, n in completed_calls.items():
            if n > 1:
                calls = [
                    f"#{r.seq} {r.started - t0:.2f}-{(r.finished or 0) - t0:.2f} s status {r.status}"
                    for r in chaos.llm.requests
                    if r.key == key
                ]
                record = next(r for r in chaos.llm.requests if r.key == key)
                problems.append(f"run {_run_of(record)} turn {record.request.turn}: {'; '.join(calls)}")
        problems.append(f"events: {events}")
    return completed


def _sha256_of(s3: Minio, bucket: str, key: str) -> str | None:
    try:
        response = s3.get_object(bucket, key)
    except Exception:  # noqa: BLE001 - a missing object is a finding, not a crash
        return None
    try:
        return hashlib.sha256(response.read()).hexdigest()
    finally:
        response.close()
        response.release_conn()


def _figures(chaos: _Chaos, new_worker_starts: list[float]) -> None:
    """Resume times: from each new worker's start to each open run's next completed model call."""
    answered: dict[int | None, list[float]] = {}
    for record in chaos.llm.requests:
        if record.ok and record.finished is not None:
            answered.setdefault(_run_of(record), []).append(record.finished)
    for start in new_worker_starts:
        firsts = []
        for run in range(len(chaos.handles)):
            if chaos.closed.get(run, float("inf")) <= start:
                continue
            later = [t for t in answered.get(run, []) if t > start]
            if later:
                firsts.append(min(later) - start)
        chaos.report.resume_seconds.extend(firsts)
        if firsts:
            chaos.report.first_call_seconds.append(min(firsts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="concurrent qa runs (default 50)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill timing")
    parser.add_argument("--rounds", type=int, default=1, help="repeat with a fresh stack, figures over all (default 1)")
    parser.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=LATENCY,
        metavar=("MIN", "MAX"),
        help="seconds the scripted model takes per call (default 0.3 1.0)",
    )
    parser.add_argument(
        "--kill-anywhere",
        action="store_true",
        help="kill also in the milliseconds between a model answer's last byte and the worker keeping it "
        "(a call lost there is made again: no design can keep an answer it has not received)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not 0 <= args.latency[0] <= args.latency[1]:
        parser.error("--latency needs 0 <= MIN <= MAX")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    total = ChaosReport()
    for round_ in range(args.rounds):
        data_dir = Path(tempfile.mkdtemp(prefix="deepagents-chaos-"))
        seed = None if args.seed is None else args.seed + round_
        report = asyncio.run(
            run_chaos(
                args.runs, data_dir / "stack", seed=seed, latency=tuple(args.latency), kill_anywhere=args.kill_anywhere
            )
        )
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.rounds > 1:
            print(f"round {round_ + 1}:\n{report.figures()}\n", flush=True)
        total.add(report)
    print(total.figures(), flush=True)
    hard_exit(1 if total.problems else 0)


if __name__ == "__main__":
    sys.exit(main())
