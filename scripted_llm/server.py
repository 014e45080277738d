"""The scripted model's server: :class:`ScriptedLLM` and its HTTP plumbing.

A stdlib ``http.server.ThreadingHTTPServer`` on loopback, served from a
daemon thread, so it works whatever event loop the caller runs, including
from a process whose asyncio loop is busy or blocked. Each chat-completion
call is logged as a :class:`~scripted_llm.script.RequestRecord` whose
``completed`` / ``aborted`` say whether the response really reached a
still-connected client: the handler watches the socket while it delays and
marks a record completed just before its last bytes are written.

Endpoints: ``POST /v1/chat/completions`` (plain and ``stream: true`` SSE, with
a usage chunk when ``stream_options.include_usage``, the text's pieces
``Reply.stream_gap`` seconds apart), ``POST /v1/embeddings``
(``scripted_llm/embeddings.py``), ``GET /v1/models`` and ``GET /v1/models/{id}``.
Anything else gets an OpenAI-shaped error body.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from deepagents_temporal.digest import sha256_hex
from scripted_llm.chat_request import ChatRequest
from scripted_llm.demo_brain import demo_brain
from scripted_llm.embeddings import embeddings_response
from scripted_llm.openai_format import (
    completion_body,
    error_body,
    model_missing_message,
    model_object,
    retry_headers,
    stream_chunks,
)
from scripted_llm.script import CLIENT_CLOSED_STATUS, Reply, RequestRecord, Rule, as_reply

log = logging.getLogger(__name__)

#: Models listed by ``GET /v1/models`` (besides every model seen in a request).
DEFAULT_MODELS: tuple[str, ...] = ("scripted-demo", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")

_MAX_BODY_BYTES = 64 * 1024 * 1024
_POLL_INTERVAL = 0.05  # seconds between disconnect / stop checks while delaying
_IDLE_KEEPALIVE_TIMEOUT = 120.0  # seconds a kept-alive connection may sit idle


def _carries_text(event: dict) -> bool:
    choices = event.get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


class _Aborted(Exception):
    """The client went away (or the server is stopping) before we answered."""


class _BodyTooLarge(Exception):
    pass


class ScriptedLLM:
    """Scripted OpenAI-compatible server on loopback. See the package docstring.

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
        self._rules: list[Rule] = []
        self._unknown: set[str] = set()
        self._records: list[RequestRecord] = []
        self._seen_models: list[str] = []
        # Texts sent to /v1/embeddings, in order (never cleared by clear()).
        self.embedded_texts: list[str] = []
        self._seq = 0
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._paused = threading.Event()
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

    def __enter__(self) -> ScriptedLLM:
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
            self._rules.append(Rule(match, reply, times))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every answer (of any call, new or in flight) until the block ends:
        nothing is sent meanwhile, and a client that goes away is logged aborted.
        Lets a test act at a moment when no answer is on its way."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

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
            elif path in ("/v1/embeddings", "/embeddings"):
                if self.command == "POST":
                    self._embeddings(raw)
                    return
            elif path in ("/v1/models", "/models") and self.command == "GET":
                self._send_json(200, {"object": "list", "data": [model_object(n) for n in self.llm._listed_models()]})
                return
            elif path.startswith(("/v1/models/", "/models/")) and self.command == "GET":
                name = path.split("/models/", 1)[1]
                if self.llm._is_unknown(name):
                    self._send_error(404, model_missing_message(name), code="model_not_found", param="model")
                else:
                    self._send_json(200, model_object(name))
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

    # -- embeddings -------------------------------------------------------- #

    def _embeddings(self, raw: bytes) -> None:
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError):
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        if isinstance(model, str) and self.llm._is_unknown(model):
            self._send_error(404, model_missing_message(model), code="model_not_found", param="model")
            return
        status, answer = embeddings_response(body)
        if status == 200:
            inputs = body["input"]
            with self.llm._cond:
                self.llm.embedded_texts.extend([inputs] if isinstance(inputs, str) else inputs)
        self._send_json(status, answer)

    # -- chat completions -------------------------------------------------- #

    def _chat_completions(self, raw: bytes) -> None:
        llm = self.llm
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            record = llm._log(ChatRequest(model=""), key=sha256_hex(raw))
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
            self._reject(
                record, 400, "you must provide a model parameter", param="model", code="missing_required_parameter"
            )
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            self._reject(
                record,
                400,
                "'messages' must be a non-empty array of message objects.",
                param="messages",
                code="invalid_value",
            )
            return
        if llm._is_unknown(request.model):
            self._reject(record, 404, model_missing_message(request.model), param="model", code="model_not_found")
            return
        try:
            reply = self._choose_reply(request, record)
            if reply.delay:
                self._wait(reply.delay)
            while self.llm._paused.is_set():
                self._wait(_POLL_INTERVAL)
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
        except (TimeoutError, BrokenPipeError, ConnectionError):
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
        reply = as_reply(self.llm.brain(request))
        if reply.kind == "hold":
            # Nothing after the brain to fall through to: hold, then play the demo.
            self._wait(reply.delay)
            reply = as_reply(demo_brain(request))
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

    def _reject(
        self, record: RequestRecord, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        self._update(record, error=message)
        try:
            self._send_error(status, message, param=param, code=code, record=record)
        except (TimeoutError, BrokenPipeError, ConnectionError):
            self._mark_aborted(record)

    def _send_reply_error(self, record: RequestRecord, reply: Reply) -> None:
        headers = retry_headers(reply.retry_after)
        message = reply.message
        if reply.echo_authorization:
            message = f"{message}: {self.headers.get('Authorization', '(no Authorization header)')}"
        self._update(record, error=message)
        self._send_error(
            reply.status, message, code=reply.code, error_type=reply.error_type, headers=headers, record=record
        )

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
        payload = error_body(status, message, param=param, code=code, error_type=error_type)
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
        self._send_json(200, completion_body(request, reply), record=record)

    def _send_stream(self, record: RequestRecord, request: ChatRequest, reply: Reply) -> None:
        events = stream_chunks(request, reply)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers(record)
        self.end_headers()
        self._update(record, status=200)
        for event in events:
            self._write_chunk(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
            if reply.stream_gap and _carries_text(event):
                self._wait(reply.stream_gap)
        done = b"data: [DONE]\n\n"
        self._write_last(record, b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
