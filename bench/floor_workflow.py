"""The floor of a durable step: bare workflows that run N activities in turn.

``FloorWorkflow`` runs N no-op activities (the cost of a step on the server);
``SleepFloorWorkflow`` runs N activities that each sleep a model's latency
(what Temporal itself allows R such runs at once, for bench/concurrency.py).
``serve`` runs them on a worker of their own (``python -c``, see there).

Kept in its own module because the workflow sandbox re-imports a workflow's
module, which it cannot do for a script run as __main__.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop() -> None:
    return None


@activity.defn
async def sleep_for(seconds: float) -> None:
    await asyncio.sleep(seconds)


@workflow.defn
class FloorWorkflow:
    @workflow.run
    async def run(self, steps: int) -> None:
        for _ in range(steps):
            await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class SleepFloorWorkflow:
    @workflow.run
    async def run(self, steps: int, seconds: float) -> None:
        for _ in range(steps):
            await workflow.execute_activity(sleep_for, seconds, start_to_close_timeout=timedelta(seconds=60))


async def serve(
    address: str, task_queue: str, workflow_tasks: int, activities: int, workflow_pollers: int, activity_pollers: int
) -> None:
    """A worker for both floors until killed (bench/concurrency.py runs it as a process of its own)."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, SleepFloorWorkflow],
        activities=[noop, sleep_for],
        max_concurrent_workflow_tasks=workflow_tasks,
        max_concurrent_activities=activities,
        max_concurrent_workflow_task_polls=workflow_pollers,
        max_concurrent_activity_task_polls=activity_pollers,
    )
    print("floor worker polling", flush=True)
    await worker.run()
