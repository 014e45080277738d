"""Temporal history grows linearly and flatly with the agent's steps, even with 10 KB tool traffic.

One scripted run of 100 tool steps and a final answer: at every step the
supervisor writes a new 10 KB file (10 KB of tool-call arguments) and reads a
10 KB file (10 KB of tool output). Conversations and large tool traffic live in
the bucket, so a step late in the run must weigh what a step early in it
weighs. Measured on the recorded history, in bytes; no timing.
"""

from __future__ import annotations

import asyncio
import io
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM

STEPS = 100  # tool steps; the run makes STEPS + 1 model calls
OUTPUT_BYTES = 10 * 1024


def ten_kb_text(seed: str) -> str:
    line = (seed + " ") * 20
    line = line[:99] + "\n"
    return (line * (OUTPUT_BYTES // len(line) + 1))[:OUTPUT_BYTES]


def step_reply(turn: int) -> Reply:
    return Reply.tool_calls(
        [
            (
                "write_file",
                {"file_path": f"/steps/step-{turn:03d}.txt", "content": ten_kb_text(f"step{turn}")},
                f"w{turn}",
            ),
            ("read_file", {"file_path": "/input/ten-kb.txt"}, f"r{turn}"),
        ]
    )


def model_call_boundaries(events: list[HistoryEvent]) -> list[int]:
    """Indexes of the call_model ActivityTaskScheduled events, in order."""
    return [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "call_model"
    ]


async def test_history_bytes_per_step_stay_flat_over_100_steps(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    run_id = f"test-hist-{uuid.uuid4().hex[:10]}"
    s3 = s3_client(settings)
    seed = ten_kb_text("input").encode("utf-8")
    key = f"runs/{run_id}/files/input/ten-kb.txt"
    await asyncio.to_thread(s3.put_object, settings.s3_bucket, key, io.BytesIO(seed), len(seed))

    for turn in range(STEPS):
        llm.add_rule(lambda r, t=turn: "task" in r.tool_names and r.turn == t, step_reply(turn), times=1)
    llm.add_rule(lambda r: "task" in r.tool_names and r.turn == STEPS, Reply.text("all steps done"), times=1)

    handle = await client.start_workflow(
        "AgentWorkflow",
        AgentInput(request="step through the files", model_chain=settings.model_chain, max_steps=STEPS + 5),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
    )
    result: AgentResult = await asyncio.wait_for(handle.result(), timeout=600)
    assert result.answer == "all steps done"
    assert result.steps == STEPS + 1

    # The tool traffic really was 10 KB each way.
    def check(req: ChatRequest) -> bool:
        return req.turn == STEPS

    last = next(r.request for r in llm.requests if check(r.request))
    reads = [m for m in last.messages if m.get("role") == "tool" and str(m.get("tool_call_id", "")).startswith("r")]
    assert len(reads) == STEPS
    # Each read's result reached the model whole in the call after it (older ones
    # are shortened in the request, lean_requests.py).
    by_turn = {r.request.turn: r.request for r in llm.requests}
    for turn in range(1, STEPS + 1):
        read = next(m for m in by_turn[turn].messages if m.get("tool_call_id") == f"r{turn - 1}")
        assert len(read["content"]) > OUTPUT_BYTES, turn

    history = await handle.fetch_history()
    events = list(history.events)
    sizes = [e.ByteSize() for e in events]
    calls = model_call_boundaries(events)
    assert len(calls) == STEPS + 1
    # Step k spans from the k-th model call to the (k+1)-th: the call, its tools, their results.
    step_bytes = [sum(sizes[calls[k] : calls[k + 1]]) for k in range(STEPS)]
    cumulative = [sum(sizes[: calls[k + 1]]) for k in range(STEPS)]

    per_step_at_10 = cumulative[9] / 10
    per_step_at_100 = cumulative[99] / 100
    print(
        f"\nhistory bytes/step: at 10 = {per_step_at_10:.0f}, at 100 = {per_step_at_100:.0f}, "
        f"ratio = {per_step_at_100 / per_step_at_10:.3f}; "
        f"marginal step 1-10 = {sum(step_bytes[:10]) / 10:.0f}, 91-100 = {sum(step_bytes[90:]) / 10:.0f}; "
        f"largest event = {max(sizes)} B, total = {sum(sizes)} B"
    )
    assert abs(per_step_at_100 / per_step_at_10 - 1) <= 0.2
    # And the marginal cost of a late step is that of an early one (no growth hidden by averaging).
    early, late = sum(step_bytes[:10]) / 10, sum(step_bytes[90:]) / 10
    assert abs(late / early - 1) <= 0.2, (early, late)
    # 10 KB of arguments and 10 KB of output per step, yet no event of any step carries them.
    in_steps = sizes[calls[0] : calls[-1]]
    assert max(in_steps) < OUTPUT_BYTES, max(in_steps)
