"""The end of a workflow that is not an agent loop (a report, a document, an
onboarding): its own log lines, then, for the run's top workflow, the
composed ``run.log``. One place, so every such workflow issues the same two
activities the same way (their histories depend on it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.files import FileActivities
    from deepagents_temporal import s3
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT, STORAGE_RETRY_POLICY
    from deepagents_temporal.schema import ArtifactInfo, LogPartInput
    from workflows.progress import ProgressLog

LOG_TIMEOUT = timedelta(seconds=60)


async def write_run_log(
    run_id: str, agent: str, progress: ProgressLog, *, is_root: bool, what: str
) -> ArtifactInfo | None:
    """Write this workflow's log lines (``what`` names them in the UI); for the
    top workflow, compose and return ``logs/<run id>/run.log``."""
    workflow_id = workflow.info().workflow_id
    await workflow.execute_activity_method(
        FileActivities.write_log_part,
        LogPartInput(run_id=run_id, workflow_id=workflow_id, lines=progress.log_lines(agent, workflow_id)),
        start_to_close_timeout=LOG_TIMEOUT,
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=STORAGE_RETRY_POLICY,
        summary=f"write {what}",
    )
    if not is_root:
        return None
    return await workflow.execute_activity_method(
        FileActivities.compose_run_log,
        run_id,
        start_to_close_timeout=LOG_TIMEOUT,
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=STORAGE_RETRY_POLICY,
        summary=f"write {s3.log_key(run_id)}",
    )
