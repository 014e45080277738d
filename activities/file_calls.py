"""One file-tool call run against a run's files: the code both paths share.

A model turn's file calls normally run inside the ``call_model`` activity
right after the answer is stored (``activities/model.py``: no second activity,
no second workflow task, the arguments still in memory); the ``file_tool``
activity (``activities/files.py``) runs the ones that could not be run there.
Both call ``FileCalls.run``, so the model gets the same message, summary and
artifact either way.

A call is idempotent by its operation id: ``write_file`` and ``edit_file``
store it with the object, and a call repeated with the same id (a retried
attempt, or the fallback activity after an interrupted inline call) answers as
the first one did. ``operation_id`` names a call by the stored reply it came
in and its position there, so both paths agree on it.
"""

from __future__ import annotations

import asyncio
from typing import assert_never

from langgraph.store.base import BaseStore
from minio import Minio

from deepagents_temporal import tracing
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
from deepagents_temporal.schema import ArtifactInfo, FileToolOutput, Message, ToolCall
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

FileToolArgs = LsArgs | ReadFileArgs | WriteFileArgs | EditFileArgs | GlobArgs | GrepArgs


def operation_id(workflow_id: str, workflow_run_id: str, transcript: str, index: int) -> str:
    """The id of the ``index``-th tool call of the reply stored as ``transcript``."""
    return f"{workflow_id}/{workflow_run_id}/{transcript}/{index}"


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


def summary(tool: str, args: dict, result: ToolResult) -> str:
    target = args.get("file_path") or args.get("path") or args.get("pattern") or "/"
    if result.error:
        return f"{tool} {target}: error: {result.error}"
    if isinstance(result, WriteResult):
        return f"{tool} {result.path}: {result.size} bytes"
    return f"{tool} {target}: {len(result.output)} characters"


def error_output(call: ToolCall, problem: str) -> FileToolOutput:
    return FileToolOutput(
        message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call.id, name=call.name),
        summary=f"{call.name}: error: {problem}",
        error=problem,
    )


class FileCalls:
    """The run's files (S3, with /memories/ in PostgreSQL) and how one tool call reaches them."""

    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, memories: BaseStore) -> None:
        self._client = client
        self._bucket = bucket
        self._conversations = conversations
        self._memories = memories

    def files(self, run_id: str, profile: str, user_id: str | None) -> CompositeBackend:
        """The run's files on S3, with long-term memory (PostgreSQL, shared by every
        run of the profile and user) at /memories/."""

        def memories() -> StoreBackend:
            return StoreBackend(self._memories, memory_namespace(profile, user_id))

        return CompositeBackend(S3Backend(self._client, self._bucket, run_id), {MEMORIES_ROOT: memories})

    async def run(
        self, files: CompositeBackend, run_id: str, agent: str, call: ToolCall, args: dict, operation_id: str
    ) -> FileToolOutput:
        """Run ``call`` with its whole ``args``. Expected failures (a missing file, an
        ambiguous edit, a bad path) are the model's error message; storage errors raise."""
        try:
            parsed = parse_args(call.name, args)
            if not isinstance(parsed, FileToolArgs):
                raise KeyError(call.name)  # write_todos and task are the workflow's own
        except (ToolArgumentError, KeyError) as err:
            problem = str(err) if isinstance(err, ToolArgumentError) else f"{call.name} is not a file tool"
            return error_output(call, problem)
        path = args.get("file_path") or args.get("path")
        attributes = tracing.tool_attributes(call.name, call.id, path if isinstance(path, str) else None, agent)
        with tracing.span(f"execute_tool {call.name}", attributes):
            result = await _call(files, parsed, operation_id)
        message = await asyncio.to_thread(self._conversations.tool_message, run_id, call, result.output)
        artifact = None
        # Only the run's own files are artifacts; /memories/ outlives the run.
        if isinstance(result, WriteResult) and not result.error and files.route(result.path) is files.default:
            artifact = ArtifactInfo(
                key=result.key, size=result.size, sha256=result.sha256, content_type=result.content_type
            )
        said = summary(call.name, args, result)
        return FileToolOutput(message=message, summary=said, error=result.error, artifact=artifact)
