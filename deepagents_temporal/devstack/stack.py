"""The stack as a whole: :class:`DevStack` and the entry points that start it,
attach to it from another process, and delete its data.

:func:`start_dev_stack` takes the data dir's lock, loads or creates the saved
credentials, starts the three servers concurrently and writes ``stack.json``
for :func:`read_running_stack`.  :meth:`DevStack.restart` stops one server and
starts it again on its data and ports (what a crash or an upgrade of that one
server looks like to its clients); :meth:`DevStack.stopped` keeps it down for
the length of a block.  Stacks still running at interpreter exit
are stopped by an atexit hook.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import string
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from deepagents_temporal.devstack.launch import StartContext
from deepagents_temporal.devstack.ports import PortPicker, port_answers
from deepagents_temporal.devstack.postgres import PG_USER, start_postgres
from deepagents_temporal.devstack.process import Proc, killpg, pid_alive, terminate, terminate_sync
from deepagents_temporal.devstack.seaweedfs import WEED_GRPC_OFFSET, start_s3
from deepagents_temporal.devstack.state import (
    CONFIG_FILE,
    EPHEMERAL_PREFIX,
    STACK_FILE,
    Log,
    default_data_dir,
    lock_held,
    make_dir,
    pg_relocation_candidates,
    read_json,
    reap_orphans,
    sweep_stale_ephemeral_dirs,
    try_lock,
    write_private,
)
from deepagents_temporal.devstack.temporal import start_temporal
from deepagents_temporal.settings import Settings


@dataclass
class DevStack:
    """Addresses and credentials of a running stack; owns its servers when it started them."""

    data_dir: Path
    temporal_address: str  # "127.0.0.1:PORT"
    ui_url: str  # "http://127.0.0.1:PORT"
    s3_endpoint: str  # "127.0.0.1:PORT"
    s3_access_key: str
    s3_secret_key: str
    database_url: str  # postgresql://user:pass@127.0.0.1:PORT/deepagents
    # Informational extras (not needed by callers).
    ports: dict[str, int] = field(default_factory=dict, repr=False)
    pids: dict[str, int] = field(default_factory=dict, repr=False)
    logs: dict[str, str] = field(default_factory=dict, repr=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False)
    owner_pid: int = field(default=0, repr=False)
    # Internal state.
    _owner: bool = field(default=False, repr=False, compare=False)
    _ephemeral: bool = field(default=False, repr=False, compare=False)
    _remove_dir: Path | None = field(default=None, repr=False, compare=False)
    _procs: list[Proc] = field(default_factory=list, repr=False, compare=False)
    _lock_fd: int | None = field(default=None, repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)
    _extra_remove: list[Path] = field(default_factory=list, repr=False, compare=False)
    _ctx: StartContext | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        db = self.database_url
        if "@" in db:
            scheme, rest = db.split("://", 1)
            creds, host = rest.split("@", 1)
            db = f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
        return (
            f"DevStack(data_dir={str(self.data_dir)!r}, temporal_address={self.temporal_address!r}, "
            f"ui_url={self.ui_url!r}, s3_endpoint={self.s3_endpoint!r}, s3_access_key={self.s3_access_key!r}, "
            f"database_url={db!r})"
        )

    def env(self) -> dict[str, str]:
        """Environment variables pointing the app at this stack (see settings.py)."""
        env: dict[str, str] = {}
        if self.temporal_address:
            env["TEMPORAL_ADDRESS"] = self.temporal_address
        if self.s3_endpoint:
            env.update(
                S3_ENDPOINT=self.s3_endpoint,
                S3_ACCESS_KEY=self.s3_access_key,
                S3_SECRET_KEY=self.s3_secret_key,
                S3_SECURE="false",
            )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def settings(self, base: Settings, **overrides: object) -> Settings:
        """``base`` pointed at this stack's servers, then ``overrides`` on top."""
        return base.model_copy(
            update={
                "temporal_address": self.temporal_address,
                "temporal_ui_url": self.ui_url,
                "s3_endpoint": self.s3_endpoint,
                "s3_access_key": SecretStr(self.s3_access_key),
                "s3_secret_key": SecretStr(self.s3_secret_key),
                "s3_secure": False,
                "database_url": SecretStr(self.database_url),
                **overrides,
            }
        )

    async def stop(self) -> None:
        """Stop every server this object started (polite signal, then SIGKILL).

        Idempotent.  A stack obtained from :func:`read_running_stack` belongs to
        another process: stopping it only forgets it.
        """
        if self._stopped:
            return
        self._stopped = True
        _LIVE_STACKS.discard(self)
        if not self._owner:
            return
        try:
            await asyncio.gather(*(terminate(p) for p in self._procs))
        finally:
            self._finish_cleanup()

    @contextlib.asynccontextmanager
    async def stopped(self, server: str) -> AsyncIterator[None]:
        """Stop one server of this stack for the duration of the block, then start
        it again on the same data and ports (returns once it answers).

        ``server`` is ``"temporal"``, ``"s3"`` or ``"postgres"``.  Clients keep
        their addresses (a port taken meanwhile by another program would move
        the server: the stack's addresses then say where).  Only the process
        that started the stack can stop and restart its servers.
        """
        if server not in _STARTERS:
            raise ValueError(f"unknown server {server!r}: one of {', '.join(_STARTERS)}")
        if not self._owner or self._stopped or self._ctx is None:
            raise RuntimeError("only a running stack started by this process can restart its servers")
        proc = next((p for p in self._procs if p.name == server), None)
        if proc is None:
            raise ValueError(f"this stack was started without {server}")
        ctx = self._ctx
        self._procs.remove(proc)
        await terminate(proc)
        ctx.ports.taken.difference_update(_ports_of(ctx.config, server))
        try:
            yield
        finally:
            if not self._stopped:
                await _STARTERS[server](ctx)
                self.logs = {p.name: str(p.log_path) for p in self._procs}
                _write_stack_file(self, ctx.config)

    async def restart(self, server: str, *, down_for: float = 0.0) -> None:
        """Stop one server, keep it down ``down_for`` seconds and start it again (see :meth:`stopped`)."""
        async with self.stopped(server):
            if down_for > 0:
                await asyncio.sleep(down_for)

    def _stop_sync(self) -> None:
        """Best-effort synchronous stop (interpreter exit)."""
        if self._stopped:
            return
        self._stopped = True
        if not self._owner:
            return
        try:
            for proc in self._procs:
                if proc.popen.poll() is None:
                    killpg(proc.popen.pid, proc.stop_signal)
            for proc in self._procs:
                terminate_sync(proc)
        finally:
            self._finish_cleanup()

    def _finish_cleanup(self) -> None:
        with contextlib.suppress(OSError):
            (self.data_dir / STACK_FILE).unlink()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
        if self._remove_dir is not None:
            shutil.rmtree(self._remove_dir, ignore_errors=True)
            self._remove_dir = None
            for path in self._extra_remove:
                shutil.rmtree(path, ignore_errors=True)

    async def __aenter__(self) -> DevStack:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __hash__(self) -> int:  # identity, so live stacks can sit in a set
        return id(self)


