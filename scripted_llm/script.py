"""The script API: what a test tells the scripted model to answer, and what it saw.

:class:`Reply` is one scripted answer (text, tool calls, an HTTP error with
``Retry-After`` or echoing the request's ``Authorization`` header, or a hold
that delays and falls through); :class:`Rule`
pairs a reply with the requests it answers; :class:`RequestRecord` is one
logged model call, including whether the response reached a still-connected
client. The server (``scripted_llm.server``) plays these; nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scripted_llm.chat_request import ChatRequest

#: Status recorded for a call whose client went away before any status was sent
#: (nginx's "client closed request").
CLIENT_CLOSED_STATUS = 499

_DEFAULT_ERROR_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to access this resource.",
    404: "The requested resource does not exist.",
    408: "Request timed out.",
    409: "Conflict.",
    413: "Request body too large.",
    422: "Unprocessable request.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}


@dataclass(frozen=True)
class Reply:
    """What the server answers. Build with :meth:`text`, :meth:`tool_calls`,
    :meth:`error` or :meth:`hold`."""

    kind: str  # "text" | "tool_calls" | "error" | "hold"
    content: str = ""
    calls: tuple[tuple[str, str, str | None], ...] = ()  # (name, raw JSON arguments, explicit id or None)
    status: int = 200
    message: str = ""
    code: str | None = None
    error_type: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    # An error whose message ends with the request's Authorization header, as
    # some OpenAI-compatible servers answer a bad key.
    echo_authorization: bool = False
    # Streamed (``stream: true``): seconds between the text's pieces, so a test
    # can act while the answer is being written.
    stream_gap: float = 0.0

    @classmethod
    def text(cls, content: str, delay: float = 0, stream_gap: float = 0) -> Reply:
        return cls(kind="text", content=str(content), delay=_check_delay(delay), stream_gap=_check_delay(stream_gap))

    @classmethod
    def tool_calls(
        cls,
        calls: Iterable[tuple[str, dict | str] | tuple[str, dict | str, str]],
        content: str = "",
        delay: float = 0,
    ) -> Reply:
        """``calls``: ``(name, args)`` or ``(name, args, call_id)``. ``args`` is a
        dict (JSON-encoded) or a raw string sent verbatim (e.g. malformed JSON).
        Without an explicit id, ids are derived from the request so that the
        same conversation always gets the same ids."""
        normalized: list[tuple[str, str, str | None]] = []
        for call in calls:
            if len(call) not in (2, 3):
                raise ValueError(f"tool call must be (name, args) or (name, args, id), got {call!r}")
            name, args = call[0], call[1]
            call_id = call[2] if len(call) == 3 else None
            if not isinstance(name, str) or not name:
                raise ValueError(f"tool name must be a non-empty string, got {name!r}")
            raw = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            normalized.append((name, raw, call_id))
        if not normalized:
            raise ValueError("Reply.tool_calls needs at least one call")
        return cls(kind="tool_calls", content=str(content or ""), calls=tuple(normalized), delay=_check_delay(delay))

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        delay: float = 0,
        error_type: str | None = None,
        echo_authorization: bool = False,
    ) -> Reply:
        """An HTTP error; with ``echo_authorization`` its message ends with
        ``": <the request's Authorization header>"``."""
        if not 400 <= int(status) <= 599:
            raise ValueError(f"error status must be 4xx or 5xx, got {status}")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        return cls(
            kind="error",
            status=int(status),
            message=message if message is not None else _DEFAULT_ERROR_MESSAGES.get(int(status), "Error."),
            code=code,
            error_type=error_type,
            retry_after=retry_after,
            delay=_check_delay(delay),
            echo_authorization=echo_authorization,
        )

    @classmethod
    def hold(cls, seconds: float) -> Reply:
        """Wait ``seconds`` (watching for client disconnects), then fall through
        to the next matching rule or the brain."""
        return cls(kind="hold", delay=_check_delay(seconds))


def _check_delay(delay: float) -> float:
    delay = float(delay)
    if delay < 0 or math.isnan(delay):
        raise ValueError(f"delay must be >= 0, got {delay}")
    return delay


@dataclass
class RequestRecord:
    """One ``POST /v1/chat/completions`` call as seen by the server.

    ``status`` is 0 while nothing has been sent, then the HTTP status written,
    or ``499`` if the client went away before a status was sent. ``completed``
    is True only if the whole response (of any status) was written to a client
    that was still connected; ``aborted`` if the client disconnected first.
    Times are ``time.time()`` wall-clock seconds.
    """

    seq: int
    key: str
    model: str
    status: int
    started: float
    finished: float | None
    completed: bool
    aborted: bool
    request: ChatRequest
    reply: Reply | None = None  # the reply that was (or was being) sent
    error: str | None = None  # why the server rejected / failed the call, if it did

    @property
    def ok(self) -> bool:
        """A successful model answer (HTTP 200) fully delivered."""
        return self.completed and self.status == 200

    @property
    def in_flight(self) -> bool:
        return self.finished is None


@dataclass
class Rule:
    """Answer requests accepted by ``match`` (None = any) with ``reply``,
    ``remaining`` more times (None = unlimited)."""

    match: Callable[[ChatRequest], bool] | None
    reply: Reply
    remaining: int | None


def as_reply(value: Any) -> Reply:
    """A brain's answer as a :class:`Reply` (a plain string is a text reply)."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    raise TypeError(f"brain must return a Reply or str, got {type(value).__name__}")
