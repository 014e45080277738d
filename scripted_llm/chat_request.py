"""What the scripted model is asked: a parsed ``/v1/chat/completions`` body.

:class:`ChatRequest` is what rules and brains look at (system prompt, offered
tools, user texts, earlier tool calls and results), and its :attr:`key`
identifies "the same model call" across retries. The message helpers here
read OpenAI-shaped messages the way every client sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from deepagents_temporal.digest import sha256_hex


class ToolResult(NamedTuple):
    """One ``role == "tool"`` message. ``name`` is resolved from the assistant
    tool call with the same id (clients usually do not send it)."""

    tool_call_id: str
    name: str | None
    content: str


class ToolCall(NamedTuple):
    """One tool call made by an assistant message earlier in the conversation."""

    id: str
    name: str
    args: Any  # dict when the arguments were valid JSON, else the raw string


def text_of(content: Any) -> str:
    """Plain text of an OpenAI message ``content`` (string, parts list or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return "".join(text_of(part) for part in content)
    return str(content)


def _parse_args(raw: Any) -> Any:
    if isinstance(raw, (dict, list)):
        return raw
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return raw
    return raw


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON: equal values always give equal text (and digests)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass
class ChatRequest:
    """A parsed ``/v1/chat/completions`` request body."""

    model: str
    messages: list[dict] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)
    stream: bool = False
    body: dict = field(default_factory=dict)
    # HTTP request headers, names lower-cased (not part of ``key``).
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict, headers: dict[str, str] | None = None) -> ChatRequest:
        messages = body.get("messages")
        tools = body.get("tools")
        return cls(
            model=str(body.get("model") or ""),
            messages=[m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else [],
            tools=[t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else [],
            stream=bool(body.get("stream")),
            body=body,
            headers=dict(headers or {}),
        )

    # -- identity ---------------------------------------------------------- #

    @property
    def key(self) -> str:
        """Stable sha256 of (model, messages, tools): identifies "the same model
        call", e.g. an activity retry that resends an identical conversation."""
        return sha256_hex(canonical_json({"model": self.model, "messages": self.messages, "tools": self.tools}))

    # -- helpers ----------------------------------------------------------- #

    @property
    def system_prompt(self) -> str:
        """Text of all system/developer messages, joined by blank lines."""
        return "\n\n".join(text_of(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer"))

    @property
    def tool_names(self) -> list[str]:
        names: list[str] = []
        for tool in self.tools:
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            name = fn.get("name")
            if isinstance(name, str):
                names.append(name)
        return names

    def tool_schema(self, name: str) -> dict | None:
        """The ``function`` object of the tool called ``name``, if offered."""
        for tool in self.tools:
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if fn.get("name") == name:
                return fn
        return None

    @property
    def user_texts(self) -> list[str]:
        return [text_of(m.get("content")) for m in self.messages if m.get("role") == "user"]

    @property
    def last_user_text(self) -> str:
        texts = self.user_texts
        return texts[-1] if texts else ""

    @property
    def first_user_text(self) -> str:
        texts = self.user_texts
        return texts[0] if texts else ""

    @property
    def assistant_tool_calls(self) -> list[ToolCall]:
        """Every tool call made by assistant messages so far, in order."""
        return tool_calls_in(self.messages)

    @property
    def tool_results(self) -> list[ToolResult]:
        return tool_results_in(self.messages)

    @property
    def turn(self) -> int:
        """Number of assistant messages so far."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")


def tool_calls_in(messages: Iterable[dict]) -> list[ToolCall]:
    """Every tool call made by the assistant messages in ``messages``, in order."""
    calls: list[ToolCall] = []
    for m in messages:
        if m.get("role") != "assistant" or not isinstance(m.get("tool_calls"), list):
            continue
        for tc in m["tool_calls"]:
            if not isinstance(tc, dict):
                continue
            fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
            calls.append(ToolCall(str(tc.get("id") or ""), str(fn.get("name") or ""), _parse_args(fn.get("arguments"))))
    return calls


def tool_results_in(messages: list[dict]) -> list[ToolResult]:
    """Every ``role == "tool"`` message, its tool name resolved from the matching call."""
    names = {c.id: c.name for c in tool_calls_in(messages)}
    results: list[ToolResult] = []
    for m in messages:
        if m.get("role") != "tool":
            continue
        call_id = str(m.get("tool_call_id") or "")
        name = names.get(call_id) or (m.get("name") if isinstance(m.get("name"), str) else None)
        results.append(ToolResult(call_id, name, text_of(m.get("content"))))
    return results
