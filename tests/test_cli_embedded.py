"""The commands on the embedded stack, as a new user meets them (no TEMPORAL_ADDRESS).

With `starter.py dev` running, `run` reuses its stack and worker: the links it
prints stay valid, and model settings given to `run` (which `dev`'s worker
cannot apply) get a warning. A standalone `run` starts a stack of its own
and says that its links stop working when it exits. `status` and `result` on
a stack they started themselves never run a worker. Each test keeps its stack
in a folder of its own (``XDG_DATA_HOME``) and deletes it at the end.
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from deepagents_temporal.devstack import delete_dev_stack_data, start_dev_stack
from deepagents_temporal.devstack.state import APP_DIR_NAME
from deepagents_temporal.schema import AgentInput
from deepagents_temporal.service_errors import SERVICE_EXIT_CODE
from deepagents_temporal.services import connect
from deepagents_temporal.settings import Settings
from tests.cli_process import CliProcess, base_env
from tests.helpers import QA_REQUEST

LINKS_DIE = "note: these links work only while this command runs"


async def test_run_reusing_dev_keeps_its_links_and_warns_about_model_settings(tmp_path: Path) -> None:
    env = base_env(XDG_DATA_HOME=str(tmp_path))
    dev = CliProcess(["dev"], env)
    run: CliProcess | None = None
    try:
        await asyncio.to_thread(dev.wait_for, r"^Ctrl-C stops everything", 120)
        run = CliProcess(
            ["run", QA_REQUEST], {**env, "OPENAI_API_KEY": "sk-test-not-for-dev", "DEEPAGENT_MODEL": "gpt-elsewhere"}
        )
        code = await asyncio.to_thread(run.wait, 180)
        output = run.output
        assert code == 0, output
        assert "using the embedded stack started by `starter.py dev`" in output
        assert (
            "warning: OPENAI_API_KEY, DEEPAGENT_MODEL are set but not used here: "
            "the run goes to the worker of `starter.py dev`"
        ) in output
        # dev's worker answered, with dev's (demo) model.
        assert re.search(r"^status: COMPLETED .*models: offline-demo, tokens", output, re.MULTILINE), output
        assert "Temporal UI: http://127.0.0.1:" in output and LINKS_DIE not in output
        dev.process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(dev.wait, 60) == 0, dev.output
    finally:
        for process in (run, dev):
            if process is not None:
                process.stop()
        delete_dev_stack_data(tmp_path / APP_DIR_NAME)


async def test_standalone_run_says_its_links_die_and_read_only_commands_run_no_worker(tmp_path: Path) -> None:
    env = base_env(XDG_DATA_HOME=str(tmp_path))
    data_dir = tmp_path / APP_DIR_NAME
    try:
        run = CliProcess(["run", QA_REQUEST], env)
        code = await asyncio.to_thread(run.wait, 240)
        assert code == 0, run.output
        assert "starting the embedded stack" in run.output
        # Next to the UI link at the start, and next to the download links at the end.
        assert run.output.count(LINKS_DIE) == 2, run.output
        assert "download links valid for 24 h" in run.output

        # A run nobody works on, in that stack's data.
        run_id = f"test-{uuid.uuid4().hex[:12]}"
        stack = await start_dev_stack(data_dir)
        try:
            client = await connect(stack.settings(Settings()))
            await client.start_workflow(
                "AgentWorkflow",
                AgentInput(request=QA_REQUEST),
                id=run_id,
                task_queue=Settings().temporal_task_queue,
                execution_timeout=timedelta(minutes=10),
            )
        finally:
            await stack.stop()

        status = CliProcess(["status", run_id], env)
        assert await asyncio.to_thread(status.wait, 120) == 0, status.output
        assert "status: RUNNING" in status.output
        assert "no worker is polling task queue" in status.output and "python starter.py dev" in status.output
        result = CliProcess(["result", run_id], env)
        assert await asyncio.to_thread(result.wait, 120) == SERVICE_EXIT_CODE, result.output
        assert f"run {run_id} is RUNNING and no worker is polling" in result.output
        assert "start `python starter.py dev`" in result.output

        stack = await start_dev_stack(data_dir)
        try:
            client = await connect(stack.settings(Settings()))
            handle = client.get_workflow_handle(run_id)
            history = await handle.fetch_history()
            assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
            await handle.terminate("test over")
        finally:
            await stack.stop()
    finally:
        delete_dev_stack_data(data_dir)
