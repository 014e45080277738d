"""The command line as a running process, read line by line while it works.

For tests that act while a command runs (start a worker once it warns,
restart a server once it follows a run): :class:`CliProcess` collects the
output in a thread and waits, bounded, for a line that matches.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from deepagents_temporal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Anything that would decide colours, terminal handling or settings for the CLI under test.
_DROPPED_PREFIXES = ("OPENAI_", "S3_", "TEMPORAL_", "DATABASE_", "DEEPAGENT_")
_TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "TERM")


def base_env(**extra: str) -> dict[str, str]:
    """The environment without any of the project's settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k not in _TERMINAL_ENV}
    env.update(extra)
    return env


def cluster_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a command pointed at ``settings``' services (TEMPORAL_ADDRESS set)."""
    assert settings.s3_access_key and settings.s3_secret_key and settings.database_url
    values = {
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "S3_ENDPOINT": settings.s3_endpoint or "",
        "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "S3_BUCKET": settings.s3_bucket,
        "DATABASE_URL": settings.database_url.get_secret_value(),
    }
    return base_env(**{**values, **extra})


class CliProcess:
    """``python starter.py ARGS`` running, its stdout and stderr merged and read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "starter.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    @property
    def output(self) -> str:
        self._drain(0)
        return "\n".join(self.lines)

    def _drain(self, timeout: float) -> bool:
        """Take what was read; False once the output has ended."""
        try:
            line = self._new.get(timeout=timeout) if timeout else self._new.get_nowait()
        except queue.Empty:
            return True
        while True:
            if line is None:
                self._new.put(None)
                return False
            self.lines.append(line)
            try:
                line = self._new.get_nowait()
            except queue.Empty:
                return True

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; AssertionError with the output after ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.output}")
            if not self._drain(min(remaining, 0.5)) and len(self.lines) == seen:
                raise AssertionError(f"the command ended without a line matching {pattern!r}:\n{self.output}")

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._reader.join(10)
        self._drain(0)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
