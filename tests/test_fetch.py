"""fetch_url end to end: a loopback HTTP server, a worker that allows only 127.0.0.1,
the scripted model asking for pages through the built-in ``fetch`` profile.
What the model is told for a page, a PDF, a redirect, and each refusal
(too big, too slow, a redirect to a host not allowed, a private address,
a non-http scheme), and the files a fetch leaves in the run."""

from __future__ import annotations

import gzip
import http.server
import io
import ipaddress
import json
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from minio import Minio
from reportlab.pdfgen import canvas
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.fetch import FetchLimits, FetchRefused, fetch
from deepagents_temporal.fetch.guard import why_blocked
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.helpers import rows_text, start_run
from worker import build_worker

PAGE = (
    b"<html><head><title>Harbour tides</title></head><body><nav>Home | About</nav>"
    b"<article><h1>Harbour tides</h1><p>The harbour has two high tides a day; the spring tide reaches "
    b"four metres above chart datum in March and September.</p><p>Boats must leave the inner basin "
    b"an hour before low water.</p></article></body></html>"
)
MAX_BYTES = 200_000
TIMEOUT = 2.0


def _pdf() -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Quarterly tide table for the harbour pilots")
    page.save()
    return out.getvalue()


PDF = _pdf()
BOMB = gzip.compress(b"\0" * 20_000_000, compresslevel=9)


class _Site(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        routes = {
            "/tides.html": (200, "text/html; charset=utf-8", PAGE),
            "/table.pdf": (200, "application/pdf", PDF),
            "/big.bin": (200, "application/octet-stream", b"x" * (MAX_BYTES + 1)),
        }
        if self.path in routes:
            status, kind, body = routes[self.path]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path in ("/bomb.gz", "/chunked-big"):
            # No Content-Length: only the bytes read can tell the size.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if self.path == "/bomb.gz":
                # Sent compressed although the client asks for none: 20 KB of gzip, 20 MB inflated.
                self.send_header("Content-Encoding", "gzip")
                body = BOMB
            else:
                body = b"y" * (MAX_BYTES + 1)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        elif self.path == "/host":
            body = f"Host: {self.headers.get('Host')}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/moved":
            self._redirect("/tides.html")
        elif self.path == "/to-localhost":
            # localhost is 127.0.0.1 too, but only 127.0.0.1 is allowed by name.
            self._redirect(f"http://localhost:{port}/tides.html")
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"first words")
            self.wfile.flush()
            time.sleep(TIMEOUT * 2)
        else:
            self.send_error(404)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetch_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "deepagent_fetch_allow": ["127.0.0.1"],
            "deepagent_fetch_max_bytes": MAX_BYTES,
            "deepagent_fetch_timeout": TIMEOUT,
        }
    )


@pytest.fixture
async def fetch_worker(client: Client, fetch_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    async with await build_worker(client, fetch_settings, pool) as running:
        yield running


def _told(llm: ScriptedLLM, marker: str) -> dict[str, str]:
    """The tool messages the model got back, by call id, in the run whose request has ``marker``."""
    final = next(r.request for r in llm.requests if marker in r.request.first_user_text and r.request.turn == 1)
    return {m["tool_call_id"]: m["content"] for m in final.messages if m.get("role") == "tool"}


def _read(s3: Minio, bucket: str, key: str) -> bytes:
    response = s3.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


async def test_fetch_url_brings_pages_in_and_refuses_what_it_must(
    client: Client, fetch_settings: Settings, fetch_worker: Worker, llm: ScriptedLLM, site: str, pool: asyncpg.Pool
) -> None:
    marker = f"fetch test {time.time_ns()}"
    calls = {
        "html": f"{site}/tides.html",
        "pdf": f"{site}/table.pdf",
        "moved": f"{site}/moved",
        "big": f"{site}/big.bin",
        "slow": f"{site}/slow",
        "to_localhost": f"{site}/to-localhost",
        "localhost": site.replace("127.0.0.1", "localhost") + "/tides.html",
        "private": "http://10.0.0.1/",
        "scheme": "file:///etc/passwd",
    }
    mine = lambda r: marker in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls([("fetch_url", {"url": url}, call_id) for call_id, url in calls.items()]),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("fetched what I could"), times=1)
    handle = await start_run(client, fetch_settings, marker, profile="fetch")
    result: AgentResult = await handle.result()
    assert result.answer == "fetched what I could"
    told = _told(llm, marker)

    # A page: saved under /fetched/<host>/<sha256 prefix>/, its main text extracted.
    page_sha = sha256_hex(PAGE)
    folder = f"/fetched/127.0.0.1_{site.rsplit(':', 1)[1]}/{page_sha[:12]}"
    html = told["html"]
    assert f"fetched {site}/tides.html" in html
    assert f"saved as {folder}/tides.html" in html
    assert f"type: text/html; size: {len(PAGE):,} bytes; sha256: {page_sha}" in html
    assert "title: Harbour tides" in html
    assert "spring tide reaches four metres" in html
    assert "Home | About" not in html  # trafilatura keeps the article, not the menu

    # A PDF: its text through the PDF reader.
    pdf = told["pdf"]
    assert "type: application/pdf" in pdf and f"sha256: {sha256_hex(PDF)}" in pdf
    assert "Quarterly tide table for the harbour pilots" in pdf

    # A redirect within the allowed host is followed, and said.
    assert f"fetched {site}/tides.html" in told["moved"]
    assert f"redirected from {site}/moved (1 redirects)" in told["moved"]

    # Refusals: what was refused and why, at once, never a stuck run.
    assert told["big"].startswith(f"Error: fetch_url refused {site}/big.bin: ")
    assert f"over the {MAX_BYTES:,}-byte limit" in told["big"]
    assert told["to_localhost"].startswith(f"Error: fetch_url refused {site}/to-localhost: ")
    assert (
        "localhost (127.0.0.1) is a loopback address; fetch_url reaches public addresses only" in told["to_localhost"]
    )
    assert "localhost (127.0.0.1) is a loopback address" in told["localhost"]
    assert told["private"] == (
        "Error: fetch_url refused http://10.0.0.1/: 10.0.0.1 is a private address; fetch_url reaches public "
        "addresses only (a worker's DEEPAGENT_FETCH_ALLOW can list hosts to allow)"
    )
    assert (
        told["scheme"] == "Error: fetch_url refused file:///etc/passwd: only http and https URLs are fetched, not file:"
    )
    # Too slow is network trouble: tried again, then the model is told.
    assert told["slow"] == (
        f"Error: tool fetch_url failed after 3 attempts: no complete answer from 127.0.0.1 within {TIMEOUT:g} s"
    )

    # The files: the page as served, its text, its metadata; all artifacts of the run.
    s3 = s3_client(fetch_settings)
    prefix = f"runs/{handle.id}/files"
    assert _read(s3, fetch_settings.s3_bucket, f"{prefix}{folder}/tides.html") == PAGE
    text = _read(s3, fetch_settings.s3_bucket, f"{prefix}{folder}/tides.html.txt").decode()
    assert "Boats must leave the inner basin" in text
    meta = json.loads(_read(s3, fetch_settings.s3_bucket, f"{prefix}{folder}/meta.json"))
    assert meta["sha256"] == page_sha and meta["size"] == len(PAGE) and meta["title"] == "Harbour tides"
    artifacts = {a.key for a in result.artifacts}
    assert {
        f"{prefix}{folder}/tides.html",
        f"{prefix}{folder}/tides.html.txt",
        f"{prefix}{folder}/meta.json",
    } <= artifacts
    assert f"{prefix}{folder}/tides.html.txt" in await rows_text(pool, handle.id)

    # Each fetch is an activity of its own; the slow one was tried three times, the refusals once.
    history = await handle.fetch_history()
    fetches = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "fetch_url"
    ]
    assert len(fetches) == len(calls)


