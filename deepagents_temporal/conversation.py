"""Conversations stored once, by content hash, in the bucket.

Temporal history must not grow with the square of the conversation, so model
calls do not carry it. A conversation is a chain of transcript segments, each
stored once at ``runs/<run_id>/transcripts/<sha256>.json`` as
``{"parent": <sha256 or null>, "messages": [...]}``: one segment per model
call, holding what was added since the previous call and the model's reply.
An activity input carries one segment hash plus the few new messages, so its
size stays flat from step 1 to step 1,000, and a step costs one PUT.

Large tool outputs are stored on their own (``messages/<sha256>.json``) and a
segment holds only a reference to them; tool schemas likewise (``tools/``).

A summarized conversation (``summarization.py``) starts a new chain: its first
segment holds the system prompt, the summary and the recent messages; the
condensed messages are written whole to the run's file
``/conversation_history/<agent>-<n>.md``. What the model is sent is made lean
(``lean_requests.py``): large old tool results are written to
``/large_tool_results/`` in the run's files, once.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import OrderedDict
from typing import Any

from minio import Minio
from minio.error import S3Error

from deepagents_temporal import lean_requests, summarization
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.s3 import is_missing, run_files_prefix, run_prefix
from deepagents_temporal.schema import Message, SummarizeRequest, ToolCall

CACHE_ENTRIES = 20_000


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _message_dict(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude_defaults=True)


# Tool output longer than this is stored in the bucket and history carries a reference.
MAX_INLINE_OUTPUT_CHARS = 2048
PREVIEW_CHARS = 200


class ConversationStore:
    """Content-addressed transcripts, messages and tool sets of one bucket, with an in-memory cache.

    Objects never change once written (their key is their hash), so the cache
    never needs invalidating and a retried put rewrites identical bytes.
    """

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------

    def _key(self, run_id: str, kind: str, digest: str) -> str:
        return f"{run_prefix(run_id)}{kind}/{digest}.json"

    def _cached(self, key: str) -> Any | None:
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
            return value

    def _remember(self, key: str, value: Any) -> None:
        with self._lock:
            self._cache[key] = value
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _put(self, run_id: str, kind: str, value: Any) -> str:
        data = _canonical(value)
        digest = sha256_hex(data)
        key = self._key(run_id, kind, digest)
        if self._cached(key) is None:
            self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type="application/json")
            self._remember(key, value)
        return digest

    def _get(self, run_id: str, kind: str, digest: str) -> Any:
        key = self._key(run_id, kind, digest)
        value = self._cached(key)
        if value is not None:
            return value
        try:
            response = self._client.get_object(self._bucket, key)
        except S3Error as err:
            if is_missing(err):
                raise LookupError(f"{kind} {digest} of run {run_id} is missing from the bucket") from None
            raise
        try:
            value = json.loads(response.read())
        finally:
            response.close()
            response.release_conn()
        self._remember(key, value)
        return value

    # -- stored messages (large tool outputs) ---------------------------------

    def put_message(self, run_id: str, message: Message) -> str:
        return self._put(run_id, "messages", _message_dict(message))

    def tool_message(self, run_id: str, call: ToolCall, output: str) -> Message:
        """A tool's answer to ``call``; output over MAX_INLINE_OUTPUT_CHARS is stored and
        the message carries a reference and a preview, so history stays small."""
        message = Message(role="tool", content=output, tool_call_id=call.id, name=call.name)
        if len(output) <= MAX_INLINE_OUTPUT_CHARS:
            return message
        digest = self.put_message(run_id, message)
        return message.model_copy(update={"content": output[:PREVIEW_CHARS], "stored": digest})

    def get_message(self, run_id: str, digest: str) -> Message:
        return Message.model_validate(self._get(run_id, "messages", digest))

    # -- tool sets -------------------------------------------------------------

    def put_tools(self, run_id: str, tools: list[dict[str, Any]]) -> str:
        return self._put(run_id, "tools", tools)

    def get_tools(self, run_id: str, digest: str) -> list[dict[str, Any]]:
        return self._get(run_id, "tools", digest)

    # -- transcripts -----------------------------------------------------------

    def append(self, run_id: str, parent: str | None, messages: list[Message]) -> str:
        """Store a segment of ``messages`` after ``parent``; return its hash."""
        return self._put(run_id, "transcripts", {"parent": parent, "messages": [_message_dict(m) for m in messages]})

    def segment(self, run_id: str, digest: str) -> list[Message]:
        """The messages of one segment, as stored (references unresolved)."""
        return [Message.model_validate(m) for m in self._get(run_id, "transcripts", digest)["messages"]]

    def call_arguments(self, run_id: str, call: ToolCall) -> dict[str, Any]:
        """A tool call's arguments, fetched from its stored reply when they were stored away."""
        if call.args_stored_in is None:
            return call.args
        for stored in self.segment(run_id, call.args_stored_in)[-1].tool_calls:
            if stored.id == call.id:
                return stored.args
        raise LookupError(f"tool call {call.id} is not in stored message {call.args_stored_in}")

    def load(self, run_id: str, transcript: str | None) -> list[Message]:
        """The whole conversation up to ``transcript``, with stored messages resolved."""
        segments = []
        digest = transcript
        while digest is not None:
            segment = self._get(run_id, "transcripts", digest)
            segments.append(segment["messages"])
            digest = segment["parent"]
        conversation = []
        for messages in reversed(segments):
            for raw in messages:
                message = Message.model_validate(raw)
                conversation.append(self.resolve(run_id, message))
        return conversation

    def load_raw(self, run_id: str, transcript: str | None, after: list[Message]) -> list[Message]:
        """The conversation up to ``transcript`` then ``after``, stored messages left as references."""
        segments = []
        digest = transcript
        while digest is not None:
            segment = self._get(run_id, "transcripts", digest)
            segments.append(segment["messages"])
            digest = segment["parent"]
        return [Message.model_validate(raw) for messages in reversed(segments) for raw in messages] + list(after)

    def resolve(self, run_id: str, message: Message) -> Message:
        return self.get_message(run_id, message.stored) if message.stored else message

    async def aload(self, run_id: str, transcript: str | None) -> list[Message]:
        return await asyncio.to_thread(self.load, run_id, transcript)

    # -- the run's files (summaries and lean requests point there) -------------

    def put_file(self, run_id: str, path: str, text: str) -> None:
        """Write ``text`` to the run's file ``path`` (an absolute agent path), once per content."""
        key = f"{run_files_prefix(run_id)}{path.lstrip('/')}"
        data = text.encode("utf-8")
        marker = f"file:{key}:{sha256_hex(data)}"
        if self._cached(marker) is None:
            self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type="text/plain")
            self._remember(marker, True)

    def lean(self, run_id: str, conversation: list[Message]) -> list[Message]:
        """``conversation`` as the model is sent it (large old tool traffic shortened, see lean_requests.py)."""

        def offload(message: Message) -> str:
            path = lean_requests.result_path(message)
            self.put_file(run_id, path, message.content)
            return path

        return lean_requests.lean(conversation, offload)

    # -- summarization -----------------------------------------------------------

    def summary_request(
        self, run_id: str, transcript: str | None, after: list[Message], request: SummarizeRequest
    ) -> list[Message]:
        """The model request that summarizes the older part of the conversation."""
        messages = [self.resolve(run_id, m) for m in self.load_raw(run_id, transcript, after)]
        _, older, _ = summarization.split(messages, request.keep_messages)
        return summarization.summary_prompt(older, request.history_path)

    def condense(
        self, run_id: str, transcript: str | None, after: list[Message], request: SummarizeRequest, summary: str
    ) -> tuple[str, int, int]:
        """Start the summarized conversation: (its transcript, messages condensed, its estimated tokens).

        The condensed messages go whole to the run's history file first; the
        kept ones stay as stored (references and all)."""
        raw = self.load_raw(run_id, transcript, after)
        _, older, _ = summarization.split(raw, request.keep_messages)
        resolved_older = [self.resolve(run_id, m) for m in older]
        self.put_file(run_id, request.history_path, summarization.history_markdown(resolved_older))
        messages, count = summarization.condensed(raw, summary, request)
        tokens = summarization.estimate_tokens([self.resolve(run_id, m) for m in messages])
        return self.append(run_id, None, messages), count, tokens
