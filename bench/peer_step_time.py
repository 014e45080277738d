"""P1, step time side by side: this project against Temporal's deepagents plugin.

The same N-step task on one dev server, one scripted model, one process: each
step is one model call that answers with one 10 KB ``write_file`` call, and
the last step answers in text. It is run by

  ours         this project's ``AgentWorkflow`` (files in the bucket), as it
               runs by default: the model's answer streamed (its text sent
               live to viewers)
  ours plain   the same with ``DEEPAGENT_STREAM_TEXT=false``: one plain
               completion per call, the request the plugin sends
  plugin       deepagents 0.7 under ``temporalio-deepagents`` with its default
               state backend (files live in workflow state: no I/O)
  plugin+s3    the same with an S3 backend through its ``TemporalBackend``,
               so both sides do the same file I/O
  floor        a bare workflow running N no-op activities

For each N it prints ms/step, history bytes/step and events/step of every
side, then where one of our steps goes (medians from the last run's history:
waiting for a worker, the model activity with its storage and file calls,
waiting for the workflow task, running it); last, one figure line per pair: ours/plugin time (and history bytes) at
each N both completed. A run the server terminates (history too large) is
reported with the step it reached instead of a time.

Needs the bench extra: ``pip install -e '.[bench]'``.

    python bench/peer_step_time.py [--steps 10 50 100 250] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floor_workflow import FloorWorkflow, noop  # noqa: E402
from harness import Bench, bench_services  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from peer_s3_backend import S3PeerBackend  # noqa: E402
from peer_workflow import PEER_MODEL, S3_BACKEND, PeerAgentWorkflow  # noqa: E402
from temporalio.api.history.v1 import History  # noqa: E402
from temporalio.client import Client, WorkflowFailureError  # noqa: E402
from temporalio.deepagents import DeepAgentsPlugin  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from deepagents_temporal.s3 import make_client  # noqa: E402
from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit  # noqa: E402
from scripted_llm import ChatRequest, Reply  # noqa: E402
from worker import build_worker  # noqa: E402

FILE_BYTES = 10 * 1024

# The plugin's (de)serialisation calls langchain-core's beta `load` on every step.
warnings.filterwarnings("ignore", module="temporalio.deepagents")
warnings.filterwarnings("ignore", message=".*allowed_objects.*")
warnings.filterwarnings("ignore", message=".*`load` is in beta.*")
SIDES = ("ours", "ours plain", "plugin", "plugin+s3", "floor")


def ten_kb(step: int) -> str:
    line = f"step {step}: a line of notes written by the benchmark agent.\n"
    return (line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES]


def writing_brain(steps: int):
    def brain(request: ChatRequest) -> Reply:
        step = request.turn
        if step >= steps - 1:
            return Reply.text("done")
        return Reply.tool_calls([("write_file", {"file_path": f"/notes/step-{step:04d}.md", "content": ten_kb(step)})])

    return brain


@dataclass
class Sample:
    seconds: float | None  # None: the run did not complete
    history_bytes: int
    events: int
    steps_reached: int
    workflow_id: str = ""


async def measure_history(client: Client, workflow_id: str) -> tuple[int, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return History(events=history.events).ByteSize(), len(history.events)


async def run_ours(bench: Bench, steps: int, task_queue: str) -> Sample:
    workflow_id = f"bench-ours-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    result: AgentResult = await bench.client.execute_workflow(
        "AgentWorkflow",
        AgentInput(request="benchmark", model_chain=[PEER_MODEL], max_steps=steps + 1),
        id=workflow_id,
        task_queue=task_queue,
        result_type=AgentResult,
    )
    elapsed = time.perf_counter() - started
    size, events = await measure_history(bench.client, workflow_id)
    return Sample(elapsed, size, events, result.steps, workflow_id)


async def step_breakdown(client: Client, workflow_id: str) -> str:
    """Where one of our steps goes, from its history's timestamps (medians over the
    run's model calls): waiting for a worker to take the call, the call itself
    (model, storage, file calls), waiting for the workflow task, running it."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    parts: dict[str, list[float]] = {"dispatch": [], "model activity": [], "wft wait": [], "wft run": []}
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    task_scheduled = task_started = 0.0
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, at)
        elif event.HasField("activity_task_started_event_attributes"):
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.HasField("activity_task_completed_event_attributes"):
            key = event.activity_task_completed_event_attributes.scheduled_event_id
            name, at_scheduled = scheduled[key]
            if name == "call_model":
                parts["dispatch"].append(started[key] - at_scheduled)
                parts["model activity"].append(at - started[key])
        elif event.HasField("workflow_task_scheduled_event_attributes"):
            task_scheduled = at
        elif event.HasField("workflow_task_started_event_attributes"):
            task_started = at
            parts["wft wait"].append(at - task_scheduled)
        elif event.HasField("workflow_task_completed_event_attributes"):
            parts["wft run"].append(at - task_started)
    return ", ".join(f"{name} {statistics.median(values) * 1000:.1f}" for name, values in parts.items() if values)


