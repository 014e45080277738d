"""Nothing waits in silence, and read-only commands only read.

`run` shows which model a call waits for once it takes more than a few
seconds (plain lines and the live panel), passes its model request timeout
(``--model-timeout`` / ``DEEPAGENT_MODEL_TIMEOUT``) to the run, warns when no
worker polls the task queue and goes on waiting, and says when model settings
given to it cannot apply. `status` and `result` never run a worker, and bad
option values get usage errors.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from rich.console import Console
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from cli.live_view import RunWatcher, render_panel
from cli.waits import ModelWait
from deepagents_temporal.schema import AgentInput
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import ROOT, CliProcess, cluster_env
from tests.helpers import QA_REQUEST, start_run
from worker import build_worker

RUN_ID_LINE = r"^run id: (\S+)$"


async def _workflow_input(client: Client, run_id: str) -> AgentInput:
    history = await client.get_workflow_handle(run_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return (await client.data_converter.decode(started.input.payloads, [AgentInput]))[0]


async def _workflow_tasks_started(client: Client, run_id: str) -> int:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)


async def test_run_says_which_model_it_waits_for_and_passes_its_timeout(
    client: Client, settings: Settings, llm: ScriptedLLM, worker: Worker
) -> None:
    # Every model call hangs: the answer never comes while the test looks.
    llm.add_rule(None, Reply.hold(120))
    by_option = CliProcess(["run", "--model-timeout", "45", QA_REQUEST], cluster_env(settings))
    by_setting = CliProcess(["run", QA_REQUEST], cluster_env(settings, DEEPAGENT_MODEL_TIMEOUT="33"))
    run_ids = []
    try:
        for process, timeout in ((by_option, 45), (by_setting, 33)):
            run_id = (await asyncio.to_thread(process.wait_for, RUN_ID_LINE, 60)).group(1)
            run_ids.append(run_id)
            await asyncio.to_thread(process.wait_for, rf"model request timeout: {timeout} s", 5)
            line = (
                await asyncio.to_thread(
                    # The first call is the routing step's (the run names no profile).
                    process.wait_for,
                    r"^ +[0-9.]+s \[router\] waiting for (\S+) \(([0-9]+) s\)$",
                    60,
                )
            ).group(0)
            assert "waiting for test-model (" in line
            # The model call the line is about is in flight on the model server.
            assert any(r.in_flight and r.model == "test-model" for r in llm.requests)
            assert (await _workflow_input(client, run_id)).model_timeout_seconds == timeout
    finally:
        by_option.stop()
        by_setting.stop()
        for run_id in run_ids:
            await client.get_workflow_handle(run_id).terminate("test over")


def test_live_panel_shows_what_each_agent_waits_for() -> None:
    watcher = RunWatcher(client=None, run_id="qa-1")  # type: ignore[arg-type]  # never polled here
    now = datetime.now(UTC)
    watcher._waits["qa-1"] = [ModelWait("qa-1", "7", 2, "gpt-slow", now - timedelta(seconds=42))]
    watcher._waits["qa-1/e2e-1"] = [ModelWait("qa-1/e2e-1", "3", 1, "gpt-fast", now - timedelta(seconds=1))]
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=120).print(render_panel(watcher, []))
    text = out.getvalue()
    assert re.search(r"\[qa-1\] waiting for gpt-slow \(4[2-9] s, attempt 2\)", text), text
    # A call of one second is no wait worth showing.
    assert "gpt-fast" not in text


async def test_run_on_a_cluster_warns_when_no_worker_polls_and_keeps_waiting(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    process = CliProcess(["run", QA_REQUEST], cluster_env(settings, OPENAI_API_KEY="sk-test-given-to-run"))
    try:
        match = await asyncio.to_thread(process.wait_for, r"^warning: no worker is polling task queue '([^']+)'", 60)
        assert match.group(1) == settings.temporal_task_queue
        warning = match.string
        assert "python worker.py" in warning and "--with-worker" in warning
        # A key given to `run` reaches no worker on a cluster; it says so.
        assert re.search(r"^warning: OPENAI_API_KEY is set but not used here", process.output, re.MULTILINE)
        # It goes on waiting: a worker that comes now finishes the run.
        async with await build_worker(client, settings, pool):
            code = await asyncio.to_thread(process.wait, 120)
        assert code == 0, process.output
        assert "status: COMPLETED" in process.output
    finally:
        process.stop()


async def test_status_and_result_never_run_a_worker(client: Client, settings: Settings) -> None:
    # A run no worker has touched, on a task queue nobody polls.
    handle = await start_run(client, settings)
    try:
        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "starter.py"), "status", handle.id],
            cwd=ROOT,
            env=cluster_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert "status: RUNNING" in status.stdout
        assert f"no worker is polling task queue '{settings.temporal_task_queue}'" in status.stdout

        result = CliProcess(["result", handle.id], cluster_env(settings))
        try:
            await asyncio.to_thread(result.wait_for, rf"^run {handle.id} is RUNNING and no worker is polling", 60)
            await asyncio.to_thread(result.wait_for, r"waiting for the run's end", 5)
        finally:
            result.stop()
        # Nobody ever picked the run up: no workflow task was started.
        assert await _workflow_tasks_started(client, handle.id) == 0
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("test over")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--limit", "0"], "'--limit'"),
        (["list", "--limit", "-1"], "'--limit'"),
        (["run", "--model-timeout", "0", "x"], "must be between 1 and 3600 seconds"),
        (["run", "--model-timeout", "soon", "x"], "not a number of seconds: 'soon'"),
    ],
)
async def test_bad_option_values_are_usage_errors(args: list[str], message: str, settings: Settings) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=cluster_env(settings, TEMPORAL_TASK_QUEUE=f"unused-{uuid.uuid4().hex[:8]}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


class _PostgresDown(Interceptor):
    """`record` fails the way an unreachable PostgreSQL does, until ``healed``."""

    def __init__(self) -> None:
        self.healed = False

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        outer = self

        class _Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> object:
                if activity.info().activity_type == "record" and not outer.healed:
                    raise ConnectionRefusedError("waiting for PostgreSQL at 127.0.0.1:9: connection refused")
                return await super().execute_activity(input)

        return _Inbound(next)


async def test_status_says_what_a_retrying_activity_waits_for(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    outage = _PostgresDown()
    async with await build_worker(client, settings, pool, interceptors=[outage]):
        handle = await start_run(client, settings)
        try:
            # The first row's write has failed at least once and waits for its next attempt.
            for _ in range(600):
                pending = (await handle.describe()).raw_description.pending_activities
                if any(p.activity_type.name == "record" and p.attempt >= 2 for p in pending):
                    break
                await asyncio.sleep(0.1)
            status = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(ROOT / "starter.py"), "status", handle.id],
                env=cluster_env(settings),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert status.returncode == 0, status.stdout + status.stderr
            assert re.search(r"record: attempt \d+, last error: .*PostgreSQL at 127\.0\.0\.1:9", status.stdout), (
                status.stdout
            )
        finally:
            outage.healed = True
        assert (await handle.result()).answer.strip()
