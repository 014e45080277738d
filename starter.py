"""deepagents-temporal: start, follow and inspect durable deep-agent runs.

Without TEMPORAL_ADDRESS every command uses the embedded stack: the one
`starter.py dev` is running, or one it starts for its own duration (Temporal
dev server with web UI, an S3 server and PostgreSQL, all on loopback, data kept
under ~/.local/share/deepagents-temporal) with an in-process worker. Without
OPENAI_API_KEY and OPENAI_BASE_URL that worker talks to the offline demo model.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from deepagents_temporal.devstack import DevStack, read_running_stack, start_dev_stack
from deepagents_temporal.profiles import DEFAULT_PROFILE, PROFILES, UnknownProfileError, get_profile
from deepagents_temporal import pgstore
from deepagents_temporal.services import connect, hard_exit, open_database, s3_client
from worker import build_worker
from deepagents_temporal.schema import AgentInput, AgentResult, Progress
from scripted_llm import Reply, ScriptedLLM
from scripted_llm.demo_brain import demo_brain
from deepagents_temporal.settings import Settings, load_settings

DEMO_MODEL = "offline-demo"
DEMO_REPLY_SECONDS = 0.6
POLL_SECONDS = 0.4
ARTIFACT_LINK_HOURS = 24
# Long runs need continue-as-new (not there yet), so the loop stays bounded.
MAX_STEPS_LIMIT = 500


def say(text: str = "") -> None:
    print(text, flush=True)


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


def _wants_demo_model(settings: Settings) -> bool:
    return settings.openai_api_key is None and not settings.openai_base_url


@asynccontextmanager
async def open_services(
    settings: Settings, *, always_run_worker: bool = False, worker_needed: bool = True
) -> AsyncIterator[Services]:
    """Connect to Temporal, starting the embedded stack (and a worker when needed)."""
    stack: DevStack | None = None
    llm: ScriptedLLM | None = None
    worker: Worker | None = None
    worker_task: asyncio.Task | None = None
    pool: asyncpg.Pool | None = None
    try:
        run_worker = always_run_worker
        if not settings.temporal_address:
            stack = read_running_stack()
            if stack is not None:
                say(f"using the embedded stack started by `starter.py dev` (Temporal {stack.temporal_address})")
                settings = stack.settings(settings)
                stack = None  # not ours to stop
            else:
                started = time.monotonic()
                say("starting the embedded stack (Temporal dev server + web UI, S3 server, PostgreSQL)...")
                stack = await start_dev_stack(log=lambda line: say(f"  {line}"))
                say(f"embedded stack ready in {time.monotonic() - started:.1f}s")
                settings = stack.settings(settings)
                run_worker = worker_needed
        client = await connect(settings)
        # Which models answer is the workers' setting; known here only for our own.
        model_chain: list[str] | None = None
        if run_worker:
            if _wants_demo_model(settings):
                llm = ScriptedLLM(brain=demo_brain)
                # Paced like a real model, so the progress can be followed.
                llm.add_rule(None, Reply.hold(DEMO_REPLY_SECONDS))
                base_url = llm.start()
                say("=" * 72)
                say("OFFLINE DEMO MODEL: no OPENAI_API_KEY / OPENAI_BASE_URL set, so a scripted")
                say(f"OpenAI-compatible server on {base_url} plays the model. Set them to use a real one.")
                say("=" * 72)
                settings = settings.model_copy(update={"openai_base_url": base_url})
                if "DEEPAGENT_MODEL" not in os.environ:
                    settings = settings.model_copy(update={"deepagent_model": DEMO_MODEL})
            pool = await open_database(settings)
            worker = await build_worker(client, settings, pool)
            worker_task = asyncio.create_task(worker.run())
            model_chain = settings.model_chain
        yield Services(client=client, settings=settings, ui_url=settings.temporal_ui_url, model_chain=model_chain)
    finally:
        if worker is not None and worker_task is not None:
            if not worker_task.done():
                await worker.shutdown()
            await asyncio.gather(worker_task, return_exceptions=True)
        if pool is not None:
            await pool.close()
        if llm is not None:
            llm.stop()
        if stack is not None:
            await stack.stop()


def new_run_id(profile: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{profile}-{stamp}-{secrets.token_hex(3)}"


class Follower:
    """Prints the new progress events of a run and of every sub-agent it starts."""

    def __init__(self, client: Client, run_id: str) -> None:
        self._client = client
        self._order = [run_id]
        self._cursor: dict[str, int] = {}
        self._finished: set[str] = set()
        self._started = time.monotonic()

    async def poll(self) -> None:
        for workflow_id in list(self._order):
            if workflow_id in self._finished:
                continue
            try:
                progress: Progress = await self._client.get_workflow_handle(workflow_id).query(
                    "progress", self._cursor.get(workflow_id, 0), result_type=Progress
                )
            except RPCError:
                continue  # not started yet, or no worker to answer right now
            except Exception:  # noqa: BLE001 - a failed query must not stop the follow
                continue
            self._print(progress)
            self._cursor[workflow_id] = progress.next_seq
            for child in progress.children:
                if child.workflow_id not in self._order:
                    self._order.append(child.workflow_id)
            if progress.done:
                self._finished.add(workflow_id)

    def _print(self, progress: Progress) -> None:
        for event in progress.events:
            stamp = f"{time.monotonic() - self._started:6.1f}s"
            if event.kind == "todos":
                say(f"{stamp} [{progress.agent}] todo list:")
                for line in event.text.splitlines():
                    say(f"{'':8}   {line}")
            else:
                say(f"{stamp} [{progress.agent}] {event.text}")


async def follow(services: Services, handle: WorkflowHandle) -> int:
    follower = Follower(services.client, handle.id)
    while True:
        description = await handle.describe()
        await follower.poll()
        if description.status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(POLL_SECONDS)
    await follower.poll()
    return await report_result(services, handle)


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


async def report_result(services: Services, handle: WorkflowHandle) -> int:
    link = services.run_link(handle.id)
    try:
        result = await services.client.get_workflow_handle(handle.id, result_type=AgentResult).result()
    except WorkflowFailureError as err:
        cause = err.cause
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause
        say()
        say(f"run {handle.id} FAILED: {getattr(cause, 'message', None) or cause}")
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
        f"models: {', '.join(result.models_used)}, tokens: {result.usage.total_tokens}"
    )
    if link:
        say(f"Temporal UI: {link}")
    return 0


async def cmd_run(args: argparse.Namespace) -> int:
    try:
        get_profile(args.profile)
    except UnknownProfileError as err:
        say(f"error: {err}")
        return 2
    if not args.request.strip():
        say("error: the request is empty")
        return 2
    settings = load_settings()
    async with open_services(settings, always_run_worker=args.with_worker) as services:
        run_id = new_run_id(args.profile)
        handle = await services.client.start_workflow(
            "AgentWorkflow",
            AgentInput(
                profile=args.profile,
                request=args.request,
                max_steps=args.max_steps,
                user_id=args.user,
            ),
            id=run_id,
            task_queue=services.settings.temporal_task_queue,
            result_type=AgentResult,
            static_summary=f"{args.profile}: {args.request[:200]}",
        )
        say(f"run id: {run_id}")
        link = services.run_link(run_id)
        if link:
            say(f"Temporal UI: {link}")
        say(f"profile: {args.profile}, models: {services.models_text()}")
        try:
            return await follow(services, handle)
        except asyncio.CancelledError:
            say(f"\ninterrupted; the run is kept in Temporal: `python starter.py status {run_id}`")
            return 130


async def cmd_status(args: argparse.Namespace) -> int:
    async with open_services(load_settings()) as services:
        handle = services.client.get_workflow_handle(args.run_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            say(f"error: no run {args.run_id!r}: {err.message}")
            return 2
        say(f"run id: {args.run_id}")
        say(f"status: {description.status.name if description.status else 'UNKNOWN'}")
        say(f"started: {description.start_time:%Y-%m-%d %H:%M:%S} UTC")
        if description.close_time:
            say(f"closed: {description.close_time:%Y-%m-%d %H:%M:%S} UTC")
        try:
            progress: Progress = await asyncio.wait_for(handle.query("progress", 0, result_type=Progress), 10)
        except Exception as err:  # noqa: BLE001
            say(f"(no progress available: {err})")
        else:
            say(f"agent: {progress.agent}, model calls: {progress.step}")
            if progress.todos:
                say("todos:")
                for todo in progress.todos:
                    say(f"  - [{todo.status}] {todo.content}")
            for child in progress.children:
                say(f"sub-agent {child.subagent_type}: {child.status} ({child.workflow_id})")
        link = services.run_link(args.run_id)
        if link:
            say(f"Temporal UI: {link}")
        return 0


async def cmd_result(args: argparse.Namespace) -> int:
    async with open_services(load_settings()) as services:
        handle = services.client.get_workflow_handle(args.run_id)
        try:
            await handle.describe()
        except RPCError as err:
            say(f"error: no run {args.run_id!r}: {err.message}")
            return 2
        return await report_result(services, handle)


def _duration(run: pgstore.RunRecord) -> str:
    if run.created_at is None:
        return "-"
    end = run.completed_at or datetime.now(timezone.utc)
    return f"{(end - run.created_at).total_seconds():.1f}s"


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
    pool = await open_database(settings) if migrate else await pgstore.create_pool(settings.database_url.get_secret_value())
    try:
        yield pool
    finally:
        await pool.close()


async def cmd_list(args: argparse.Namespace) -> int:
    async with open_database_only(load_settings()) as (_settings, pool):
        runs = await pgstore.list_runs(pool, limit=args.limit, status=args.status, top_level=not args.all)
    if not runs:
        say("no runs recorded yet")
        return 0
    say(f"{'RUN ID':<44} {'PROFILE':<8} {'STATUS':<11} {'DURATION':>9} {'TOKENS':>8}  MODELS")
    for run in runs:
        say(
            f"{run.run_id:<44} {run.profile or '-':<8} {run.status.value:<11} {_duration(run):>9} "
            f"{run.total_tokens or 0:>8}  {', '.join(run.models_used) or '-'}"
        )
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    async with open_database_only(load_settings()) as (settings, pool):
        run = await pgstore.get_run(pool, args.run_id)
        if run is None:
            say(f"error: no run {args.run_id!r} in the database")
            return 2
        children = await pgstore.list_runs(pool, limit=100, parent_run_id=args.run_id)
        say(f"run id:   {run.run_id}")
        say(f"status:   {run.status.value}{' - ' + run.error if run.error else ''}")
        say(f"profile:  {run.profile}, agent {run.agent}, duration {_duration(run)}")
        say(f"models:   {', '.join(run.models_used) or '-'}; tokens {run.total_tokens or 0:,}")
        say(f"request:  {run.request}")
        for agent_run in [run, *children]:
            say(f"\ndecisions of {agent_run.agent or agent_run.run_id} ({agent_run.run_id}, {agent_run.status.value}):")
            for decision in await pgstore.list_decisions(pool, agent_run.run_id):
                at = f"{decision.created_at:%H:%M:%S}" if decision.created_at else "--:--:--"
                say(f"  {decision.seq:>3} {at} step {decision.step or 0:>2} {decision.kind.value:<11} {decision.summary}")
        artifacts = await pgstore.list_artifacts(pool, args.run_id)
        say(f"\nartifacts ({len(artifacts)}):")
        for artifact in artifacts:
            say(f"  {artifact.key} ({artifact.size:,} bytes, sha256 {artifact.sha256[:12]}...)")
    return 0


async def cmd_db_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    async with open_database_only(settings, migrate=False) as (settings, pool):
        applied = await pgstore.migrate(pool)
        known = [version for version, _sql in pgstore.migration_files()]
    say(f"applied: {', '.join(applied)}" if applied else f"schema up to date ({known[-1]})")
    return 0


async def cmd_dev(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.temporal_address:
        say("error: TEMPORAL_ADDRESS is set; `dev` starts the embedded stack, unset it first")
        return 2
    if read_running_stack() is not None:
        say("error: an embedded stack is already running (another `starter.py dev`)")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_services(settings) as services:
        s = services.settings
        say(f"Temporal:    {s.temporal_address} (namespace {s.temporal_namespace}, task queue {s.temporal_task_queue})")
        say(f"Temporal UI: {services.ui_url}")
        say(f"S3:          http://{s.s3_endpoint} (bucket {s.s3_bucket})")
        say("PostgreSQL:  on loopback (DATABASE_URL in the stack file)")
        say(f"worker:      in this process, models {services.models_text()}")
        say("Ctrl-C stops everything; run `python starter.py run \"...\"` in another terminal.")
        await stop.wait()
        say("stopping...")
    return 0


def _step_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_STEPS_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_STEPS_LIMIT}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show worker and SDK logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start a run and follow it to the end (exit 0 when COMPLETED)")
    run.add_argument("request", metavar="REQUEST", help="what the supervisor agent should do")
    run.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"agent profile (default {DEFAULT_PROFILE}; known: {', '.join(PROFILES)})"
    )
    run.add_argument(
        "--max-steps", type=_step_limit, default=None, help=f"model-call limit for the supervisor, 1-{MAX_STEPS_LIMIT} (default: the profile's)"
    )
    run.add_argument("--user", default=None, help="user id: namespaces the agents' long-term /memories/ (default: shared)")
    run.add_argument(
        "--with-worker", action="store_true", help="also run a worker in this process when TEMPORAL_ADDRESS is set"
    )
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="show a run's status, todos and sub-agents")
    status.add_argument("run_id", metavar="ID")
    status.set_defaults(handler=cmd_status)

    result = commands.add_parser("result", help="wait for a run's end and print its answer (exit 0 when COMPLETED)")
    result.add_argument("run_id", metavar="ID")
    result.set_defaults(handler=cmd_result)

    dev = commands.add_parser("dev", help="run the embedded stack and a worker in the foreground")
    dev.set_defaults(handler=cmd_dev)

    listing = commands.add_parser("list", help="recent runs from PostgreSQL: id, profile, status, duration, tokens, models")
    listing.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    listing.add_argument("--status", choices=[s.value for s in pgstore.RunStatus], help="only runs with this status")
    listing.add_argument("--all", action="store_true", help="include sub-agent runs")
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser("show", help="a run's decision timeline, sub-agents and artifacts, from PostgreSQL")
    show.add_argument("run_id", metavar="ID")
    show.set_defaults(handler=cmd_show)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    migrate = db_commands.add_parser("migrate", help="apply pending schema migrations (idempotent)")
    migrate.set_defaults(handler=cmd_db_migrate)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Output piped into `head` that closed early: nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except Exception as err:  # noqa: BLE001 - one clear line, not a traceback
        if args.verbose:
            traceback.print_exc()
        say(f"error: {type(err).__name__}: {err}")
        code = 1
    hard_exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
