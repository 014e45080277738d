"""Connections to the configured services: Temporal (with the project's data
converter), S3 and PostgreSQL.

Shared by the worker, the CLI, the tests and the benchmarks. Building the worker
itself lives in ``worker.py``, the one place where workflows and activities meet,
so this shared package never imports them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys

import asyncpg
from minio import Minio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from deepagents_temporal import pgstore
from deepagents_temporal.payload_codec import EncryptionCodec, PayloadKeyError
from deepagents_temporal.payload_storage import data_converter_with_external_storage
from deepagents_temporal.redaction_hooks import (
    RedactingFailureConverter,
    RedactingFailureConverterWithEncodedAttributes,
)
from deepagents_temporal.s3 import ensure_bucket, make_client
from deepagents_temporal.settings import Settings

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


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM codec of ``DEEPAGENT_PAYLOAD_KEY``, or None when it is unset."""
    if settings.deepagent_payload_key is None:
        return None
    try:
        return EncryptionCodec.from_text(settings.deepagent_payload_key.get_secret_value())
    except PayloadKeyError as err:
        raise ConfigurationError(str(err)) from None


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


def hard_exit(code: int) -> None:
    """Leave without interpreter finalization (temporalio/sdk-python#300 SIGABRT)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader went away; the exit code still matters
    os._exit(code)
