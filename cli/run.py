"""`run`: start a run (routed, or of the profile or workflow named), follow it to its end, print how it ended."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from cli.console import say
from cli.live_view import follow
from cli.reconnect import TemporalLink
from cli.results import report_result
from cli.services import Origin, Services, WorkerPolicy, open_services
from deepagents_temporal import search_attributes
from deepagents_temporal.catalog import load_catalog
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.routing import check_workflow, workflow_arguments_from
from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.settings import load_settings


def new_run_id(profile: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{profile}-{stamp}-{secrets.token_hex(3)}"


async def run(
    request: str,
    *,
    profile: str | None,
    max_steps: int | None,
    user: str | None,
    with_worker: bool,
    model_timeout: float | None = None,
    max_tokens: int | None = None,
    workflow: str | None = None,
    continue_as_new_steps: int | None = None,
) -> int:
    if not request.strip():
        say("error: the request is empty")
        return 2
    if profile and workflow:
        say("error: --profile and --workflow both name where the request goes: give one")
        return 2
    settings = load_settings()
    # The workers read the profile again when the run starts; checking it here
    # catches a typo before anything starts.
    if profile:
        load_catalog(settings).profile(profile)
    arguments: dict[str, str] = {}
    if workflow:
        arguments = workflow_arguments_from(request)
        problem = check_workflow(workflow, arguments)
        if problem:
            say(f"error: {problem}")
            return 2
    timeout = model_timeout if model_timeout is not None else settings.deepagent_model_timeout
    async with open_services(
        settings,
        "run",
        worker=WorkerPolicy.ALWAYS if with_worker else WorkerPolicy.IF_STARTED_HERE,
        needs_database=True,
        model_settings_used=True,
    ) as services:
        run_id = new_run_id(profile or workflow or "run")
        models = services.model_chain or services.settings.model_chain
        attributes = search_attributes.start_attributes(
            profile=profile or workflow or "routed",
            kind=search_attributes.SUPERVISOR,
            model=models[0] if models else None,
            user=user,
        )
        try:
            handle = await services.client.start_workflow(
                "AgentWorkflow",
                AgentInput(
                    profile=profile,
                    workflow=workflow,
                    workflow_arguments=arguments,
                    request=request,
                    max_steps=max_steps,
                    user_id=user,
                    model_timeout_seconds=timeout,
                    max_tokens=max_tokens,
                    continue_as_new_steps=continue_as_new_steps,
                ),
                id=run_id,
                task_queue=services.settings.temporal_task_queue,
                result_type=AgentResult,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                static_summary=f"{profile or workflow or 'routed'}: {request[:200]}",
                static_details=start_details(request, profile or workflow, models, user),
                search_attributes=attributes,
            )
        except RPCError as err:
            if "search attribute" not in err.message.lower():
                raise
            namespace = services.settings.temporal_namespace
            say(f"error: the Temporal namespace lacks this project's search attributes: {err.message}")
            say("  register them once: " + "; ".join(search_attributes.registration_commands(namespace)))
            return 2
        announce_started(services, run_id)
        budget = f", token budget: {max_tokens:,}" if max_tokens else ""
        target = (
            f"profile: {profile}"
            if profile
            else f"workflow: {workflow}"
            if workflow
            else "profile: chosen by the router"
        )
        say(f"{target}, models: {services.models_text()}, model request timeout: {timeout:g} s{budget}")
        return await follow_to_end(services, handle, report_result)


def announce_started(services: Services, run_id: str) -> None:
    """The run id, its UI link and, for a stack that dies with this command, that its links do too."""
    say(f"run id: {run_id}")
    link = services.run_link(run_id)
    if link:
        say(f"Temporal UI: {link}")
    note = services.links_die_note()
    if note:
        say(note, style="yellow")


async def follow_to_end(
    services: Services,
    handle: WorkflowHandle,
    outcome: Callable[[Services, WorkflowHandle, TemporalLink], Awaitable[int]],
) -> int:
    """Follow a started run in the live view, then print how it ended (``outcome``); its exit code."""
    temporal = TemporalLink(services.settings.temporal_address or "")
    # Our own worker and `dev`'s always poll; a cluster's may not.
    hint = services.no_worker_hint() if services.origin is Origin.CLUSTER and not services.worker_here else None
    try:
        await follow(handle, services.client, temporal, no_worker_hint=hint, stream_dsn=stream_dsn(services))
        return await outcome(services, handle, temporal)
    except asyncio.CancelledError:
        say(f"\ninterrupted; the run is kept in Temporal: `python starter.py status {handle.id}`")
        return 130


def stream_dsn(services: Services) -> str | None:
    """Where the models' live text is announced: the workers' PostgreSQL."""
    url = services.settings.database_url
    return url.get_secret_value() if url is not None else None


def start_details(request: str, target: str | None, models: list[str], user: str | None) -> str:
    """The run's static details in the Temporal UI (markdown): where the request goes, the models, the request."""
    lines = [
        f"**profile / workflow:** {target or 'chosen by the router'}",
        f"**models:** {' → '.join(models) if models else 'as configured on the workers'}",
    ]
    if user:
        lines.append(f"**user:** {user}")
    return "\n\n".join([*lines, "**request:**", request[:4000]])
