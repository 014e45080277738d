"""Looking at runs: `status` and `result` ask Temporal; `list` and `show` read PostgreSQL.

All four only read: they never run a worker (a worker would advance the run,
and with a real key spend money) and never migrate the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from cli.console import say
from cli.document import document_outcome
from cli.onboard import onboarding_outcome
from cli.reconnect import TemporalLink
from cli.report import report_outcome
from cli.results import cost_text, report_result
from cli.services import Origin, Services, open_database_only, open_services, workflow_pollers
from cli.waits import retries
from deepagents_temporal import pgstore
from deepagents_temporal.documents.schema import DOCUMENT_WORKFLOW_NAME
from deepagents_temporal.onboarding.schema import ONBOARDING_WORKFLOW_NAME
from deepagents_temporal.reports.schema import REPORT_WORKFLOW_NAME
from deepagents_temporal.schema import Progress
from deepagents_temporal.service_errors import SERVICE_EXIT_CODE, temporal_error
from deepagents_temporal.settings import load_settings

PROGRESS_QUERY_TIMEOUT = timedelta(seconds=10)


async def _describe(services: Services, handle: WorkflowHandle) -> WorkflowExecutionDescription | None:
    """The run's description; None (after saying so) when there is no such run."""
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            say(f"error: no run {handle.id!r}: {err.message}")
            return None
        settings = services.settings
        problem = temporal_error(err, settings.temporal_address or "", settings.temporal_namespace)
        if problem is None:
            raise
        raise problem from err


async def status(run_id: str) -> int:
    async with open_services(load_settings(), "status") as services:
        handle = services.client.get_workflow_handle(run_id)
        description = await _describe(services, handle)
        if description is None:
            return 2
        say(f"run id: {run_id}")
        say(f"status: {description.status.name if description.status else 'UNKNOWN'}")
        say(f"started: {description.start_time:%Y-%m-%d %H:%M:%S} UTC")
        if description.close_time:
            say(f"closed: {description.close_time:%Y-%m-%d %H:%M:%S} UTC")
        # Progress is a query, which only a worker answers.
        if not await workflow_pollers(services.client, description.task_queue):
            say(
                f"(no worker is polling task queue {description.task_queue!r}, so no progress details: "
                f"{services.no_worker_hint()}; `python starter.py show {run_id}` has the recorded decisions)"
            )
            progress = None
        else:
            try:
                progress = await handle.query("progress", 0, result_type=Progress, rpc_timeout=PROGRESS_QUERY_TIMEOUT)
            except Exception as err:  # noqa: BLE001 - no worker answering is a normal answer here
                say(f"(no progress available: {err})")
                progress = None
        if progress is not None:
            say(f"agent: {progress.agent}, model calls: {progress.step}")
            if progress.todos:
                say("todos:")
                for todo in progress.todos:
                    say(f"  - [{todo.status}] {todo.content}")
            for child in progress.children:
                say(f"sub-agent {child.subagent_type}: {child.status} ({child.workflow_id})")
        for workflow_id, retrying in await _retrying(services, description, progress):
            for line in retrying:
                say(f"retrying ({workflow_id}) {line}", style="yellow")
        link = services.run_link(run_id)
        if link:
            say(f"Temporal UI: {link}")
        note = services.links_die_note()
        if link and note:
            say(note, style="yellow")
        return 0


async def _retrying(
    services: Services, description: WorkflowExecutionDescription, progress: Progress | None
) -> list[tuple[str, list[str]]]:
    """Activities of the run and its running sub-agents that wait for another attempt."""
    found = [(description.id, await retries(services.client, description))]
    for child in progress.children if progress else []:
        if child.status != "running":
            continue
        try:
            child_description = await services.client.get_workflow_handle(child.workflow_id).describe()
        except RPCError:
            continue
        found.append((child.workflow_id, await retries(services.client, child_description)))
    return [(workflow_id, lines) for workflow_id, lines in found if lines]


