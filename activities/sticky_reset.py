"""After a lost attempt, the run's next workflow task goes to any worker at once.

A worker caches the workflows it runs, and Temporal sends each run's next
workflow task to that worker's own (sticky) queue. When the worker is killed,
the run's lost activity is retried elsewhere after its heartbeat timeout, but
the workflow task that follows would still wait on the dead worker's sticky
queue for its schedule-to-start timeout (1 s, worker.py) before going to the
shared queue. So a retried attempt whose predecessor timed out (the sign of a
lost worker) first tells Temporal to forget the run's sticky queue
(``ResetStickyTaskQueue``); the next workflow task is then taken by whichever
worker polls first, which replays the run's history. If the old worker was in
fact alive, that replay is the whole cost. Installed by ``worker.build_worker``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, ResetStickyTaskQueueRequest
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

logger = logging.getLogger(__name__)

# Two small calls to Temporal before the retried attempt runs; past this it runs anyway.
RESET_TIMEOUT = timedelta(seconds=2)


class StickyReset(Interceptor):
    """Worker interceptor: a retry after a timed-out attempt resets the run's sticky queue first."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.attempt > 1 and not info.is_local and info.workflow_id and info.workflow_run_id:
            try:
                await asyncio.wait_for(_reset_if_lost(info), RESET_TIMEOUT.total_seconds())
            except Exception as err:  # noqa: BLE001 - only a second saved; the attempt must run
                logger.warning("could not reset the sticky queue of run %s: %s", info.workflow_id, err)
        return await super().execute_activity(input)


async def _reset_if_lost(info: activity.Info) -> None:
    client = activity.client()
    execution = WorkflowExecution(workflow_id=info.workflow_id, run_id=info.workflow_run_id)
    namespace = info.workflow_namespace
    description = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=namespace, execution=execution)
    )
    for pending in description.pending_activities:
        # A timeout (heartbeat, start-to-close) ended the last attempt: its worker was lost or stuck.
        if pending.activity_id == info.activity_id and pending.last_failure.HasField("timeout_failure_info"):
            await client.workflow_service.reset_sticky_task_queue(
                ResetStickyTaskQueueRequest(namespace=namespace, execution=execution)
            )
            return
