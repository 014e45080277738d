"""Histories replay deterministically against today's workflow code.

Two sources: runs recorded just now (an agent run on every path: fallback,
malformed output, a failed child; a report with invalid rows and a narrative
that falls back), and histories committed under tests/histories/, recorded by an
earlier version of the code. The committed ones are what catches an upgrade
that would break runs already in flight: such a change needs
``workflow.patched`` (see docs/architecture.md), not new histories. Refresh them only on
purpose, adding a set named after the change:
``RECORD_HISTORIES=profiles_from_files pytest tests/test_replay.py`` writes
``tests/histories/profiles_from_files_<n>.json`` (and ``..._report_<n>.json``
for the reporting workflow) and keeps the older sets.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from deepagents_temporal.onboarding.schema import (
    MISSING_FIELDS_QUERY,
    SUPPLY_FIELDS_UPDATE,
    MissingFields,
    SupplyFields,
)
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import data_converter, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.document_inputs import HANDBOOK, start_document, start_onboarding, upload_client, upload_document
from tests.helpers import start_run
from tests.report_inputs import SALES_CSV, narrates, start_report, upload_inputs
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


async def _record_run_with_every_path(client: Client, settings: Settings, llm: ScriptedLLM) -> list[WorkflowHistory]:
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
    return histories


async def _assert_replays(settings: Settings, histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))
    for history in histories:
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert outcome.replay_failure is None, f"{history.workflow_id}: {outcome.replay_failure}"


async def _record_report(client: Client, settings: Settings, llm: ScriptedLLM) -> list[WorkflowHistory]:
    """A report with invalid rows whose narrative falls back from an unknown primary."""
    llm.unknown_model("gpt-missing")
    narrates(llm)
    template, data = upload_inputs(s3_client(settings), settings, SALES_CSV)
    handle = await start_report(client, settings, template, data, model_chain=["gpt-missing", "test-model"])
    await handle.result()
    return [await handle.fetch_history()]


def _keep(histories: list[WorkflowHistory], name: str) -> None:
    """With RECORD_HISTORIES=<tag>: write them as <tag><name>_<n>.json."""
    tag = os.environ.get("RECORD_HISTORIES")
    if tag:
        # Added beside the older ones, never replacing them: those are what
        # runs started by earlier versions look like.
        HISTORIES.mkdir(exist_ok=True)
        for n, history in enumerate(histories):
            record = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
            (HISTORIES / f"{tag}{name}_{n}.json").write_text(json.dumps(record, indent=1) + "\n")


async def test_fresh_histories_replay(client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM) -> None:
    histories = await _record_run_with_every_path(client, settings, llm)
    assert len(histories) == 4
    await _assert_replays(settings, histories)
    _keep(histories, "")


async def test_a_fresh_report_history_replays(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    histories = await _record_report(client, settings, llm)
    await _assert_replays(settings, histories)
    _keep(histories, "_report")


async def _record_document_and_onboarding(client: Client, settings: Settings) -> list[WorkflowHistory]:
    """A document run (parent and a section child) and an onboarding run that waits and gets a field supplied."""
    s3 = s3_client(settings)
    document = await start_document(client, settings, upload_document(s3, settings, HANDBOOK), fanout=2)
    await document.result()
    checklist, folder = upload_client(s3, settings, "globex")
    onboarding = await start_onboarding(client, settings, checklist, folder, wait_seconds=600)
    while not (await onboarding.query(MISSING_FIELDS_QUERY, result_type=MissingFields)).waiting:
        await asyncio.sleep(0.2)
    values = {"registration_number": "GB771234", "incorporation_date": "2011-03-12", "contact_email": "a@b.example"}
    await onboarding.execute_update(SUPPLY_FIELDS_UPDATE, SupplyFields(values=values), result_type=str)
    await onboarding.result()
    return [
        await document.fetch_history(),
        await client.get_workflow_handle(f"{document.id}/section-1").fetch_history(),
        await onboarding.fetch_history(),
    ]


async def test_fresh_document_and_onboarding_histories_replay(
    client: Client, settings: Settings, worker: Worker
) -> None:
    histories = await _record_document_and_onboarding(client, settings)
    await _assert_replays(settings, histories)
    _keep(histories, "_documents")


async def test_a_routed_run_replays(client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM) -> None:
    handle = await start_run(client, settings, profile=None)
    result: AgentResult = await handle.result()
    assert result.agent == "qa_orchestrator"
    history = await handle.fetch_history()
    await _assert_replays(settings, [history])
    tag = os.environ.get("RECORD_HISTORIES")
    if tag:
        record = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
        (HISTORIES / f"{tag}_routed.json").write_text(json.dumps(record, indent=1) + "\n")


async def test_committed_histories_replay(settings: Settings) -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, f"no recorded histories in {HISTORIES}"
    assert list(HISTORIES.glob("*_report_*.json")), "no committed history of the reporting workflow"
    assert list(HISTORIES.glob("*_documents_*.json")), "no committed history of the document and onboarding workflows"
    histories = []
    for path in files:
        record = json.loads(path.read_text())
        histories.append(WorkflowHistory.from_json(record["workflow_id"], record["history"]))
    await _assert_replays(settings, histories)
