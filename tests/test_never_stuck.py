"""A workflow-task error that can never heal fails the run instead of leaving it RUNNING."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner

from deepagents_temporal.schema import AgentInput, AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import failure_message, start_run
from worker import build_worker


@workflow.defn(name="AgentWorkflow")
class ChangedAgentWorkflow:
    """Incompatible new code: its first command is a timer, not the recorded activities."""

    @workflow.run
    async def run(self, request: AgentInput) -> AgentResult:
        await workflow.sleep(timedelta(seconds=1))
        raise RuntimeError("unreachable: replay must fail before this")


def _first_supervisor_call(req: ChatRequest) -> bool:
    return "task" in req.tool_names and req.turn == 0


async def test_non_determinism_fails_the_run(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.add_rule(_first_supervisor_call, Reply.hold(3), times=1)
    async with await build_worker(client, settings, pool):
        handle = await start_run(client, settings)
        await asyncio.to_thread(llm.wait_for, lambda rec: _first_supervisor_call(rec.request), 30)
    # The old worker is gone with the run in its cache; the new code replays the history.
    changed = await build_worker(
        client, settings, pool, workflows=[ChangedAgentWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    )
    async with changed:
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), 60)
    assert (await handle.describe()).status.name == "FAILED"
    assert "nondetermin" in failure_message(failure.value).lower()
