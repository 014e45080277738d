"""`watch`: attach to a run started anywhere and follow it live to its end.

The same view as `run` (todos, sub-agents, model calls, the models' text as
it is written) on a run this command did not start: it only reads (queries,
describes, LISTEN on PostgreSQL), never runs a worker, and asks each agent at
most once a second. It ends with the run, printing its outcome and exiting
as `result` does; Ctrl-C detaches and leaves the run as it was.
"""

from __future__ import annotations

import asyncio

from cli.console import say
from cli.inspect import _describe
from cli.live_view import follow
from cli.reconnect import TemporalLink
from cli.report import report_outcome
from cli.results import report_result
from cli.run import stream_dsn
from cli.services import open_services
from deepagents_temporal.reports.schema import REPORT_WORKFLOW_NAME
from deepagents_temporal.settings import load_settings


async def watch(run_id: str) -> int:
    async with open_services(load_settings(), "watch") as services:
        handle = services.client.get_workflow_handle(run_id)
        description = await _describe(services, handle)
        if description is None:
            say("  `python starter.py list` shows the recent runs")
            return 2
        status = description.status.name if description.status else "UNKNOWN"
        say(f"watching run {run_id} ({description.workflow_type}, {status}); Ctrl-C detaches, the run goes on")
        link = TemporalLink(services.settings.temporal_address or "")
        try:
            await follow(handle, services.client, link, stream_dsn=stream_dsn(services))
        except asyncio.CancelledError:
            say(f"\ndetached; run {run_id} goes on: `python starter.py watch {run_id}` attaches again")
            return 130
        if description.workflow_type == REPORT_WORKFLOW_NAME:
            return await report_outcome(services, handle, link)
        return await report_result(services, handle, link)
