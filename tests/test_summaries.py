"""Every activity's summary in the Temporal UI says what it did (workflows/summaries.py),
read back from a finished run's history through the client, as the UI reads it."""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.pgstore.records import DecisionKind, DecisionRecord, RunRecord, RunStatus
from deepagents_temporal.schema import AgentResult, RecordBatch, ToolCall
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.helpers import start_run, unique_request
from workflows import summaries


def test_model_call_summaries_name_the_chain_position_and_what_the_run_skips() -> None:
    assert summaries.model_call("supervisor", 1, ["gpt-4o-mini"], {}) == "gpt-4o-mini · supervisor step 1"
    skipped = {"gpt-x": "HTTP 404: The model `gpt-x` does not exist"}
    assert (
        summaries.model_call("supervisor", 3, ["gpt-4o-mini", "gpt-4o"], skipped)
        == "gpt-4o-mini (after gpt-x 404; fallback gpt-4o) · supervisor step 3"
    )
    # The workers' own chain: no model named that the workflow cannot know.
    assert summaries.model_call("critic", 1, [], {}) == "workers' models · critic step 1"
    assert summaries.model_call("critic", 2, [], {"gpt-x": "answered 401 or 404 earlier in the run"}, "m") == (
        "workers' models (last answer m; after gpt-x 401/404) · critic step 2"
    )
    # Every model skipped: the chain is tried whole again, not listed as "after" itself.
    assert summaries.model_call("a", 1, ["m"], {"m": "HTTP 401: bad key"}) == "m · a step 1"
    assert summaries.model_call("a", 2, ["m"], {}, files_before=["write_file /a.md", "ls /"]) == (
        "m · a step 2 · after write_file /a.md, ls /"
    )


def test_tool_and_record_summaries_say_what_they_act_on() -> None:
    write = ToolCall(id="1", name="write_file", args={"file_path": "/scenarios/e2e.md"}, args_stored_in="abc")
    assert summaries.file_tool(write) == "write_file /scenarios/e2e.md"
    grep = ToolCall(id="2", name="grep", args={"pattern": "TODO", "path": "/src"})
    assert summaries.file_tool(grep) == "grep TODO in /src"
    assert summaries.file_tool(ToolCall(id="3", name="ls")) == "ls"
    table = ToolCall(id="4", name="save_table", args={"title": "Q3   revenue", "rows": [1, 2]})
    assert summaries.tool_call("save_table", table) == 'save_table title="Q3 revenue", …'
    long = ToolCall(id="5", name="define", args={"term": "x" * 500})
    assert len(summaries.tool_call("mcp glossary/define", long)) < 100
    batch = RecordBatch(
        run=RunRecord(run_id="r", workflow_name="AgentWorkflow", status=RunStatus.IN_PROGRESS),
        decisions=[DecisionRecord(run_id="r", seq=i, kind=DecisionKind.MODEL_CALL, summary="s") for i in range(11)],
    )
    assert summaries.record(batch) == "record 12 rows (run IN_PROGRESS, 11 decisions)"


async def _summaries(client: Client, workflow_id: str) -> list[tuple[str, str]]:
    """(activity type, summary) of every scheduled activity, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        name = event.activity_task_scheduled_event_attributes.activity_type.name
        summary = ""
        if event.user_metadata.HasField("summary"):
            (summary,) = await client.data_converter.decode([event.user_metadata.summary], [str])
        found.append((name, summary))
    return found


async def test_a_finished_run_tells_its_story_in_its_activity_summaries(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.unknown_model("gpt-x")
    handle = await start_run(client, settings, unique_request(), chain=["gpt-x", "test-model"])
    result: AgentResult = await handle.result()
    run_id = handle.id

    supervisor = await _summaries(client, run_id)
    assert all(summary for _, summary in supervisor), supervisor
    models = [summary for name, summary in supervisor if name == "call_model"]
    # Scheduled before gpt-x answered 404, then after the run learned it.
    assert models[0] == "gpt-x (fallback test-model) · qa_orchestrator step 1"
    assert models[1:] and all(s.startswith("test-model (after gpt-x 404) · qa_orchestrator step ") for s in models[1:])
    assert ("save_deliverable", f"write reports/{run_id}/final_answer.md") in supervisor
    assert ("compose_run_log", f"write logs/{run_id}/run.log") in supervisor
    records = [summary for name, summary in supervisor if name == "record"]
    assert records and all(re.fullmatch(r"record \d+ rows? \(.+\)", s) for s in records), records

    child = next(c for c in result.children if "e2e" in c)
    of_child = await _summaries(client, child)
    # The write ran in its model call's activity: the next call names it.
    assert any(
        name == "call_model" and s.endswith("e2e_test_specialist step 2 · after write_file /scenarios/e2e.md")
        for name, s in of_child
    ), of_child
    assert not any(name == "file_tool" for name, _ in of_child), of_child
    assert any(name == "call_model" and s.startswith("test-model (after gpt-x 401/404)") for name, s in of_child)
    assert any(
        name == "write_log_part" and re.fullmatch(r"write \d+ log lines of e2e_test_specialist", s)
        for name, s in of_child
    )
