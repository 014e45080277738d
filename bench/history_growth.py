"""Temporal history growth of an agent run with 10 KB tool traffic per step.

An N-step run (N = 10, 50, 100) of the supervisor against the scripted model:
at every step it writes a new 10 KB file (10 KB of tool-call arguments) and
reads a 10 KB file (10 KB of tool output), then answers after N steps. For
each N it records the whole history of the run and prints

  bytes/step    history bytes of the run / N (start-up overhead included)
  marginal      mean bytes of the last 10 steps (from one model call to the next)

and, last, the figure to compare: bytes/step at N=100 / bytes/step at N=10
(goal <= 1.2: a step late in a run weighs what an early one does). Sizes are
protobuf bytes of the history events as the server returns them; no timing.

    python bench/history_growth.py [--steps 10 50 100] [--output-bytes 10240] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_services  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.history.v1 import HistoryEvent  # noqa: E402
from temporalio.client import Client  # noqa: E402

from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit, s3_client  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from scripted_llm import ChatRequest, Reply, ScriptedLLM  # noqa: E402
from worker import build_worker  # noqa: E402

INPUT_PATH = "/input/ten-kb.txt"


def text_of(size: int, seed: str) -> str:
    line = ((seed + " ") * 20)[:99] + "\n"
    return (line * (size // len(line) + 1))[:size]


def steps_brain(steps: int, size: int):
    """Supervisor: N steps of write_file (size bytes) + read_file (size bytes), then an answer."""

    def brain(req: ChatRequest) -> Reply:
        turn = req.turn
        if turn >= steps:
            return Reply.text(f"done after {steps} steps")
        return Reply.tool_calls(
            [
                ("write_file", {"file_path": f"/steps/step-{turn:04d}.txt", "content": text_of(size, f"step{turn}")}),
                ("read_file", {"file_path": INPUT_PATH}),
            ]
        )

    return brain


def model_calls(events: list[HistoryEvent]) -> list[int]:
    return [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "call_model"
    ]


def event_label(events: list[HistoryEvent], e: HistoryEvent) -> str:
    name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return f"{name}({e.activity_task_scheduled_event_attributes.activity_type.name})"
    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        scheduled = e.activity_task_completed_event_attributes.scheduled_event_id
        kind = next(
            (s.activity_task_scheduled_event_attributes.activity_type.name for s in events if s.event_id == scheduled),
            "?",
        )
        return f"{name}({kind})"
    return name


async def run_steps(client: Client, settings: Settings, llm: ScriptedLLM, steps: int, size: int) -> list[HistoryEvent]:
    run_id = f"bench-hist-{uuid.uuid4().hex[:8]}"
    data = text_of(size, "input").encode("utf-8")
    s3 = s3_client(settings)
    key = f"runs/{run_id}/files{INPUT_PATH}"
    await asyncio.to_thread(s3.put_object, settings.s3_bucket, key, io.BytesIO(data), len(data))
    llm.clear()
    llm.brain = steps_brain(steps, size)
    handle = await client.start_workflow(
        "AgentWorkflow",
        AgentInput(request="benchmark history growth", model_chain=["bench-model"], max_steps=steps + 5),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
    )
    result: AgentResult = await handle.result()
    assert result.steps == steps + 1, result.steps
    # The tool traffic really was `size` bytes each way: each read reached the
    # model whole in the call after it (older ones are shortened, lean_requests.py).
    last = llm.requests[-1].request
    outputs = [m for m in last.messages if m.get("role") == "tool"]
    assert len(outputs) == 2 * steps, len(outputs)
    for record in llm.requests[1:]:
        latest = [m for m in record.request.messages if m.get("role") == "tool"][-2:]
        assert any(len(str(m.get("content"))) >= size for m in latest)
    return list((await handle.fetch_history()).events)


def breakdown(events: list[HistoryEvent], step: int) -> None:
    calls = model_calls(events)
    window = events[calls[step - 1] : calls[step]]
    totals: dict[str, list[int]] = defaultdict(list)
    for e in window:
        totals[event_label(events, e)].append(e.ByteSize())
    print(f"  events of step {step} ({sum(e.ByteSize() for e in window)} bytes):")
    for label, sizes in sorted(totals.items(), key=lambda item: -sum(item[1])):
        print(f"    {label:<55} x{len(sizes):<3} {sum(sizes):>7} B")


async def main(step_counts: list[int], size: int, show_breakdown: bool) -> None:
    async with bench_services(s3_bucket="bench-deepagents") as bench:
        client, settings, llm = bench.client, bench.settings, bench.llm
        per_step: dict[int, float] = {}
        async with await build_worker(client, settings, bench.pool):
            print(f"{'N':>5} {'history B':>11} {'bytes/step':>11} {'marginal B/step':>16} {'largest event B':>16}")
            for steps in step_counts:
                events = await run_steps(client, settings, llm, steps, size)
                sizes = [e.ByteSize() for e in events]
                calls = model_calls(events)
                window = min(10, steps)
                marginal = sum(sizes[calls[steps - window] : calls[steps]]) / window
                per_step[steps] = sum(sizes) / steps
                largest = max(range(len(events)), key=lambda i: sizes[i])
                print(
                    f"{steps:>5} {sum(sizes):>11} {per_step[steps]:>11.0f} {marginal:>16.0f} {max(sizes):>16}"
                    f"  ({event_label(events, events[largest])})"
                )
                if show_breakdown:
                    breakdown(events, steps)
        first, last = min(per_step), max(per_step)
        print(
            f"history bytes/step ratio step-{last}/step-{first} ({size} B tool outputs): "
            f"{per_step[last] / per_step[first]:.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--output-bytes", type=int, default=10 * 1024)
    parser.add_argument("--breakdown", action="store_true", help="bytes per event type of the last step of each run")
    options = parser.parse_args()
    code = 0
    try:
        asyncio.run(main(sorted(options.steps), options.output_bytes, options.breakdown))
    except Exception as err:  # noqa: BLE001 - report, then leave without finalization
        print(f"history_growth failed: {type(err).__name__}: {err}", file=sys.stderr)
        code = 1
    hard_exit(code)
