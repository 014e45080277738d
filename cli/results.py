"""How a run ended: its answer or its failure, its artifacts and where to look.

Printed by `run` after following a run and by `result`; the artifacts come
from the PostgreSQL index, each with a presigned download link.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import WorkflowFailureError, WorkflowHandle

from cli.console import say
from cli.services import Services
from deepagents_temporal import pgstore
from deepagents_temporal.failures import innermost_failure_message
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import open_database, s3_client
from deepagents_temporal.settings import Settings

ARTIFACT_LINK_HOURS = 24


async def report_result(services: Services, handle: WorkflowHandle) -> int:
    """Wait for the run's end and print it; 0 when it COMPLETED, 1 when it failed."""
    link = services.run_link(handle.id)
    try:
        result = await services.client.get_workflow_handle(handle.id, result_type=AgentResult).result()
    except WorkflowFailureError as err:
        say()
        say(f"run {handle.id} FAILED: {innermost_failure_message(err)}", style="bold red")
        await print_artifacts(services.settings, handle.id)
        say(f"run id: {handle.id}")
        if link:
            say(f"Temporal UI: {link}")
        return 1
    say()
    say("=" * 72)
    say(result.answer)
    say("=" * 72)
    await print_artifacts(services.settings, handle.id)
    say(f"run id: {handle.id}")
    say(
        f"status: COMPLETED in {result.steps} supervisor steps, sub-agents: {len(result.children)}, "
        f"models: {', '.join(result.models_used)}, tokens: {result.usage.total_tokens}",
        style="green",
    )
    if link:
        say(f"Temporal UI: {link}")
    return 0


async def print_artifacts(settings: Settings, run_id: str) -> None:
    """The run's objects from the artifact index, each with a presigned download URL."""
    pool = await open_database(settings)
    try:
        artifacts = await pgstore.list_artifacts(pool, run_id)
    finally:
        await pool.close()
    if not artifacts:
        say("artifacts: none recorded")
        return
    client = s3_client(settings)
    say(f"artifacts ({len(artifacts)}, download links valid for {ARTIFACT_LINK_HOURS} h):")
    for artifact in artifacts:
        url = await asyncio.to_thread(
            client.presigned_get_object, settings.s3_bucket, artifact.key, expires=timedelta(hours=ARTIFACT_LINK_HOURS)
        )
        say(f"  {artifact.key} ({artifact.size:,} bytes)")
        say(f"    {url}")
