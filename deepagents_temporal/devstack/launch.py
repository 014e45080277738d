"""Bringing one server up: the shared start-up context, the readiness wait and
the retry when a picked port was taken meanwhile.

Every server module gives :func:`launch` three callables (choose ports, spawn,
probe); a server counts as started only once its probe made a real request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepagents_temporal.devstack.ports import PortPicker
from deepagents_temporal.devstack.process import Proc, tail, terminate
from deepagents_temporal.devstack.state import Log

if TYPE_CHECKING:
    from deepagents_temporal.devstack.stack import DevStack

READY_TIMEOUT = 60.0  # seconds each server gets to become ready
PORT_RETRIES = 3


@dataclass
class StartContext:
    """What every server's start function shares within one start_dev_stack()."""

    stack: DevStack
    data_dir: Path
    logs_dir: Path
    config: dict[str, Any]
    ports: PortPicker
    ephemeral: bool
    log: Log


class NotReady(Exception):
    """Readiness probe failed in a way worth retrying."""


class Fatal(RuntimeError):
    """Readiness probe failed in a way retrying cannot fix."""


class PortInUse(RuntimeError):
    """The server exited because a port picked for it was taken meanwhile."""


async def wait_ready(proc: Proc, probe: Callable[[], Any], *, what: str, timeout: float | None = None) -> None:
    """Retry `probe` until it succeeds; fail as soon as the process exits."""
    timeout = READY_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None

    def exited() -> None:
        rc = proc.popen.poll()
        if rc is None:
            return
        message = f"{what} exited with code {rc} while starting; see {proc.log_path}:\n{tail(proc.log_path)}"
        output = proc.new_output().lower()
        if "address already in use" in output or "is not available" in output:
            raise PortInUse(message)
        raise RuntimeError(message)

    while True:
        exited()
        attempt = asyncio.ensure_future(
            asyncio.wait_for(probe(), timeout=max(1.0, min(15.0, deadline - time.monotonic())))
        )
        try:
            # Watch the process while probing: a probe can hang on a port that
            # some other program holds, while our server has already died.
            while not attempt.done():
                await asyncio.wait([attempt], timeout=0.05)
                if not attempt.done():
                    exited()
        finally:
            if not attempt.done():
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
        try:
            attempt.result()
            return
        except Fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - client libraries raise many kinds while a server boots
            last_error = exc
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not become ready within {timeout:.0f} s (last error: {last_error!r}); "
                f"see {proc.log_path}:\n{tail(proc.log_path)}"
            )
        await asyncio.sleep(0.1)


async def launch(
    ctx: StartContext,
    name: str,
    what: str,
    choose_ports: Callable[[bool], dict[str, int]],
    spawn: Callable[[dict[str, int]], Proc],
    probe_for: Callable[[dict[str, int]], Callable[[], Any]],
) -> dict[str, int]:
    """Pick ports, spawn, wait until ready; on a port lost to a race, retry with fresh ports."""
    for attempt in range(PORT_RETRIES):
        ports = choose_ports(attempt == 0)
        proc = spawn(ports)
        ctx.stack._procs.append(proc)
        ctx.stack.pids[name] = proc.popen.pid
        try:
            await wait_ready(proc, probe_for(ports), what=what)
            return ports
        except PortInUse:
            ctx.stack._procs.remove(proc)
            await terminate(proc)
            if attempt == PORT_RETRIES - 1:
                raise
            ctx.log(f"devstack: a port of {what} was taken meanwhile; retrying with other ports")
    raise AssertionError("unreachable")
