"""What the model is sent stays lean: old large tool traffic is shortened in the request only.

As deepagents does (its argument truncation for old ``write_file`` /
``edit_file`` calls, its eviction of large tool results to the file system):
outside the most recent messages, string arguments of those calls over
``MAX_OLD_ARG_CHARS`` and tool results over ``MAX_OLD_RESULT_CHARS`` reach the
model as their head and a note saying where the whole is: the file a
``write_file`` wrote, the run's stored transcript (an edit's strings), or
``/large_tool_results/<call id>`` in the run's files. The stored
transcript keeps everything; only the request is shortened. Pure functions: the
activity passes ``offload``, which writes a result to the run's files once.
"""

from __future__ import annotations

from collections.abc import Callable

from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.schema import Message

# Messages at the end of the conversation always sent whole.
KEEP_RECENT_MESSAGES = 20
MAX_OLD_ARG_CHARS = 2_000
MAX_OLD_RESULT_CHARS = 2_000
HEAD_CHARS = 200
FILE_WRITING_TOOLS = ("write_file", "edit_file")
LARGE_RESULTS_DIR = "/large_tool_results"


def _note(left_out: int, where: str) -> str:
    return f"\n[... {left_out:,} more characters left out of this request; the whole is in {where}]"


def _where_argument(tool: str, argument: str, path: str) -> str:
    # Only a write's content is in a file; an edit's strings, or a write that failed or
    # was overwritten since, are only in the run's stored transcript.
    if tool == "write_file" and argument == "content":
        return f"the run's file {path} as this call wrote it (unless the call failed or the file changed since)"
    return "the run's stored transcript (this call's arguments, kept whole)"


def _shortened_call_args(message: Message) -> Message:
    calls = []
    for call in message.tool_calls:
        if call.name in FILE_WRITING_TOOLS and call.raw_args is None:
            path = call.args.get("file_path", "(its file_path)")
            args = {
                name: value[:HEAD_CHARS] + _note(len(value) - HEAD_CHARS, _where_argument(call.name, name, path))
                if isinstance(value, str) and len(value) > MAX_OLD_ARG_CHARS and name != "file_path"
                else value
                for name, value in call.args.items()
            }
            call = call.model_copy(update={"args": args})
        calls.append(call)
    return message.model_copy(update={"tool_calls": calls})


def lean(
    conversation: list[Message], offload: Callable[[Message], str], keep: int = KEEP_RECENT_MESSAGES
) -> list[Message]:
    """``conversation`` as the model is sent it; ``offload(message)`` returns the run's file
    that holds a large tool result whole (written there once)."""
    old = max(0, len(conversation) - keep)
    sent = []
    for i, message in enumerate(conversation):
        if i < old and message.role == "assistant" and message.tool_calls:
            message = _shortened_call_args(message)
        elif i < old and message.role == "tool" and len(message.content) > MAX_OLD_RESULT_CHARS:
            where = f"the run's file {offload(message)} (read it with read_file)"
            content = message.content[:HEAD_CHARS] + _note(len(message.content) - HEAD_CHARS, where)
            message = message.model_copy(update={"content": content, "stored": None})
        sent.append(message)
    return sent


def result_path(message: Message) -> str:
    """Where a large old tool result is written whole: named by its call and content
    (sub-agents may reuse a call id; the same result always lands on the same file)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in message.tool_call_id or "result")[:64]
    return f"{LARGE_RESULTS_DIR}/{safe or 'result'}-{sha256_hex(message.content.encode('utf-8'))[:12]}.txt"
