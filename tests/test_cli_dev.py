"""`starter.py dev` as the README describes it, in a temporary data folder: it starts the embedded
stack and a worker in the foreground, `run` and `status` in another process reuse that stack
instead of starting their own, and Ctrl-C stops it all (exit 0, its servers' ports closed)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deepagents_temporal.devstack import delete_dev_stack_data, read_running_stack
from tests.helpers import QA_REQUEST

ROOT = Path(__file__).resolve().parent.parent
# The embedded stack is what `dev` is for: nothing may point the CLI elsewhere.
_NOT_FOR_DEV = ("TEMPORAL_", "S3_", "DATABASE_", "OPENAI_", "DEEPAGENT_")
# First start of a persistent stack includes initdb; the machine may be busy.
READY_SECONDS = 240


def _dev_env(data_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_FOR_DEV)}
    env.update(XDG_DATA_HOME=str(data_home), PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


class _Lines:
    """A process's output lines, read in a thread so every wait for one has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=self._pump, args=(stdout,), daemon=True).start()

    def _pump(self, stdout: object) -> None:
        for line in stdout:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line with {text!r} within {timeout}s; output:\n" + "\n".join(self.seen))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before a line with {text!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if text in line:
                return line

    def rest(self, timeout: float) -> list[str]:
        """Every line up to the end of the output."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                return self.seen
            self.seen.append(line)
        raise TimeoutError("output did not end:\n" + "\n".join(self.seen))


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _starter(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(900)
def test_dev_runs_the_stack_that_run_and_status_reuse(tmp_path: Path) -> None:
    env = _dev_env(tmp_path)
    data_dir = tmp_path / "deepagents-temporal"
    dev = subprocess.Popen(
        [sys.executable, str(ROOT / "starter.py"), "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _Lines(dev)
        output.wait_for("Ctrl-C stops everything", READY_SECONDS)
        stack = read_running_stack(data_dir)
        assert stack is not None, "dev keeps its stack in $XDG_DATA_HOME/deepagents-temporal"
        ports = sorted(set(stack.ports.values()))
        assert ports and all(_port_open(port) for port in ports), stack.ports

        run = _starter("run", QA_REQUEST, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "using the embedded stack started by `starter.py dev`" in run.stdout, run.stdout
        assert "starting the embedded stack" not in run.stdout
        run_id = next(line for line in run.stdout.splitlines() if line.startswith("run id: ")).removeprefix("run id: ")
        assert any(line.startswith("status: COMPLETED") for line in run.stdout.splitlines()), run.stdout

        status = _starter("status", run_id, env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "using the embedded stack started by `starter.py dev`" in status.stdout
        assert "status: COMPLETED" in status.stdout
        assert dev.poll() is None, "the commands left dev's stack running"

        dev.send_signal(signal.SIGINT)
        assert dev.wait(120) == 0, "\n".join(output.rest(10))
        lines = output.rest(30)
        assert "stopping..." in lines
        assert not any("Traceback" in line for line in lines), "\n".join(lines)
        assert [port for port in ports if _port_open(port)] == []
        assert read_running_stack(data_dir) is None
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait(30)
        # As root, PostgreSQL's data lives outside the data folder; this removes it too.
        delete_dev_stack_data(data_dir)
