"""The peer's side of the step-time benchmark: the same N-step task run by
deepagents under Temporal's official plugin (``temporalio-deepagents``).

Kept in its own module because the workflow sandbox re-imports a workflow's
module. Needs the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents import create_deep_agent
    from peer_s3_backend import S3PeerBackend
    from temporalio.deepagents import TemporalBackend, create_temporal_deep_agent

PEER_MODEL = "bench-model"
S3_BACKEND = "bench-s3"


@workflow.defn
class PeerAgentWorkflow:
    """Runs the task; ``backend`` is "state" (the plugin's default) or "s3"."""

    @workflow.run
    async def run(self, request: str, backend: str, steps: int) -> int:
        options = {"start_to_close_timeout": timedelta(seconds=60)}
        if backend == "s3":
            agent = create_temporal_deep_agent(
                model=PEER_MODEL,
                backend=TemporalBackend(
                    S3_BACKEND,
                    factory_argument=workflow.info().workflow_id,
                    backend_type=S3PeerBackend,
                    activity_options={"start_to_close_timeout": timedelta(seconds=30)},
                ),
                activity_options=options,
            )
        else:
            agent = create_deep_agent(model=PEER_MODEL)
        result = await agent.ainvoke(
            {"messages": [{"role": "user", "content": request}]},
            # Every step is two graph nodes (model, tools); LangGraph's default limit is 25.
            config={"recursion_limit": 4 * steps + 20},
        )
        return sum(1 for message in result["messages"] if message.type == "ai")
