"""A run and its sub-agents, as the workflow ids of those still running.

The supervisor's ``progress`` query names its children (``<run id>/<type>-<n>``);
each running child is asked the same, so sub-agents of sub-agents are found
too. Used by `approve` (calls waiting anywhere in the run) and `cancel` (the
reason told to every agent before the run is cancelled).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from deepagents_temporal.schema import Progress

QUERY_TIMEOUT = timedelta(seconds=10)


async def running_workflows(client: Client, run_id: str) -> list[str]:
    """``run_id`` and its sub-agents that are RUNNING, parents first."""
    found: list[str] = []
    queue = [run_id]
    while queue:
        workflow_id = queue.pop(0)
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError:
            continue
        if description.status != WorkflowExecutionStatus.RUNNING:
            continue
        found.append(workflow_id)
        try:
            progress = await handle.query("progress", 0, result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
        except Exception:  # noqa: BLE001 - no worker answering: its children stay unknown
            continue
        queue.extend(child.workflow_id for child in progress.children if child.status == "running")
    return found
