"""The command line as a person uses it, against the test servers: run, result, list, show, bad input,
--help of every command, plain output when piped and the live panel (without colours under NO_COLOR)
on a terminal."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from temporalio.client import Client
from temporalio.worker import Worker

from cli.live_view import RunWatcher, render_panel
from deepagents_temporal.schema import ChildInfo, Progress, ProgressEvent, Todo
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from tests.helpers import QA_REQUEST, start_run

ROOT = Path(__file__).resolve().parent.parent
# Anything that would decide colours or terminal handling for the CLI under test.
_TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "TERM")
# An SGR sequence that sets a colour (foreground, background, 256/true colour, bright).
_COLOUR = re.compile(r"\x1b\[(?:[0-9]*;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9]*)*m")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _text(terminal_output: str) -> str:
    return _ESCAPE.sub("", terminal_output)


def _env(settings: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "S3_", "TEMPORAL_", "DATABASE_")) and k not in _TERMINAL_ENV
    }
    env.update(
        TEMPORAL_ADDRESS=settings.temporal_address or "",
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        S3_ENDPOINT=settings.s3_endpoint or "",
        S3_ACCESS_KEY=settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        S3_SECRET_KEY=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        S3_BUCKET=settings.s3_bucket,
        DATABASE_URL=settings.database_url.get_secret_value() if settings.database_url else "",
    )
    return env


async def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _on_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal (120x40) as its stdin, stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env={**env, "TERM": "xterm-256color"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the CLI has exited and closed the terminal
                break
            if not chunk:
                break
            output += chunk
        return process.wait(10), output.decode("utf-8", "replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_result_list_and_show_of_a_finished_run(client: Client, settings: Settings, worker: Worker) -> None:
    handle = await start_run(client, settings)
    await handle.result()

    result = await _cli(settings, "result", handle.id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"run id: {handle.id}" in result.stdout
    links = re.findall(r"^\s+(http://\S+)$", result.stdout, re.MULTILINE)
    assert len(links) == 5, result.stdout
    # A presigned link downloads exactly the stored deliverable.
    report_link = next(link for link in links if f"reports/{handle.id}/final_answer.md" in link)
    with urllib.request.urlopen(report_link, timeout=10) as response:
        downloaded = response.read()
    stored = s3_client(settings).get_object(settings.s3_bucket, f"reports/{handle.id}/final_answer.md").read()
    assert downloaded == stored and downloaded
    # Secrets stay out of what the command prints.
    assert settings.s3_secret_key.get_secret_value() not in result.stdout

    listing = await _cli(settings, "list", "--limit", "50")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(handle.id))
    assert "COMPLETED" in row and "test-model" in row
    assert f"{handle.id}/" not in listing.stdout  # sub-agents only with --all

    show = await _cli(settings, "show", handle.id)
    assert show.returncode == 0, show.stderr
    assert "status:   COMPLETED" in show.stdout
    assert show.stdout.count("model_call") == 4 + 3 * 2  # supervisor 4, each specialist 2
    assert f"reports/{handle.id}/final_answer.md" in show.stdout


async def test_bad_input_gets_a_clear_error(settings: Settings) -> None:
    unknown_profile = await _cli(settings, "run", "--profile", "nope", "do something")
    assert unknown_profile.returncode == 2
    assert "unknown profile 'nope'; available profiles: qa" in unknown_profile.stdout

    empty = await _cli(settings, "run", "   ")
    assert empty.returncode == 2 and "the request is empty" in empty.stdout

    missing = await _cli(settings, "show", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stdout


async def test_worker_stops_cleanly_on_sigterm(settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=_env(settings), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        assert "worker polling task queue" in first
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        assert code == 0
        assert "shutting down" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


# Each command (as typed after starter.py) and the options its --help must name.
_COMMAND_OPTIONS = {
    "": ["--verbose", "run", "status", "result", "list", "show", "db", "dev"],
    "run": ["REQUEST", "--profile", "--max-steps", "--user", "--with-worker"],
    "status": ["ID"],
    "result": ["ID"],
    "list": ["--limit", "--status", "--all", "COMPLETED"],
    "show": ["ID"],
    "db": ["migrate"],
    "db migrate": ["--help"],
    "dev": ["--help"],
}


async def test_every_command_has_plain_help_when_piped(settings: Settings) -> None:
    results = await asyncio.gather(*(_cli(settings, *command.split(), "--help") for command in _COMMAND_OPTIONS))
    for (command, options), result in zip(_COMMAND_OPTIONS.items(), results, strict=True):
        assert result.returncode == 0, (command, result.stdout + result.stderr)
        assert f"Usage: starter.py {command}".rstrip() in result.stdout, result.stdout
        for option in options:
            assert option in result.stdout, (command, option, result.stdout)
        assert "\x1b" not in result.stdout + result.stderr, command


async def test_usage_errors_exit_2(settings: Settings) -> None:
    cases = {
        ("run", "--max-steps", "0", "x"): "must be between 1 and 500, got 0",
        ("run", "--max-steps", "many", "x"): "not a whole number: 'many'",
        ("list", "--status", "DONE"): "--status",
        ("list", "--limit", "some"): "--limit",
        ("run",): "Missing argument 'REQUEST'",
        ("db",): "Missing command",
        (): "Missing command",
    }
    results = await asyncio.gather(*(_cli(settings, *args) for args in cases))
    for (args, message), result in zip(cases.items(), results, strict=True):
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert message in result.stderr, (args, result.stderr)


async def test_help_on_a_terminal_is_coloured_unless_no_color(settings: Settings) -> None:
    code, coloured = await asyncio.to_thread(_on_terminal, ["run", "--help"], _env(settings))
    assert code == 0 and "--max-steps" in _text(coloured)
    assert _COLOUR.search(coloured), "a terminal gets colours"
    code, plain = await asyncio.to_thread(_on_terminal, ["run", "--help"], {**_env(settings), "NO_COLOR": "1"})
    assert code == 0 and "--max-steps" in _text(plain)
    assert not _COLOUR.search(plain), plain


def _progress(agent: str, step: int, events: list[tuple[str, str]], **fields: object) -> Progress:
    at = datetime.now(UTC)
    return Progress(
        agent=agent,
        step=step,
        done=False,
        todos=fields.pop("todos", []),
        children=fields.pop("children", []),
        events=[ProgressEvent(seq=i, kind=kind, at=at, text=text) for i, (kind, text) in enumerate(events)],
        next_seq=len(events),
    )


@pytest.mark.parametrize("no_color", [False, True])
def test_live_panel_shows_todos_sub_agents_and_recent_events(no_color: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    watcher = RunWatcher(client=None, run_id="qa-1")  # type: ignore[arg-type]  # never polled here
    child = ChildInfo(workflow_id="qa-1/e2e_test_specialist-1", subagent_type="e2e_test_specialist", status="failed")
    watcher.latest["qa-1"] = _progress(
        "qa_orchestrator",
        2,
        [("model", "step 2: test-model answered -> task")],
        todos=[Todo(content="Plan the [tests]", status="completed"), Todo(content="Delegate", status="in_progress")],
        children=[child],
    )
    watcher.children[child.workflow_id] = child
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=120).print(render_panel(watcher, []))
    text = out.getvalue()
    assert "run qa-1" in text and "qa_orchestrator: working, 2 model calls" in text
    # Texts from the run are shown as they are, not read as rich markup.
    assert "Plan the [tests]" in text and "Delegate" in text
    assert "e2e_test_specialist" in text and "failed" in text and "starting" in text
    assert bool(_COLOUR.search(text)) is not no_color, text


async def test_run_prints_plain_lines_when_piped(settings: Settings, worker: Worker) -> None:
    result = await _cli(settings, "run", QA_REQUEST)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "\x1b" not in out
    run_id = re.search(r"^run id: (\S+)$", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert re.search(r"^ +[0-9.]+s \[qa_orchestrator\] todo list:$", out, re.MULTILINE), out
    assert "- [x] Synthesize the test strategy" in out
    for specialist in ("e2e_test_specialist", "integration_test_specialist", "functional_test_specialist"):
        assert f"[qa_orchestrator] delegated to {specialist} ({run_id}/{specialist}-1)" in out
        assert f"[{specialist}] finished after 2 model calls" in out
    assert "test-model answered" in out
    assert f"saved the final answer to reports/{run_id}/final_answer.md" in out
    assert "artifacts (5, download links valid for 24 h):" in out
    last_line = out.rstrip().splitlines()[-1]
    assert last_line.startswith("status: COMPLETED in 4 supervisor steps, sub-agents: 3, models: test-model, tokens: ")


async def test_run_on_a_terminal_shows_the_live_panel(settings: Settings, worker: Worker) -> None:
    code, raw = await asyncio.to_thread(_on_terminal, ["run", QA_REQUEST], {**_env(settings), "NO_COLOR": "1"})
    out = _text(raw)
    assert code == 0, out
    assert "╭─ run " in out and "sub-agents" in out and "recent" in out
    assert "qa_orchestrator: finished, 4 model calls" in out
    for specialist in ("e2e_test_specialist", "integration_test_specialist", "functional_test_specialist"):
        assert re.search(rf"{specialist} +completed +2 model calls", out), out
    # After the panel: the answer and the summary, as plain lines.
    assert "status: COMPLETED in 4 supervisor steps, sub-agents: 3" in out
    assert not _COLOUR.search(raw)
