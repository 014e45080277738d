"""How a run ended: its answer or its failure, its artifacts and where to look.

Printed by `run` after following a run and by `result`; the artifacts come
from the PostgreSQL index, each with a presigned download link. The exit code
is the run's outcome: what cannot be printed after the run ended (the links,
while S3 or PostgreSQL is down) is a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from temporalio.client import WorkflowFailureError, WorkflowHandle

from cli.console import say
from cli.reconnect import TemporalLink
from cli.services import Services
from deepagents_temporal import pgstore
from deepagents_temporal.failures import innermost_failure_message
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.service_errors import ServiceError, s3_error
from deepagents_temporal.services import open_database, s3_client
from deepagents_temporal.settings import Settings

ARTIFACT_LINK_HOURS = 24
R = TypeVar("R")


def cost_text(cost_usd: float | None) -> str:
    """A run's cost as printed (USD, to the micro-dollar); "-" when unknown."""
    return "-" if cost_usd is None else f"${cost_usd:,.6f}"


async def print_outcome(
    services: Services,
    handle: WorkflowHandle,
    link: TemporalLink,
    result_type: type[R],
    body: Callable[[R], None],
    status: Callable[[R], tuple[str, str]],
) -> int:
    """Wait for a run's end and print it: ``body`` (what the run made), its artifacts,
    its id, ``status`` (a line and its style) and the UI link; or its failure.
    Returns the exit code: 0 when it COMPLETED, 1 when it failed."""
    ui_link = services.run_link(handle.id)
    result_handle = services.client.get_workflow_handle(handle.id, result_type=result_type)
    try:
        result = await link.call(result_handle.result)
    except WorkflowFailureError as err:
        say()
        say(f"run {handle.id} FAILED: {innermost_failure_message(err)}", style="bold red")
        await _artifacts_or_warning(services, handle.id)
        say(f"run id: {handle.id}")
        _say_ui_link(services, ui_link)
        return 1
    say()
    body(result)
    await _artifacts_or_warning(services, handle.id)
    say(f"run id: {handle.id}")
    text, style = status(result)
    say(text, style=style)
    _say_ui_link(services, ui_link)
    return 0


async def report_result(services: Services, handle: WorkflowHandle, link: TemporalLink) -> int:
    """Wait for an agent run's end and print it; 0 when it COMPLETED, 1 when it failed."""

    def body(result: AgentResult) -> None:
        say("=" * 72)
        say(result.answer)
        say("=" * 72)

    def status(result: AgentResult) -> tuple[str, str]:
        cost = "" if result.usage.cost_usd is None else f", cost: {cost_text(result.usage.cost_usd)}"
        return (
            f"status: COMPLETED in {result.steps} supervisor steps, sub-agents: {len(result.children)}, "
            f"models: {', '.join(result.models_used)}, tokens: {result.usage.total_tokens}{cost}",
            "green",
        )

    return await print_outcome(services, handle, link, AgentResult, body, status)


def _say_ui_link(services: Services, ui_link: str | None) -> None:
    if ui_link:
        say(f"Temporal UI: {ui_link}")
    note = services.links_die_note()
    if note:
        say(note, style="yellow")


async def _artifacts_or_warning(services: Services, run_id: str) -> None:
    """The artifacts with their links; the run has ended, so failing here is only a warning."""
    try:
        await print_artifacts(services.settings, run_id)
    except ServiceError as err:
        say(f"warning: the run's artifacts cannot be listed: {err.problem}", style="yellow")
        say(f"  {err.hint}; `python starter.py result {run_id}` prints them later")
    except Exception as err:  # noqa: BLE001 - the exit code is the run's, whatever went wrong here
        say(f"warning: the run's artifacts cannot be listed: {type(err).__name__}: {err}", style="yellow")
        say(f"  `python starter.py result {run_id}` prints them later")


async def print_artifacts(settings: Settings, run_id: str) -> None:
    """The run's objects from the artifact index, each with a presigned download URL."""
    pool = await open_database(settings, migrate=False)
    try:
        artifacts = await pgstore.list_artifacts(pool, run_id)
    finally:
        await pool.close()
    if not artifacts:
        say("artifacts: none recorded")
        return
    client = s3_client(settings)
    lines = []
    for artifact in artifacts:
        try:
            url = await asyncio.to_thread(
                client.presigned_get_object,
                settings.s3_bucket,
                artifact.key,
                expires=timedelta(hours=ARTIFACT_LINK_HOURS),
            )
        except Exception as err:
            assert settings.s3_endpoint
            problem = s3_error(err, settings.s3_endpoint, settings.s3_bucket)
            if problem is None:
                raise
            raise problem from err
        lines += [f"  {artifact.key} ({artifact.size:,} bytes)", f"    {url}"]
    say(f"artifacts ({len(artifacts)}, download links valid for {ARTIFACT_LINK_HOURS} h):")
    for line in lines:
        say(line)
