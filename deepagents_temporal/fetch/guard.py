"""Which URLs and addresses ``fetch_url`` may reach: the SSRF guard.

Checked on every hop (the first URL and each redirect): the scheme must be
http or https, and every address the host resolves to must be public, unless
the host is listed in ``DEEPAGENT_FETCH_ALLOW``. The caller connects to the
address checked here, never to a second lookup of the name, so a DNS answer
that changes between the check and the connection (rebinding) cannot slip a
private address through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchRefused(ValueError):
    """A fetch that is not done and would not succeed if tried again; the message is for the model."""


class FetchUnavailable(RuntimeError):
    """Network trouble that another attempt may not meet (refused connection, timeout, a 5xx)."""


def check_url(url: str | httpx.URL) -> httpx.URL:
    """The URL, parsed; FetchRefused when it is not an http(s) URL with a host."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as err:
        raise FetchRefused(f"{str(url)[:200]!r} is not a valid URL ({err})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https URLs are fetched, not {parsed.scheme or 'a URL without scheme'}:")
    if not parsed.host:
        raise FetchRefused(f"{str(url)[:200]!r} names no host")
    if parsed.userinfo:
        raise FetchRefused("URLs with a user name or password are not fetched")
    return parsed


def why_blocked(address: Address) -> str | None:
    """Why this address is not public (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return "a site-local address"
        # An IPv4 address carried inside IPv6 (mapped, 6to4, Teredo) is judged as itself.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = why_blocked(embedded)
            return f"{reason} (inside {address})" if reason and address.ipv4_mapped is None else reason
    for flag, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(address, flag):
            return f"{what} address"
    if not address.is_global:
        return "not a public address"
    return None


def is_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == entry.lower().rstrip(".").strip("[]") for entry in allowed)


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal is its own)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise FetchRefused(f"host {host} does not exist (DNS: {err.strerror})") from None
        raise FetchUnavailable(f"cannot resolve {host} now (DNS: {err.strerror})") from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise FetchRefused(f"host {host} has no address")
    return found


async def checked_addresses(url: httpx.URL, allowed: Iterable[str]) -> list[Address]:
    """The addresses to connect to for ``url``, in the resolver's order: every one the
    host has must be public, unless the host is allowed by name."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not is_allowed(host, allowed):
        for address in addresses:
            reason = why_blocked(address)
            if reason is not None:
                shown = host if str(address) == host else f"{host} ({address})"
                raise FetchRefused(
                    f"{shown} is {reason}; fetch_url reaches public addresses only "
                    "(a worker's DEEPAGENT_FETCH_ALLOW can list hosts to allow)"
                )
    return addresses
