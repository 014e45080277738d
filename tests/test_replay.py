"""Histories recorded from real runs replay deterministically against today's workflow code."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from deepagents_temporal.runtime import WORKFLOWS, data_converter
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.scripted_llm import Reply, ScriptedLLM
from deepagents_temporal.settings import Settings
from tests.helpers import start_run


async def test_recorded_histories_replay(client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM) -> None:
    # A run with every path in it: fallback, malformed output, a failed child.
    llm.unknown_model("gpt-missing")
    llm.add_rule(
        lambda r: "task" in r.tool_names and r.turn == 0,
        Reply.tool_calls([("write_todos", "{not json")]),
        times=1,
    )
    llm.add_rule(lambda r: "functional test specialist" in r.system_prompt.lower(), Reply.error(400, "bad request"))
    handle = await start_run(client, settings, chain=["gpt-missing", "test-model"])
    result: AgentResult = await handle.result()

    histories = [await handle.fetch_history()]
    for child_id in result.children:
        histories.append(await client.get_workflow_handle(child_id).fetch_history())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))
    for history in histories:
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert outcome.replay_failure is None, f"{history.workflow_id}: {outcome.replay_failure}"
    assert len(histories) == 4
