"""The ``fetch_url`` tool as an activity (io role): one bounded, SSRF-checked GET
(``deepagents_temporal/fetch/``), the result kept in the run's files.

A refusal (a scheme, address or host not allowed, too big, too many
redirects, an HTTP error) is the tool's answer: an error message for the
model, not retried. Network trouble (a refused connection, a timeout, a 5xx)
raises, so Temporal tries again (``FETCH_RETRY_POLICY``) and the workflow
tells the model once the attempts are spent. The files written are artifacts
of the run.
"""

from __future__ import annotations

import asyncio
import io

from minio import Minio
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal import s3
from deepagents_temporal.backends.s3 import META_SHA256
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.documents.convert import UnsupportedDocument, extract_text
from deepagents_temporal.fetch import FetchLimits, FetchRefused, FetchUnavailable, fetch
from deepagents_temporal.fetch.files import layout, media_type, meta_json, tool_text
from deepagents_temporal.redaction import redact
from deepagents_temporal.schema import ArtifactInfo, CustomToolInput, Message, ToolOutput
from deepagents_temporal.settings import Settings
from deepagents_temporal.tools import FetchUrlArgs, ToolArgumentError, parse_args

FETCH_UNAVAILABLE = "FetchUnavailable"


class FetchActivities:
    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, settings: Settings) -> None:
        self._client = client
        self._bucket = bucket
        self._conversations = conversations
        self._limits = FetchLimits(
            max_bytes=settings.deepagent_fetch_max_bytes,
            timeout_seconds=settings.deepagent_fetch_timeout,
            max_redirects=settings.deepagent_fetch_max_redirects,
            allowed_hosts=tuple(settings.deepagent_fetch_allow),
        )

    @activity.defn(name="fetch_url")
    async def fetch_url(self, request: CustomToolInput) -> ToolOutput:
        call = request.call
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        try:
            parsed = parse_args("fetch_url", args)
            assert isinstance(parsed, FetchUrlArgs)
        except ToolArgumentError as err:
            return _error(call.id, str(err))
        try:
            fetched = await fetch(parsed.url, self._limits)
        except FetchRefused as err:
            activity.logger.info("%s fetch_url refused: %s", request.agent, err)
            return _error(call.id, f"fetch_url refused {redact(_without_password(parsed.url))[:300]}: {err}")
        except FetchUnavailable as err:
            raise ApplicationError(str(err), type=FETCH_UNAVAILABLE) from None

        digest = sha256_hex(fetched.data)
        host = fetched.final_url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        try:
            # In a thread: a large page must not stall this worker's heartbeats.
            name = fetched.final_url.split("?", 1)[0]
            extracted = await asyncio.to_thread(
                extract_text, fetched.data, filename=name, content_type=fetched.content_type
            )
            text, title, note = extracted.text, extracted.title, f"extracted from {extracted.kind}"
        except UnsupportedDocument as err:
            text, title, note = None, None, f"not converted to text: {err}"
        files = layout(host, fetched, digest, text is not None)
        writes = [(files.raw, fetched.data, media_type(fetched.content_type))]
        if text is not None and files.text is not None:
            writes.append((files.text, text.encode("utf-8"), "text/plain; charset=utf-8"))
        writes.append((files.meta, meta_json(fetched, digest, title, note).encode("utf-8"), "application/json"))
        artifacts = [await asyncio.to_thread(self._put, request.run_id, *write) for write in writes]
        output = tool_text(fetched, files, digest, title, text, note)
        message = await asyncio.to_thread(self._conversations.tool_message, request.run_id, call, output)
        summary = f"fetch_url {fetched.final_url}: {len(fetched.data):,} bytes -> {files.raw}"
        activity.logger.info("%s %s", request.agent, summary)
        return ToolOutput(message=message, summary=summary, artifacts=artifacts)

    def _put(self, run_id: str, path: str, data: bytes, content_type: str) -> ArtifactInfo:
        key = s3.run_files_prefix(run_id) + path.lstrip("/")
        digest = sha256_hex(data)
        self._client.put_object(
            self._bucket, key, io.BytesIO(data), len(data), content_type=content_type, metadata={META_SHA256: digest}
        )
        return ArtifactInfo(key=key, size=len(data), sha256=digest, content_type=content_type)


def _error(call_id: str, problem: str) -> ToolOutput:
    return ToolOutput(
        message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call_id, name="fetch_url"),
        summary=f"fetch_url: error: {problem[:200]}",
        error=problem,
    )


def _without_password(url: str) -> str:
    """``url`` as it may be repeated: a user name and password in it are masked."""
    scheme, found, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not found or "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{path}"