async def test_a_fetch_request_is_routed_to_the_fetch_profile(
    client: Client, fetch_settings: Settings, fetch_worker: Worker, llm: ScriptedLLM, site: str
) -> None:
    # No rules: the offline demo model routes, calls fetch_url and reports.
    handle = await start_run(
        client, fetch_settings, f"Fetch the page {site}/tides.html and report its title", profile=None
    )
    result: AgentResult = await handle.result()
    assert result.agent == "fetcher"  # the fetch profile's supervisor answered
    assert "title: Harbour tides" in result.answer
    assert any(a.key.endswith("/tides.html") for a in result.artifacts)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services
        ("fe80::1", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.10", "a private address"),
        ("fd00::1", "a private address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        # IPv4 inside IPv6: 6to4 of loopback and of the metadata service, and the old site-local range.
        ("2002:7f00:1::", "a loopback address (inside 2002:7f00:1::)"),
        ("2002:a9fe:a9fe::", "a link-local address (inside 2002:a9fe:a9fe::)"),
        ("fec0::1", "a site-local address"),
        ("2002:808:808::1", None),  # 6to4 of a public address
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_only_public_addresses_pass_the_guard(address: str, reason: str | None) -> None:
    assert why_blocked(ipaddress.ip_address(address)) == reason


async def test_an_allowed_name_is_fetched_from_its_checked_address_with_its_host_header(site: str) -> None:
    port = site.rsplit(":", 1)[1]
    limits = FetchLimits(max_bytes=MAX_BYTES, timeout_seconds=TIMEOUT, max_redirects=0, allowed_hosts=("localhost",))
    fetched = await fetch(f"http://localhost:{port}/host", limits)
    assert fetched.data.decode() == f"Host: localhost:{port}"
    with pytest.raises(FetchRefused, match="redirects more than 0 times"):
        await fetch(f"http://localhost:{port}/moved", limits)
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.1 is a loopback address"):
        await fetch(f"http://127.0.0.1:{port}/host", limits)


async def test_a_body_is_measured_as_it_is_read_even_compressed_or_without_a_length(site: str) -> None:
    limits = FetchLimits(
        max_bytes=MAX_BYTES, timeout_seconds=TIMEOUT * 5, max_redirects=0, allowed_hosts=("127.0.0.1",)
    )
    with pytest.raises(FetchRefused, match=f"over the {MAX_BYTES:,}-byte limit"):
        await fetch(f"{site}/chunked-big", limits)
    # A 20 KB gzip body inflating to 20 MB stops at the limit, not after inflating it all.
    tracemalloc.start()
    try:
        with pytest.raises(FetchRefused, match=f"over the {MAX_BYTES:,}-byte limit"):
            await fetch(f"{site}/bomb.gz", limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Inflating it whole holds 20 MB at once; what stops at the limit holds a fraction of that
    # (the margin is for whatever else this process allocates meanwhile).
    assert peak < 10_000_000, f"{peak:,} bytes held while reading a body limited to {MAX_BYTES:,}"
