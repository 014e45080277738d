"""Conversations stored once, by content hash, in the bucket.

Temporal history must not grow with the square of the conversation, so model
calls do not carry the conversation: each message is stored once under
``runs/<run_id>/messages/<sha256>.json`` and a transcript (the ordered list of
message hashes) under ``runs/<run_id>/transcripts/<sha256>.json``. An activity
input carries one transcript reference plus the few messages added since the
last call, so its size stays flat from step 1 to step 1,000.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections import OrderedDict

from minio import Minio
from minio.error import S3Error

from deepagents_temporal.s3 import run_prefix
from deepagents_temporal.schema import Message

CACHE_BYTES = 64 * 1024 * 1024


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_message(message: Message) -> bytes:
    return message.model_dump_json(exclude_defaults=True).encode("utf-8")


class ConversationStore:
    """Content-addressed messages and transcripts of one bucket, with a small in-memory cache."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached_bytes = 0

    def _message_key(self, run_id: str, digest: str) -> str:
        return f"{run_prefix(run_id)}messages/{digest}.json"

    def _transcript_key(self, run_id: str, digest: str) -> str:
        return f"{run_prefix(run_id)}transcripts/{digest}.json"

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > CACHE_BYTES // 4:
            return
        self._cache[key] = data
        self._cache.move_to_end(key)
        self._cached_bytes += len(data)
        while self._cached_bytes > CACHE_BYTES:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= len(evicted)

    def _put(self, key: str, data: bytes) -> None:
        if key in self._cache:
            return  # content-addressed: already stored by this process
        # Same key, same bytes: a retried put leaves one identical object.
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type="application/json")
        self._remember(key, data)

    def _get(self, key: str) -> bytes:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        response = self._client.get_object(self._bucket, key)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        self._remember(key, data)
        return data

    # -- messages ------------------------------------------------------------

    def put_message(self, run_id: str, message: Message) -> str:
        data = encode_message(message)
        digest = _digest(data)
        self._put(self._message_key(run_id, digest), data)
        return digest

    def get_message(self, run_id: str, digest: str) -> Message:
        try:
            data = self._get(self._message_key(run_id, digest))
        except S3Error as err:
            if err.code == "NoSuchKey":
                raise LookupError(f"message {digest} of run {run_id} is missing from the bucket") from None
            raise
        return Message.model_validate_json(data)

    # -- transcripts ---------------------------------------------------------

    def put_transcript(self, run_id: str, digests: list[str]) -> str:
        data = json.dumps(digests).encode("utf-8")
        digest = _digest(data)
        self._put(self._transcript_key(run_id, digest), data)
        return digest

    def get_transcript(self, run_id: str, digest: str | None) -> list[str]:
        if digest is None:
            return []
        try:
            return json.loads(self._get(self._transcript_key(run_id, digest)))
        except S3Error as err:
            if err.code == "NoSuchKey":
                raise LookupError(f"transcript {digest} of run {run_id} is missing from the bucket") from None
            raise

    def load(self, run_id: str, transcript: str | None) -> tuple[list[str], list[Message]]:
        """The message hashes of ``transcript`` and the messages themselves."""
        digests = self.get_transcript(run_id, transcript)
        return digests, [self.get_message(run_id, d) for d in digests]
