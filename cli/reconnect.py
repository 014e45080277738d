"""Calls to Temporal that outlast a restart of its server.

A command following a run (``run``, ``result``) must not die or hang
silently when the Temporal server goes away for a while: each call is retried
with backoff while the server is unreachable, with a line when the connection
is lost, every half minute while it stays lost, and when it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cli.console import say
from deepagents_temporal.service_errors import temporal_unreachable

T = TypeVar("T")

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0
REPEAT_NOTICE_SECONDS = 30.0


class TemporalLink:
    """Retries calls while the Temporal server at ``address`` is unreachable, saying so."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._lost_at: float | None = None
        self._told_at = 0.0
        # How many times the connection came back after it was lost.
        self.reconnections = 0

    @property
    def lost(self) -> bool:
        return self._lost_at is not None

    async def call(self, make_call: Callable[[], Awaitable[T]]) -> T:
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                result = await make_call()
            except Exception as err:
                reason = temporal_unreachable(err)
                if reason is None:
                    raise
                self._tell_lost(reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            self._tell_back()
            return result

    def _tell_lost(self, reason: str) -> None:
        now = time.monotonic()
        if self._lost_at is None:
            self._lost_at = self._told_at = now
            say(
                f"lost the connection to Temporal at {self.address} ({reason}), retrying "
                "(Ctrl-C stops following; the run is kept)",
                style="yellow",
            )
        elif now - self._told_at >= REPEAT_NOTICE_SECONDS:
            self._told_at = now
            say(f"still no connection to Temporal at {self.address} after {now - self._lost_at:.0f} s, retrying")

    def _tell_back(self) -> None:
        if self._lost_at is None:
            return
        say(f"reconnected to Temporal at {self.address} after {time.monotonic() - self._lost_at:.0f} s")
        self._lost_at = None
        self.reconnections += 1
