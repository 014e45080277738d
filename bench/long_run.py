"""A 1,000-step agent run with 20 KB tool outputs completes.

One supervisor run against the scripted model: at every step it reads a 20 KB
file (20 KB of tool output), and answers after N steps. The worker runs in a
process of its own (``worker.py``), so its memory is measured alone. Prints

  steps          model calls of the run (summarization calls not counted)
  wall time      from the start to the result
  hops           continue-as-new hops (runs of the workflow - 1)
  largest history  the largest history of one run of the workflow, bytes and events
  summaries      summarization calls
  request bytes  the request at step 100 (if reached): as sent (lean) and with
                 every old tool output whole (what was sent before lean requests)
  peak worker RSS  VmHWM of the worker process

    python bench/long_run.py [--steps 1000] [--output-bytes 20480] [--continue-as-new-steps N]
                             [--summarize-after-tokens N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import bench_services  # noqa: E402
from temporalio.client import Client  # noqa: E402

from deepagents_temporal.conversation import ConversationStore  # noqa: E402
from deepagents_temporal.failures import innermost_failure_message  # noqa: E402
from deepagents_temporal.profiles import get_builtin_profile  # noqa: E402
from deepagents_temporal.schema import AgentInput, AgentResult, Message  # noqa: E402
from deepagents_temporal.services import hard_exit, s3_client  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from deepagents_temporal.summarization import SUMMARY_SYSTEM_PROMPT  # noqa: E402
from scripted_llm import ChatRequest, Reply, ScriptedLLM  # noqa: E402

INPUT_PATH = "/input/twenty-kb.txt"
MEASURED_STEP = 100


@dataclass
class Figures:
    steps: int
    seconds: float
    hops: int
    largest_history_bytes: int
    largest_history_events: int
    summaries: int
    request_bytes_lean: int | None
    request_bytes_whole: int | None


def text_of(size: int, seed: str) -> str:
    line = ((seed + " ") * 20)[:99] + "\n"
    return (line * (size // len(line) + 1))[:size]


def steps_before(req: ChatRequest) -> int:
    """The agent's model calls before this one: the latest call id says (``step-<n>``), and
    a summary keeps the most recent calls whole."""
    done = [int(c.id.removeprefix("step-")) for c in req.assistant_tool_calls if c.id.startswith("step-")]
    return max(done) + 1 if done else 0


def brain_for(marker: str, steps: int) -> Callable[[ChatRequest], Reply | None]:
    """N steps of read_file, then an answer."""

    def brain(req: ChatRequest) -> Reply | None:
        if marker not in req.first_user_text and not any(marker in t for t in req.user_texts):
            return None
        if SUMMARY_SYSTEM_PROMPT in req.system_prompt:
            # The request is among what a summary condenses: the summary names the run.
            return Reply.text(f"The agent read {INPUT_PATH} again and again for the {marker}.")
        done = steps_before(req)
        if done < steps:
            return Reply.tool_calls([("read_file", {"file_path": INPUT_PATH}, f"step-{done}")])
        return Reply.text(f"done after {steps} steps")

    return brain


def _openai_bytes(messages: list[Message]) -> int:
    """Bytes of ``messages`` in a chat-completions request body (close enough to compare)."""
    body = []
    for m in messages:
        item: dict = {"role": m.role, "content": m.content}
        if m.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.args)}}
                for c in m.tool_calls
            ]
        if m.tool_call_id:
            item["tool_call_id"] = m.tool_call_id
        body.append(item)
    return len(json.dumps(body).encode("utf-8"))


async def request_bytes_at(settings: Settings, run_id: str, pool, step: int) -> tuple[int | None, int | None]:
    """The request of model call ``step``: as sent (lean) and with every old tool output whole."""
    row = await pool.fetchrow(
        "SELECT payload FROM decisions WHERE run_id = $1 AND kind = 'model_call' AND step = $2 "
        "AND summary NOT LIKE '%summary of%' ORDER BY seq LIMIT 1",
        run_id,
        step,
    )
    if row is None:
        return None, None
    store = ConversationStore(s3_client(settings), settings.s3_bucket)
    transcript = json.loads(row["payload"])["transcript"]
    conversation = (await store.aload(run_id, transcript))[:-1]  # without the reply
    lean = await asyncio.to_thread(store.lean, run_id, conversation)
    return _openai_bytes(lean), _openai_bytes(conversation)


async def long_run(
    client: Client,
    settings: Settings,
    llm: ScriptedLLM,
    pool,
    steps: int,
    output_bytes: int,
    continue_as_new_steps: int | None = None,
    summarize_after_tokens: int | None = None,
) -> tuple[AgentResult, Figures]:
    """One run of ``steps`` steps against workers already polling ``settings``' task queue."""
    run_id = f"bench-long-{uuid.uuid4().hex[:8]}"
    data = text_of(output_bytes, "input").encode("utf-8")
    key = f"runs/{run_id}/files{INPUT_PATH}"
    await asyncio.to_thread(s3_client(settings).put_object, settings.s3_bucket, key, io.BytesIO(data), len(data))
    marker = f"long run {run_id}"
    mine, before = brain_for(marker, steps), llm.brain
    llm.brain = lambda req: mine(req) or before(req)
    profile = get_builtin_profile("qa")
    if summarize_after_tokens is not None:
        profile = profile.model_copy(update={"summarize_after_tokens": summarize_after_tokens})
    started = time.monotonic()
    try:
        handle = await client.start_workflow(
            "AgentWorkflow",
            AgentInput(
                request=f"read the input file until told otherwise ({marker})",
                model_chain=settings.model_chain,
                max_steps=steps + 5,
                continue_as_new_steps=continue_as_new_steps,
                profile_snapshot=profile,
            ),
            id=run_id,
            task_queue=settings.temporal_task_queue,
            result_type=AgentResult,
        )
        waiting = asyncio.ensure_future(handle.result())
        while not waiting.done():
            # The scripted model logs every request; a long run must not fill memory with them.
            llm.clear()
            await asyncio.wait([waiting], timeout=5)
        result: AgentResult = waiting.result()
        if result.answer != f"done after {steps} steps":
            raise RuntimeError(f"the run answered {result.answer[:200]!r}, not the scripted answer")
    finally:
        llm.brain = before
    seconds = time.monotonic() - started
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{run_id}'")]
    largest_bytes = largest_events = 0
    for run in runs:
        history = await client.get_workflow_handle(run_id, run_id=run.run_id).fetch_history()
        largest_bytes = max(largest_bytes, sum(e.ByteSize() for e in history.events))
        largest_events = max(largest_events, len(history.events))
    summaries = await pool.fetchval(
        "SELECT count(*) FROM decisions WHERE run_id = $1 AND summary LIKE '%summary of%'", run_id
    )
    lean, whole = await request_bytes_at(settings, run_id, pool, MEASURED_STEP)
    return result, Figures(
        steps=result.steps,
        seconds=seconds,
        hops=len(runs) - 1,
        largest_history_bytes=largest_bytes,
        largest_history_events=largest_events,
        summaries=int(summaries or 0),
        request_bytes_lean=lean,
        request_bytes_whole=whole,
    )


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": settings.openai_base_url or "",
        "S3_ENDPOINT": settings.s3_endpoint or "",
        "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        "S3_BUCKET": settings.s3_bucket,
        "DATABASE_URL": settings.database_url.get_secret_value() if settings.database_url else "",
    }


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (the peak resident set) of a live process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def report(figures: Figures, rss: int | None) -> None:
    print(f"steps:              {figures.steps}")
    print(f"wall time:          {figures.seconds:.1f} s ({figures.seconds / figures.steps * 1000:.0f} ms/step)")
    print(f"hops:               {figures.hops}")
    print(
        f"largest history:    {figures.largest_history_bytes:,} B, {figures.largest_history_events:,} events "
        "(one run of the workflow)"
    )
    print(f"summaries:          {figures.summaries}")
    if figures.request_bytes_lean is not None and figures.request_bytes_whole is not None:
        print(
            f"request at step {MEASURED_STEP}: {figures.request_bytes_lean:,} B sent "
            f"({figures.request_bytes_whole:,} B with old tool outputs whole)"
        )
    if rss is not None:
        print(f"peak worker RSS:    {rss / 2**20:.0f} MiB")


async def main(steps: int, output_bytes: int, continue_as_new_steps: int | None, summarize_after: int | None) -> None:
    async with bench_services(s3_bucket="bench-deepagents", deepagent_model="bench-model") as bench:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=worker_env(bench.settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _, figures = await long_run(
                bench.client,
                bench.settings,
                bench.llm,
                bench.pool,
                steps,
                output_bytes,
                continue_as_new_steps,
                summarize_after,
            )
            rss = peak_rss_bytes(worker.pid)
        finally:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        report(figures, rss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--output-bytes", type=int, default=20 * 1024)
    parser.add_argument("--continue-as-new-steps", type=int, default=None)
    parser.add_argument("--summarize-after-tokens", type=int, default=None, help="default: the qa profile's")
    options = parser.parse_args()
    code = 0
    try:
        asyncio.run(
            main(options.steps, options.output_bytes, options.continue_as_new_steps, options.summarize_after_tokens)
        )
    except Exception as err:  # noqa: BLE001 - report, then leave without finalization
        print(f"long_run failed: {type(err).__name__}: {innermost_failure_message(err)}", file=sys.stderr)
        code = 1
    hard_exit(code)
