"""The floor of a durable step: a workflow that runs N no-op activities in turn.

Kept in its own module because the workflow sandbox re-imports a workflow's
module, which it cannot do for a script run as __main__.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
