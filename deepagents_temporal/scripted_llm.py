"""A scripted, OpenAI-compatible chat-completions server on loopback.

This is the project's only model fake. The real ``openai`` / ``langchain_openai``
clients talk to it over HTTP, so every layer above the socket is exercised for
real. It serves two purposes:

* tests script replies with :meth:`ScriptedLLM.add_rule` (text, tool calls,
  errors with ``Retry-After``, slow replies, unknown models) and inspect
  :attr:`ScriptedLLM.requests`, a log of every model call that records whether
  the response actually reached a still-connected client;
* without an API key it is the offline "demo model": :func:`demo_brain` plays
  the "qa" profile (supervisor plus three test specialists) deterministically
  from the conversation it is sent.

The server is stdlib only (``http.server.ThreadingHTTPServer`` in a daemon
thread), so it works whatever event loop the caller runs, including from a
process whose asyncio loop is busy or blocked.

Run it standalone with ``python -m deepagents_temporal.scripted_llm --port 8000``.

Endpoints: ``POST /v1/chat/completions`` (plain and ``stream: true`` SSE, with
a usage chunk when ``stream_options.include_usage``), ``GET /v1/models`` and
``GET /v1/models/{id}``. Anything else gets an OpenAI-shaped error body.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import logging
import math
import re
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple
from urllib.parse import unquote, urlsplit

__all__ = [
    "ChatRequest",
    "DEMO_SPECIALISTS",
    "Reply",
    "RequestRecord",
    "ScriptedLLM",
    "ToolResult",
    "demo_brain",
]

log = logging.getLogger(__name__)

#: Models listed by ``GET /v1/models`` (besides every model seen in a request).
DEFAULT_MODELS: tuple[str, ...] = ("scripted-demo", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")

#: Status recorded for a call whose client went away before any status was sent
#: (nginx's "client closed request").
CLIENT_CLOSED_STATUS = 499

_MAX_BODY_BYTES = 64 * 1024 * 1024
_POLL_INTERVAL = 0.05  # seconds between disconnect / stop checks while delaying
_IDLE_KEEPALIVE_TIMEOUT = 120.0  # seconds a kept-alive connection may sit idle

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


# --------------------------------------------------------------------------- #
# Parsed requests
# --------------------------------------------------------------------------- #


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


def _text_of(content: Any) -> str:
    """Plain text of an OpenAI message ``content`` (string, parts list or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return "".join(_text_of(part) for part in content)
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


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha256(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


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
    def from_body(cls, body: dict, headers: dict[str, str] | None = None) -> "ChatRequest":
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
        return _sha256(_canonical_json({"model": self.model, "messages": self.messages, "tools": self.tools}))

    # -- helpers ----------------------------------------------------------- #

    @property
    def system_prompt(self) -> str:
        """Text of all system/developer messages, joined by blank lines."""
        return "\n\n".join(
            _text_of(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer")
        )

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
        return [_text_of(m.get("content")) for m in self.messages if m.get("role") == "user"]

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
        return _tool_calls_in(self.messages)

    @property
    def tool_results(self) -> list[ToolResult]:
        return _tool_results_in(self.messages)

    @property
    def turn(self) -> int:
        """Number of assistant messages so far."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")


def _tool_calls_in(messages: Iterable[dict]) -> list[ToolCall]:
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


def _tool_results_in(messages: list[dict]) -> list[ToolResult]:
    names = {c.id: c.name for c in _tool_calls_in(messages)}
    results: list[ToolResult] = []
    for m in messages:
        if m.get("role") != "tool":
            continue
        call_id = str(m.get("tool_call_id") or "")
        name = names.get(call_id) or (m.get("name") if isinstance(m.get("name"), str) else None)
        results.append(ToolResult(call_id, name, _text_of(m.get("content"))))
    return results


# --------------------------------------------------------------------------- #
# Replies
# --------------------------------------------------------------------------- #


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

    @classmethod
    def text(cls, content: str, delay: float = 0) -> "Reply":
        return cls(kind="text", content=str(content), delay=_check_delay(delay))

    @classmethod
    def tool_calls(
        cls,
        calls: Iterable[tuple[str, dict | str] | tuple[str, dict | str, str]],
        content: str = "",
        delay: float = 0,
    ) -> "Reply":
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
    ) -> "Reply":
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
        )

    @classmethod
    def hold(cls, seconds: float) -> "Reply":
        """Wait ``seconds`` (watching for client disconnects), then fall through
        to the next matching rule or the brain."""
        return cls(kind="hold", delay=_check_delay(seconds))


def _check_delay(delay: float) -> float:
    delay = float(delay)
    if delay < 0 or math.isnan(delay):
        raise ValueError(f"delay must be >= 0, got {delay}")
    return delay


# --------------------------------------------------------------------------- #
# Request log
# --------------------------------------------------------------------------- #


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
class _Rule:
    match: Callable[[ChatRequest], bool] | None
    reply: Reply
    remaining: int | None


class _Aborted(Exception):
    """The client went away (or the server is stopping) before we answered."""


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #


class ScriptedLLM:
    """Scripted OpenAI-compatible server on loopback. See the module docstring.

    Replies are chosen per request: the first rule (in insertion order) whose
    matcher accepts the request and which has uses left wins; ``Reply.hold``
    rules wait and then continue with the rules after them; if no rule answers,
    the brain (``demo_brain`` by default) does. A brain may also return a plain
    string (a text reply).
    """

    def __init__(
        self,
        brain: Callable[[ChatRequest], Reply] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.brain: Callable[[ChatRequest], Reply] = brain or demo_brain
        self.host = host
        self.port = port
        self.base_url = ""
        self._cond = threading.Condition(threading.RLock())
        self._rules: list[_Rule] = []
        self._unknown: set[str] = set()
        self._records: list[RequestRecord] = []
        self._seen_models: list[str] = []
        self._seq = 0
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    # -- lifecycle --------------------------------------------------------- #

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns ``base_url``. Calling it
        again while running returns the same URL."""
        with self._lifecycle:
            if self._server is not None:
                return self.base_url
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            server_cls = type("_BoundHTTPServer", (_HTTPServer,), {"address_family": family})
            server = server_cls((self.host, self.port), _Handler)
            server.owner = self
            self._stopping.clear()
            self._server = server
            port = server.server_address[1]
            host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
            self.base_url = f"http://{host}:{port}/v1"
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"ScriptedLLM:{port}",
                daemon=True,
            )
            self._thread.start()
            return self.base_url

    def stop(self) -> None:
        """Stop serving and drop open connections. Idempotent."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
            if server is None:
                return
            self._stopping.set()
            with self._cond:
                self._cond.notify_all()
            server.shutdown()
            server.server_close()
            server.close_connections()
            if thread is not None:
                thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> "ScriptedLLM":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------- #

    def add_rule(
        self,
        match: Callable[[ChatRequest], bool] | None,
        reply: Reply,
        times: int | None = None,
    ) -> None:
        """Answer requests accepted by ``match`` (None = any request) with
        ``reply``, at most ``times`` times (None = unlimited)."""
        if not isinstance(reply, Reply):
            raise TypeError(f"reply must be a Reply, got {type(reply).__name__}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._cond:
            self._rules.append(_Rule(match, reply, times))

    def unknown_model(self, *names: str) -> None:
        """Requests for these models get 404 ``model_not_found``."""
        with self._cond:
            self._unknown.update(names)

    def clear(self) -> None:
        """Forget rules, unknown models and the request log (``seq`` keeps counting)."""
        with self._cond:
            self._rules.clear()
            self._unknown.clear()
            self._records.clear()

    # -- inspection -------------------------------------------------------- #

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the log of chat-completion calls, oldest first
        (in-flight calls included; their records keep updating)."""
        with self._cond:
            return list(self._records)

    def wait_for(self, predicate: Callable[[RequestRecord], bool], timeout: float) -> RequestRecord:
        """Block until a logged request satisfies ``predicate`` (checked on every
        log change, in-flight records included); return the first such record.
        Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self._records:
                    if predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(
                        f"#{r.seq} {r.model} status={r.status} completed={r.completed} aborted={r.aborted}"
                        for r in self._records
                    )
                    raise TimeoutError(f"no request matched within {timeout}s; log: [{seen}]")
                self._cond.wait(remaining)

    # -- internals used by the handler ------------------------------------- #

    def _log(self, request: ChatRequest, key: str | None = None) -> RequestRecord:
        with self._cond:
            self._seq += 1
            record = RequestRecord(
                seq=self._seq,
                key=key if key is not None else request.key,
                model=request.model,
                status=0,
                started=time.time(),
                finished=None,
                completed=False,
                aborted=False,
                request=request,
            )
            self._records.append(record)
            if request.model and request.model not in self._seen_models:
                self._seen_models.append(request.model)
            self._cond.notify_all()
            return record

    def _update(self, record: RequestRecord, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def _is_unknown(self, model: str) -> bool:
        with self._cond:
            return model in self._unknown

    def _listed_models(self) -> list[str]:
        with self._cond:
            names = [*DEFAULT_MODELS, *self._seen_models]
            unknown = set(self._unknown)
        return [n for n in dict.fromkeys(names) if n not in unknown]

    def _next_rule(self, request: ChatRequest, start: int) -> tuple[Reply | None, int]:
        """First rule at index >= start that matches and has uses left; consumes a use."""
        with self._cond:
            for index in range(start, len(self._rules)):
                rule = self._rules[index]
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if rule.match is not None and not rule.match(request):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.reply, index + 1
        return None, start


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (idle keep-alive clients would block stop())
    allow_reuse_address = True
    request_queue_size = 128
    owner: ScriptedLLM

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can hang for seconds on hosts without working DNS.
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("scripted LLM: error while serving %s", client_address, exc_info=True)


def _client_gone(sock: socket.socket) -> bool:
    """Non-blocking check: has the peer closed (or reset) the connection?"""
    try:
        if not _readable(sock, 0):
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def _readable(sock: socket.socket, timeout: float) -> bool:
    # poll() has no FD_SETSIZE limit (select() fails on fds >= 1024).
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(max(0, int(timeout * 1000))))
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body
    # waits for the client's delayed ACK (~40 ms per reply on loopback).
    disable_nagle_algorithm = True
    server_version = "scripted-llm/1.0"
    sys_version = ""
    timeout = _IDLE_KEEPALIVE_TIMEOUT
    server: _HTTPServer

    # -- plumbing ---------------------------------------------------------- #

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: no request logging to stderr

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    @property
    def llm(self) -> ScriptedLLM:
        return self.server.owner

    def _dispatch(self) -> None:
        try:
            raw = self._read_body()
        except _BodyTooLarge:
            self._send_error(413, "Request body too large.", code="request_too_large")
            self.close_connection = True
            return
        except (ValueError, OSError):
            self._send_error(400, "Could not read the request body.", code="invalid_body")
            self.close_connection = True
            return
        path = unquote(urlsplit(self.path).path).rstrip("/")
        try:
            if path in ("/v1/chat/completions", "/chat/completions"):
                if self.command == "POST":
                    self._chat_completions(raw)
                    return
            elif path in ("/v1/models", "/models") and self.command == "GET":
                self._send_json(200, {"object": "list", "data": [_model_object(n) for n in self.llm._listed_models()]})
                return
            elif path.startswith(("/v1/models/", "/models/")) and self.command == "GET":
                name = path.split("/models/", 1)[1]
                if self.llm._is_unknown(name):
                    self._send_error(404, _model_missing_message(name), code="model_not_found", param="model")
                else:
                    self._send_json(200, _model_object(name))
                return
            self._send_error(
                404,
                f"Unknown request URL: {self.command} {self.path}. Please check the URL for typos.",
                code="unknown_url",
            )
        except (BrokenPipeError, ConnectionError, _Aborted):
            self.close_connection = True
        except Exception:  # pragma: no cover - defensive: never kill the server thread silently
            log.warning("scripted LLM: internal error handling %s %s", self.command, self.path, exc_info=True)
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ValueError("truncated chunked body")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY_BYTES:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > _MAX_BODY_BYTES:
            raise _BodyTooLarge
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise ValueError("truncated body")
        return data

    # -- chat completions -------------------------------------------------- #

    def _chat_completions(self, raw: bytes) -> None:
        llm = self.llm
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            record = llm._log(ChatRequest(model=""), key=_sha256(raw))
            self._reject(
                record,
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                code="invalid_json",
            )
            return
        request = ChatRequest.from_body(body, {name.lower(): value for name, value in self.headers.items()})
        record = llm._log(request)
        if not isinstance(body.get("model"), str) or not body["model"]:
            self._reject(record, 400, "you must provide a model parameter", param="model", code="missing_required_parameter")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            self._reject(
                record, 400, "'messages' must be a non-empty array of message objects.", param="messages", code="invalid_value"
            )
            return
        if llm._is_unknown(request.model):
            self._reject(record, 404, _model_missing_message(request.model), param="model", code="model_not_found")
            return
        try:
            reply = self._choose_reply(request, record)
            if reply.delay:
                self._wait(reply.delay)
            if _client_gone(self.connection):
                raise _Aborted
            self._update(record, reply=reply)
            if reply.kind == "error":
                self._send_reply_error(record, reply)
            elif request.stream:
                self._send_stream(record, request, reply)
            else:
                self._send_completion(record, request, reply)
        except _Aborted:
            self._mark_aborted(record)
        except (BrokenPipeError, ConnectionError, socket.timeout):
            self._mark_aborted(record)
        except Exception as exc:
            log.warning("scripted LLM: brain or rule failed for request #%d", record.seq, exc_info=True)
            if record.status == 0:
                self._reject(record, 500, f"scripted LLM failed: {exc!r}", code="scripted_llm_error")
            else:
                self._mark_aborted(record)

    def _choose_reply(self, request: ChatRequest, record: RequestRecord) -> Reply:
        index = 0
        while True:
            reply, index = self.llm._next_rule(request, index)
            if reply is None:
                break
            if reply.kind != "hold":
                return reply
            self._wait(reply.delay)
        reply = _coerce_reply(self.llm.brain(request))
        if reply.kind == "hold":
            # Nothing after the brain to fall through to: hold, then play the demo.
            self._wait(reply.delay)
            reply = _coerce_reply(demo_brain(request))
            if reply.kind == "hold":
                reply = Reply.text("")
        return reply

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching the client socket; raise _Aborted as
        soon as the client disconnects or the server stops."""
        deadline = time.monotonic() + seconds
        peer_sent_data = False
        stopping = self.llm._stopping
        while True:
            if stopping.is_set():
                raise _Aborted
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, _POLL_INTERVAL)
            if peer_sent_data:
                # Unread bytes (a pipelined request) make the socket permanently
                # readable; we can no longer detect EOF by peeking, just sleep.
                time.sleep(step)
                continue
            try:
                if not _readable(self.connection, step):
                    continue
                if self.connection.recv(1, socket.MSG_PEEK) == b"":
                    raise _Aborted
                peer_sent_data = True
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise _Aborted from exc

    # -- writing ----------------------------------------------------------- #

    def _update(self, record: RequestRecord, **changes: Any) -> None:
        self.llm._update(record, **changes)

    def _mark_aborted(self, record: RequestRecord) -> None:
        self.close_connection = True
        self._update(
            record,
            aborted=True,
            completed=False,
            status=record.status or CLIENT_CLOSED_STATUS,
            finished=time.time(),
        )

    def _reject(self, record: RequestRecord, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        self._update(record, error=message)
        try:
            self._send_error(status, message, param=param, code=code, record=record)
        except (BrokenPipeError, ConnectionError, socket.timeout):
            self._mark_aborted(record)

    def _send_reply_error(self, record: RequestRecord, reply: Reply) -> None:
        headers = {}
        if reply.retry_after is not None:
            headers["Retry-After"] = _format_seconds(reply.retry_after)
            headers["retry-after-ms"] = str(int(round(reply.retry_after * 1000)))
        self._update(record, error=reply.message)
        self._send_error(reply.status, reply.message, code=reply.code, error_type=reply.error_type, headers=headers, record=record)

    def _send_error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
        record: RequestRecord | None = None,
    ) -> None:
        payload = {
            "error": {
                "message": message,
                "type": error_type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
                "param": param,
                "code": code,
            }
        }
        self._send_json(status, payload, headers=headers, record=record)

    def _send_json(
        self,
        status: int,
        payload: Any,
        *,
        headers: dict[str, str] | None = None,
        record: RequestRecord | None = None,
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._common_headers(record)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if record is None:
            self.wfile.write(data)
            self.wfile.flush()
        else:
            self._update(record, status=status)
            self._write_last(record, data)

    def _write_last(self, record: RequestRecord, data: bytes) -> None:
        """Write the response's final bytes. The record is marked completed
        just before, so a client that has read the whole response never sees
        a record that is not completed yet; a failed write un-marks it (the
        caller then marks it aborted)."""
        self._update(record, completed=True, finished=time.time())
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except BaseException:
            self._update(record, completed=False)
            raise

    def _common_headers(self, record: RequestRecord | None) -> None:
        if record is not None:
            self.send_header("x-request-id", f"req_scripted_{record.seq}")
        self.send_header("openai-processing-ms", "1")

    def _send_completion(self, record: RequestRecord, request: ChatRequest, reply: Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None, "refusal": None}
        calls = _materialize_calls(request, reply)
        if calls:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
            ]
        else:
            message["content"] = reply.content
        payload = {
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
        self._send_json(200, payload, record=record)

    def _send_stream(self, record: RequestRecord, request: ChatRequest, reply: Reply) -> None:
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
            for piece in _split_text(reply.content):
                yield chunk({"content": piece})
            for index, (cid, name, args) in enumerate(calls):
                yield chunk(
                    {"tool_calls": [{"index": index, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]}
                )
                for piece in _split_fixed(args, 24):
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            yield chunk({}, "tool_calls" if calls else "stop")
            if include_usage:
                yield {**base, "choices": [], "usage": _usage(request, reply, calls)}

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers(record)
        self.end_headers()
        self._update(record, status=200)
        for event in events():
            self._write_chunk(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode("utf-8"))
        done = b"data: [DONE]\n\n"
        self._write_last(record, b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


class _BodyTooLarge(Exception):
    pass


def _coerce_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    raise TypeError(f"brain must return a Reply or str, got {type(value).__name__}")


def _materialize_calls(request: ChatRequest, reply: Reply) -> list[tuple[str, str, str]]:
    """(id, name, raw args); ids are deterministic per (request, position)."""
    if reply.kind != "tool_calls":
        return []
    key = request.key
    return [
        (explicit or "call_" + _sha256(f"{key}:{index}:{name}")[:24], name, args)
        for index, (name, args, explicit) in enumerate(reply.calls)
    ]


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:29]


def _model_object(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "scripted-llm"}


def _model_missing_message(name: str) -> str:
    return f"The model `{name}` does not exist or you do not have access to it."


def _format_seconds(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _usage(request: ChatRequest, reply: Reply, calls: list[tuple[str, str, str]]) -> dict:
    prompt = 3  # reply priming
    for m in request.messages:
        prompt += 4 + _estimate_tokens(_text_of(m.get("content")))
        if m.get("tool_calls"):
            prompt += _estimate_tokens(_canonical_json(m["tool_calls"]))
    if request.tools:
        prompt += _estimate_tokens(_canonical_json(request.tools))
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


def _split_text(text: str, target: int = 16) -> list[str]:
    """Split text into word-aligned pieces of roughly ``target`` chars; they
    concatenate back to exactly ``text``."""
    pieces: list[str] = []
    current = ""
    for token in re.split(r"(\s+)", text):
        current += token
        if len(current) >= target:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _split_fixed(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --------------------------------------------------------------------------- #
# The offline demo: the "qa" profile
# --------------------------------------------------------------------------- #

#: subagent_type -> (kind used in /scenarios/<kind>.md, human title)
DEMO_SPECIALISTS: dict[str, tuple[str, str]] = {
    "e2e_test_specialist": ("e2e", "End-to-end tests"),
    "integration_test_specialist": ("integration", "Integration tests"),
    "functional_test_specialist": ("functional", "Functional tests"),
}

_SYNTHESIZE_TODO = "Synthesize the test strategy"

_SPECIALTY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("e2e", ("end-to-end", "end to end", "e2e")),
    ("integration", ("integration",)),
    ("functional", ("functional",)),
)

_DOMAINS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (
        ("checkout", "payment", "cart", "order", "billing", "invoice", "subscription", "stripe", "refund"),
        {
            "actor": "a signed-in customer with items in the cart",
            "failure": "the payment provider declines the card",
            "record": "order",
            "event": "OrderPlaced",
            "dependency": "the payment gateway",
            "fixtures": "a test customer, three in-stock products and sandbox cards (one valid, one declined)",
            "risk": "double charges or orders without payment when the payment provider is slow or retried",
            "journey": "add products to the cart, check out and pay",
            "outcome": "the order confirmation matches the persisted order and the payment is captured exactly once",
            "resume": "their cart is intact and paying again does not create a second order",
            "failure_then": "the user sees a clear error, no order is created without payment, and paying with another card completes the purchase exactly once",
            "valid_then": "the order total, taxes and line items are computed exactly and the order is stored",
            "boundaries": "quantities of zero, one and the maximum, a total of exactly 0.00, the largest allowed amount and a currency without minor units",
        },
    ),
    (
        ("login", "log in", "sign in", "sign-in", "signin", "auth", "password", "sso", "oauth", "registration",
         "register", "sign up", "signup", "account", "onboarding"),
        {
            "actor": "a registered user",
            "failure": "the identity provider is unreachable",
            "record": "user account",
            "event": "UserSignedIn",
            "dependency": "the identity provider",
            "fixtures": "active, locked and unverified test accounts",
            "risk": "account takeover through weak lockout, session fixation or token leakage",
            "journey": "register, confirm their email address and sign in",
            "outcome": "they land on their account page with a valid session and the welcome email was sent once",
            "resume": "they are asked to sign in again and return to the page they were on",
            "failure_then": "the user sees a clear message, no half-created account remains, and a retry succeeds",
            "valid_then": "the account is created and the user can sign in with the new credentials",
            "boundaries": "passwords at the minimum and maximum length, email addresses with plus-addressing and Unicode display names",
        },
    ),
    (
        ("upload", "file", "image", "photo", "document", "attachment", "import", "export", "csv"),
        {
            "actor": "a signed-in user with a valid file",
            "failure": "the upload is interrupted halfway through",
            "record": "stored file",
            "event": "FileStored",
            "dependency": "object storage",
            "fixtures": "valid, oversized, empty and corrupt sample files",
            "risk": "corrupt or orphaned files after interrupted uploads",
            "journey": "upload a file, see it in their list and download it again",
            "outcome": "the downloaded file is byte-identical to the uploaded one",
            "resume": "the upload resumes or restarts cleanly without storing the file twice",
            "failure_then": "the user is told the upload failed, no partial file is stored, and retrying stores the file once",
            "valid_then": "the file is accepted and its name, size and type are stored correctly",
            "boundaries": "an empty file, a file exactly at the size limit, one byte over it and a file name with Unicode characters",
        },
    ),
    (
        ("search", "filter", "catalog", "catalogue", "product", "listing", "recommend"),
        {
            "actor": "a shopper browsing the catalogue",
            "failure": "the search index is unavailable",
            "record": "product",
            "event": "ProductIndexed",
            "dependency": "the search index",
            "fixtures": "a seeded catalogue of about 50 products with known titles, categories, prices and stock",
            "risk": "stale or missing results after catalogue updates, and relevance regressions nobody notices",
            "journey": "search by keyword, refine the results with filters and open a product",
            "outcome": "the results contain exactly the matching products in relevance order, the filter counts add up and the product page opens",
            "resume": "their query, filters and result page are restored from the URL",
            "failure_then": "the user sees a friendly \"search is temporarily unavailable\" message with category browsing as a fallback, and search works again as soon as the index is back",
            "valid_then": "the results match the query and filters, and every result shows its title, price and stock",
            "boundaries": "an empty query, a one-character query, a 256-character query, special characters and non-Latin scripts",
        },
    ),
    (
        ("email", "notification", "sms", "push", "message", "chat", "webhook"),
        {
            "actor": "a user with notifications enabled",
            "failure": "the messaging provider times out",
            "record": "notification",
            "event": "NotificationSent",
            "dependency": "the messaging provider",
            "fixtures": "test recipients and a provider sandbox or local mail catcher",
            "risk": "lost or duplicated notifications when the provider is slow",
            "journey": "trigger the notification and open it",
            "outcome": "exactly one notification arrives, with the expected content and working links",
            "resume": "no notification is sent twice",
            "failure_then": "the notification is queued and delivered once the provider recovers, never twice",
            "valid_then": "the message is rendered with the recipient's data and sent to the right channel",
            "boundaries": "an empty optional template field, the maximum message length and non-Latin characters",
        },
    ),
    (
        ("api", "endpoint", "rest", "graphql", "service", "microservice", "backend"),
        {
            "actor": "an API client with a valid token",
            "failure": "a downstream service returns 503",
            "record": "resource",
            "event": "ResourceChanged",
            "dependency": "the downstream service",
            "fixtures": "API tokens with and without the required scopes, and seeded resources",
            "risk": "breaking contract changes reaching consumers",
            "journey": "create, read, update and delete a resource through the public API",
            "outcome": "every call returns the documented status and body and the resource ends up deleted",
            "resume": "the client refreshes its token and retries without creating the resource twice",
            "failure_then": "the API answers 503 with Retry-After, nothing is half-written, and a retry succeeds exactly once",
            "valid_then": "the documented status code and response body are returned",
            "boundaries": "page sizes 0, 1 and the maximum, the longest allowed identifiers and unknown query parameters",
        },
    ),
)

_DEFAULT_DOMAIN = {
    "actor": "a typical user",
    "failure": "a downstream dependency is unavailable",
    "record": "record",
    "event": "the domain event",
    "dependency": "the downstream dependency",
    "fixtures": "representative seeded test data",
    "risk": "regressions in the main flow going unnoticed until production",
    "journey": "complete {subject} from start to finish",
    "outcome": "every step succeeds and what the user is shown matches what is stored",
    "resume": "their progress is restored or safely restarted, with no duplicate data",
    "failure_then": "the user sees a clear, actionable error, nothing is half-written, and retrying succeeds exactly once",
    "valid_then": "the request succeeds and the stored data reflects exactly the submitted values",
    "boundaries": "empty and maximum-length text, zero and negative numbers, and unusual Unicode",
}


def demo_brain(req: ChatRequest) -> Reply:
    """Offline demo of the "qa" profile, derived only from the request.

    Supervisor (has a ``task`` tool): plan with ``write_todos`` -> delegate to
    the three specialists in parallel -> mark todos completed -> final test
    strategy aggregating the specialists' results. Specialist (no ``task``
    tool): save scenarios with ``write_file`` (if offered) -> final answer with
    Given/When/Then scenarios for its specialty. Never raises.
    """
    try:
        if "task" in req.tool_names:
            return _demo_supervisor(req)
        return _demo_specialist(req)
    except Exception as exc:  # the demo must never crash the server
        log.debug("demo brain fell back to plain text", exc_info=True)
        subject = _safe_subject(req)
        return Reply.text(
            f"I could not complete the scripted demo flow for {subject} ({type(exc).__name__}). "
            "Set OPENAI_API_KEY to use a real model."
        )


def _safe_subject(req: ChatRequest) -> str:
    try:
        return _subject_of(req.last_user_text) if req.last_user_text.strip() else "this request"
    except Exception:
        return "this request"


def _current_exchange(messages: list[dict]) -> list[dict]:
    """Messages since the last finished assistant turn (an assistant message
    with text and no tool calls): the work on the most recent user request.
    Empty assistant replies do not end a turn."""
    start = 0
    for index, m in enumerate(messages):
        if m.get("role") == "assistant" and not m.get("tool_calls") and _text_of(m.get("content")).strip():
            start = index + 1
    return messages[start:]


def _request_text(exchange: list[dict], req: ChatRequest) -> str:
    for m in exchange:
        if m.get("role") == "user":
            text = _text_of(m.get("content")).strip()
            if text:
                return text
    return req.last_user_text.strip()


# -- supervisor ------------------------------------------------------------- #


def _demo_supervisor(req: ChatRequest) -> Reply:
    exchange = _current_exchange(req.messages)
    request_text = _request_text(exchange, req)
    if not request_text:
        return Reply.text("What should I prepare a test strategy for? Describe the feature or system to test.")
    subject = _subject_of(request_text)

    specialists = _offered_specialists(req)
    has_todos = "write_todos" in req.tool_names
    calls = _tool_calls_in(exchange)
    task_calls = [c for c in calls if c.name == "task"]
    todo_calls = [c for c in calls if c.name == "write_todos"]
    # A delegation counts once it was well-formed; rejected ones are redone.
    delegated = {
        c.args.get("subagent_type")
        for c in task_calls
        if isinstance(c.args, dict) and isinstance(c.args.get("description"), str) and c.args["description"].strip()
    }
    pending = [name for name in specialists if name not in delegated]

    # (1) plan
    if has_todos and not todo_calls and not task_calls:
        todos = [
            {"content": _todo_text(name), "status": "in_progress" if i == 0 else "pending"}
            for i, name in enumerate(specialists)
        ] + [{"content": _SYNTHESIZE_TODO, "status": "pending"}]
        return Reply.tool_calls(
            [("write_todos", {"todos": todos})],
            content=f"I'll plan the QA work for {subject} and delegate each test layer to a specialist.",
        )
    # (2) delegate, in parallel
    if pending and len(pending) == len(specialists):
        delegations: list[tuple[str, dict]] = []
        if has_todos:
            todos = [{"content": _todo_text(n), "status": "in_progress"} for n in specialists]
            todos.append({"content": _SYNTHESIZE_TODO, "status": "pending"})
            delegations.append(("write_todos", {"todos": todos}))
        for name in pending:
            delegations.append(("task", {"description": _delegation_text(name, request_text, subject), "subagent_type": name}))
        return Reply.tool_calls(
            delegations,
            content="Delegating to the " + _human_list([_short_title(n) for n in pending]) + " test specialists in parallel.",
        )
    # (3) close the todo list
    last_todos = _todos_of(todo_calls[-1]) if todo_calls else None
    if has_todos and (last_todos is None or any(t.get("status") != "completed" for t in last_todos)):
        base = last_todos or [{"content": _todo_text(n)} for n in specialists] + [{"content": _SYNTHESIZE_TODO}]
        todos = [{"content": str(t.get("content") or "Task"), "status": "completed"} for t in base]
        return Reply.tool_calls(
            [("write_todos", {"todos": todos})],
            content="The specialists have reported back; compiling the test strategy.",
        )
    # (4) final answer
    return Reply.text(_strategy_markdown(request_text, subject, exchange, task_calls))


def _offered_specialists(req: ChatRequest) -> list[str]:
    schema = _canonical_json(req.tool_schema("task") or {})
    offered = [name for name in DEMO_SPECIALISTS if name in schema]
    return offered or list(DEMO_SPECIALISTS)


def _todo_text(name: str) -> str:
    return f"Get {_short_title(name)} test scenarios from {name}"


def _short_title(name: str) -> str:
    return DEMO_SPECIALISTS.get(name, (name, name))[1].replace(" tests", "").lower()


def _delegation_text(name: str, request_text: str, subject: str) -> str:
    kind = DEMO_SPECIALISTS.get(name, ("general", ""))[0]
    focus = {
        "e2e": (
            f"Design end-to-end test scenarios for {subject}. Cover the critical user journeys through the "
            "whole deployed stack (user interface or public API down to persistence and back): the happy path, "
            "a failure-and-recovery journey and an interrupted session."
        ),
        "integration": (
            f"Design integration test scenarios for {subject}. Focus on the contracts between the components "
            "involved (service API, database, message broker, third-party providers): persistence round-trips, "
            "timeouts and retries with idempotency, published events and API contract compatibility."
        ),
        "functional": (
            f"Design functional test scenarios for {subject}. Verify each requirement in isolation: valid input, "
            "required fields and validation messages, boundary values, business rules and authorization."
        ),
    }.get(kind, f"Design test scenarios for {subject}.")
    return (
        f"{focus} Write 3-5 scenarios in Given/When/Then form, each with a priority (P0-P2) and the test data "
        f'it needs.\n\nOriginal request: "{_one_line(request_text, 400)}"'
    )


def _todos_of(call: ToolCall) -> list[dict] | None:
    args = call.args
    if isinstance(args, dict) and isinstance(args.get("todos"), list):
        return [t for t in args["todos"] if isinstance(t, dict)]
    return None


def _strategy_markdown(request_text: str, subject: str, exchange: list[dict], task_calls: list[ToolCall]) -> str:
    results = {r.tool_call_id: r.content for r in _tool_results_in(exchange)}
    domain = _domain_of(request_text)
    sections: list[str] = []
    layers: list[str] = []
    files: list[str] = []
    problems: list[str] = []
    # One section per sub-agent: its latest successful delegation, else its
    # latest attempt. Rejected delegations (bad arguments, unknown sub-agent)
    # were redone and are left out.
    chosen: dict[str, ToolCall] = {}
    for call in task_calls:
        args = call.args if isinstance(call.args, dict) else {}
        name = str(args.get("subagent_type") or "")
        failed = results.get(call.id, "").lstrip().startswith("Error")
        if not name or not str(args.get("description") or "").strip() or (failed and name not in DEMO_SPECIALISTS):
            continue
        previous = chosen.get(name)
        if previous is None or not failed or results.get(previous.id, "").lstrip().startswith("Error"):
            chosen[name] = call
    for name, call in chosen.items():
        title = DEMO_SPECIALISTS.get(name, (name, name.replace("_", " ").capitalize()))[1]
        content = results.get(call.id, "").strip()
        if not content:
            body = f"_{name} returned no result._"
            problems.append(name)
        elif content.startswith("Error"):
            body = f"_{name} could not deliver its scenarios:_\n\n> {_one_line(content, 600)}"
            problems.append(name)
        else:
            files += re.findall(r"/scenarios/[\w.-]+\.md", content)
            body = _as_section_body(_truncate(content, 8000))
        layers.append(title.lower())
        sections.append(f"## {title} (`{name}`)\n\n{body}")

    risks = [
        f"- **{_capitalize(domain['risk'])}.** Covered by the failure-path and idempotency scenarios below.",
        f"- **Environment drift:** end-to-end results are only meaningful on a staging stack that mirrors "
        f"production versions of {domain['dependency']} and the database.",
        "- **Flaky tests eroding trust:** quarantine a flaky test with an owner and a fix date instead of "
        "retrying it silently.",
    ]
    if problems:
        risks.insert(0, f"- **Coverage gap:** no scenarios from {', '.join(problems)}; rerun that specialist "
                        "before relying on this strategy.")
    parts = [
        f"# Test strategy: {_capitalize(subject)}",
        f"> {_one_line(request_text, 500)}",
        "## Scope and approach\n\n"
        f"The strategy follows the test pyramid for {subject}: many fast functional checks, a focused set of "
        "integration tests at component boundaries, and a few end-to-end journeys that prove the deployed system "
        f"works for real users. It combines {_human_list(layers) or 'the delegated test layers'}, each prepared "
        "by a dedicated specialist; their scenarios follow, grouped by layer.",
        *sections,
        "## Priorities and what to automate first\n\n"
        "1. **P0 functional scenarios** (valid input, validation, authorization): cheap, fast and they catch "
        "most regressions. Run on every commit.\n"
        "2. **P0 integration scenarios** (persistence round-trip, timeout and retry): run on every pull request "
        "with real infrastructure in containers.\n"
        "3. **The end-to-end happy path and failure-recovery journeys** as the release smoke test on staging.\n"
        "4. The P1/P2 scenarios as the regular nightly suite.",
        "## Risks\n\n" + "\n".join(risks),
        "## Execution plan\n\n"
        "| Layer | Runs | Environment | Gate |\n"
        "|---|---|---|---|\n"
        "| Functional | every commit | in-process, external I/O stubbed | blocks merge |\n"
        "| Integration | every pull request | real database and broker in containers, third parties stubbed | blocks merge |\n"
        "| End-to-end | nightly and before each release | production-like staging with seeded data | blocks release |",
        "## Exit criteria\n\n"
        "- All P0 and P1 scenarios pass; no open severity-1 or severity-2 defects.\n"
        "- The end-to-end happy path and failure-recovery journeys pass on staging.\n"
        "- Every defect found gets a regression test at the lowest layer that can catch it.",
    ]
    if files:
        parts.append("Scenario files: " + ", ".join(f"`{f}`" for f in dict.fromkeys(files)) + ".")
    return "\n\n".join(parts) + "\n"


def _as_section_body(markdown: str) -> str:
    """A specialist's answer placed under a ``##`` heading: its own title line
    is dropped and its headings start at level 3."""
    lines = markdown.splitlines()
    if lines and re.match(r"#\s", lines[0]):
        lines = lines[1:]
    body = "\n".join(lines).strip()
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", body, re.M)]
    shift = 3 - min(levels) if levels and min(levels) < 3 else 0
    if shift:
        body = re.sub(r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m.group(1)) + shift), body, flags=re.M)
    return body


# -- specialists ------------------------------------------------------------ #


def _demo_specialist(req: ChatRequest) -> Reply:
    exchange = _current_exchange(req.messages)
    request_text = _request_text(exchange, req)
    if not request_text:
        return Reply.text("Describe the feature or system you want tested and I will propose test scenarios.")
    kind = _specialty(req.system_prompt) or _specialty(request_text) or "general"
    original = _original_request(request_text)
    subject = _subject_of(original)
    document = _scenarios_markdown(kind, subject, original)
    path = f"/scenarios/{kind}.md"

    write_schema = req.tool_schema("write_file")
    write_calls = [c for c in _tool_calls_in(exchange) if c.name == "write_file"]
    if write_schema is not None and not write_calls:
        parameters = write_schema.get("parameters")
        props = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
        path_key = "path" if "path" in props and "file_path" not in props else "file_path"
        return Reply.tool_calls(
            [("write_file", {path_key: path, "content": document})],
            content=f"Saving the {_KIND_TITLES[kind].lower()} to {path}.",
        )
    note = ""
    if write_calls:
        outcome = {r.tool_call_id: r.content for r in _tool_results_in(exchange)}.get(write_calls[-1].id, "")
        if re.search(r"\berror\b|\bfailed\b", outcome, re.I):
            note = f"\n\nNote: saving to `{path}` failed ({_one_line(outcome, 200)}); the scenarios are above."
        else:
            note = f"\n\nSaved to `{path}`."
    return Reply.text(document + note)


def _specialty(text: str) -> str | None:
    lowered = text.lower()
    for name, (kind, _) in DEMO_SPECIALISTS.items():
        if name in lowered:
            return kind
    best: tuple[int, str] | None = None
    for kind, words in _SPECIALTY_KEYWORDS:
        for word in words:
            match = re.search(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", lowered)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), kind)
    return best[1] if best else None


def _original_request(task_text: str) -> str:
    """The user's request quoted in a delegation, or the task text itself."""
    match = re.search(r'Original request:\s*"(.+)"\s*$', task_text, re.S)
    return (match.group(1) if match else task_text).strip()


_KIND_TITLES = {
    "e2e": "End-to-end test scenarios",
    "integration": "Integration test scenarios",
    "functional": "Functional test scenarios",
    "general": "Test scenarios",
}
_KIND_PREFIX = {"e2e": "E2E", "integration": "INT", "functional": "FUN", "general": "TC"}


@dataclass(frozen=True)
class _Scenario:
    title: str
    priority: str
    given: str
    when: str
    then: str
    data: str


def _scenarios_markdown(kind: str, subject: str, request_text: str) -> str:
    domain = _domain_of(request_text)
    parts = _components_of(subject)
    core = _core_of(subject)
    builder = {
        "e2e": _e2e_scenarios,
        "integration": _integration_scenarios,
        "functional": _functional_scenarios,
    }.get(kind, _general_scenarios)
    scenarios = builder(subject, core, parts, domain)[:5]
    scope = {
        "e2e": f"the critical user journeys of {subject}, run on a production-like environment through the "
        "same entry points real users have.",
        "integration": f"the component boundaries of {subject}: service API, persistence, messaging and "
        f"{domain['dependency']}, with real infrastructure in containers.",
        "functional": f"each requirement of {subject} verified in isolation, with external I/O stubbed.",
        "general": f"the core behaviour of {subject}.",
    }[kind]
    lines = [f"# {_KIND_TITLES[kind]}: {_capitalize(subject)}", "", f"**Scope:** {_capitalize(scope)}", ""]
    prefix = _KIND_PREFIX[kind]
    for number, s in enumerate(scenarios, start=1):
        lines += [
            f"### {prefix}-{number} ({s.priority}): {_capitalize(s.title)}",
            f"- **Given** {s.given}",
            f"- **When** {s.when}",
            f"- **Then** {s.then}",
            f"- **Test data:** {s.data}",
            "",
        ]
    p0 = [f"{prefix}-{n}" for n, s in enumerate(scenarios, start=1) if s.priority == "P0"]
    lines.append(f"**Automate first:** {_human_list(p0)}." if p0 else "")
    return "\n".join(lines).rstrip() + "\n"


def _e2e_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    out = [
        _Scenario(
            f"happy path through {core}",
            "P0",
            f"{d['actor']} on a production-like environment",
            f"they {d['journey'].replace('{subject}', core)} through the user interface",
            f"{d['outcome']}, and no service logs an error",
            d["fixtures"],
        )
    ]
    for part in parts[1:3]:
        out.append(
            _Scenario(
                f"journey covering {part}",
                "P1",
                f"{d['actor']} part-way through {core}",
                f"they complete the {part} step",
                f"the result of the {part} step is visible to the user and in every downstream system "
                "within the agreed SLA",
                d["fixtures"],
            )
        )
    out += [
        _Scenario(
            "failure and recovery",
            "P0",
            f"{d['actor']} in the middle of {core}",
            d["failure"],
            d["failure_then"],
            f"{d['fixtures']}; a fault-injection switch for {d['dependency']}",
        ),
        _Scenario(
            "interrupted session",
            "P2",
            f"{d['actor']} whose session expires, or whose browser is refreshed, during {core}",
            "they sign in again and resume",
            d["resume"],
            "a test account with a short session lifetime",
        ),
    ]
    return out


def _integration_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    return [
        _Scenario(
            f"persistence round-trip for {core}",
            "P0",
            f"the service behind {core} connected to a real database in a container",
            f"{_a(d['record'])} is created, updated and read back through the service API",
            "every field round-trips unchanged and unique and foreign-key constraints are enforced",
            "an empty schema migrated to the current version",
        ),
        _Scenario(
            f"timeout and retry against {d['dependency']}",
            "P0",
            f"{d['dependency']} stubbed to answer only after the client timeout",
            f"{core} calls it",
            "the call times out, is retried with backoff, and the idempotency key prevents a duplicate side effect",
            f"a programmable stub of {d['dependency']} with configurable latency",
        ),
        _Scenario(
            f"{d['event']} is published exactly once",
            "P1",
            f"a consumer subscribed to {d['event']}",
            f"{core} completes successfully",
            "exactly one message with the documented schema is published, and a redelivered message "
            "is de-duplicated by the consumer",
            "a broker in a container and a recording test consumer",
        ),
        _Scenario(
            "API contract compatibility",
            "P1",
            f"the consumer-driven contracts for {core}",
            "the provider is built and verified against them",
            "the contract tests pass, and removing or renaming a field fails the build",
            "the published consumer contracts",
        ),
        _Scenario(
            "rollback on partial failure",
            "P1",
            f"a failure injected in the second write of {core}",
            "the operation aborts",
            f"no partial {d['record']} is committed and the caller receives a clear error",
            "a fault-injecting repository wrapper",
        ),
    ]


def _functional_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    rule_target = parts[1] if len(parts) > 1 else core
    return [
        _Scenario(
            f"valid input for {core}",
            "P0",
            f"{d['actor']} and complete, valid input for {core}",
            "it is submitted",
            d["valid_then"],
            d["fixtures"],
        ),
        _Scenario(
            "required fields and validation messages",
            "P0",
            f"input for {core} with a required field missing or malformed",
            "it is submitted",
            "it is rejected with a field-specific validation message and nothing is saved",
            "one invalid variant per required field",
        ),
        _Scenario(
            "boundary values",
            "P1",
            f"values at the minimum, at the maximum and just outside the allowed range: {d['boundaries']}",
            "each value is submitted",
            "in-range values are accepted and out-of-range values are rejected with the same message every time",
            "a table of boundary values per field",
        ),
        _Scenario(
            f"business rules of {rule_target}",
            "P1",
            f"the documented business rules for {rule_target}",
            "each rule is exercised with one case that satisfies it and one that violates it",
            "the satisfying case succeeds and the violating case is refused with the documented reason",
            "one example pair per rule",
        ),
        _Scenario(
            "authorization",
            "P0",
            "a user without the required permission",
            f"they attempt to use {core}",
            "access is denied (HTTP 403 or a disabled action) and the attempt is audited",
            "test accounts with and without the permission",
        ),
    ]


def _general_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    return [
        _Scenario(
            f"main flow of {core}",
            "P0",
            f"{d['actor']} and valid input",
            f"they use {core}",
            f"the expected result is shown and the {d['record']} is stored correctly",
            d["fixtures"],
        ),
        _Scenario(
            "invalid input",
            "P0",
            "missing or malformed input",
            "it is submitted",
            "a clear validation error is shown and no data changes",
            "one invalid variant per field",
        ),
        _Scenario(
            "dependency failure",
            "P1",
            d["failure"],
            f"{core} is used",
            "the user gets a helpful error, nothing is half-written, and the operation can be retried safely",
            f"a fault-injection switch for {d['dependency']}",
        ),
    ]


# -- text helpers ----------------------------------------------------------- #

_SUBJECT_AFTER = re.compile(
    r"\b(?:tests?|testing|qa|strategy|plan|suite|scenarios?|cases?|coverage|checks?)\b"
    r"[^.?!\n]{0,40}?\b(?:for|of|covering|around|on)\s+(?P<subject>.+)",
    re.I | re.S,
)
_SUBJECT_VERB = re.compile(
    r"^(?:please\s+)?(?:how\s+(?:should|do|can|would|could)\s+(?:we|i)\s+|help\s+me\s+)?"
    r"(?:test|verify|validate)\s+(?P<subject>.+)",
    re.I | re.S,
)
_DETERMINERS = {
    "the", "a", "an", "our", "my", "your", "their", "its", "his", "her", "this", "that", "these",
    "those", "each", "every", "all", "any", "some", "both",
}
_SPLIT_PARTS = re.compile(r",\s*|;\s*|\s+and\s+|\s+with\s+|\s+including\s+|\s+plus\s+|\s+as well as\s+", re.I)


def _subject_of(request_text: str) -> str:
    """A short noun phrase naming what is to be tested ("the checkout flow")."""
    text = _one_line(request_text, 1000)
    first_sentence = re.split(r"(?<=[.?!])\s+", text, maxsplit=1)[0]
    subject = first_sentence
    match = _SUBJECT_AFTER.search(first_sentence)
    if match and match.start() < 80:
        subject = match.group("subject")
    else:
        match = _SUBJECT_VERB.match(first_sentence)
        if match:
            subject = match.group("subject")
    subject = subject.strip().rstrip(".?!:;,").strip().strip("\"'`").strip()
    if not subject:
        return "the system under test"
    first_word = subject.split(" ", 1)[0]
    if first_word.lower() in ("a", "an"):
        subject = "the " + subject.split(" ", 1)[1] if " " in subject else subject
    elif first_word.lower() not in _DETERMINERS and first_word[:1].islower():
        subject = "the " + subject
    return _truncate_words(subject, 90)


def _core_of(subject: str) -> str:
    """The head of the subject: "the checkout flow" for "the checkout flow with payments"."""
    head = _SPLIT_PARTS.split(subject, maxsplit=1)[0].strip()
    return head if len(head) >= 3 else subject


def _components_of(subject: str) -> list[str]:
    parts: list[str] = []
    for piece in _SPLIT_PARTS.split(subject):
        piece = re.sub(r"^(?:and|or|the|a|an)\s+", "", piece.strip(), flags=re.I).strip(" .…")
        if len(piece) >= 3 and piece.lower() not in (p.lower() for p in parts):
            parts.append(piece)
    return parts[:3] or [subject]


def _domain_of(text: str) -> dict[str, str]:
    lowered = text.lower()
    for words, domain in _DOMAINS:
        if any(re.search(r"(?<![a-z])" + re.escape(w), lowered) for w in words):
            return domain
    return _DEFAULT_DOMAIN


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _one_line(text: str, limit: int) -> str:
    return _truncate(re.sub(r"\s+", " ", text).strip(), limit)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _truncate_words(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _human_list(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _capitalize(text: str) -> str:
    """Sentence case for headings: drops a leading "the" and upper-cases the first letter."""
    text = re.sub(r"^the\s+", "", text, flags=re.I)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- #
# Standalone
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> None:
    import signal

    parser = argparse.ArgumentParser(description="Serve the scripted demo model (OpenAI-compatible) on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    llm = ScriptedLLM(host=args.host, port=args.port)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"scripted demo model at {llm.start()} (Ctrl-C to stop)", flush=True)
    try:
        while not done.wait(1.0):
            pass
    finally:
        llm.stop()


if __name__ == "__main__":
    main()
