"""What a command talks to, started for its duration.

Without TEMPORAL_ADDRESS a command uses the embedded stack: the one
`starter.py dev` is running, or one it starts itself (then with an in-process
worker, on the offline demo model when no model is configured). With
TEMPORAL_ADDRESS it only connects; workers run elsewhere unless asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from cli.console import say
from cli.demo_model import demo_model, wants_demo_model
from deepagents_temporal import pgstore
from deepagents_temporal.devstack import read_running_stack, start_dev_stack
from deepagents_temporal.services import connect, open_database
from deepagents_temporal.settings import Settings
from worker import build_worker


@dataclass
class Services:
    client: Client
    settings: Settings
    ui_url: str | None
    # The in-process worker's models (None: other workers decide).
    model_chain: list[str] | None

    def models_text(self) -> str:
        if self.model_chain is None:
            return "as configured on the workers (DEEPAGENT_MODEL, DEEPAGENT_FALLBACK_MODELS)"
        return " -> ".join(self.model_chain)

    def run_link(self, workflow_id: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url}/namespaces/{self.settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"


@asynccontextmanager
async def open_services(
    settings: Settings, *, always_run_worker: bool = False, worker_needed: bool = True
) -> AsyncIterator[Services]:
    """Connect to Temporal, starting the embedded stack (and a worker when needed)."""
    async with AsyncExitStack() as resources:
        run_worker = always_run_worker
        if not settings.temporal_address:
            settings, started_here = await _embedded_stack(settings, resources)
            if started_here:
                run_worker = worker_needed
        client = await connect(settings)
        # Which models answer is the workers' setting; known here only for our own.
        model_chain: list[str] | None = None
        if run_worker:
            if wants_demo_model(settings):
                settings = resources.enter_context(demo_model(settings))
            pool = await open_database(settings)
            resources.push_async_callback(pool.close)
            await resources.enter_async_context(_running(await build_worker(client, settings, pool)))
            model_chain = settings.model_chain
        yield Services(client=client, settings=settings, ui_url=settings.temporal_ui_url, model_chain=model_chain)


async def _embedded_stack(settings: Settings, resources: AsyncExitStack) -> tuple[Settings, bool]:
    """``settings`` pointed at `dev`'s running stack, or at one started here (True)."""
    running = read_running_stack()
    if running is not None:
        # Not ours to stop.
        say(f"using the embedded stack started by `starter.py dev` (Temporal {running.temporal_address})")
        return running.settings(settings), False
    started = time.monotonic()
    say("starting the embedded stack (Temporal dev server + web UI, S3 server, PostgreSQL)...")
    stack = await start_dev_stack(log=lambda line: say(f"  {line}"))
    resources.push_async_callback(stack.stop)
    say(f"embedded stack ready in {time.monotonic() - started:.1f}s")
    return stack.settings(settings), True


@asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[None]:
    # Not `async with worker`: a failing worker must not cancel the command
    # following the run; it ends with the command.
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        if not task.done():
            await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def open_database_only(
    settings: Settings, *, migrate: bool = True
) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    """The PostgreSQL pool, from DATABASE_URL or the embedded stack (no worker)."""
    if settings.database_url is None:
        async with open_services(settings, worker_needed=False) as services:
            async with _pool(services.settings, migrate) as pool:
                yield services.settings, pool
        return
    async with _pool(settings, migrate) as pool:
        yield settings, pool


@asynccontextmanager
async def _pool(settings: Settings, migrate: bool) -> AsyncIterator[asyncpg.Pool]:
    assert settings.database_url is not None
    pool = (
        await open_database(settings)
        if migrate
        else await pgstore.create_pool(settings.database_url.get_secret_value())
    )
    try:
        yield pool
    finally:
        await pool.close()
