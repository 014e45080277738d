"""`list --query`: runs found by a Temporal visibility query (the UI's filter
language, e.g. ``Profile='qa' AND RunStatus='FAILED'``), passed through as written."""

from __future__ import annotations

from temporalio.service import RPCError

from cli.console import say
from cli.services import open_services
from deepagents_temporal.search_attributes import PROFILE, RUN_STATUS, WORKFLOW_KIND
from deepagents_temporal.settings import load_settings


async def list_by_query(query: str, *, limit: int) -> int:
    async with open_services(load_settings(), "list") as services:
        found = []
        try:
            async for execution in services.client.list_workflows(query, limit=limit):
                found.append(execution)
        except RPCError as err:
            say(f"error: Temporal refused the query {query!r}: {err.message}")
            return 2
    if not found:
        say(f"no run matches {query!r}")
        return 0
    say(f"{'WORKFLOW ID':<60} {'KIND':<10} {'PROFILE':<12} {'STATUS':<11} STARTED")
    for e in found:
        attributes = e.typed_search_attributes
        say(
            f"{e.id:<60} {attributes.get(WORKFLOW_KIND) or '-':<10} {attributes.get(PROFILE) or '-':<12} "
            f"{attributes.get(RUN_STATUS) or (e.status.name if e.status else '-'):<11} {e.start_time:%Y-%m-%d %H:%M:%S}"
        )
    return 0
