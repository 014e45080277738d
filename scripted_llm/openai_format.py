"""The OpenAI wire format of the scripted model's answers.

Response bodies shaped like OpenAI's (chat completions, stream chunks with
an optional usage chunk, error objects, model objects), so the real
``openai`` / ``langchain_openai`` clients parse them unchanged. Token usage
is an estimate (about four characters per token). Tool-call ids are derived
from the request, so the same conversation always gets the same ids.
No I/O here: the HTTP handler (``scripted_llm.handler``) writes these.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from deepagents_temporal.digest import sha256_hex
from scripted_llm.chat_request import ChatRequest, canonical_json, text_of
from scripted_llm.script import Reply

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "conflict",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None, error_type: str | None = None
) -> dict:
    return {
        "error": {
            "message": message,
            "type": error_type
            or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def retry_headers(retry_after: float | None) -> dict[str, str]:
    """``Retry-After`` (seconds) and OpenAI's ``retry-after-ms``, if a delay is set."""
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = _format_seconds(retry_after)
        headers["retry-after-ms"] = str(int(round(retry_after * 1000)))
    return headers


def completion_body(request: ChatRequest, reply: Reply) -> dict:
    """The ``chat.completion`` body answering ``request`` with ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None, "refusal": None}
    calls = _materialize_calls(request, reply)
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
        ]
    else:
        message["content"] = reply.content
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": "fp_scripted",
        "service_tier": "default",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": _usage(request, reply, calls),
    }


def stream_chunks(request: ChatRequest, reply: Reply) -> Iterator[dict]:
    """The ``chat.completion.chunk`` events streaming ``reply``: text in
    word-aligned pieces, tool-call arguments in fixed-size pieces, and a final
    usage chunk when ``stream_options.include_usage`` asks for one."""
    calls = _materialize_calls(request, reply)
    options = request.body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    base = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": "fp_scripted",
        "service_tier": "default",
    }

    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if include_usage:
            out["usage"] = None
        return out

    def events() -> Iterator[dict]:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        # Word-sized pieces, as a model streams them; fewer, larger ones for megabytes of text.
        for piece in _split_text(reply.content, max(16, len(reply.content) // 2000)):
            yield chunk({"content": piece})
        for index, (cid, name, args) in enumerate(calls):
            yield chunk(
                {
                    "tool_calls": [
                        {"index": index, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}
                    ]
                }
            )
            for piece in _split_fixed(args, max(24, len(args) // 2000)):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls" if calls else "stop")
        if include_usage:
            yield {**base, "choices": [], "usage": _usage(request, reply, calls)}

    return events()


def model_object(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "scripted-llm"}


def model_missing_message(name: str) -> str:
    return f"The model `{name}` does not exist or you do not have access to it."


def _materialize_calls(request: ChatRequest, reply: Reply) -> list[tuple[str, str, str]]:
    """(id, name, raw args); ids are deterministic per (request, position)."""
    if reply.kind != "tool_calls":
        return []
    key = request.key
    return [
        (explicit or "call_" + sha256_hex(f"{key}:{index}:{name}")[:24], name, args)
        for index, (name, args, explicit) in enumerate(reply.calls)
    ]


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:29]


def _format_seconds(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _usage(request: ChatRequest, reply: Reply, calls: list[tuple[str, str, str]]) -> dict:
    prompt = 3  # reply priming
    for m in request.messages:
        prompt += 4 + _estimate_tokens(text_of(m.get("content")))
        if m.get("tool_calls"):
            prompt += _estimate_tokens(canonical_json(m["tool_calls"]))
    if request.tools:
        prompt += _estimate_tokens(canonical_json(request.tools))
    completion = _estimate_tokens(reply.content) + sum(3 + _estimate_tokens(name + args) for _, name, args in calls)
    completion = max(1, completion)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# Where a run of whitespace begins or ends.
_WORD_EDGE = re.compile(r"(?<=\s)(?=\S)|(?<=\S)(?=\s)")


def _split_text(text: str, target: int = 16) -> list[str]:
    """Split text into word-aligned pieces of roughly ``target`` chars (each
    ends at the first word or space edge at least ``target`` chars in); they
    concatenate back to exactly ``text``. One search per piece: megabytes of
    text must not hold the GIL from the worker sharing this process."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        edge = _WORD_EDGE.search(text, start + target) if start + target < len(text) else None
        end = edge.start() if edge else len(text)
        pieces.append(text[start:end])
        start = end
    return pieces


def _split_fixed(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
