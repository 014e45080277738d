"""Connections to the configured services: Temporal (with the project's data
converter), S3 and PostgreSQL.

Shared by the worker, the CLI, the tests and the benchmarks. Building the worker
itself lives in ``worker.py``, the one place where workflows and activities meet,
so this shared package never imports them. A service that is down, refuses
the credentials or is not configured raises
:class:`~deepagents_temporal.service_errors.ServiceError` (what a person
reads), not the client library's exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import sys
from datetime import timedelta

import asyncpg
from minio import Minio
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from deepagents_temporal import pgstore
from deepagents_temporal.payload_codec import EncryptionCodec, PayloadKeyError
from deepagents_temporal.payload_storage import data_converter_with_external_storage
from deepagents_temporal.redaction_hooks import (
    RedactingFailureConverter,
    RedactingFailureConverterWithEncodedAttributes,
)
from deepagents_temporal.s3 import ensure_bucket, make_client
from deepagents_temporal.service_errors import (
    ConfigurationError,
    gather_checked,
    postgres_error,
    require_settings,
    s3_error,
    temporal_error,
)
from deepagents_temporal.settings import Settings

# Payloads above this go to the bucket through ExternalStorage, far below
# Temporal's 2 MB limit so a big tool result never stalls a workflow task.
EXTERNAL_PAYLOAD_THRESHOLD = 128 * 1024
MAX_EXTERNAL_PAYLOAD = 512 * 1024 * 1024
# How long a connection attempt may take before the service counts as down.
CONNECT_TIMEOUT = timedelta(seconds=10)

__all__ = ["ConfigurationError", "check_bucket", "connect", "open_database", "s3_client", "temporal_runtime"]


@functools.cache
def temporal_runtime() -> Runtime:
    """The SDK runtime of this process (also its default), its Rust core logging through Python's ``logging``.

    The core's default writes coloured lines of its own to stderr (for example
    a WARN per unknown namespace, or per retried call while a server is
    down); forwarded, they follow the entry point's log level and format
    under the logger ``temporalio.core``. Entry points call this first, so
    every client of the process (the embedded stack's probes too) uses it.
    """
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config))
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


def s3_client(settings: Settings) -> Minio:
    require_settings(settings, ["s3"], "this command")
    assert settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key
    try:
        return make_client(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value(),
            settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
        )
    except ValueError as err:
        problem = s3_error(err, settings.s3_endpoint, settings.s3_bucket)
        if problem is None:
            raise
        raise problem from err


async def check_bucket(settings: Settings) -> None:
    """Create S3_BUCKET unless it exists: the first request to S3, so it says whether S3 can be used."""
    client = s3_client(settings)
    assert settings.s3_endpoint
    try:
        await asyncio.to_thread(ensure_bucket, client, settings.s3_bucket)
    except Exception as err:
        problem = s3_error(err, settings.s3_endpoint, settings.s3_bucket)
        if problem is None:
            raise
        raise problem from err


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM codec of ``DEEPAGENT_PAYLOAD_KEY``, or None when it is unset."""
    if settings.deepagent_payload_key is None:
        return None
    try:
        return EncryptionCodec.from_text(settings.deepagent_payload_key.get_secret_value())
    except PayloadKeyError as err:
        raise ConfigurationError(
            str(err),
            "workers, the CLI and the codec server must share one key; unset DEEPAGENT_PAYLOAD_KEY to run unencrypted",
        ) from None


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, with large ones offloaded to the app bucket, and
    failures recorded redacted; with ``DEEPAGENT_PAYLOAD_KEY`` every payload
    (and failure message) encrypted, before offloading, so the bucket's copies
    are encrypted too."""
    base = dataclasses.replace(pydantic_data_converter, failure_converter_class=RedactingFailureConverter)
    codec = payload_codec(settings)
    if codec is not None:
        base = dataclasses.replace(
            base, payload_codec=codec, failure_converter_class=RedactingFailureConverterWithEncodedAttributes
        )
    return data_converter_with_external_storage(
        s3_client(settings),
        settings.s3_bucket,
        threshold_bytes=EXTERNAL_PAYLOAD_THRESHOLD,
        max_payload_bytes=MAX_EXTERNAL_PAYLOAD,
        base=base,
    )


async def connect(settings: Settings) -> Client:
    """A client on TEMPORAL_ADDRESS whose namespace exists; the bucket (for large payloads) is checked too."""
    require_settings(settings, ["temporal", "s3"], "this command")
    _, client = await gather_checked(check_bucket(settings), _temporal_client(settings))
    return client


async def _temporal_client(settings: Settings) -> Client:
    address, namespace = settings.temporal_address or "", settings.temporal_namespace
    try:
        client = await Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(settings),
            connect_timeout=CONNECT_TIMEOUT,
            runtime=temporal_runtime(),
        )
        # Connecting does not look at the namespace; a worker on a missing one
        # would only log warnings.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=CONNECT_TIMEOUT
        )
    except Exception as err:
        problem = temporal_error(err, address, namespace)
        if problem is None:
            raise
        raise problem from err
    return client


async def open_database(settings: Settings, *, migrate: bool = True) -> asyncpg.Pool:
    """A pool on DATABASE_URL, with the schema migrated (idempotent) unless ``migrate`` is False."""
    require_settings(settings, ["postgres"], "this command")
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    try:
        pool = await asyncio.wait_for(pgstore.create_pool(dsn), CONNECT_TIMEOUT.total_seconds())
    except Exception as err:
        problem = postgres_error(err, dsn)
        if problem is None:
            raise
        raise problem from err
    if migrate:
        try:
            await pgstore.migrate(pool)
        except BaseException:
            await pool.close()
            raise
    return pool


def hard_exit(code: int) -> None:
    """Leave without interpreter finalization (temporalio/sdk-python#300 SIGABRT)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away; the exit code still matters
    os._exit(code)