_LIVE_STACKS: set[DevStack] = set()


@atexit.register
def _stop_live_stacks() -> None:
    for stack in list(_LIVE_STACKS):
        with contextlib.suppress(Exception):
            stack._stop_sync()


_STARTERS: dict[str, Callable[[StartContext], Awaitable[None]]] = {
    "temporal": start_temporal,
    "s3": start_s3,
    "postgres": start_postgres,
}


def _ports_of(config: dict[str, Any], server: str) -> set[int]:
    """The ports a running ``server`` holds, as saved in the config."""
    saved = (config.get("ports") or {}).get(server) or {}
    ports = {p for p in saved.values() if isinstance(p, int)}
    if server == "s3" and isinstance(saved.get("admin"), int):
        ports.add(saved["admin"] + WEED_GRPC_OFFSET)
    return ports


def _write_stack_file(stack: DevStack, config: dict[str, Any]) -> None:
    """``stack.json``: what :func:`read_running_stack` reads from another process."""
    write_private(
        stack.data_dir / STACK_FILE,
        {
            "owner_pid": stack.owner_pid,
            "data_dir": str(stack.data_dir),
            "ephemeral": stack._ephemeral,
            "temporal_address": stack.temporal_address,
            "ui_url": stack.ui_url,
            "s3_endpoint": stack.s3_endpoint,
            "s3_access_key": stack.s3_access_key,
            "s3_secret_key": stack.s3_secret_key,
            "database_url": stack.database_url,
            "ports": stack.ports,
            "pids": stack.pids,
            "logs": stack.logs,
            "pgdata": config.get("pgdata", ""),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def _random_key(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _new_credentials() -> dict[str, str]:
    return {
        "s3_access_key": "DA" + _random_key(18, string.ascii_uppercase + string.digits),
        "s3_secret_key": _random_key(40, string.ascii_letters + string.digits),
        "pg_user": PG_USER,
        "pg_password": _random_key(32, string.ascii_letters + string.digits),
    }


async def start_dev_stack(
    data_dir: Path | None = None,
    *,
    ephemeral: bool = False,
    temporal: bool = True,
    s3: bool = True,
    postgres: bool = True,
    log: Callable[[str], None] | None = None,
) -> DevStack:
    """Start the embedded stack and return once every server answers real requests.

    Persistent mode keeps data, credentials and ports in ``data_dir`` (default
    :func:`default_data_dir`).  ``ephemeral=True`` uses a new temporary folder
    (inside ``data_dir`` when given) with fast, non-durable settings, removed by
    :meth:`DevStack.stop`.  Raises ``RuntimeError`` naming the server and the
    tail of its log when one does not come up; whatever was started is stopped.
    """
    t0 = time.monotonic()
    say: Log = log or (lambda _msg: None)
    remove_dir: Path | None = None
    if ephemeral:
        parent = Path(data_dir) if data_dir is not None else Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_ephemeral_dirs(parent)
        root = Path(tempfile.mkdtemp(prefix=EPHEMERAL_PREFIX, dir=parent))
        # Traversable (not listable), so an unprivileged PostgreSQL can reach its folder.
        os.chmod(root, 0o711)
        remove_dir = root
    else:
        root = Path(data_dir) if data_dir is not None else default_data_dir()
        if not root.exists():
            root.mkdir(parents=True)
            os.chmod(root, 0o700)  # holds credentials
    root = root.resolve()

    lock_fd = try_lock(root)
    if lock_fd is None:
        info = read_json(root / STACK_FILE) or {}
        if remove_dir is not None:
            shutil.rmtree(remove_dir, ignore_errors=True)
        raise RuntimeError(
            f"a dev stack is already running from {root} (pid {info.get('owner_pid', '?')}); "
            "attach to it with read_running_stack() or stop it first"
        )
    if not ephemeral:
        reap_orphans(root, say)

    config_path = root / CONFIG_FILE
    config: dict[str, Any] = {} if ephemeral else (read_json(config_path) or {})
    if postgres and not ephemeral and "pg_password" not in config:
        for candidate in [root / "postgres", *pg_relocation_candidates(root)]:
            if (candidate / "initdb.done").exists():
                os.close(lock_fd)
                raise RuntimeError(
                    f"PostgreSQL data exists in {candidate} but the credentials saved with it in {config_path} "
                    f"are gone. Remove {candidate} (or call delete_dev_stack_data()) to start over."
                )
    for key, value in _new_credentials().items():
        config.setdefault(key, value)
    if not ephemeral:
        # Saved before any server sees the credentials: a failed first start
        # must not leave a cluster behind whose password nobody knows.
        write_private(config_path, config)

    stack = DevStack(
        data_dir=root,
        temporal_address="",
        ui_url="",
        s3_endpoint="",
        s3_access_key="",
        s3_secret_key="",
        database_url="",
        owner_pid=os.getpid(),
        _owner=True,
        _ephemeral=ephemeral,
        _remove_dir=remove_dir,
        _lock_fd=lock_fd,
    )
    _LIVE_STACKS.add(stack)
    logs_dir = make_dir(root / "logs", 0o700)
    ctx = StartContext(
        stack=stack, data_dir=root, logs_dir=logs_dir, config=config, ports=PortPicker(), ephemeral=ephemeral, log=say
    )
    stack._ctx = ctx
    say(f"devstack: starting in {root}{' (ephemeral)' if ephemeral else ''}")

    starters = []
    if postgres:
        starters.append(start_postgres(ctx))
    if temporal:
        starters.append(start_temporal(ctx))
    if s3:
        starters.append(start_s3(ctx))
    tasks = [asyncio.ensure_future(coro) for coro in starters]
    try:
        if tasks:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        if not ephemeral:
            write_private(config_path, config)
        stack.logs = {p.name: str(p.log_path) for p in stack._procs}
        stack.timings["total"] = time.monotonic() - t0
        _write_stack_file(stack, config)
    except BaseException:
        for task in tasks:
            task.cancel()
        # Let them unwind (a cancelled initdb gets killed) before stopping.
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        if not ephemeral:
            with contextlib.suppress(OSError):
                write_private(config_path, config)
        error = sys.exc_info()[1]
        if remove_dir is not None and isinstance(error, RuntimeError):
            # stop() removes the ephemeral dir: keep the logs the error points at.
            kept = Path(tempfile.mkdtemp(prefix=EPHEMERAL_PREFIX + "failed-", dir=remove_dir.parent)) / "logs"
            with contextlib.suppress(OSError):
                shutil.copytree(logs_dir, kept)
            await asyncio.shield(stack.stop())
            raise RuntimeError(str(error).replace(str(logs_dir), str(kept))) from error
        await asyncio.shield(stack.stop())
        raise
    say(f"devstack: ready in {stack.timings['total']:.2f} s")
    return stack


def read_running_stack(data_dir: Path | None = None) -> DevStack | None:
    """The stack another process (``starter.py dev``) runs from ``data_dir``, or None.

    Requires its owner process to be alive and holding the data dir, and its
    Temporal port to answer.  ``stop()`` on the result does not touch the
    other process's servers.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    info = read_json(root / STACK_FILE)
    if not info:
        return None
    pid = info.get("owner_pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    if not lock_held(root):
        return None
    address = info.get("temporal_address") or ""
    if address:
        host, _, port = address.rpartition(":")
        if not port.isdigit() or not port_answers(host, int(port)):
            return None
    return DevStack(
        data_dir=Path(info.get("data_dir") or root),
        temporal_address=address,
        ui_url=info.get("ui_url") or "",
        s3_endpoint=info.get("s3_endpoint") or "",
        s3_access_key=info.get("s3_access_key") or "",
        s3_secret_key=info.get("s3_secret_key") or "",
        database_url=info.get("database_url") or "",
        ports=dict(info.get("ports") or {}),
        pids=dict(info.get("pids") or {}),
        logs=dict(info.get("logs") or {}),
        owner_pid=pid,
        _owner=False,
    )


def delete_dev_stack_data(data_dir: Path | None = None) -> list[Path]:
    """Delete a persistent stack's data (refused while it runs); returns what was removed.

    Includes PostgreSQL data kept outside ``data_dir`` (see the root case in
    :mod:`deepagents_temporal.devstack.postgres`).
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if not root.exists():
        return []
    if lock_held(root):
        raise RuntimeError(f"a dev stack is running from {root}; stop it first")
    config = read_json(root / CONFIG_FILE) or {}
    targets = [root]
    if config.get("postgres_dir"):
        targets.append(Path(config["postgres_dir"]))
    for candidate in pg_relocation_candidates(root):
        owner = candidate / "OWNER"
        if owner.is_file() and str(root.resolve()) in owner.read_text():
            targets.append(candidate)
    removed = []
    for target in dict.fromkeys(targets):
        if target.exists():
            shutil.rmtree(target)
            removed.append(target)
    return removed
