"""The worker: where workflows and activities meet.

    python worker.py [--role all|workflows|models|io]   # TEMPORAL_ADDRESS, OPENAI_* ... from the environment

This module lists every workflow and activity a worker registers and builds
the workers of a role (``build_worker``); the CLI's in-process worker, the
tests and the benchmarks use the same function. Two task queues
(docs/deployment.md):

    TEMPORAL_TASK_QUEUE           workflows; file, log and PostgreSQL activities
    TEMPORAL_TASK_QUEUE-models    model calls, DEEPAGENT_MODEL_CONCURRENCY at once per worker

Roles: all (default: both queues, one process), workflows (workflow tasks
only), models (model calls only), io (the file, log and PostgreSQL
activities). Run as many workers of each role as the load needs.

Once polling it prints what it serves and how long it took to start, by
phase (interpreter and imports, connections, workers built). Stops cleanly
on SIGINT/SIGTERM: running activities get a few seconds to
finish, the rest are retried by another worker. A service it cannot use (down,
wrong credentials, missing settings) ends it with two lines saying which and
what to do, exit code 3 (2 for settings); --debug or DEEPAGENT_DEBUG=1 adds
the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import asyncpg
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker, WorkflowRunner

import deepagents_temporal
from activities.custom_tools import CustomToolActivities
from activities.documents import DocumentActivities
from activities.fetch import FetchActivities
from activities.file_calls import FileCalls
from activities.files import FileActivities
from activities.graph_agent import GraphActivities
from activities.keepalive import HeartbeatKeepalive
from activities.mcp_tools import McpActivities
from activities.model import ModelActivities
from activities.onboarding import OnboardingActivities
from activities.profiles import ProfileActivities
from activities.rag import RagActivities
from activities.records import RecordActivities
from activities.reporting import ReportActivities
from activities.sticky_reset import StickyReset
from activities.warm_up import warm_up_model_client
from deepagents_temporal import pgstore, tracing
from deepagents_temporal.answers import AnswerStore
from deepagents_temporal.build_id import source_build_id
from deepagents_temporal.catalog import load_catalog
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.redaction import register_secrets
from deepagents_temporal.redaction_hooks import RedactingInterceptor, install_log_redaction
from deepagents_temporal.retries import HEARTBEAT_THROTTLE
from deepagents_temporal.s3 import ensure_bucket
from deepagents_temporal.service_errors import (
    ConfigurationError,
    debug_requested,
    gather_checked,
    report,
    require_settings,
)
from deepagents_temporal.services import connect, hard_exit, open_database, s3_client, temporal_runtime
from deepagents_temporal.settings import Settings, WorkerRole, load_settings
from deepagents_temporal.token_stream import TokenPublisher
from workflows.agent import AgentWorkflow
from workflows.document import DocumentWorkflow
from workflows.document_section import DocumentSectionWorkflow
from workflows.graph_agent import GraphAgentWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.reporting import ReportingWorkflow

WORKFLOWS: list[type] = [
    AgentWorkflow,
    ReportingWorkflow,
    GraphAgentWorkflow,
    DocumentWorkflow,
    DocumentSectionWorkflow,
    OnboardingWorkflow,
]
# Workflow-task errors that never heal by retrying: they fail the run with
# their reason instead of leaving it RUNNING. (Payloads over Temporal's size
# limit cannot arise: ExternalStorage moves anything over 128 KB to S3.)
WORKFLOW_FAILURE_EXCEPTION_TYPES = [workflow.NondeterminismError]


ROLES: tuple[str, ...] = get_args(WorkerRole)
# What the build ID hashes (deepagents_temporal/build_id.py): the code a worker runs.
SOURCES = [
    Path(__file__),
    Path(__file__).parent / "workflows",
    Path(__file__).parent / "activities",
    Path(deepagents_temporal.__file__).parent,
]


def io_activities(
    files: FileActivities,
    records: RecordActivities,
    profiles: ProfileActivities,
    custom_tools: CustomToolActivities,
    reports: ReportActivities,
    mcp: McpActivities,
    graphs: GraphActivities,
    fetch: FetchActivities,
    rag: RagActivities,
) -> list[Callable[..., object]]:
    """The activities of the main task queue: files, deliverables, logs, PostgreSQL rows,
    the run's profile, each custom tool (an activity of its own, ``tool:<name>``), the report steps,
    the MCP servers' tools (``list_mcp_tools``, ``mcp_tool``), graph sub-agents (``run_graph``)
    and the built-in ``fetch_url`` and ``search_documents`` tools."""
    return [
        files.file_tool,
        files.save_deliverable,
        files.write_log_part,
        files.compose_run_log,
        records.record,
        profiles.resolve_profile,
        profiles.routing_options,
        *custom_tools.activities(),
        reports.load_template,
        reports.validate_data,
        reports.compute_figures,
        reports.write_xlsx,
        reports.write_summary,
        mcp.list_mcp_tools,
        mcp.mcp_tool,
        graphs.run_graph,
        fetch.fetch_url,
        rag.search_documents,
    ]


def document_activities(documents: DocumentActivities, onboarding: OnboardingActivities) -> list[Callable[..., object]]:
    """Also on the main task queue: the document workflow's steps and the onboarding workflow's."""
    return [
        documents.split,
        documents.section_prompt,
        documents.section_notes,
        documents.write_outputs,
        onboarding.load_checklist,
        onboarding.read_documents,
        onboarding.check_fields,
        onboarding.write_outputs,
    ]


class Workers:
    """The workers of one role in one process, on one client: started, run and stopped together.

    Used like a single ``temporalio.worker.Worker``: ``async with``, or
    ``run()`` and ``shutdown()``. ``workers`` lists them, one per task queue.
    """

    def __init__(self, workers: list[Worker], serves: list[tuple[str, str]]) -> None:
        self.workers = workers
        # (task queue, what is served there), for people reading the log.
        self.serves = serves
        self._stack: AsyncExitStack | None = None

    async def run(self) -> None:
        """Run them all until :meth:`shutdown`; one failing stops the others and raises."""
        tasks = [asyncio.create_task(w.run()) for w in self.workers]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            await self.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers if w.is_running))

    async def __aenter__(self) -> Workers:
        async with AsyncExitStack() as stack:
            for each in self.workers:
                await stack.enter_async_context(each)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._stack is not None
        stack, self._stack = self._stack, None
        await stack.__aexit__(*exc)


async def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool | None = None,
    *,
    role: str = "all",
    interceptors: Sequence[Interceptor] = (),
    workflows: Sequence[type] = WORKFLOWS,
    workflow_runner: WorkflowRunner | None = None,
) -> Workers:
    """The workers of ``role`` (see the module's docstring); opens (and migrates) the database unless given a pool.

    Refuses to build (ConfigurationError) when a profile file or a tool module is broken.
    """
    if role not in ROLES:
        raise ValueError(f"unknown worker role {role!r}: one of {', '.join(ROLES)}")
    # Secrets never leave the worker: its log records and heartbeats are redacted
    # (recorded failures are, by the data converter).
    register_secrets(settings)
    install_log_redaction()
    catalog = load_catalog(settings)
    catalog.check()
    # Where the router sends a request it cannot place: it must exist.
    if settings.deepagent_default_profile not in catalog.profiles.profiles:
        raise ConfigurationError(
            f"DEEPAGENT_DEFAULT_PROFILE={settings.deepagent_default_profile!r} is not a profile; "
            f"available: {', '.join(sorted(catalog.profiles.profiles))}",
            "set it to one of them (`starter.py profiles list`) or unset it (qa)",
        )
    s3 = s3_client(settings)
    await asyncio.to_thread(ensure_bucket, s3, settings.s3_bucket)
    if pool is None:
        pool = await open_database(settings)
    records = RecordActivities(pool)
    conversations = ConversationStore(s3, settings.s3_bucket)
    file_calls = FileCalls(s3, settings.s3_bucket, conversations, pgstore.PostgresStore(pool))
    models = ModelActivities(
        settings, conversations, records, AnswerStore(s3, settings.s3_bucket), TokenPublisher(pool), file_calls
    )
    files = FileActivities(s3, settings.s3_bucket, conversations, file_calls)

    main_workflows = list(workflows) if role in ("all", "workflows") else []
    main_activities: list[Callable[..., object]] = []
    if role in ("all", "io"):
        # call_model too: a run started before the model queue existed keeps
        # scheduling its model calls here (workflows/agent.py, "model-task-queue").
        profiles = ProfileActivities(settings.deepagent_profiles, catalog.tools, settings.deepagent_default_profile)
        custom_tools = CustomToolActivities(catalog.tools, files, conversations)
        reports = ReportActivities(s3, settings.s3_bucket)
        mcp = McpActivities(conversations)
        graphs = GraphActivities(catalog.graphs)
        documents = DocumentActivities(s3, settings.s3_bucket, conversations, settings.deepagent_document_fanout)
        onboarding = OnboardingActivities(s3, settings.s3_bucket, conversations, settings.deepagent_onboarding_wait)
        main_activities = [
            *io_activities(
                files,
                records,
                profiles,
                custom_tools,
                reports,
                mcp,
                graphs,
                FetchActivities(s3, settings.s3_bucket, conversations, settings),
                RagActivities(pool, conversations, settings),
            ),
            *document_activities(documents, onboarding),
            models.call_model,
        ]
    built: list[Worker] = []
    serves: list[tuple[str, str]] = []
    build_id = source_build_id(SOURCES)
    if main_workflows or main_activities:
        what = ["workflows"] if main_workflows else []
        if main_activities:
            what.append(f"file, log and PostgreSQL activities, {settings.deepagent_max_concurrent_activities} at once")
        serves.append((settings.temporal_task_queue, "; ".join(what)))
        built.append(
            _worker(
                client,
                settings,
                settings.temporal_task_queue,
                main_workflows,
                main_activities,
                settings.deepagent_max_concurrent_activities,
                interceptors,
                workflow_runner,
                build_id,
            )
        )
    if role in ("all", "models"):
        serves.append((settings.model_task_queue, f"model calls, {settings.deepagent_model_concurrency} at once"))
        built.append(
            _worker(
                client,
                settings,
                settings.model_task_queue,
                [],
                [models.call_model],
                settings.deepagent_model_concurrency,
                interceptors,
                None,
                build_id,
            )
        )
    return Workers(built, serves)


def _worker(
    client: Client,
    settings: Settings,
    task_queue: str,
    workflows: list[type],
    activities: list[Callable[..., object]],
    max_activities: int,
    interceptors: Sequence[Interceptor],
    workflow_runner: WorkflowRunner | None,
    build_id: str,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        # Else the SDK hashes every loaded module's code at start-up (0.3-0.6 s). (Marked
        # deprecated for deployment_config, which brings worker versioning; none is used here.)
        build_id=build_id,
        workflows=workflows,
        activities=activities,
        max_concurrent_workflow_tasks=settings.deepagent_max_concurrent_workflow_tasks if workflows else None,
        max_concurrent_workflow_task_polls=settings.deepagent_workflow_task_pollers,
        max_concurrent_activities=max_activities if activities else None,
        max_concurrent_activity_task_polls=settings.deepagent_activity_task_pollers,
        # A dead worker's cached workflows move to another worker after this,
        # instead of the 10 s default (a live worker polls its sticky queue at
        # once; missing it only costs a replay of the history).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES,
        graceful_shutdown_timeout=timedelta(seconds=5),
        # Every activity heartbeats while it runs, so a lost one is noticed
        # within its heartbeat timeout (deepagents_temporal/retries.py).
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        # StickyReset: after a lost worker, the run's next workflow task does not wait for its sticky queue.
        interceptors=[RedactingInterceptor(), HeartbeatKeepalive(), StickyReset(), *interceptors],
        **({"workflow_runner": workflow_runner} if workflow_runner else {}),
    )


def describe(workers: Workers, settings: Settings, role: str) -> str:
    """One line saying what this process serves, for its log."""
    parts = [f"{queue!r} ({what})" for queue, what in workers.serves]
    return (
        f"worker ({role}) polling task queue{'s' if len(parts) > 1 else ''} {' and '.join(parts)} "
        f"on {settings.temporal_address} (namespace {settings.temporal_namespace}, "
        f"models {' -> '.join(settings.model_chain)})"
    )


def process_age() -> float | None:
    """Seconds since this process started (Linux; None elsewhere): the interpreter and the imports, at first."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def start_up_line(phases: dict[str, float | None]) -> str:
    """How long this worker took to start, by phase (for people reading its log, and bench/resume_time.py)."""
    known = {name: seconds for name, seconds in phases.items() if seconds is not None}
    parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in known.items())
    return f"worker start-up {sum(known.values()):.2f} s: {parts}"


