"""`cancel`: stop a run and its sub-agents, then say what each ended as and what was kept.

The cancellation request carries the reason (Temporal records it and the
workflow reads it with ``workflow.cancellation_reason``); the supervisor's
cancellation reaches its sub-agents (child workflows) and, through the
heartbeats every activity sends (``activities/keepalive.py``), the model and
tool calls in flight. Each agent still writes its log and its CANCELLED row
before it ends; files written so far stay in the bucket and are listed here.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from cli.console import say
from cli.services import open_services
from deepagents_temporal import pgstore
from deepagents_temporal.services import open_database
from deepagents_temporal.settings import load_settings


async def cancel(run_id: str, *, reason: str | None) -> int:
    async with open_services(load_settings(), "cancel", needs_database=True) as services:
        handle = services.client.get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            say(f"error: no run {run_id!r}: {err.message}")
            return 2
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = description.status.name if description.status else "UNKNOWN"
            say(f"run {run_id} is {status}: nothing to cancel")
            return 1
        await handle.cancel(reason=reason or "")
        say(f"cancelling {run_id}{f' ({reason})' if reason else ''}; waiting for its agents to record how they ended")
        try:
            await handle.result()
        except WorkflowFailureError:
            pass  # a cancelled run ends as a failure of its result
        pool = await open_database(services.settings, migrate=False)
        try:
            run = await pgstore.get_run(pool, run_id)
            children = await pgstore.list_runs(pool, limit=1000, parent_run_id=run_id)
            artifacts = await pgstore.list_artifacts(pool, run_id)
        finally:
            await pool.close()
        for agent_run in [r for r in (run, *children) if r is not None]:
            error = f" - {agent_run.error}" if agent_run.error else ""
            say(f"{agent_run.run_id}: {agent_run.status.value}{error}")
        say(f"kept ({len(artifacts)}):")
        for artifact in artifacts:
            say(f"  {artifact.key} ({artifact.size:,} bytes)")
        final = await handle.describe()
        return 0 if final.status == WorkflowExecutionStatus.CANCELED else 1
