"""`starter.py cancel`: the run and its sub-agents end CANCELLED, the reason on
the run's row, the model call in flight is abandoned (its HTTP request closed,
through the activity's heartbeats), and the files and logs written so far are
kept and listed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import ROOT, cluster_env
from tests.helpers import start_run, unique_request
from worker import build_worker

PROFILE = """
name: slow
description: Hands work to a sub-agent whose model never answers in time
system_prompt: You plan and delegate.
tools: [write_file, task]
subagents:
  - name: ponderer
    description: Thinks for a long time
    system_prompt: You are the ponderer sub-agent.
    tools: [write_file]
"""
PATIENCE = 120


@pytest.fixture
def slow_settings(settings: Settings, tmp_path: Path) -> Settings:
    (tmp_path / "slow.yaml").write_text(PROFILE)
    return settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})


@pytest.fixture
async def slow_worker(client: Client, slow_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    async with await build_worker(client, slow_settings, pool) as running:
        yield running


async def test_cancel_stops_the_run_its_sub_agents_and_their_model_calls(
    client: Client, slow_settings: Settings, slow_worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    sub = "You are the ponderer sub-agent."
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls(
            [
                ("write_file", {"file_path": "/plan.md", "content": "the plan"}, "plan"),
                ("task", {"description": f"ponder {request}", "subagent_type": "ponderer"}, "delegate"),
            ]
        ),
        times=1,
    )
    # Far longer than the test waits: the call ends only if it is cancelled.
    llm.add_rule(lambda r: sub in r.system_prompt, Reply.hold(3600))
    handle = await start_run(client, slow_settings, request, profile="slow")
    child_id = f"{handle.id}/ponderer-1"
    async with asyncio.timeout(PATIENCE):
        while not [r for r in llm.requests if sub in r.request.system_prompt and request in str(r.request.messages)]:
            await asyncio.sleep(0.2)

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "cancel", handle.id, "--reason", "wrong request"],
        cwd=ROOT,
        env=cluster_env(slow_settings),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"{handle.id}: CANCELLED - cancelled: wrong request" in out
    assert f"{child_id}: CANCELLED - cancelled with its parent run" in out
    assert f"runs/{handle.id}/files/plan.md" in out and f"logs/{handle.id}/run.log" in out

    for workflow_id in (handle.id, child_id):
        assert (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.CANCELED
    row = await pool.fetchrow("SELECT status, error FROM runs WHERE run_id = $1", handle.id)
    assert (row["status"], row["error"]) == ("CANCELLED", "cancelled: wrong request")
    # The sub-agent's model request was closed by the cancelled activity, not answered.
    async with asyncio.timeout(PATIENCE):
        while True:
            held = [r for r in llm.requests if sub in r.request.system_prompt and request in str(r.request.messages)]
            if all(r.finished is not None for r in held):
                break
            await asyncio.sleep(0.2)
    assert held and all(r.aborted and not r.completed for r in held)