async def serve(role: str | None) -> int:
    imported = process_age()
    started = time.perf_counter()
    settings = load_settings()
    role = role or settings.deepagent_worker_role
    require_settings(settings, ["temporal", "s3", "postgres"], "worker.py")
    # Before any client: the runtime serves the metrics (DEEPAGENT_METRICS_PORT).
    temporal_runtime(settings.metrics_address)
    # Every service checked at once, so one start names everything that is wrong.
    client, pool = await gather_checked(connect(settings), open_database(settings))
    connected = time.perf_counter()
    workers = await build_worker(client, settings, pool, role=role)
    built = time.perf_counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(describe(workers, settings, role), flush=True)
    print(
        start_up_line(
            {
                "interpreter and imports": imported,
                # Temporal, the bucket, PostgreSQL and its migrations, at once.
                "connections": connected - started,
                # Profiles, tool modules, the bucket again, each workflow checked in the sandbox.
                "workers built": built - connected,
            }
        ),
        flush=True,
    )
    if settings.metrics_address:
        print(f"metrics for Prometheus at http://{settings.metrics_address}/metrics", flush=True)
    if tracing.enabled():
        print(f"tracing to {settings.otel_exporter_otlp_endpoint}", flush=True)
    try:
        async with workers:
            if role in ("all", "models"):
                # While polling (activities/warm_up.py); a stop request waits for it (well under a second).
                await asyncio.to_thread(warm_up_model_client, settings)
            await stop.wait()
            print("worker: shutting down", flush=True)
    finally:
        await pool.close()
        tracing.shutdown()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help="what this worker runs (default: DEEPAGENT_WORKER_ROLE, else all): all = everything; "
        "workflows = workflow tasks only; models = model calls only; io = file, log and PostgreSQL activities",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or DEEPAGENT_DEBUG=1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Its retries are reported by the S3 calls that fail in the end.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    debug = args.debug or debug_requested()
    try:
        code = asyncio.run(serve(args.role))
    except KeyboardInterrupt:
        code = 130
    except Exception as err:  # noqa: BLE001 - two clear lines, not a traceback
        code = report(err, lambda line: print(line, flush=True), debug=debug)
    hard_exit(code)


if __name__ == "__main__":
    main()
