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
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg
from minio import Minio
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig

from deepagents_temporal import pgstore, tracing
from deepagents_temporal.payload_codec import EncryptionCodec, PayloadKeyError
from deepagents_temporal.payload_storage import data_converter_with_external_storage
from deepagents_temporal.redaction_hooks import (
    RedactingFailureConverter,
    RedactingFailureConverterWithEncodedAttributes,
)
from deepagents_temporal.s3 import ensure_bucket, make_client
from deepagents_temporal.service_errors import (
    ConfigurationError,
    ServiceError,
    gather_checked,
    invalid_setting,
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


_runtime: Runtime | None = None
_runtime_metrics: str | None = None


def temporal_runtime(metrics_address: str | None = None) -> Runtime:
    """The SDK runtime of this process (also its default), its Rust core logging through Python's ``logging``.

    The core's default writes coloured lines of its own to stderr (for example
    a WARN per unknown namespace, or per retried call while a server is
    down); forwarded, they follow the entry point's log level and format
    under the logger ``temporalio.core``. Entry points call this first, so
    every client of the process (the embedded stack's probes too) uses it.
    With ``metrics_address`` (host:port, ``DEEPAGENT_METRICS_PORT``) the
    runtime also serves the SDK's metrics for Prometheus at ``/metrics``;
    only the first call of a process decides.
    """
    global _runtime, _runtime_metrics
    if _runtime is not None:
        if metrics_address and metrics_address != _runtime_metrics:
            raise RuntimeError(f"the Temporal runtime was created before metrics on {metrics_address} were asked for")
        return _runtime
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    metrics = PrometheusConfig(bind_address=metrics_address) if metrics_address else None
    try:
        runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics))
    except Exception as err:
        if metrics_address is None:
            raise
        raise ServiceError(
            f"cannot serve metrics on {metrics_address} ({_metrics_reason(err)})",
            "set DEEPAGENT_METRICS_PORT to a free port (and DEEPAGENT_METRICS_HOST to an address of this machine), "
            "or unset it",
        ) from err
    Runtime.set_default(runtime, error_if_already_set=False)
    _runtime, _runtime_metrics = runtime, metrics_address
    return runtime


def _metrics_reason(err: Exception) -> str:
    text = str(err).lower()
    if "address already in use" in text or "addrinuse" in text:
        return "the port is taken"
    if "cannot assign" in text or "addrnotavail" in text:
        return "not an address of this machine"
    return str(err)


def s3_client(settings: Settings) -> Minio:
    require_settings(settings, ["s3"], "this command")
    assert settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key
    try:
        return make_client(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value(),
            settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
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


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to Temporal from the TEMPORAL_TLS* settings (False: plain gRPC, as the dev server wants)."""
    if not settings.temporal_uses_tls:
        return False
    if bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        names = ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
        given, missing = names if settings.temporal_tls_cert else names[::-1]
        raise ConfigurationError(
            f"{given} is set but {missing} is not", "mTLS needs both the client certificate and its key (PEM files)"
        )
    return TLSConfig(
        server_root_ca_cert=_pem(settings.temporal_tls_ca, "TEMPORAL_TLS_CA"),
        client_cert=_pem(settings.temporal_tls_cert, "TEMPORAL_TLS_CERT"),
        client_private_key=_pem(settings.temporal_tls_key, "TEMPORAL_TLS_KEY"),
        domain=settings.temporal_tls_server_name,
    )


def _pem(path: Path | None, name: str) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as err:
        raise invalid_setting(name, path, err.strerror or str(err), "give the path of a readable PEM file") from None
    if b"-----BEGIN " not in data:
        raise invalid_setting(name, path, "not a PEM file (no -----BEGIN line)", "give the path of a PEM file")
    return data


async def _temporal_client(settings: Settings) -> Client:
    address, namespace = settings.temporal_address or "", settings.temporal_namespace
    tls = tls_config(settings)
    try:
        client = await Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(settings),
            connect_timeout=CONNECT_TIMEOUT,
            runtime=temporal_runtime(),
            tls=tls,
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            # Also the workers' on this client: one trace per run (off unless OTEL_EXPORTER_OTLP_ENDPOINT).
            interceptors=tracing.client_interceptors(settings),
        )
        # Connecting does not look at the namespace; a worker on a missing one
        # would only log warnings.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=CONNECT_TIMEOUT
        )
    except Exception as err:
        problem = temporal_error(err, address, namespace, tls=bool(tls))
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
