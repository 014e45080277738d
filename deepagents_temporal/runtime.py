"""Connecting to Temporal and building the worker, shared by worker.py and starter.py."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from minio import Minio
from temporalio import workflow
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Interceptor, Worker, WorkflowRunner

from activities.files import FileActivities
from activities.model import ModelActivities
from activities.records import RecordActivities
from deepagents_temporal import pgstore
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.payload_storage import data_converter_with_external_storage
from deepagents_temporal.s3 import ensure_bucket, make_client
from deepagents_temporal.settings import Settings
from workflows.agent import AgentWorkflow

WORKFLOWS = [AgentWorkflow]
# Workflow-task errors that never heal by retrying: they fail the run with
# their reason instead of leaving it RUNNING. (Payloads over Temporal's size
# limit cannot arise: ExternalStorage moves anything over 128 KB to S3.)
WORKFLOW_FAILURE_EXCEPTION_TYPES = [workflow.NondeterminismError]
# Payloads above this go to the bucket through ExternalStorage, far below
# Temporal's 2 MB limit so a big tool result never stalls a workflow task.
EXTERNAL_PAYLOAD_THRESHOLD = 128 * 1024
MAX_EXTERNAL_PAYLOAD = 512 * 1024 * 1024


class ConfigurationError(RuntimeError):
    pass


def s3_client(settings: Settings) -> Minio:
    missing = [
        name
        for name, value in (
            ("S3_ENDPOINT", settings.s3_endpoint),
            ("S3_ACCESS_KEY", settings.s3_access_key),
            ("S3_SECRET_KEY", settings.s3_secret_key),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"S3 is not configured: set {', '.join(missing)}")
    assert settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key
    return make_client(
        settings.s3_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
    )


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, with large ones offloaded to the app bucket."""
    return data_converter_with_external_storage(
        s3_client(settings),
        settings.s3_bucket,
        threshold_bytes=EXTERNAL_PAYLOAD_THRESHOLD,
        max_payload_bytes=MAX_EXTERNAL_PAYLOAD,
    )


async def connect(settings: Settings) -> Client:
    if not settings.temporal_address:
        raise ConfigurationError("TEMPORAL_ADDRESS is not set and no embedded stack was started")
    await asyncio.to_thread(ensure_bucket, s3_client(settings), settings.s3_bucket)
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=data_converter(settings)
    )


async def open_database(settings: Settings) -> asyncpg.Pool:
    """A pool on DATABASE_URL with the schema migrated (idempotent)."""
    if settings.database_url is None:
        raise ConfigurationError("PostgreSQL is not configured: set DATABASE_URL")
    pool = await pgstore.create_pool(settings.database_url.get_secret_value())
    await pgstore.migrate(pool)
    return pool


async def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    workflows: Sequence[type] = WORKFLOWS,
    workflow_runner: WorkflowRunner | None = None,
) -> Worker:
    """The worker with every workflow and activity; opens (and migrates) the database unless given a pool."""
    s3 = s3_client(settings)
    await asyncio.to_thread(ensure_bucket, s3, settings.s3_bucket)
    if pool is None:
        pool = await open_database(settings)
    records = RecordActivities(pool)
    conversations = ConversationStore(s3, settings.s3_bucket)
    models = ModelActivities(settings, conversations, records)
    files = FileActivities(s3, settings.s3_bucket, conversations, pgstore.PostgresStore(pool))
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=workflows,
        activities=[
            models.call_model,
            files.file_tool,
            files.save_deliverable,
            files.write_log_part,
            files.compose_run_log,
            records.record,
        ],
        # A dead worker's cached workflows move to another worker after this,
        # instead of the 10 s default.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
        workflow_failure_exception_types=WORKFLOW_FAILURE_EXCEPTION_TYPES,
        graceful_shutdown_timeout=timedelta(seconds=5),
        interceptors=interceptors,
        **({"workflow_runner": workflow_runner} if workflow_runner else {}),
    )


def hard_exit(code: int) -> None:
    """Leave without interpreter finalization (temporalio/sdk-python#300 SIGABRT)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away; the exit code still matters
    os._exit(code)
