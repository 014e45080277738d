"""Every entry point fails like a good CLI when a service cannot be used.

Each row runs one entry point (``python worker.py`` or a ``starter.py``
command) as a person would, against the session's stack with one thing
broken: Temporal down, a namespace that does not exist, S3 down or wrong keys,
PostgreSQL down or a wrong password, settings missing. "Down" is a loopback
port that was just closed. Each must end with a non-zero exit code and two
lines naming the service and its address, without a traceback; with
``DEEPAGENT_DEBUG=1`` or ``--debug`` the traceback is shown. The rows run
concurrently.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deepagents_temporal.devstack import DevStack
from deepagents_temporal.service_errors import SERVICE_EXIT_CODE, SETTINGS_EXIT_CODE, database_address
from deepagents_temporal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = 6
TIMEOUT = 90

ENTRY_POINTS = {
    "worker.py": ["worker.py"],
    "run": ["starter.py", "run", "hello"],
    "status": ["starter.py", "status", "no-such-run"],
    "result": ["starter.py", "result", "no-such-run"],
    "list": ["starter.py", "list"],
    "show": ["starter.py", "show", "no-such-run"],
    "db migrate": ["starter.py", "db", "migrate"],
    "dev": ["starter.py", "dev"],
}
# What each entry point needs, so which breakages it must report.
TEMPORAL_USERS = ["worker.py", "run", "status", "result"]
DATABASE_USERS = ["worker.py", "run", "result", "list", "show", "db migrate"]


@dataclass
class Breakage:
    env: dict[str, str | None]  # None: unset
    names: list[str]  # what the message must name (the service, its address, ...)
    code: int = SERVICE_EXIT_CODE
    entry_points: list[str] = field(default_factory=list)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _good_env(settings: Settings, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "S3_", "TEMPORAL_", "DATABASE_", "DEEPAGENT_")) and k != "NO_COLOR"
    }
    assert settings.s3_access_key and settings.s3_secret_key and settings.database_url
    env.update(
        # An embedded stack, should one be looked for, is looked for here, not in the user's.
        XDG_DATA_HOME=str(home),
        TEMPORAL_ADDRESS=settings.temporal_address or "",
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        S3_ENDPOINT=settings.s3_endpoint or "",
        S3_ACCESS_KEY=settings.s3_access_key.get_secret_value(),
        S3_SECRET_KEY=settings.s3_secret_key.get_secret_value(),
        S3_BUCKET=settings.s3_bucket,
        DATABASE_URL=settings.database_url.get_secret_value(),
    )
    return env


def _breakages(stack: DevStack) -> dict[str, Breakage]:
    temporal_down = f"127.0.0.1:{_closed_port()}"
    s3_down = f"127.0.0.1:{_closed_port()}"
    pg_down = f"127.0.0.1:{_closed_port()}"
    user_and_password, _, rest = stack.database_url.partition("://")[2].partition("@")
    wrong_password = f"postgresql://{user_and_password.split(':')[0]}:not-the-password@{rest}"
    return {
        "Temporal down": Breakage(
            {"TEMPORAL_ADDRESS": temporal_down}, ["Temporal", temporal_down], entry_points=TEMPORAL_USERS
        ),
        "unknown namespace": Breakage(
            {"TEMPORAL_NAMESPACE": "no-such-namespace"},
            ["Temporal", stack.temporal_address, "no-such-namespace", "TEMPORAL_NAMESPACE"],
            entry_points=TEMPORAL_USERS,
        ),
        "S3 down": Breakage({"S3_ENDPOINT": s3_down}, ["S3", s3_down, "S3_ENDPOINT"], entry_points=TEMPORAL_USERS),
        "S3 wrong keys": Breakage(
            {"S3_SECRET_KEY": "not-the-secret-key"},
            ["S3", stack.s3_endpoint, "S3_SECRET_KEY"],
            entry_points=TEMPORAL_USERS,
        ),
        "PostgreSQL down": Breakage(
            {"DATABASE_URL": f"postgresql://deepagents:secret@{pg_down}/deepagents"},
            ["PostgreSQL", pg_down, "DATABASE_URL"],
            entry_points=DATABASE_USERS,
        ),
        "PostgreSQL wrong password": Breakage(
            {"DATABASE_URL": wrong_password},
            ["PostgreSQL", database_address(stack.database_url), "password"],
            entry_points=DATABASE_USERS,
        ),
        "only TEMPORAL_ADDRESS set": Breakage(
            {"S3_ENDPOINT": None, "S3_ACCESS_KEY": None, "S3_SECRET_KEY": None, "DATABASE_URL": None},
            ["TEMPORAL_ADDRESS", "embedded stack"],
            code=SETTINGS_EXIT_CODE,
            entry_points=[*TEMPORAL_USERS, "list", "show", "db migrate"],
        ),
        "dev with TEMPORAL_ADDRESS": Breakage(
            {}, ["TEMPORAL_ADDRESS", stack.temporal_address], code=SETTINGS_EXIT_CODE, entry_points=["dev"]
        ),
        "worker.py without settings": Breakage(
            {"TEMPORAL_ADDRESS": None, "S3_ENDPOINT": None, "DATABASE_URL": None},
            ["TEMPORAL_ADDRESS", "S3_ENDPOINT", "DATABASE_URL", "starter.py dev"],
            code=SETTINGS_EXIT_CODE,
            entry_points=["worker.py"],
        ),
    }


def _what_is_missing(entry_point: str) -> list[str]:
    """The settings an entry point must name when only TEMPORAL_ADDRESS is set."""
    if entry_point == "status":
        return ["S3_ENDPOINT"]
    if entry_point in ("list", "show", "db migrate"):
        return ["DATABASE_URL"]
    return ["S3_ENDPOINT", "DATABASE_URL"]


@dataclass
class Case:
    entry_point: str
    breakage: str
    env: dict[str, str]
    names: list[str]
    code: int
    args: list[str]
    debug: bool = False


def _cases(stack: DevStack, settings: Settings, home: Path) -> list[Case]:
    good = _good_env(settings, home)
    cases = []
    for name, breakage in _breakages(stack).items():
        env = {**good, **{k: v for k, v in breakage.env.items() if v is not None}}
        for key in [k for k, v in breakage.env.items() if v is None]:
            env.pop(key, None)
        for entry_point in breakage.entry_points:
            names = breakage.names + (_what_is_missing(entry_point) if name == "only TEMPORAL_ADDRESS set" else [])
            cases.append(Case(entry_point, name, env, names, breakage.code, ENTRY_POINTS[entry_point]))
    return cases


def _debug_cases(cases: list[Case]) -> list[Case]:
    """One case per breakage again, asking for the traceback (by variable, or by --debug)."""
    picked: dict[str, Case] = {}
    for case in cases:
        picked.setdefault(case.breakage, case)
    debug = []
    for i, case in enumerate(picked.values()):
        if i % 2:
            args = [*case.args[:2], "--debug", *case.args[2:]]
            debug.append(Case(case.entry_point, case.breakage, case.env, case.names, case.code, args, True))
        else:
            env = {**case.env, "DEEPAGENT_DEBUG": "1"}
            debug.append(Case(case.entry_point, case.breakage, env, case.names, case.code, case.args, True))
    return debug


async def _run(case: Case, gate: asyncio.Semaphore) -> subprocess.CompletedProcess[str]:
    async with gate:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, *case.args],
            cwd=ROOT,
            env=case.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )


async def test_every_entry_point_names_the_broken_service_without_a_traceback(
    stack: DevStack, settings: Settings, tmp_path: Path
) -> None:
    cases = _cases(stack, settings, tmp_path)
    cases += _debug_cases(cases)
    gate = asyncio.Semaphore(PARALLEL)
    results = await asyncio.gather(*(_run(case, gate) for case in cases))
    failures = []
    for case, result in zip(cases, results, strict=True):
        output = result.stdout + result.stderr
        problems = []
        if result.returncode != case.code:
            problems.append(f"exit code {result.returncode}, expected {case.code}")
        problems += [f"does not name {name!r}" for name in case.names if name not in output]
        if case.debug:
            if "Traceback (most recent call last)" not in output:
                problems.append("no traceback although asked for")
        else:
            if "Traceback" in output:
                problems.append("shows a traceback")
            lines = [line for line in output.splitlines() if line.strip() and not line.startswith("warning:")]
            if len(lines) != 2 or not lines[0].startswith("error: "):
                problems.append(f"{len(lines)} lines instead of 'error: ...' and what to do")
        if problems:
            label = f"{case.entry_point} / {case.breakage}{' / debug' if case.debug else ''}"
            failures.append(f"{label}: {'; '.join(problems)}\n{output}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("DEEPAGENT_MODEL_TIMEOUT", "soon", "DEEPAGENT_MODEL_TIMEOUT"),
        ("S3_SECURE", "maybe", "S3_SECURE"),
        ("S3_ENDPOINT", "http://127.0.0.1:9000", "S3_ENDPOINT"),
    ],
)
async def test_an_invalid_setting_is_named(
    setting: str, value: str, named: str, settings: Settings, tmp_path: Path
) -> None:
    env = {**_good_env(settings, tmp_path), setting: value}
    results = await asyncio.gather(
        *(
            asyncio.to_thread(
                subprocess.run,
                [sys.executable, *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            for args in (ENTRY_POINTS["worker.py"], ENTRY_POINTS["status"])
        )
    )
    for result in results:
        output = result.stdout + result.stderr
        assert result.returncode == SETTINGS_EXIT_CODE, output
        assert named in output and "Traceback" not in output, output
