"""Step overhead of the durable agent loop.

An N-step agent run (N = 10, 50, 100) against the scripted model answering
instantly, next to two baselines measured in the same process against the same
servers:

  floor      a bare workflow running N no-op activities one after another
             (the cost of a durable step that no agent step can beat)
  in-process the same model calls made by a plain loop, without Temporal

Prints ms per step and history bytes per step for each N, what durability
adds beyond the model call itself ((agent - in-process) / floor), and last the
figure to compare: agent-step time / floor-step time (goal <= 1.2).

    python bench/step_overhead.py [--steps 10 50 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floor_workflow import FloorWorkflow, noop  # noqa: E402
from harness import bench_services  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from deepagents_temporal.profiles import get_builtin_profile  # noqa: E402
from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import hard_exit  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from deepagents_temporal.tools import tool_schemas  # noqa: E402
from scripted_llm import ChatRequest, Reply  # noqa: E402
from worker import build_worker  # noqa: E402

TODO_CALL = ("write_todos", {"todos": [{"content": "keep going", "status": "in_progress"}]})


def steps_brain(steps: int):
    def brain(req: ChatRequest) -> Reply:
        return Reply.tool_calls([TODO_CALL]) if req.turn < steps - 1 else Reply.text("done")

    return brain


async def history_bytes(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_proto().ByteSize() if hasattr(history, "to_proto") else len(history.to_json())


async def time_agent(client: Client, settings: Settings, steps: int) -> tuple[float, int]:
    run_id = f"bench-agent-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    result: AgentResult = await client.execute_workflow(
        "AgentWorkflow",
        AgentInput(request="benchmark", model_chain=["bench-model"], max_steps=steps + 1),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
    )
    elapsed = time.perf_counter() - started
    assert result.steps == steps, result.steps
    return elapsed, await history_bytes(client, run_id)


async def time_floor(client: Client, task_queue: str, steps: int) -> tuple[float, int]:
    run_id = f"bench-floor-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    await client.execute_workflow(FloorWorkflow.run, steps, id=run_id, task_queue=task_queue)
    elapsed = time.perf_counter() - started
    return elapsed, await history_bytes(client, run_id)


async def time_in_process(base_url: str, steps: int) -> float:
    """The same conversation driven by a plain loop: no durability at all."""
    qa = get_builtin_profile("qa")
    tools = tool_schemas(qa, qa.supervisor)
    llm = ChatOpenAI(model="bench-model", api_key="bench", base_url=base_url, max_retries=0).bind_tools(tools)
    messages = [SystemMessage(qa.supervisor.system_prompt), HumanMessage("benchmark")]
    started = time.perf_counter()
    for _ in range(steps):
        reply = await llm.ainvoke(messages)
        messages.append(reply)
        assert isinstance(reply, AIMessage)
        for call in reply.tool_calls:
            messages.append(ToolMessage("Updated todo list", tool_call_id=call["id"]))
    return time.perf_counter() - started


async def main(step_counts: list[int], repeats: int) -> None:
    async with bench_services() as bench:
        client, settings, llm, base_url = bench.client, bench.settings, bench.llm, bench.llm.base_url
        agent_worker = await build_worker(client, settings, bench.pool)
        floor_queue = f"bench-floor-{uuid.uuid4().hex[:6]}"
        floor_worker = Worker(client, task_queue=floor_queue, workflows=[FloorWorkflow], activities=[noop])
        ratios = []
        async with agent_worker, floor_worker:
            await time_floor(client, floor_queue, 3)  # warm-up
            print(
                f"{'N':>4} {'agent ms/step':>14} {'floor ms/step':>14} {'in-proc ms/step':>16} "
                f"{'agent hist B/step':>18} {'floor hist B/step':>18} {'agent/floor':>12} {'(agent-inproc)/floor':>21}"
            )
            for steps in step_counts:
                llm.clear()
                agent_times, floor_times, local_times = [], [], []
                agent_bytes = floor_bytes = 0
                for _ in range(repeats):
                    # Interleaved so drift on the machine hits both alike.
                    llm.brain = steps_brain(steps)
                    t, agent_bytes = await time_agent(client, settings, steps)
                    agent_times.append(t)
                    t, floor_bytes = await time_floor(client, floor_queue, steps)
                    floor_times.append(t)
                    local_times.append(await time_in_process(base_url, steps))
                agent_ms = statistics.median(agent_times) / steps * 1000
                floor_ms = statistics.median(floor_times) / steps * 1000
                local_ms = statistics.median(local_times) / steps * 1000
                ratio = agent_ms / floor_ms
                ratios.append(ratio)
                # What durability adds beyond the model call itself, in floor steps.
                overhead = (agent_ms - local_ms) / floor_ms
                print(
                    f"{steps:>4} {agent_ms:>14.1f} {floor_ms:>14.1f} {local_ms:>16.2f} "
                    f"{agent_bytes / steps:>18.0f} {floor_bytes / steps:>18.0f} {ratio:>12.2f} {overhead:>21.2f}"
                )
        print(f"agent-step / floor-step time ratio (median over N): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.steps, options.repeats))
    hard_exit(0)
