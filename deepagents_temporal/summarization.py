"""Condensing a long conversation: what is summarized, what is kept, what the summary says.

deepagents' SummarizationMiddleware, for a conversation that lives in the
bucket. When an agent's conversation passes its profile's
``summarize_after_tokens``, the workflow asks the model activity (same
fallback chain) for a summary of the older messages; the activity then starts
a new transcript: the system prompt, one user message with the summary, and
the most recent messages whole. Pure functions; the bucket side is in
``conversation.py``, the trigger in ``workflows/summarization.py``.

Token counts are langchain-core's ``count_tokens_approximately`` (characters
/ 4 plus a little per message): no tokenizer files to download at run time, as
tiktoken would need, and only used until the model reports real usage. Workflow
code uses ``rough_tokens``, the same rule without langchain (whose lazy imports
the workflow sandbox refuses).
"""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from deepagents_temporal.schema import Message, SummarizeRequest

# Marks the summarization request (the scripted model in the tests recognises it).
SUMMARY_SYSTEM_PROMPT = (
    "You condense a conversation between a user, an AI agent and its tools so the agent can go on "
    "without it. Write a summary that keeps: the user's request and every requirement they stated; "
    "decisions made and why; what was found or produced, with file paths; errors met and how they were "
    "handled; what remains to do. Be specific and complete, leave out chatter. Answer with the summary only."
)
SUMMARY_HEADER = "Here is a summary of the conversation to date"
# One message as the summarizer sees it, and the whole of it: the rest is in the history file.
RENDERED_MESSAGE_CHARS = 4_000
RENDERED_TOTAL_CHARS = 200_000


def to_counted(messages: list[Message]) -> list[BaseMessage]:
    counted: list[BaseMessage] = []
    for m in messages:
        if m.role == "system":
            counted.append(SystemMessage(m.content))
        elif m.role == "user":
            counted.append(HumanMessage(m.content))
        elif m.role == "tool":
            counted.append(ToolMessage(m.content, tool_call_id=m.tool_call_id or ""))
        else:
            calls = [{"id": c.id, "name": c.name, "args": c.args, "type": "tool_call"} for c in m.tool_calls]
            counted.append(AIMessage(m.content, tool_calls=calls))
    return counted


def estimate_tokens(messages: list[Message]) -> int:
    """Approximate tokens of ``messages`` (no tokenizer download; see the module docstring)."""
    return int(count_tokens_approximately(to_counted(messages))) if messages else 0


def rough_tokens(messages: list[Message]) -> int:
    """``estimate_tokens``' rule (4 characters a token, 3 more a message) in plain Python, for workflow code."""
    chars = sum(
        len(m.content) + sum(len(c.name) + len(c.raw_args or json.dumps(c.args)) for c in m.tool_calls)
        for m in messages
    )
    return int(chars / 4 + 3 * len(messages)) if messages else 0


def split(messages: list[Message], keep: int) -> tuple[list[Message], list[Message], list[Message]]:
    """(leading system messages, older messages to summarize, recent messages kept whole).

    The cut never falls between a tool call and its results: the kept part
    starts with a message that is not a tool result. It moves back (keeping
    more) and, when that would leave nothing to summarize, forward (keeping
    fewer).
    """
    head = 0
    while head < len(messages) and messages[head].role == "system":
        head += 1
    cut = max(head, len(messages) - keep)
    back = cut
    while back > head and back < len(messages) and messages[back].role == "tool":
        back -= 1
    if back > head:
        cut = back
    else:
        while cut < len(messages) and messages[cut].role == "tool":
            cut += 1
    return messages[:head], messages[head:cut], messages[cut:]


def _rendered(message: Message, limit: int | None) -> str:
    text = message.content
    for call in message.tool_calls:
        args = call.raw_args if call.raw_args is not None else json.dumps(call.args, ensure_ascii=False)
        text += f"\n-> {call.name}({args}) [call {call.id}]"
    if message.role == "tool":
        text = f"[result of {message.name or 'a tool'}, call {message.tool_call_id}]\n{text}"
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}\n[... {len(text) - limit:,} more characters in the history file]"
    return f"## {message.role}\n\n{text}\n"


def history_markdown(messages: list[Message]) -> str:
    """Messages as the run's /conversation_history/ file keeps them: whole."""
    return "\n".join(_rendered(m, None) for m in messages)


def summary_prompt(older: list[Message], history_path: str) -> list[Message]:
    """The summarization request: the older messages, each clipped; when they are too many,
    the first (the request, or the previous summary) and the latest that fit."""
    parts = [_rendered(m, RENDERED_MESSAGE_CHARS) for m in older]
    first, rest = parts[:1], parts[1:]
    total, start = sum(len(p) for p in first), len(rest)
    while start > 0 and total + len(rest[start - 1]) <= RENDERED_TOTAL_CHARS:
        start -= 1
        total += len(rest[start])
    skipped = [f"[{start} messages left out here; they are in {history_path}]\n"] if start else []
    return [
        Message(role="system", content=SUMMARY_SYSTEM_PROMPT),
        Message(
            role="user", content="The conversation to condense:\n\n" + "\n".join([*first, *skipped, *rest[start:]])
        ),
    ]


# The summary restates the latest files written; a long run's older ones are a call to ls away.
MAX_LISTED_FILES = 50


def _agent_paths(keys: list[str]) -> list[str]:
    """Bucket keys of the run's files as the agent names them (``runs/<id>/files/a.md`` -> ``/a.md``);
    other artifacts (reports, logs) as they are."""
    paths = []
    for key in keys:
        head, found, rest = key.partition("/files/")
        paths.append("/" + rest if found and head.startswith("runs/") and head.count("/") == 1 else key)
    return paths


def summary_message(summary: str, request: SummarizeRequest, condensed: int) -> Message:
    """The user message that stands for the condensed messages; todos and files are restated, never lost."""
    todos = "\n".join(f"- [{t.status}] {t.content}" for t in request.todos) or "(none)"
    files = "\n".join(f"- {path}" for path in _agent_paths(request.files)[-MAX_LISTED_FILES:]) or "(none)"
    if len(request.files) > MAX_LISTED_FILES:
        files = f"({len(request.files) - MAX_LISTED_FILES} earlier ones: ls shows them all)\n" + files
    return Message(
        role="user",
        content=(
            f"{SUMMARY_HEADER} ({condensed} earlier messages condensed; they are kept whole in the run's "
            f"file {request.history_path}, read it with read_file when you need a detail):\n\n{summary.strip()}\n\n"
            f"Current todos:\n{todos}\n\nFiles written so far:\n{files}"
        ),
    )


def condensed(messages: list[Message], summary: str, request: SummarizeRequest) -> tuple[list[Message], int]:
    """The conversation after summarization, and how many messages the summary stands for."""
    head, older, recent = split(messages, request.keep_messages)
    return [*head, summary_message(summary, request, len(older)), *recent], len(older)
