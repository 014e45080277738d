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
from typing import assert_never

from langgraph.store.base import BaseStore
from minio import Minio
from temporalio import activity

from deepagents_temporal import s3, tracing
from deepagents_temporal.backends import (
    MEMORIES_ROOT,
    CompositeBackend,
    FileBackend,
    S3Backend,
    StoreBackend,
    ToolResult,
    WriteResult,
    memory_namespace,
)
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.schema import (
    ArtifactInfo,
    DeliverableInput,
    FileToolInput,
    FileToolOutput,
    LogLine,
    LogPartInput,
    Message,
    ToolCall,
)
from deepagents_temporal.storage_errors import UNKNOWN_ATTEMPTS, Cause, classify, describe
from deepagents_temporal.tools import (
    EditFileArgs,
    GlobArgs,
    GrepArgs,
    LsArgs,
    ReadFileArgs,
    ToolArgumentError,
    WriteFileArgs,
    parse_args,
)


def operation_id() -> str:
    """Stable across retries of this activity, different for every tool call."""
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


FileToolArgs = LsArgs | ReadFileArgs | WriteFileArgs | EditFileArgs | GlobArgs | GrepArgs


async def _call(files: FileBackend, args: FileToolArgs, operation_id: str) -> ToolResult:
    """The file tool ``args`` stands for, called on ``files``."""
    match args:
        case LsArgs():
            return await files.ls(args.path)
        case ReadFileArgs():
            return await files.read_file(args.file_path, args.offset, args.limit)
        case WriteFileArgs():
            return await files.write_file(args.file_path, args.content, operation_id=operation_id)
        case EditFileArgs():
            return await files.edit_file(
                args.file_path, args.old_string, args.new_string, args.replace_all, operation_id=operation_id
            )
        case GlobArgs():
            return await files.glob(args.pattern, args.path)
        case GrepArgs():
            return await files.grep(args.pattern, args.path, args.glob)
    assert_never(args)


def _summary(tool: str, args: dict, result: ToolResult) -> str:
    target = args.get("file_path") or args.get("path") or args.get("pattern") or "/"
    if result.error:
        return f"{tool} {target}: error: {result.error}"
    if isinstance(result, WriteResult):
        return f"{tool} {result.path}: {result.size} bytes"
    return f"{tool} {target}: {len(result.output)} characters"


class FileActivities:
    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, memories: BaseStore) -> None:
        self._client = client
        self._bucket = bucket
        self._conversations = conversations
        self._memories = memories

    def run_files(self, request: FileToolInput) -> CompositeBackend:
        """The run's files on S3, with long-term memory (PostgreSQL, shared by every
        run of the profile and user) at /memories/."""

        def memories() -> StoreBackend:
            return StoreBackend(self._memories, memory_namespace(request.profile, request.user_id))

        return CompositeBackend(S3Backend(self._client, self._bucket, request.run_id), {MEMORIES_ROOT: memories})

    @activity.defn(name="file_tool")
    async def file_tool(self, request: FileToolInput) -> FileToolOutput:
        call = request.call
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        try:
            parsed = parse_args(call.name, args)
            if not isinstance(parsed, FileToolArgs):
                raise KeyError(call.name)  # write_todos and task are the workflow's own
        except (ToolArgumentError, KeyError) as err:
            problem = str(err) if isinstance(err, ToolArgumentError) else f"{call.name} is not a file tool"
            return _error_output(call, problem)
        files = self.run_files(request)
        path = args.get("file_path") or args.get("path")
        attributes = tracing.tool_attributes(call.name, call.id, path if isinstance(path, str) else None, request.agent)
        try:
            with tracing.span(f"execute_tool {call.name}", attributes):
                result = await _call(files, parsed, operation_id())
        except Exception as err:
            cause = classify(err)
            if cause is Cause.OUTAGE or (cause is Cause.UNKNOWN and activity.info().attempt < UNKNOWN_ATTEMPTS):
                raise
            activity.logger.warning("%s %s refused: %s", request.agent, call.name, describe(err))
            return _error_output(call, f"{call.name} cannot be done as asked: {describe(err)}")

        message = await asyncio.to_thread(self._conversations.tool_message, request.run_id, call, result.output)
        artifact = None
        # Only the run's own files are artifacts; /memories/ outlives the run.
        if isinstance(result, WriteResult) and not result.error and files.route(result.path) is files.default:
            artifact = ArtifactInfo(
                key=result.key, size=result.size, sha256=result.sha256, content_type=result.content_type
            )
        activity.logger.info("%s %s", request.agent, _summary(call.name, args, result))
        return FileToolOutput(
            message=message, summary=_summary(call.name, args, result), error=result.error, artifact=artifact
        )

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


def _error_output(call: ToolCall, problem: str) -> FileToolOutput:
    return FileToolOutput(
        message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call.id, name=call.name),
        summary=f"{call.name}: error: {problem}",
        error=problem,
    )


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
