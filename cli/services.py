"""What a command talks to, started for its duration.

Without TEMPORAL_ADDRESS a command uses the embedded stack: the one
`starter.py dev` is running, or one it starts itself (then `run` adds an
in-process worker, on the offline demo model when no model is configured).
With TEMPORAL_ADDRESS it only connects; workers run elsewhere unless asked
for. The commands that only read (`status`, `result`, `list`, `show`) never
run a worker. Every service a command needs is checked before it does
anything, all at once, so a broken setup is reported in full as
:class:`~deepagents_temporal.service_errors.ServiceError` lines.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import quote

import asyncpg
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli.console import say
from deepagents_temporal.devstack import read_running_stack, start_dev_stack
from deepagents_temporal.service_errors import gather_checked, require_settings
from deepagents_temporal.services import connect, open_database
from deepagents_temporal.settings import Settings

if TYPE_CHECKING:
    from worker import Workers

# Settings only a worker reads: a command that sends its run to another
# worker cannot apply them.
WORKER_MODEL_SETTINGS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPAGENT_MODEL", "DEEPAGENT_FALLBACK_MODELS")
# Settings the embedded stack replaces with its own servers.
EMBEDDED_REPLACES = ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "DATABASE_URL")
# A poller seen longer ago than this counts as gone (an idle worker re-polls
# at least once a minute; the server remembers pollers for minutes).
POLLER_FRESH = timedelta(seconds=75)


class Origin(Enum):
    """Where the command's services come from."""

    CLUSTER = "TEMPORAL_ADDRESS"  # the user's own services
    DEV = "dev"  # the embedded stack `starter.py dev` runs (with its worker)
    HERE = "here"  # an embedded stack this command started; it stops when the command exits


class WorkerPolicy(Enum):
    NEVER = "never"  # read-only commands
    IF_STARTED_HERE = "if started here"  # `run`: the stack it started has no other worker
    ALWAYS = "always"  # `dev`, `run --with-worker`


