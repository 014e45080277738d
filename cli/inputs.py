"""The bucket's inputs from the command line: put a file in ``templates/`` or ``uploads/``, look one up.

Used by `upload` and `report`. What S3 answers when it cannot be used becomes
the CLI's two-line service error (exit 3); a missing object is ``None``.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TypeVar

from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error

from deepagents_temporal.s3 import ensure_bucket, is_missing
from deepagents_temporal.service_errors import s3_error
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings

T = TypeVar("T")


class Bucket:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Minio = s3_client(settings)

    async def _call(self, call: Callable[..., T], *args: object, **kwargs: object) -> T:
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except Exception as err:
            problem = s3_error(err, self._settings.s3_endpoint or "", self._settings.s3_bucket)
            if problem is None:
                raise
            raise problem from err

    async def stat(self, key: str) -> Object | None:
        """The object's metadata, or None when there is no such object."""

        def stat() -> Object | None:
            try:
                return self._client.stat_object(self._settings.s3_bucket, key)
            except S3Error as err:
                if is_missing(err) or err.code == "NoSuchBucket":
                    return None
                raise

        return await self._call(stat)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call(ensure_bucket, self._client, self._settings.s3_bucket)
        await self._call(
            self._client.put_object,
            self._settings.s3_bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""

        def get() -> bytes | None:
            try:
                response = self._client.get_object(self._settings.s3_bucket, key)
            except S3Error as err:
                if is_missing(err) or err.code == "NoSuchBucket":
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await self._call(get)

    async def keys(self, prefix: str) -> list[str]:
        """The keys of the objects under ``prefix``, sorted (none when the bucket is missing)."""

        def keys() -> list[str]:
            try:
                found = self._client.list_objects(self._settings.s3_bucket, prefix=prefix, recursive=True)
                return sorted(o.object_name for o in found if o.object_name and not o.object_name.endswith("/"))
            except S3Error as err:
                if err.code == "NoSuchBucket":
                    return []
                raise

        return await self._call(keys)
