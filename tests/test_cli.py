"""The command line as a person uses it, as a subprocess against the test servers: run (piped and on a
terminal, with its own worker, failing), status, result, list, show, db migrate, bad input, --help of every
command and of the `deepagents-temporal` script, plain output when piped and the live panel (without colours
under NO_COLOR) on a terminal. What a run did is read from the run itself (its result and its sub-agents'),
not from what the scripted model is known to answer."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest
from pydantic import SecretStr
from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from cli.live_view import RunWatcher, render_panel
from deepagents_temporal import pgstore
from deepagents_temporal.schema import AgentResult, ChildInfo, Progress, ProgressEvent, Todo
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import QA_REQUEST, start_run

ROOT = Path(__file__).resolve().parent.parent
# Anything that would decide colours or terminal handling for the CLI under test.
_TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "TERM")
# An SGR sequence that sets a colour (foreground, background, 256/true colour, bright).
_COLOUR = re.compile(r"\x1b\[(?:[0-9]*;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9]*)*m")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _text(terminal_output: str) -> str:
    return _ESCAPE.sub("", terminal_output)


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "S3_", "TEMPORAL_", "DATABASE_", "DEEPAGENT_")) and k not in _TERMINAL_ENV
    }
    env.update(
        TEMPORAL_ADDRESS=settings.temporal_address or "",
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        S3_ENDPOINT=settings.s3_endpoint or "",
        S3_ACCESS_KEY=settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        S3_SECRET_KEY=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        S3_BUCKET=settings.s3_bucket,
        DATABASE_URL=settings.database_url.get_secret_value() if settings.database_url else "",
        **extra,
    )
    return env


def _model_env(llm: ScriptedLLM, model: str = "test-model") -> dict[str, str]:
    """What a worker started by the CLI needs to talk to the scripted model."""
    return {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key", "DEEPAGENT_MODEL": model}


async def _cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None, program: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*(program or [sys.executable, str(ROOT / "starter.py")]), *args],
        cwd=ROOT,
        env=_env(settings, **(env or {})),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _run_id(output: str) -> str:
    found = re.search(r"^run id: (\S+?)\r?$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def _rows(listing: str) -> dict[str, list[str]]:
    """`list` output as {run id: columns}, header left out."""
    return {line.split()[0]: line.split() for line in listing.splitlines()[1:] if line.strip()}


def _is_supervisor(request: ChatRequest) -> bool:
    return "task" in request.tool_names


def _subagent_type(child_id: str) -> str:
    # "<run id>/<sub-agent type>-<n>"
    return child_id.rsplit("/", 1)[1].rsplit("-", 1)[0]


async def _outcome(client: Client, run_id: str) -> tuple[AgentResult, dict[str, AgentResult]]:
    """The run's result and each sub-agent's, by workflow id."""
    result = await asyncio.wait_for(client.get_workflow_handle(run_id, result_type=AgentResult).result(), 180)
    children = {
        child: await asyncio.wait_for(client.get_workflow_handle(child, result_type=AgentResult).result(), 60)
        for child in result.children
    }
    return result, children


def _assert_links_download_the_stored_objects(settings: Settings, result: AgentResult, output: str) -> None:
    """One link per artifact of the run, each downloading exactly the stored object (blocking: run in a thread)."""
    links = re.findall(r"^\s+(http://\S+)$", output, re.MULTILINE)
    s3 = s3_client(settings)
    keys = {artifact.key for artifact in result.artifacts}
    linked = set()
    for link in links:
        key = unquote(urlsplit(link).path).removeprefix(f"/{settings.s3_bucket}/")
        assert key in keys, (key, keys)
        linked.add(key)
        with urllib.request.urlopen(link, timeout=30) as response:
            downloaded = response.read()
        stored = s3.get_object(settings.s3_bucket, key)
        try:
            assert downloaded == stored.read(), key
        finally:
            stored.close()
            stored.release_conn()
    assert linked == keys and len(links) == len(keys), output
    assert f"reports/{result.run_id}/final_answer.md" in keys


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


async def test_result_status_list_and_show_of_a_finished_run(
    client: Client, settings: Settings, worker: Worker
) -> None:
    handle = await start_run(client, settings)
    result, children = await _outcome(client, handle.id)

    answer = await _cli(settings, "result", handle.id)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"run id: {handle.id}" in answer.stdout
    assert result.answer.strip().splitlines()[0] in answer.stdout
    # A presigned link downloads exactly the stored object, for every artifact of the run.
    await asyncio.to_thread(_assert_links_download_the_stored_objects, settings, result, answer.stdout)
    # Secrets stay out of what the command prints.
    assert settings.s3_secret_key.get_secret_value() not in answer.stdout

    status = await _cli(settings, "status", handle.id)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "status: COMPLETED" in status.stdout
    assert result.todos
    for todo in result.todos:
        assert f"- [{todo.status}] {todo.content}" in status.stdout
    for child in result.children:
        assert f"sub-agent {_subagent_type(child)}: completed ({child})" in status.stdout

    listing = await _cli(settings, "list", "--limit", "1000")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(handle.id))
    assert "COMPLETED" in row and "test-model" in row
    assert f"{handle.id}/" not in listing.stdout  # sub-agents only with --all
    everything = await _cli(settings, "list", "--all", "--limit", "1000")
    assert everything.returncode == 0, everything.stderr
    sub_agent_rows = [line.split()[0] for line in everything.stdout.splitlines() if line.startswith(f"{handle.id}/")]
    assert sorted(sub_agent_rows) == sorted(result.children)
    completed_only = await _cli(settings, "list", "--status", "COMPLETED", "--limit", "1000")
    assert completed_only.returncode == 0, completed_only.stderr
    assert handle.id in _rows(completed_only.stdout)
    assert {columns[2] for columns in _rows(completed_only.stdout).values()} == {"COMPLETED"}

    show = await _cli(settings, "show", handle.id)
    assert show.returncode == 0, show.stderr
    assert "status:   COMPLETED" in show.stdout
    # Every model call of the supervisor and of each sub-agent is on the timeline.
    model_calls = result.steps + sum(child.steps for child in children.values())
    assert show.stdout.count("model_call") == model_calls, show.stdout
    for child in result.children:
        assert f"({child}, COMPLETED):" in show.stdout
    assert f"artifacts ({len(result.artifacts)}):" in show.stdout
    for artifact in result.artifacts:
        assert f"  {artifact.key} ({artifact.size:,} bytes" in show.stdout


async def test_bad_input_gets_a_clear_error(settings: Settings) -> None:
    unknown_profile = await _cli(settings, "run", "--profile", "nope", "do something")
    assert unknown_profile.returncode == 2
    # Every built-in profile is named, so the user can pick one.
    assert "unknown profile 'nope'; available profiles: fetch, qa, rag" in unknown_profile.stdout

    empty = await _cli(settings, "run", "   ")
    assert empty.returncode == 2 and "the request is empty" in empty.stdout

    missing = await _cli(settings, "show", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stdout


# Each command (as typed after starter.py) and the options its --help must name.
_COMMAND_OPTIONS = {
    "": ["--verbose", "run", "status", "result", "list", "show", "db", "dev", "upload", "report", "index"],
    "run": ["REQUEST", "--profile", "--max-steps", "--user", "--with-worker"],
    "upload": ["PATH", "--as", "--template"],
    "index": ["PATH", "--collection", "--from-uploads"],
    "report": ["--template", "--data", "--type", "--no-narrative", "--with-worker", "--model-timeout"],
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
        ("run", "--max-steps", "0", "x"): "must be at least 1, got 0",
        ("run", "--max-steps", "many", "x"): "not a whole number: 'many'",
        ("list", "--status", "DONE"): "--status",
        ("list", "--limit", "some"): "--limit",
        ("run",): "Missing argument 'REQUEST'",
        ("report", "--data", "sales.csv"): "Missing option '--template'",
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


async def test_run_prints_plain_lines_when_piped(client: Client, settings: Settings, worker: Worker) -> None:
    completed = await _cli(settings, "run", QA_REQUEST)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "\x1b" not in out
    # The run id comes first, so a person (or a script) can look the run up while it works.
    first_line = out.splitlines()[0]
    assert re.fullmatch(r"run id: \S+", first_line), out
    run_id = _run_id(out)
    result, children = await _outcome(client, run_id)

    # Live lines, one per event, from the supervisor and every sub-agent.
    assert re.search(r"^ +[0-9.]+s \[qa_orchestrator\] todo list:$", out, re.MULTILINE), out
    for todo in result.todos:
        assert f"- [x] {todo.content}" in out
    assert children
    for child_id, child in children.items():
        specialist = _subagent_type(child_id)
        assert f"[qa_orchestrator] delegated to {specialist} ({child_id})" in out
        assert f"[{specialist}] finished after {child.steps} model calls" in out
    assert "test-model answered" in out
    assert f"saved the final answer to reports/{run_id}/final_answer.md" in out

    # At the end: the answer, the artifacts with links that download them, the summary.
    assert result.answer.strip().splitlines()[0] in out
    assert f"artifacts ({len(result.artifacts)}, download links valid for 24 h):" in out
    await asyncio.to_thread(_assert_links_download_the_stored_objects, settings, result, out)
    last_line = out.rstrip().splitlines()[-1]
    assert last_line.startswith(
        f"status: COMPLETED in {result.steps} supervisor steps, sub-agents: {len(result.children)}, "
        f"models: test-model, tokens: {result.usage.total_tokens}"
    ), last_line


async def test_run_on_a_terminal_shows_the_live_panel(client: Client, settings: Settings, worker: Worker) -> None:
    code, raw = await asyncio.to_thread(_on_terminal, ["run", QA_REQUEST], {**_env(settings), "NO_COLOR": "1"})
    out = _text(raw)
    assert code == 0, out
    result, children = await _outcome(client, _run_id(out))
    assert "╭─ run " in out and "sub-agents" in out and "recent" in out
    assert f"qa_orchestrator: finished, {result.steps} model calls" in out
    for child_id, child in children.items():
        assert re.search(rf"{_subagent_type(child_id)} +completed +{child.steps} model calls", out), out
    # After the panel: the answer and the summary, as plain lines.
    assert f"status: COMPLETED in {result.steps} supervisor steps, sub-agents: {len(result.children)}" in out
    assert not _COLOUR.search(raw)


async def test_a_failing_run_exits_1_and_says_why(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    # A supervisor that never answers, only plans: the step limit ends the run.
    never_done = Reply.tool_calls([("write_todos", {"todos": [{"content": "think more", "status": "in_progress"}]})])
    llm.add_rule(_is_supervisor, never_done)
    failed = await _cli(settings, "run", "--max-steps", "1", QA_REQUEST)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.splitlines()[0].startswith("run id: "), failed.stdout
    run_id = _run_id(failed.stdout)
    assert re.search(rf"^run {re.escape(run_id)} FAILED: .*step limit", failed.stdout, re.MULTILINE), failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
    assert (await client.get_workflow_handle(run_id).describe()).status == WorkflowExecutionStatus.FAILED

    status = await _cli(settings, "status", run_id)
    assert status.returncode == 0 and "status: FAILED" in status.stdout, status.stdout + status.stderr
    show = await _cli(settings, "show", run_id)
    assert show.returncode == 0 and re.search(r"^status: +FAILED - .*step limit", show.stdout, re.MULTILINE), (
        show.stdout
    )

    failures = await _cli(settings, "list", "--status", "FAILED", "--limit", "1000")
    assert failures.returncode == 0, failures.stderr
    rows = _rows(failures.stdout)
    assert run_id in rows and {row[2] for row in rows.values()} == {"FAILED"}, failures.stdout
    successes = await _cli(settings, "list", "--status", "COMPLETED", "--limit", "1000")
    assert successes.returncode == 0, successes.stderr
    assert run_id not in _rows(successes.stdout)
    assert {row[2] for row in _rows(successes.stdout).values()} <= {"COMPLETED"}, successes.stdout


async def test_status_starts_no_worker(client: Client, settings: Settings, llm: ScriptedLLM) -> None:
    """A RUNNING run that no worker polls for stays where it is while `status` looks at it."""
    idle = settings.model_copy(update={"temporal_task_queue": f"idle-{uuid.uuid4().hex[:10]}"})
    handle = await start_run(client, idle)
    try:
        events_before = len((await handle.fetch_history()).events)
        # Everything a worker would need is there, so one started by `status` would make progress.
        status = await _cli(idle, "status", handle.id, env=_model_env(llm))
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"run id: {handle.id}" in status.stdout and "status: RUNNING" in status.stdout
        # It says why nothing moves, and what to do.
        assert f"no worker is polling task queue {idle.temporal_task_queue!r}" in status.stdout
        assert llm.requests == []
        assert len((await handle.fetch_history()).events) == events_before
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("test over")


async def test_status_of_a_running_run_shows_its_todos_and_sub_agents(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    # Sub-agents wait for their model, so the run stays RUNNING with its sub-agents started.
    llm.add_rule(lambda request: not _is_supervisor(request), Reply.hold(100))
    handle = await start_run(client, settings)
    try:
        await asyncio.to_thread(llm.wait_for, lambda record: not _is_supervisor(record.request), 120)
        progress: Progress = await handle.query("progress", 0, result_type=Progress)
        assert progress.todos and progress.children

        status = await _cli(settings, "status", handle.id)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "status: RUNNING" in status.stdout
        for todo in progress.todos:
            assert f"- [{todo.status}] {todo.content}" in status.stdout
        for child in progress.children:
            assert f"sub-agent {child.subagent_type}: running ({child.workflow_id})" in status.stdout
    finally:
        await handle.cancel()
        await asyncio.wait_for(asyncio.gather(handle.result(), return_exceptions=True), 60)


async def test_run_with_worker_needs_no_other_worker(client: Client, settings: Settings, llm: ScriptedLLM) -> None:
    # A task queue no worker polls: only the one `run --with-worker` starts can do the run.
    alone = settings.model_copy(update={"temporal_task_queue": f"alone-{uuid.uuid4().hex[:10]}"})
    completed = await _cli(alone, "run", "--with-worker", QA_REQUEST, env=_model_env(llm))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines()[0].startswith("run id: "), completed.stdout
    run_id = _run_id(completed.stdout)
    # Without --profile the request is routed first (one model call, to qa here).
    assert "profile: chosen by the router, models: test-model" in completed.stdout
    assert "routed to profile qa" in completed.stdout
    result, _children = await _outcome(client, run_id)
    assert result.models_used == ["test-model"]
    assert llm.requests and {record.model for record in llm.requests} == {"test-model"}
    assert (await client.get_workflow_handle(run_id).describe()).task_queue == alone.temporal_task_queue


async def test_list_limits(settings: Settings) -> None:
    for limit in ("0", "-1"):
        refused = await _cli(settings, "list", "--limit", limit)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--limit" in refused.stderr and "greater than or equal to 1" in refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr
    one = await _cli(settings, "list", "--limit", "1")
    assert one.returncode == 0 and len(_rows(one.stdout)) <= 1, one.stdout


async def test_db_migrate_says_what_it_applied(settings: Settings, pool: asyncpg.Pool) -> None:
    versions = [version for version, _sql in pgstore.migration_files()]
    up_to_date = await _cli(settings, "db", "migrate")
    assert up_to_date.returncode == 0, up_to_date.stdout + up_to_date.stderr
    assert f"schema up to date ({versions[-1]})" in up_to_date.stdout

    # On an empty database it applies every migration, and names them.
    name = f"migrate_{uuid.uuid4().hex[:10]}"
    await pool.execute(f"CREATE DATABASE {name}")
    try:
        assert settings.database_url is not None
        empty = settings.model_copy(
            update={"database_url": SecretStr(settings.database_url.get_secret_value().rsplit("/", 1)[0] + f"/{name}")}
        )
        applied = await _cli(empty, "db", "migrate")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert applied.stdout.strip() == f"applied: {', '.join(versions)}"
        again = await _cli(empty, "db", "migrate")
        assert again.returncode == 0 and f"schema up to date ({versions[-1]})" in again.stdout, again.stdout
    finally:
        await pool.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def test_the_console_script_is_the_same_cli(settings: Settings) -> None:
    script = Path(sys.executable).parent / "deepagents-temporal"
    assert script.is_file(), "pip install -e . installs the deepagents-temporal script"
    help_text = await _cli(settings, "--help", program=[str(script)])
    assert help_text.returncode == 0, help_text.stdout + help_text.stderr
    assert "Usage: deepagents-temporal" in help_text.stdout
    for command in ("run", "status", "result", "list", "show", "db", "dev"):
        assert re.search(rf"^\W*{command}\b", help_text.stdout, re.MULTILINE), (command, help_text.stdout)
