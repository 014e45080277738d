"""What a stack keeps on disk between and during runs.

The data dir layout (``stack.json`` while running, ``devstack-config.json``
with credentials and ports, the lock file), private JSON writes, and the
clean-up of what a crashed owner left behind: orphaned servers, stale
ephemeral dirs.  Kept in one place so the file names and modes are written
and read by the same code.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepagents_temporal.devstack.process import cmdline, pid_alive

APP_DIR_NAME = "deepagents-temporal"
STACK_FILE = "stack.json"
CONFIG_FILE = "devstack-config.json"
LOCK_FILE = ".devstack.lock"
EPHEMERAL_PREFIX = "deepagents-devstack-"

Log = Callable[[str], None]


def default_data_dir() -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/deepagents-temporal`` or
    ``~/.local/share/deepagents-temporal``."""
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / APP_DIR_NAME


def make_dir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return path


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomically write JSON readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- the lock


def _lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def try_lock(data_dir: Path) -> int | None:
    """The held lock's fd, or None when another process holds it."""
    fd = os.open(_lock_path(data_dir), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    os.set_inheritable(fd, False)
    return fd


def lock_held(data_dir: Path) -> bool:
    if not _lock_path(data_dir).exists():
        return False
    fd = os.open(_lock_path(data_dir), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


# --------------------------------------------------------------------------- stale state


def reap_orphans(data_dir: Path, log: Log) -> None:
    """Kill servers a crashed previous owner of this data dir left behind."""
    info = read_json(data_dir / STACK_FILE)
    if not info:
        return
    needles = [str(data_dir)] + ([info["pgdata"]] if info.get("pgdata") else [])
    for name, pid in (info.get("pids") or {}).items():
        if not isinstance(pid, int) or not pid_alive(pid):
            continue
        cmd = " ".join(cmdline(pid))
        if any(needle in cmd for needle in needles):
            log(f"devstack: stopping {name} (pid {pid}) left over from a previous run")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        (data_dir / STACK_FILE).unlink()


def pg_relocation_candidates(data_dir: Path) -> list[Path]:
    """Where PostgreSQL data goes when `data_dir` is not reachable by the unprivileged user."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return [
        Path("/var/lib") / APP_DIR_NAME / digest,
        Path("/var/tmp") / f"{APP_DIR_NAME}-{os.geteuid()}" / digest,
    ]


def sweep_stale_ephemeral_dirs(parent: Path) -> None:
    """Remove ephemeral dirs whose owner died without cleaning up (os._exit, SIGKILL)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(EPHEMERAL_PREFIX) or not entry.is_dir():
            continue
        try:
            if time.time() - entry.stat().st_mtime < 120 or lock_held(entry):
                continue
            if not _lock_path(entry).exists():
                continue
        except OSError:
            continue
        for relocated in pg_relocation_candidates(entry):
            shutil.rmtree(relocated, ignore_errors=True)
        shutil.rmtree(entry, ignore_errors=True)
