"""`codec-server`: Temporal's remote codec endpoints for encrypted payloads.

With ``DEEPAGENT_PAYLOAD_KEY`` set, histories hold only ciphertext. This
command serves ``POST /encode`` and ``POST /decode`` (JSON
``{"payloads": [...]}`` in and out, as the Temporal UI and CLI send them) with
that key, so a person who holds it can read runs in the UI (its "codec server"
setting) or with ``temporal workflow show --codec-endpoint URL``. It listens
on loopback by default and answers browsers (CORS) only from the Temporal UI's
origins: a decode endpoint open to any web page would hand the plaintext to
any site its user visits.

Payloads offloaded to the bucket stay references here (bucket, key): the
objects under ``payloads/`` are encrypted with the same key.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import signal
import socket
import threading
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from cli.console import say
from deepagents_temporal.devstack import read_running_stack
from deepagents_temporal.payload_codec import EncryptionCodec, PayloadKeyError
from deepagents_temporal.services import payload_codec
from deepagents_temporal.settings import Settings, load_settings

DEFAULT_PORT = 8081
# The Temporal CLI's dev server UI (also the embedded stack's preferred port).
DEFAULT_UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
MAX_BODY_BYTES = 64 * 1024 * 1024
_ALLOWED_HEADERS = "content-type,x-namespace,authorization"


class CodecServer:
    """The codec endpoints on a stdlib HTTP server, served from a daemon thread."""

    def __init__(
        self, codec: EncryptionCodec, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, origins: list[str] = ()
    ) -> None:
        self.codec = codec
        self.origins = {o.rstrip("/") for o in origins}
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> str:
        host = self._address[0]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = type("_BoundServer", (_Server,), {"address_family": family})(self._address, _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CodecServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: CodecServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup that can hang.
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "deepagents-codec/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # no access log: paths say nothing, bodies must not be logged

    def _cors(self) -> None:
        origin = (self.headers.get("Origin") or "").rstrip("/")
        if origin and origin in self.server.owner.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", _ALLOWED_HEADERS)
            self.send_header("Vary", "Origin")

    def _send(self, status: int, body: dict | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._cors()
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self._cors()
        self.end_headers()

    def do_GET(self) -> None:
        codec = self.server.owner.codec
        self._send(200, {"service": "deepagents-temporal codec server", "key_id": codec.key_id})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        codec = self.server.owner.codec
        # The UI appends /encode or /decode to whatever endpoint URL it was given.
        transform = {"encode": codec.encrypt, "decode": codec.decrypt}.get(path.rsplit("/", 1)[-1])
        length = int(self.headers.get("Content-Length") or 0)
        if transform is None:
            self.close_connection = True
            self._send(404, {"error": f"no endpoint {path or '/'}: POST /encode or /decode"})
            return
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return
        raw = self.rfile.read(length)
        try:
            payloads = json_format.Parse(raw, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, ValueError):
            self._send(400, {"error": 'the body must be JSON {"payloads": [...]} (Temporal payloads)'})
            return
        try:
            result = Payloads(payloads=[transform(p) for p in payloads.payloads])
        except PayloadKeyError as err:
            self._send(400, {"error": str(err)})
            return
        self._send(200, json_format.MessageToJson(result))


def allowed_origins(settings: Settings, extra: list[str]) -> list[str]:
    """The Temporal UI origins a browser may decode from: --origin, TEMPORAL_UI_URL,
    the UI of a running `starter.py dev`, and the dev server UI's default port."""
    origins = [*extra]
    if settings.temporal_ui_url:
        origins.append(settings.temporal_ui_url)
    elif not settings.temporal_address:
        running = read_running_stack()
        if running is not None and running.ui_url:
            origins.append(running.ui_url)
    origins.extend(DEFAULT_UI_ORIGINS)
    return list(dict.fromkeys(o.rstrip("/") for o in origins))


async def serve(host: str, port: int, origins: list[str]) -> int:
    settings = load_settings()
    if settings.deepagent_payload_key is None:
        say("error: DEEPAGENT_PAYLOAD_KEY is not set: the codec server decodes with the key the workers encrypt with")
        return 2
    codec = payload_codec(settings)
    assert codec is not None
    server = CodecServer(codec, host=host, port=port, origins=allowed_origins(settings, origins))
    try:
        url = server.start()
    except OSError as err:
        say(f"error: cannot listen on {host}:{port} ({err.strerror or err}); choose another with --port/--host")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        say(f"codec server: {url} (key {codec.key_id})")
        say(f"  browsers allowed from: {', '.join(sorted(server.origins))}")
        say(f"  Temporal UI: set the codec server (data encoder) endpoint to {url}")
        say(f"  Temporal CLI: temporal workflow show -w RUN_ID --codec-endpoint {url}")
        if host not in ("127.0.0.1", "::1", "localhost"):
            say(f"warning: listening on {host}: anyone who can reach it can decode these runs")
        say("Ctrl-C stops it.")
        await stop.wait()
    finally:
        server.stop()
    return 0


def command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="N", min=0, max=65535, help="port (0: any free one)")] = DEFAULT_PORT,
    origin: Annotated[
        list[str] | None,
        typer.Option(metavar="URL", help="another Temporal UI origin browsers may decode from (repeatable)"),
    ] = None,
) -> None:
    """serve /encode and /decode with DEEPAGENT_PAYLOAD_KEY for the Temporal UI and CLI"""
    from cli.app import _execute  # the CLI's exit codes; cli.app registers this command

    _execute(ctx, serve(host, port, origin or []))