async def run_peer(client: Client, task_queue: str, backend: str, steps: int) -> Sample:
    workflow_id = f"bench-peer-{backend}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    try:
        reached = await client.execute_workflow(
            PeerAgentWorkflow.run, args=["benchmark", backend, steps], id=workflow_id, task_queue=task_queue
        )
        elapsed: float | None = time.perf_counter() - started
    except WorkflowFailureError:
        # The server terminates a run whose history passes its limits.
        elapsed, reached = None, -1
    size, events = await measure_history(client, workflow_id)
    if reached < 0:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        # A step is one model call (the S3 variant has backend activities too).
        model_calls = {
            event.event_id
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
            and event.activity_task_scheduled_event_attributes.activity_type.name.startswith("deepagents.invoke_model")
        }
        reached = sum(
            1
            for event in history.events
            if event.HasField("activity_task_completed_event_attributes")
            and event.activity_task_completed_event_attributes.scheduled_event_id in model_calls
        )
    return Sample(elapsed, size, events, reached)


async def run_floor(client: Client, task_queue: str, steps: int) -> Sample:
    workflow_id = f"bench-floor-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    await client.execute_workflow(FloorWorkflow.run, steps, id=workflow_id, task_queue=task_queue)
    elapsed = time.perf_counter() - started
    size, events = await measure_history(client, workflow_id)
    return Sample(elapsed, size, events, steps)


def median_sample(samples: list[Sample]) -> Sample:
    done = [s.seconds for s in samples if s.seconds is not None]
    return Sample(
        statistics.median(done) if len(done) == len(samples) else None,
        int(statistics.median(s.history_bytes for s in samples)),
        int(statistics.median(s.events for s in samples)),
        min(s.steps_reached for s in samples),
    )


def cell(sample: Sample, steps: int) -> str:
    sizes = f"{sample.history_bytes / steps:>9.0f} {sample.events / steps:>6.1f}"
    if sample.seconds is None:
        return f"{'stopped@' + str(sample.steps_reached):>10} {sizes}"
    return f"{sample.seconds / steps * 1000:>10.1f} {sizes}"


async def main(step_counts: list[int], repeats: int) -> None:
    async with bench_services() as bench:
        settings = bench.settings
        assert settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key
        s3 = make_client(
            settings.s3_endpoint, settings.s3_access_key.get_secret_value(), settings.s3_secret_key.get_secret_value()
        )
        plugin = DeepAgentsPlugin(
            model_provider=lambda name: ChatOpenAI(
                model=name, api_key="bench", base_url=bench.llm.base_url, max_retries=0
            ),
            backends={S3_BACKEND: lambda prefix: S3PeerBackend(s3, settings.s3_bucket, f"peer/{prefix}")},
        )
        peer_client = await Client.connect(
            bench.client.service_client.config.target_host, namespace=settings.temporal_namespace, plugins=[plugin]
        )
        peer_queue = f"bench-peer-{uuid.uuid4().hex[:6]}"
        floor_queue = f"bench-floor-{uuid.uuid4().hex[:6]}"
        ours_worker = await build_worker(bench.client, settings, bench.pool)
        plain = settings.model_copy(
            update={"deepagent_stream_text": False, "temporal_task_queue": f"bench-plain-{uuid.uuid4().hex[:6]}"}
        )
        plain_worker = await build_worker(bench.client, plain, bench.pool)
        ours_queues = {"ours": settings.temporal_task_queue, "ours plain": plain.temporal_task_queue}
        peer_worker = Worker(peer_client, task_queue=peer_queue, workflows=[PeerAgentWorkflow])
        floor_worker = Worker(bench.client, task_queue=floor_queue, workflows=[FloorWorkflow], activities=[noop])
        results: dict[int, dict[str, Sample]] = {}
        async with ours_worker, plain_worker, peer_worker, floor_worker:
            # Warm-up of every side: first calls pay for lazy imports and new clients.
            bench.llm.brain = writing_brain(3)
            for queue in ours_queues.values():
                await run_ours(bench, 3, queue)
            await run_peer(peer_client, peer_queue, "state", 3)
            await run_peer(peer_client, peer_queue, "s3", 3)
            await run_floor(bench.client, floor_queue, 3)
            header = " ".join(f"{side + ' ms/step':>10} {'B/step':>9} {'ev/st':>6}" for side in SIDES)
            print(f"{'N':>4} {header}")
            for steps in step_counts:
                bench.llm.brain = writing_brain(steps)
                samples: dict[str, list[Sample]] = {side: [] for side in SIDES}
                for _ in range(repeats):
                    # Interleaved, so drift on the machine hits every side alike.
                    for side, queue in ours_queues.items():
                        samples[side].append(await run_ours(bench, steps, queue))
                    samples["plugin"].append(await run_peer(peer_client, peer_queue, "state", steps))
                    samples["plugin+s3"].append(await run_peer(peer_client, peer_queue, "s3", steps))
                    samples["floor"].append(await run_floor(bench.client, floor_queue, steps))
                results[steps] = {side: median_sample(each) for side, each in samples.items()}
                print(f"{steps:>4} " + " ".join(cell(results[steps][side], steps) for side in SIDES), flush=True)
                for side in ("ours", "ours plain"):
                    breakdown = await step_breakdown(bench.client, samples[side][-1].workflow_id)
                    print(f"     {side} step, median ms: {breakdown}", flush=True)
        for ours in ("ours", "ours plain"):
            for peer in ("plugin", "plugin+s3"):
                both = [n for n in step_counts if results[n][ours].seconds and results[n][peer].seconds]
                ratios = " ".join(
                    f"N={n}: {results[n][ours].seconds / results[n][peer].seconds:.2f} "  # type: ignore[operator]
                    f"(history {results[n][ours].history_bytes / results[n][peer].history_bytes:.3f})"
                    for n in both
                )
                print(f"{ours}/{peer} time (history bytes): {ratios or 'no N completed by both'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 50, 100, 250])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.steps, options.repeats))
    hard_exit(0)
