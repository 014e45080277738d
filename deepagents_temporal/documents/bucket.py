"""Bucket access for the document and onboarding steps: read, write and list objects, and turn
what goes wrong into the step's outcome.

A missing object or a file that cannot be read is a bad input: the step fails
without retrying, naming the object and what to do (``InputError``). A storage
outage raises as it is, so Temporal retries it (``storage_errors.py``); an
error of neither kind is retried a few times, then taken as a bad input.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from minio import Minio
from minio.error import S3Error
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal import s3
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.schema import ArtifactInfo
from deepagents_temporal.storage_errors import UNKNOWN_ATTEMPTS, Cause, classify, describe


class InputError(ValueError):
    """What is wrong with an input, said so a person can fix it."""


@contextmanager
def step_errors(subject: str, error_type: str) -> Iterator[None]:
    """Errors about ``subject`` as the step's outcome: bad input fails (``error_type``), outages retry."""
    try:
        yield
    except ApplicationError:
        raise
    except InputError as err:
        raise ApplicationError(str(err), type=error_type, non_retryable=True) from None
    except Exception as err:
        cause = classify(err)
        if cause is Cause.OUTAGE or (cause is Cause.UNKNOWN and activity.info().attempt < UNKNOWN_ATTEMPTS):
            raise
        raise ApplicationError(f"{subject}: {describe(err)}", type=error_type, non_retryable=True) from None


class BucketIO:
    """Blocking calls (activities run them in a thread)."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def get(self, key: str, what: str, hint: str) -> tuple[bytes, str | None]:
        """The object's bytes and content type; InputError when there is no such object."""
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as err:
            if s3.is_missing(err):
                raise InputError(f"no {what} {key} in bucket {self.bucket}; {hint}") from None
            raise
        try:
            return response.read(), response.headers.get("Content-Type")
        finally:
            response.close()
            response.release_conn()

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key, "step output", "run it again")[0])

    def list(self, prefix: str) -> list[str]:
        return sorted(o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True))

    def put(self, key: str, data: bytes, content_type: str) -> ArtifactInfo:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return ArtifactInfo(key=key, size=len(data), sha256=sha256_hex(data), content_type=content_type)

    def put_json(self, key: str, value: Any) -> ArtifactInfo:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.put(key, data, "application/json")
