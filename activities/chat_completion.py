"""One chat completion: the request ChatOpenAI builds, sent by its OpenAI client.

``ChatOpenAI`` turns the conversation and the tool schemas into the request
body (``_get_request_payload``, what its own ``ainvoke`` and ``astream`` send)
and owns the HTTP client (``async_client``: connection pool, timeout, key).
This module sends that body and reads the answer itself, for two costs that
grew with a run's length and did nothing for it:

- The OpenAI SDK walks every message and tool schema of a request to apply
  its TypedDict transforms (aliases, dates, base64), none of which a chat
  request of text and tool calls has; at 100 steps that walk was a fifth of the
  worker's CPU. The messages and tools go in ``extra_body``, which the SDK
  sends as given, so the body on the wire is the same.
- ``ChatOpenAI.astream`` turns each streamed piece into a message chunk and
  merges them one by one; a 10 KB ``write_file`` streams in hundreds of pieces.
  Here the pieces are gathered as they come and parsed once at the end, as
  langchain-openai parses a plain completion (arguments that are not valid
  JSON stay invalid calls, never repaired).

Errors are the OpenAI SDK's own (``openai.APIStatusError`` and so on), as
ChatOpenAI raises them; ``activities/model.py`` tells them apart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_openai import ChatOpenAI
from temporalio import activity

from deepagents_temporal.token_stream import StreamWriter

# Sent as given rather than walked by the SDK's transforms (see above).
AS_GIVEN = ("messages", "tools")


class _Answer:
    """The pieces of one answer, as they arrive."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, int] | None = None
        self.metadata: dict[str, Any] = {}

    def call(self, index: int | None, call_id: str | None, name: str | None, arguments: str | None) -> None:
        if index is None:
            # A server that numbers no calls: a new id starts a new call, else the last one goes on.
            last = max(self.calls, default=-1)
            known = self.calls[last]["id"] if last >= 0 else None
            index = last + 1 if last < 0 or (call_id and known and call_id != known) else last
        call = self.calls.setdefault(index, {"id": None, "name": [], "args": []})
        call["id"] = call_id or call["id"]
        call["name"].append(name or "")
        call["args"].append(arguments or "")

    def note(self, model: str | None, usage: Any) -> None:
        if model:
            self.metadata["model_name"] = model
        if usage is not None:
            self.usage = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }

    def message(self, sent: list[BaseMessage]) -> AIMessage:
        text = "".join(self.text)
        if self.usage is None:
            # A server that reports no usage: an estimate keeps budgets,
            # summarization and costs working (logged, so it is not silent).
            arguments = sum(len("".join(c["args"])) for c in self.calls.values())
            received = count_tokens_approximately([AIMessage(content=text)]) + arguments // 4
            spent = count_tokens_approximately(sent)
            self.usage = {"input_tokens": spent, "output_tokens": received, "total_tokens": spent + received}
            activity.logger.warning("no token usage reported: %d tokens estimated", spent + received)
        tool_calls, invalid = [], []
        for call in self.calls.values():
            raw = {"id": call["id"], "function": {"name": "".join(call["name"]), "arguments": "".join(call["args"])}}
            try:
                parsed = parse_tool_call(raw, return_id=True)
            except Exception as err:  # noqa: BLE001 - what langchain-openai does with a plain completion
                invalid.append(make_invalid_tool_call(raw, str(err)))
                continue
            if parsed is not None:
                tool_calls.append(parsed)
        return AIMessage(
            content=text,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid,
            usage_metadata=self.usage,
            response_metadata=self.metadata,
        )


def _raise_error_body(response: Any) -> None:
    """A provider (or a proxy) that answers 200 with an error instead of a completion:
    the error, as ChatOpenAI raises it, rather than an empty reply."""
    extra = getattr(response, "model_extra", None) or {}
    error = extra.get("error")
    if error:
        raise ValueError(error)
    if getattr(response, "choices", None) is None and getattr(response, "usage", None) is None:
        raise ValueError(f"the model's answer has no choices: {str(extra)[:300]}")


async def complete(
    llm: ChatOpenAI,
    tools: list[dict],
    messages: list[BaseMessage],
    writer: StreamWriter,
    timeout: float,
    *,
    stream: bool,
) -> AIMessage:
    """The model's answer to ``messages`` with ``tools`` bound. Streamed: its text
    goes to ``writer`` as it arrives. ``timeout`` bounds the whole answer."""
    options: dict[str, Any] = {"stream": stream}
    if stream:
        options["stream_options"] = {"include_usage": True}
    if tools:
        options["tools"] = tools
    payload = llm._get_request_payload(messages, **options)
    if "messages" not in payload:
        # A model ChatOpenAI sends to the Responses API: its own call, unstreamed.
        reply = await (llm.bind_tools(tools) if tools else llm).ainvoke(messages)
        if not isinstance(reply, AIMessage):
            raise TypeError(f"the model answered {type(reply).__name__}, not an AI message")
        return reply
    as_given = {key: payload.pop(key) for key in AS_GIVEN if key in payload}
    answer = _Answer()
    async with asyncio.timeout(timeout):
        response = await llm.async_client.create(**payload, messages=[], extra_body=as_given)
        if not stream:
            _raise_error_body(response)
            answer.note(response.model, response.usage)
            if response.choices:
                reply = response.choices[0].message
                if reply.content:
                    answer.text.append(reply.content)
                for index, call in enumerate(reply.tool_calls or ()):
                    function = getattr(call, "function", None)
                    answer.call(index, call.id, function and function.name, function and function.arguments)
            return answer.message(messages)
        async with response:
            async for chunk in response:
                _raise_error_body(chunk)
                answer.note(chunk.model, chunk.usage)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        answer.text.append(delta.content)
                        writer.add(delta.content)
                    for part in delta.tool_calls or ():
                        function = part.function
                        answer.call(part.index, part.id, function and function.name, function and function.arguments)
    return answer.message(messages)