@dataclass
class Services:
    client: Client
    settings: Settings
    ui_url: str | None
    origin: Origin
    # The in-process worker's models (None: other workers decide).
    model_chain: list[str] | None

    @property
    def worker_here(self) -> bool:
        return self.model_chain is not None

    def models_text(self) -> str:
        if self.model_chain is None:
            return "as configured on the workers (DEEPAGENT_MODEL, DEEPAGENT_FALLBACK_MODELS)"
        return " -> ".join(self.model_chain)

    def run_link(self, workflow_id: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url}/namespaces/{self.settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"

    def links_die_note(self) -> str | None:
        """What to tell next to links that stop working when this command exits."""
        if self.origin is not Origin.HERE:
            return None
        return (
            "note: these links work only while this command runs (it stops the embedded stack it started); "
            "keep them alive with `python starter.py dev` in another terminal, then run the command again"
        )

    def no_worker_hint(self) -> str:
        """What to do when no worker polls the run's task queue."""
        queue = self.settings.temporal_task_queue
        if self.origin is Origin.HERE:
            return "start `python starter.py dev` (it runs a worker), then ask again"
        return (
            f"start `python worker.py` with the same TEMPORAL_* settings (task queue {queue!r}), "
            "or pass --with-worker to `run`"
        )


@asynccontextmanager
async def open_services(
    settings: Settings,
    command: str,
    *,
    worker: WorkerPolicy = WorkerPolicy.NEVER,
    needs_database: bool = False,
    model_settings_used: bool = False,
) -> AsyncIterator[Services]:
    """Connect to Temporal (and check S3 and, when needed, PostgreSQL), starting the
    embedded stack and a worker as ``worker`` says.

    ``model_settings_used``: the command starts a run, so model settings given
    to it matter; a warning says when it cannot apply them.
    """
    async with AsyncExitStack() as resources:
        if settings.temporal_address:
            origin = Origin.CLUSTER
            needs = ["temporal", "s3"]
            if needs_database or worker is WorkerPolicy.ALWAYS:
                needs.append("postgres")
            require_settings(settings, needs, command)
        else:
            _warn_unused(
                EMBEDDED_REPLACES,
                "without TEMPORAL_ADDRESS the embedded stack's own S3 and PostgreSQL are used "
                "(set TEMPORAL_ADDRESS too to use yours)",
            )
            settings, started_here = await _embedded_stack(settings, resources)
            origin = Origin.HERE if started_here else Origin.DEV
        run_worker = worker is WorkerPolicy.ALWAYS or (worker is WorkerPolicy.IF_STARTED_HERE and origin is Origin.HERE)
        if model_settings_used and not run_worker:
            _warn_unused(
                WORKER_MODEL_SETTINGS,
                "the run goes to the worker of `starter.py dev`, which uses its own (set them where you start `dev`)"
                if origin is Origin.DEV
                else "the workers polling the task queue use their own (pass --with-worker to run one here with them)",
            )
        steps = [connect(settings)]
        if run_worker or needs_database:
            steps.append(open_database(settings, migrate=run_worker))
        client, *opened = await gather_checked(*steps)
        pool: asyncpg.Pool | None = opened[0] if opened else None
        if pool is not None:
            resources.push_async_callback(pool.close)
        # Which models answer is the workers' setting; known here only for our own.
        model_chain: list[str] | None = None
        if run_worker:
            assert pool is not None
            settings = await _start_worker(client, settings, pool, resources)
            model_chain = settings.model_chain
        elif pool is not None:
            # Only checked: the command opens its own connection when it needs one.
            await pool.close()
        yield Services(
            client=client, settings=settings, ui_url=settings.temporal_ui_url, origin=origin, model_chain=model_chain
        )


async def _start_worker(client: Client, settings: Settings, pool: asyncpg.Pool, resources: AsyncExitStack) -> Settings:
    # Imported here: the models' libraries take a second to load, which the
    # commands that never run a worker should not pay.
    from cli.demo_model import demo_model, wants_demo_model
    from worker import build_worker

    if wants_demo_model(settings):
        settings = resources.enter_context(demo_model(settings))
    await resources.enter_async_context(_running(await build_worker(client, settings, pool)))
    return settings


def _warn_unused(names: tuple[str, ...], why: str) -> None:
    given = [name for name in names if os.environ.get(name)]
    if given:
        verb = "is" if len(given) == 1 else "are"
        say(f"warning: {', '.join(given)} {verb} set but not used here: {why}", style="yellow")


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
async def _running(worker: Workers) -> AsyncIterator[None]:
    # Not `async with worker`: a failing worker must not cancel the command
    # following the run; it ends with the command.
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        if not task.done():
            await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)


async def workflow_pollers(client: Client, task_queue: str) -> int:
    """How many workers polled ``task_queue`` for workflow tasks lately."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        retry=True,
    )
    now = datetime.now(UTC)
    return sum(
        1
        for poller in response.pollers
        if not poller.HasField("last_access_time") or now - poller.last_access_time.ToDatetime(UTC) < POLLER_FRESH
    )


@asynccontextmanager
async def open_database_only(settings: Settings, command: str, *, migrate: bool = True) -> AsyncIterator[asyncpg.Pool]:
    """The PostgreSQL pool, from DATABASE_URL or the embedded stack (no worker)."""
    if settings.database_url is None:
        if settings.temporal_address:
            require_settings(settings, ["postgres"], command)
        async with open_services(settings, command) as services:
            async with _pool(services.settings, migrate) as pool:
                yield pool
        return
    async with _pool(settings, migrate) as pool:
        yield pool


@asynccontextmanager
async def _pool(settings: Settings, migrate: bool) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_database(settings, migrate=migrate)
    try:
        yield pool
    finally:
        await pool.close()
