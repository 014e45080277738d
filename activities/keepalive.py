"""Heartbeats for every running activity that has a heartbeat timeout.

A worker that dies takes its running activities with it, and Temporal notices
only when a heartbeat is missed, or, for an activity without a heartbeat
timeout, when its whole start-to-close timeout has passed (minutes). So every
activity the workflows schedule has a short heartbeat timeout, and this worker
interceptor heartbeats for it every ``KEEPALIVE_EVERY`` while it runs: a slow
bucket or a long model call never times out, a lost worker is noticed within
the heartbeat timeout. Each heartbeat repeats the details the activity gave
last (``call_model`` keeps its fallback errors and a received answer there),
so the keepalive never overwrites them. Installed by ``worker.build_worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

KEEPALIVE_EVERY = timedelta(seconds=0.5)


class HeartbeatKeepalive(Interceptor):
    """Worker interceptor: keeps async activities with a heartbeat timeout heartbeating."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Outbound(ActivityOutboundInterceptor):
    """Remembers the details of the activity's own heartbeats."""

    details: Sequence[Any] = ()

    def heartbeat(self, *details: Any) -> None:
        self.details = details
        super().heartbeat(*details)

    def repeat(self) -> None:
        super().heartbeat(*self.details)


class _Inbound(ActivityInboundInterceptor):
    _outbound: _Outbound

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self._outbound = _Outbound(outbound)
        super().init(self._outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # Activities running in a thread pool heartbeat through another path; ours are all async.
        if input.executor is not None or activity.info().heartbeat_timeout is None:
            return await super().execute_activity(input)
        info = activity.info()
        if info.heartbeat_details:
            # Until the activity says otherwise, keep what the earlier attempt left.
            self._outbound.details = tuple(info.heartbeat_details)
        beating = asyncio.create_task(self._beat())
        try:
            return await super().execute_activity(input)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY.total_seconds())
            self._outbound.repeat()
