"""File tools, deliverables and the run log as activities.

The file tools go through the file-backend protocol: ``/memories/`` to the
store backend (PostgreSQL), everything else to the run's files in S3.
Deliverables and log parts are objects in S3 (see docs/architecture.md).

Expected failures (missing file, ambiguous edit, bad path) come back to the
model as an error tool message; so does a call that storage refuses for its
content (a memory value PostgreSQL cannot hold, a key S3 rejects), which no
retry could heal. Only storage outages raise, so Temporal retries
(``deepagents_temporal/storage_errors.py`` tells them apart).
"""

from __future__ import annotations

import asyncio
import io
import json

from minio import Minio
from temporalio import activity

from activities.file_calls import FileCalls, error_output
from deepagents_temporal import s3
from deepagents_temporal.backends import CompositeBackend, S3Backend
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.schema import (
    ArtifactInfo,
    DeliverableInput,
    FileToolInput,
    FileToolOutput,
    LogLine,
    LogPartInput,
)
from deepagents_temporal.storage_errors import UNKNOWN_ATTEMPTS, Cause, classify, describe


def operation_id() -> str:
    """Stable across retries of this activity, different for every activity (a file
    call the workflow names by its reply instead brings its own: file_calls.py)."""
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


class FileActivities:
    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, calls: FileCalls) -> None:
        self._client = client
        self._bucket = bucket
        self._conversations = conversations
        self._calls = calls

    def run_files(self, request: FileToolInput) -> CompositeBackend:
        """The run's files on S3, with long-term memory at /memories/ (see file_calls.py)."""
        return self._calls.files(request.run_id, request.profile, request.user_id)

    @activity.defn(name="file_tool")
    async def file_tool(self, request: FileToolInput) -> FileToolOutput:
        """A file call the model activity did not run itself (see file_calls.py)."""
        call = request.call
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        files, operation = self.run_files(request), request.operation_id or operation_id()
        try:
            output = await self._calls.run(files, request.run_id, request.agent, call, args, operation)
        except Exception as err:
            cause = classify(err)
            if cause is Cause.OUTAGE or (cause is Cause.UNKNOWN and activity.info().attempt < UNKNOWN_ATTEMPTS):
                raise
            activity.logger.warning("%s %s refused: %s", request.agent, call.name, describe(err))
            return error_output(call, f"{call.name} cannot be done as asked: {describe(err)}")
        activity.logger.info("%s %s", request.agent, output.summary)
        return output

    @activity.defn(name="save_deliverable")
    async def save_deliverable(self, request: DeliverableInput) -> ArtifactInfo:
        """Write a stored message's text to reports/<run_id>/<name>."""
        segment = await asyncio.to_thread(self._conversations.segment, request.run_id, request.transcript)
        message = segment[-1]
        files = S3Backend(self._client, self._bucket, request.run_id)
        result = await files.write_report(request.name, message.content, operation_id=operation_id())
        if result.error:
            raise ValueError(f"cannot save deliverable {request.name!r}: {result.error}")
        return ArtifactInfo(key=result.key, size=result.size, sha256=result.sha256, content_type=result.content_type)

    @activity.defn(name="write_log_part")
    async def write_log_part(self, request: LogPartInput) -> None:
        """One agent's log lines, at logs/<run_id>/agents/<agent workflow>.jsonl (overwritten whole)."""
        part = request.workflow_id.rsplit("/", 1)[-1] if "/" in request.workflow_id else "supervisor"
        run = s3.check_segment(request.run_id, "run id")
        key = f"{s3.LOGS_PREFIX}{run}/agents/{s3.check_segment(part, 'agent')}.jsonl"
        data = "".join(_log_line(request.run_id, line) + "\n" for line in request.lines).encode("utf-8")
        await asyncio.to_thread(self._put, key, data, "application/x-ndjson")

    @activity.defn(name="compose_run_log")
    async def compose_run_log(self, run_id: str) -> ArtifactInfo:
        """Merge every agent's part, in time order, into logs/<run_id>/run.log."""
        return await asyncio.to_thread(self._compose, run_id)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def _compose(self, run_id: str) -> ArtifactInfo:
        prefix = f"{s3.LOGS_PREFIX}{s3.check_segment(run_id, 'run id')}/agents/"
        lines: list[tuple[str, str]] = []
        for obj in self._client.list_objects(self._bucket, prefix=prefix, recursive=True):
            response = self._client.get_object(self._bucket, obj.object_name)
            try:
                text = response.read().decode("utf-8")
            finally:
                response.close()
                response.release_conn()
            for raw in text.splitlines():
                if raw.strip():
                    lines.append((json.loads(raw)["at"], raw))
        lines.sort(key=lambda item: item[0])
        data = "".join(raw + "\n" for _, raw in lines).encode("utf-8")
        key = s3.log_key(run_id)
        self._put(key, data, "text/plain; charset=utf-8")
        return ArtifactInfo(key=key, size=len(data), sha256=sha256_hex(data), content_type="text/plain")


def _log_line(run_id: str, line: LogLine) -> str:
    return json.dumps(
        {
            "at": line.at.isoformat(),
            "run_id": run_id,
            "agent": line.agent,
            "workflow_id": line.workflow_id,
            "kind": line.kind,
            "text": line.text,
        },
        ensure_ascii=False,
    )