async def result(run_id: str) -> int:
    async with open_services(load_settings(), "result", needs_database=True) as services:
        handle = services.client.get_workflow_handle(run_id)
        description = await _describe(services, handle)
        if description is None:
            return 2
        if description.status == WorkflowExecutionStatus.RUNNING and not await workflow_pollers(
            services.client, description.task_queue
        ):
            say(f"run {run_id} is RUNNING and no worker is polling task queue {description.task_queue!r}")
            if services.origin is Origin.HERE:
                # This command's stack stops when it exits: no worker can come.
                say(f"  {services.no_worker_hint()}")
                return SERVICE_EXIT_CODE
            say(f"  {services.no_worker_hint()}; waiting for the run's end", style="yellow")
        link = TemporalLink(services.settings.temporal_address or "")
        if description.workflow_type == REPORT_WORKFLOW_NAME:
            return await report_outcome(services, handle, link)
        if description.workflow_type == DOCUMENT_WORKFLOW_NAME:
            return await document_outcome(services, handle, link)
        if description.workflow_type == ONBOARDING_WORKFLOW_NAME:
            return await onboarding_outcome(services, handle, link)
        return await report_result(services, handle, link)


def _duration(run: pgstore.RunRecord) -> str:
    if run.created_at is None:
        return "-"
    end = run.completed_at or datetime.now(UTC)
    return f"{(end - run.created_at).total_seconds():.1f}s"


async def list_runs(*, limit: int, status: str | None, include_sub_agents: bool) -> int:
    async with open_database_only(load_settings(), "list", migrate=False) as pool:
        try:
            runs = await pgstore.list_runs(pool, limit=limit, status=status, top_level=not include_sub_agents)
        except asyncpg.UndefinedTableError:
            runs = []  # a database no worker has used yet
    if not runs:
        say("no runs recorded yet")
        return 0
    say(f"{'RUN ID':<44} {'PROFILE':<8} {'STATUS':<11} {'DURATION':>9} {'TOKENS':>8} {'COST':>11}  MODELS")
    for run in runs:
        say(
            f"{run.run_id:<44} {run.profile or '-':<8} {run.status.value:<11} {_duration(run):>9} "
            f"{run.total_tokens or 0:>8} {cost_text(run.cost_usd):>11}  {', '.join(run.models_used) or '-'}"
        )
    return 0


async def show(run_id: str) -> int:
    async with open_database_only(load_settings(), "show", migrate=False) as pool:
        try:
            run = await pgstore.get_run(pool, run_id)
        except asyncpg.UndefinedTableError:
            run = None  # a database no worker has used yet
        if run is None:
            say(f"error: no run {run_id!r} in the database")
            return 2
        children = await pgstore.list_runs(pool, limit=100, parent_run_id=run_id)
        say(f"run id:   {run.run_id}")
        say(f"status:   {run.status.value}{' - ' + run.error if run.error else ''}")
        if run.profile:
            say(f"profile:  {run.profile}, agent {run.agent}, duration {_duration(run)}")
        else:  # a workflow that is not an agent (a report, a document): its type says what ran
            say(f"workflow: {run.workflow_name}, duration {_duration(run)}")
        cost = "" if run.cost_usd is None else f", cost {cost_text(run.cost_usd)}"
        say(f"models:   {', '.join(run.models_used) or '-'}; tokens {run.total_tokens or 0:,}{cost}")
        say(f"request:  {run.request}")
        for agent_run in [run, *children]:
            say(f"\ndecisions of {agent_run.agent or agent_run.run_id} ({agent_run.run_id}, {agent_run.status.value}):")
            for decision in await pgstore.list_decisions(pool, agent_run.run_id):
                at = f"{decision.created_at:%H:%M:%S}" if decision.created_at else "--:--:--"
                step = decision.step or 0
                say(f"  {decision.seq:>3} {at} step {step:>2} {decision.kind.value:<11} {decision.summary}")
        artifacts = await pgstore.list_artifacts(pool, run_id)
        say(f"\nartifacts ({len(artifacts)}):")
        for artifact in artifacts:
            say(f"  {artifact.key} ({artifact.size:,} bytes, sha256 {artifact.sha256[:12]}...)")
    return 0
