"""Large Temporal payloads in S3 through the SDK's ``ExternalStorage``, using the minio client.

Any payload (workflow/activity input or result, signal, heartbeat details...)
whose serialized size is at or above ``threshold_bytes`` is uploaded by the
SDK's :class:`~temporalio.contrib.aws.s3driver.S3StorageDriver`; the event
history then carries only a small ``ExternalStorageReference`` (driver name,
bucket, key, sha256), and the payload is fetched back (and hash-checked)
before workflow or activity code sees it.  Workflow code is unchanged.

The driver names objects ``v0/ns/<namespace>/wt/<workflow type>/wi/<workflow
id>/ri/<run id>/d/sha256/<digest>`` (or ``.../at/<activity type>/ai/<activity
id>/...`` for activity inputs), content addressed, and has no key-prefix
option.  So that these objects sit beside the rest of the app's data in one
browsable bucket, :class:`MinioStorageDriverClient` puts ``key_prefix``
(``payloads/`` by default) in front of every key it is given.  The prefix is
applied by this client, not recorded in the reference: every process that
reads the payloads (workers, starters, a codec server) must use the same
prefix.  Pass ``key_prefix=""`` with a dedicated bucket to get the SDK's stock
layout, readable by the stock S3 drivers of other SDKs.

Wiring: the storage lives on the :class:`~temporalio.converter.DataConverter`
(``DataConverter.external_storage``).  Give the converter returned by
:func:`data_converter_with_external_storage` to ``Client.connect``; a
``Worker`` built on that client takes the drivers from the client's converter
by itself, and a ``Replayer`` needs the same converter passed explicitly.

The bucket must exist: the driver never creates it.  Objects are never
deleted by the SDK; expire them (if at all) only after the workflow's lifetime
plus the namespace retention period.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, ExternalStorage

if TYPE_CHECKING:
    from minio import Minio

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_THRESHOLD_BYTES",
    "MinioStorageDriverClient",
    "data_converter_with_external_storage",
    "external_storage",
]

DEFAULT_KEY_PREFIX = "payloads/"
# The SDK's own default (ExternalStorage.payload_size_threshold): well under the
# server's 2 MB per-payload limit and its 4 MB per-request limit, small enough
# that a few hundred model turns don't bloat a history.
DEFAULT_THRESHOLD_BYTES = 256 * 1024


def _normalize_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


class MinioStorageDriverClient(S3StorageDriverClient):
    """:class:`S3StorageDriverClient` over a (synchronous) ``minio.Minio`` client.

    Each call runs in a worker thread (``asyncio.to_thread``) so the event
    loop, which also drives workflow tasks, never blocks on S3.  The minio
    client is thread safe and shared with the rest of the app.

    Semantics the driver relies on:

    * ``object_exists`` is a HEAD request: ``False`` only for "no such object";
      any other failure (access denied, bad credentials, server down) raises,
      so an upload is never skipped or attempted on a guess.
    * ``put_object`` is a single PUT (multipart above minio's part size) and
      the object appears atomically, so a retried store never leaves a half
      written object; keys are content hashes, so a repeated put of the same
      key writes the same bytes (the driver skips it when the object exists).
    * ``get_object`` returns the full body; a missing object raises
      ``minio.error.S3Error`` (code ``NoSuchKey``), which the driver reports
      as ``RuntimeError("S3StorageDriver retrieve failed [bucket=..., key=...]")``.
    """

    def __init__(self, client: Minio, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        self._client = client
        self._prefix = _normalize_prefix(key_prefix)

    @property
    def key_prefix(self) -> str:
        return self._prefix

    def object_name(self, key: str) -> str:
        """The object name in the bucket for a key chosen by the driver."""
        return f"{self._prefix}{key}"

    def describe(self) -> Mapping[str, str]:
        info = {"client": "minio"}
        host = getattr(getattr(self._client, "_base_url", None), "host", None)
        if host:
            info["client_endpoint"] = str(host)
        info["key_prefix"] = self._prefix or "(none)"
        return info

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        return await asyncio.to_thread(self._exists, bucket, self.object_name(key))

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, bucket, self.object_name(key), data)

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        return await asyncio.to_thread(self._get, bucket, self.object_name(key))

    # -- blocking halves, run in threads

    def _exists(self, bucket: str, name: str) -> bool:
        from minio.error import S3Error

        from deepagents_temporal.s3 import is_missing

        try:
            self._client.stat_object(bucket, name)
        except S3Error as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def _put(self, bucket: str, name: str, data: bytes) -> None:
        # The bytes are a serialized temporal.api.common.v1.Payload.
        self._client.put_object(bucket, name, io.BytesIO(data), len(data), content_type="application/x-protobuf")

    def _get(self, bucket: str, name: str) -> bytes:
        response = self._client.get_object(bucket, name)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


def external_storage(
    minio_client: Minio,
    bucket: str,
    *,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
    max_payload_bytes: int = 50 * 1024 * 1024,
) -> ExternalStorage:
    """``ExternalStorage`` with one ``S3StorageDriver`` writing to ``bucket`` through minio.

    ``threshold_bytes`` becomes ``ExternalStorage.payload_size_threshold``
    (payloads at or above it are offloaded; 0 offloads everything).
    ``max_payload_bytes`` is the driver's ``max_payload_size``: a bigger
    payload fails at store time with ``ValueError``.
    """
    driver = S3StorageDriver(
        client=MinioStorageDriverClient(minio_client, key_prefix=key_prefix),
        bucket=bucket,
        max_payload_size=max_payload_bytes,
    )
    return ExternalStorage(drivers=[driver], payload_size_threshold=threshold_bytes)


def data_converter_with_external_storage(
    minio_client: Minio,
    bucket: str,
    *,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
    max_payload_bytes: int = 50 * 1024 * 1024,
    base: DataConverter = pydantic_data_converter,
) -> DataConverter:
    """The pydantic data converter with large payloads offloaded to S3.

    Use it for ``Client.connect(..., data_converter=...)`` (workers built on
    that client inherit it) and for ``Replayer(data_converter=...)``.
    """
    return dataclasses.replace(
        base,
        external_storage=external_storage(
            minio_client,
            bucket,
            key_prefix=key_prefix,
            threshold_bytes=threshold_bytes,
            max_payload_bytes=max_payload_bytes,
        ),
    )
