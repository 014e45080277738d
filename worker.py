"""The worker: where workflows and activities meet.

    python worker.py            # uses TEMPORAL_ADDRESS, OPENAI_* ... from the environment

This module lists every workflow and activity a worker registers and builds
that worker (``build_worker``); the CLI's in-process worker, the tests and the
benchmarks use the same function. Stops cleanly on SIGINT/SIGTERM: running
activities get a few seconds to finish, the rest are retried by another worker.
A service it cannot use (down, wrong credentials, missing settings) ends it with
two lines saying which and what to do, exit code 3 (2 for settings); --debug or
DEEPAGENT_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta

import asyncpg
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker, WorkflowRunner

from activities.custom_tools import CustomToolActivities
from activities.files import FileActivities
from activities.keepalive import HeartbeatKeepalive
from activities.model import ModelActivities
from activities.profiles import ProfileActivities
from activities.records import RecordActivities
from activities.reporting import ReportActivities
from deepagents_temporal import pgstore
from deepagents_temporal.answers import AnswerStore
from deepagents_temporal.catalog import load_catalog
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.redaction import register_secrets
from deepagents_temporal.redaction_hooks import RedactingInterceptor, install_log_redaction
from deepagents_temporal.retries import HEARTBEAT_THROTTLE
from deepagents_temporal.s3 import ensure_bucket
from deepagents_temporal.service_errors import debug_requested, gather_checked, report, require_settings
from deepagents_temporal.services import connect, hard_exit, open_database, s3_client, temporal_runtime
from deepagents_temporal.settings import Settings, load_settings
from workflows.agent import AgentWorkflow
from workflows.reporting import ReportingWorkflow

WORKFLOWS: list[type] = [AgentWorkflow, ReportingWorkflow]
# Workflow-task errors that never heal by retrying: they fail the run with
# their reason instead of leaving it RUNNING. (Payloads over Temporal's size
# limit cannot arise: ExternalStorage moves anything over 128 KB to S3.)
WORKFLOW_FAILURE_EXCEPTION_TYPES = [workflow.NondeterminismError]


def activities(
    models: ModelActivities,
    files: FileActivities,
    records: RecordActivities,
    profiles: ProfileActivities,
    custom_tools: CustomToolActivities,
    reports: ReportActivities,
) -> list[Callable[..., object]]:
    """Every activity a worker registers, by the object that holds its clients;
    each custom tool is an activity of its own (``tool:<name>``)."""
    return [
        models.call_model,
        files.file_tool,
        files.save_deliverable,
        files.write_log_part,
        files.compose_run_log,
        records.record,
        profiles.resolve_profile,
        *custom_tools.activities(),
        reports.load_template,
        reports.validate_data,
        reports.compute_figures,
        reports.write_xlsx,
        reports.write_summary,
    ]


async def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    workflows: Sequence[type] = WORKFLOWS,
    workflow_runner: WorkflowRunner | None = None,
) -> Worker:
    """The worker with every workflow and activity; opens (and migrates) the database unless given a pool.

    Refuses to build (ConfigurationError) when a profile file or a tool module is broken.
    """
    # Secrets never leave the worker: its log records and heartbeats are redacted
    # (recorded failures are, by the data converter).
    register_secrets(settings)
    install_log_redaction()
    catalog = load_catalog(settings)
    catalog.check()
    s3 = s3_client(settings)
    await asyncio.to_thread(ensure_bucket, s3, settings.s3_bucket)
    if pool is None:
        pool = await open_database(settings)
    records = RecordActivities(pool)
    conversations = ConversationStore(s3, settings.s3_bucket)
    models = ModelActivities(settings, conversations, records, AnswerStore(s3, settings.s3_bucket))
    files = FileActivities(s3, settings.s3_bucket, conversations, pgstore.PostgresStore(pool))
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=workflows,
        activities=activities(
            models,
            files,
            records,
            ProfileActivities(settings.deepagent_profiles, catalog.tools),
            CustomToolActivities(catalog.tools, files, conversations),
            ReportActivities(s3, settings.s3_bucket),
        ),
        # A dead worker's cached workflows move to another worker after this,
        # instead of the 10 s default (a live worker polls its sticky queue at
        # once; missing it only costs a replay of the history).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES,
        graceful_shutdown_timeout=timedelta(seconds=5),
        # Every activity heartbeats while it runs, so a lost one is noticed
        # within its heartbeat timeout (deepagents_temporal/retries.py).
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        interceptors=[RedactingInterceptor(), HeartbeatKeepalive(), *interceptors],
        **({"workflow_runner": workflow_runner} if workflow_runner else {}),
    )


async def serve() -> int:
    settings = load_settings()
    require_settings(settings, ["temporal", "s3", "postgres"], "worker.py")
    # Every service checked at once, so one start names everything that is wrong.
    client, pool = await gather_checked(connect(settings), open_database(settings))
    worker = await build_worker(client, settings, pool)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"worker polling task queue {settings.temporal_task_queue!r} on {settings.temporal_address} "
        f"(namespace {settings.temporal_namespace}, models {' -> '.join(settings.model_chain)})",
        flush=True,
    )
    try:
        async with worker:
            await stop.wait()
            print("worker: shutting down", flush=True)
    finally:
        await pool.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or DEEPAGENT_DEBUG=1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Its retries are reported by the S3 calls that fail in the end.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    debug = args.debug or debug_requested()
    temporal_runtime()
    try:
        code = asyncio.run(serve())
    except KeyboardInterrupt:
        code = 130
    except Exception as err:  # noqa: BLE001 - two clear lines, not a traceback
        code = report(err, lambda line: print(line, flush=True), debug=debug)
    hard_exit(code)


if __name__ == "__main__":
    main()
