"""`run`: start a run of an agent profile, follow it to its end, print how it ended."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from cli.console import say
from cli.live_view import follow
from cli.results import report_result
from cli.services import open_services
from deepagents_temporal.profiles import UnknownProfileError, get_profile
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.settings import load_settings


def new_run_id(profile: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{profile}-{stamp}-{secrets.token_hex(3)}"


async def run(request: str, *, profile: str, max_steps: int | None, user: str | None, with_worker: bool) -> int:
    try:
        get_profile(profile)
    except UnknownProfileError as err:
        say(f"error: {err}")
        return 2
    if not request.strip():
        say("error: the request is empty")
        return 2
    async with open_services(load_settings(), always_run_worker=with_worker) as services:
        run_id = new_run_id(profile)
        handle = await services.client.start_workflow(
            "AgentWorkflow",
            AgentInput(profile=profile, request=request, max_steps=max_steps, user_id=user),
            id=run_id,
            task_queue=services.settings.temporal_task_queue,
            result_type=AgentResult,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"{profile}: {request[:200]}",
        )
        say(f"run id: {run_id}")
        link = services.run_link(run_id)
        if link:
            say(f"Temporal UI: {link}")
        say(f"profile: {profile}, models: {services.models_text()}")
        try:
            await follow(handle, services.client)
            return await report_result(services, handle)
        except asyncio.CancelledError:
            say(f"\ninterrupted; the run is kept in Temporal: `python starter.py status {run_id}`")
            return 130
