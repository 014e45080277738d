"""One bounded HTTP GET for ``fetch_url``: size, time and redirects limited.

httpx never follows a redirect by itself here: each hop's URL and address
go through ``guard.py`` first, and the request is sent to that checked
address (the Host header and TLS server name keep the host's name, so
virtual hosts and certificates work as usual). The body is read in pieces
and given up as soon as it passes the size limit.
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field

import httpx

from deepagents_temporal.fetch.guard import Address, FetchRefused, FetchUnavailable, check_url, checked_addresses

REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "deepagents-temporal fetch_url (+https://github.com/)"
# Per address: a silent one leaves time for the next of the host's addresses.
CONNECT_TIMEOUT_SECONDS = 5.0
# Answers that may well be different on another attempt.
TRANSIENT_STATUSES = (408, 425, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_seconds: float
    max_redirects: int
    allowed_hosts: tuple[str, ...] = ()


@dataclass
class Fetched:
    url: str
    final_url: str
    status: int
    content_type: str
    data: bytes
    redirects: list[str] = field(default_factory=list)


async def fetch(url: str, limits: FetchLimits) -> Fetched:
    """GET ``url`` within ``limits``. FetchRefused: not done and never will be as asked;
    FetchUnavailable: the network or server failed this time."""
    target = check_url(url)
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            return await _follow(target, limits)
    except TimeoutError:
        raise FetchUnavailable(f"no complete answer from {target.host} within {limits.timeout_seconds:g} s") from None


async def _follow(target: httpx.URL, limits: FetchLimits) -> Fetched:
    first = str(target)
    redirects: list[str] = []
    # trust_env=False: no proxy from the environment could reach what the guard refused.
    # No kept-alive connections: a redirect to another name on the same address gets its own
    # TLS handshake (and certificate check) instead of the previous host's connection.
    # A short connect timeout per address, so one silent address leaves time for the next.
    async with httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(limits.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, limits.timeout_seconds)),
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        while True:
            addresses = await checked_addresses(target, limits.allowed_hosts)
            response = await _send(client, target, addresses)
            try:
                if response.status_code in REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchRefused(f"{target} answered {response.status_code} without a Location")
                    if len(redirects) >= limits.max_redirects:
                        raise FetchRefused(f"{first} redirects more than {limits.max_redirects} times")
                    target = check_url(target.join(location))
                    redirects.append(str(target))
                    continue
                if response.status_code in TRANSIENT_STATUSES:
                    raise FetchUnavailable(f"{target} answered HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise FetchRefused(f"{target} answered HTTP {response.status_code}")
                data = await _body(response, target, limits.max_bytes)
            finally:
                await response.aclose()
            return Fetched(
                url=first,
                final_url=str(target),
                status=response.status_code,
                content_type=response.headers.get("content-type", "application/octet-stream"),
                data=data,
                redirects=redirects,
            )


async def _send(client: httpx.AsyncClient, target: httpx.URL, addresses: list[Address]) -> httpx.Response:
    """The request for ``target``, sent to the first of the checked ``addresses`` that takes
    the connection (a host with an IPv6 address this machine cannot reach still works)."""
    # identity: a compressed body could expand past the size limit between two checks.
    headers = {
        "Host": target.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    for i, address in enumerate(addresses):
        request = client.build_request(
            "GET", target.copy_with(host=str(address)), headers=headers, extensions=extensions
        )
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            if i + 1 < len(addresses):
                continue
            raise FetchUnavailable(f"cannot reach {target.host} ({type(err).__name__}: {err})") from None
        except httpx.TimeoutException:
            raise FetchUnavailable(f"{target.host} did not answer in time") from None
        except httpx.TransportError as err:
            raise FetchUnavailable(f"cannot reach {target.host} ({type(err).__name__}: {err})") from None
    raise AssertionError("resolve() returns at least one address")


async def _body(response: httpx.Response, target: httpx.URL, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"{target} is {int(declared):,} bytes, over the {max_bytes:,}-byte limit")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise FetchRefused(f"{target} sent its body encoded as {encoding!r} though asked for none; not fetched")
    # Raw bytes, decoded here within the limit: a small gzip body cannot grow past it unseen.
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS) if encoding != "identity" else None
    parts: list[bytes] = []
    size = 0
    try:
        async for raw in response.aiter_raw():
            pending = raw
            while pending:
                if inflater is None:
                    part, pending = pending, b""
                else:
                    part = inflater.decompress(pending, max_bytes - size + 1)
                    pending = inflater.unconsumed_tail
                size += len(part)
                if size > max_bytes:
                    raise FetchRefused(f"{target} is over the {max_bytes:,}-byte limit")
                parts.append(part)
                if inflater is not None and not part:
                    break
    except zlib.error as err:
        raise FetchRefused(f"{target} sent a damaged {encoding} body ({err})") from None
    except httpx.TimeoutException:
        raise FetchUnavailable(f"{target.host} stopped sending") from None
    except httpx.TransportError as err:
        raise FetchUnavailable(f"reading {target} failed ({type(err).__name__}: {err})") from None
    return b"".join(parts)
