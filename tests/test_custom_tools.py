"""Custom tools end to end: a profile file naming @tool functions, a worker
that imports them from DEEPAGENT_TOOL_MODULES, the scripted model calling them.
What the model is told for each way a tool can fail, the activity each tool
runs as, and the artifact a tool writes through its ToolContext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from minio import Minio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import ROOT, rows_text, start_run, unique_request
from worker import build_worker

TOOLBOX = """
name: toolbox
description: Exercises custom tools
system_prompt: You try tools.
tools: [flaky_lookup, always_broken, refuses, write_note, save_table, calculate, read_file]
max_steps: 5
"""


@pytest.fixture
def tools_settings(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    (tmp_path / "toolbox.yaml").write_text(TOOLBOX)
    # As the README tells users: the example's folder on PYTHONPATH.
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "tools"))
    return settings.model_copy(
        update={
            "deepagent_tool_modules": ["tests.tools_for_tests", "analyst_tools"],
            "deepagent_profiles": [str(tmp_path), str(ROOT / "examples" / "profiles")],
        }
    )


@pytest.fixture
async def tools_worker(client: Client, tools_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    async with await build_worker(client, tools_settings, pool) as running:
        yield running


def _tool_messages(request: ChatRequest) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request.messages if m.get("role") == "tool"}


async def test_each_way_a_custom_tool_ends_reaches_the_model(
    client: Client, tools_settings: Settings, tools_worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls(
            [
                ("save_table", {"title": "Q3", "rows": [{"label": "July"}]}, "bad_args"),
                ("flaky_lookup", {"key": "sku-42"}, "flaky"),
                ("always_broken", {"x": 7}, "broken"),
                ("refuses", {"reason": "not today"}, "refused"),
                ("write_note", {"name": "hello.md", "text": "# Hello\n"}, "note"),
                ("calculate", {"expression": "(1250.50 * 12) / 3"}, "calc"),
            ]
        ),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("done"), times=1)
    handle = await start_run(client, tools_settings, request, profile="toolbox")
    result: AgentResult = await handle.result()
    assert result.answer == "done"

    told = _tool_messages(next(r.request for r in llm.requests if mine(r.request) and r.request.turn == 1))
    assert told["bad_args"].startswith("Error: invalid arguments for save_table: ")
    assert "rows.0.value: Field required" in told["bad_args"]
    assert told["flaky"] == "value of sku-42 (answered on attempt 3)"
    assert told["broken"] == "Error: tool always_broken failed after 2 attempts: service down while handling 7"
    assert told["refused"] == "Error: tool refuses failed: refused: not today"
    assert "'saved': '/notes/hello.md'" in told["note"] or '"saved": "/notes/hello.md"' in told["note"]
    assert told["calc"] == "5002"

    # Each tool is an activity of its own, named after it, tried as its policy says.
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    for name in ("flaky_lookup", "always_broken", "refuses", "write_note", "save_table", "calculate"):
        assert f"tool:{name}" in scheduled
    attempts = {
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    assert 3 in attempts  # flaky_lookup's third attempt answered

    # The note a tool wrote is a file of the run and one of its artifacts.
    key = f"runs/{handle.id}/files/notes/hello.md"
    assert key in {a.key for a in result.artifacts}
    s3: Minio = s3_client(tools_settings)
    response = s3.get_object(tools_settings.s3_bucket, key)
    try:
        assert response.read() == b"# Hello\n"
    finally:
        response.close()
        response.release_conn()
    assert key in await rows_text(pool, handle.id)


async def test_example_analyst_profile_saves_a_table_and_asks_its_critic(
    client: Client, tools_settings: Settings, tools_worker: Worker, llm: ScriptedLLM
) -> None:
    request = unique_request()
    lead = lambda r: request in r.first_user_text and "task" in r.tool_names  # noqa: E731
    critic = lambda r: "You review an analyst's draft" in r.system_prompt  # noqa: E731
    rows = [{"label": "July", "value": 1200}, {"label": "August", "value": 1300.5}]
    llm.add_rule(
        lambda r: lead(r) and r.turn == 0,
        Reply.tool_calls([("save_table", {"title": "Q3 revenue", "rows": rows})]),
        times=1,
    )
    llm.add_rule(
        lambda r: lead(r) and r.turn == 1,
        Reply.tool_calls([("task", {"subagent_type": "critic", "description": "Check /tables/q3-revenue.csv"})]),
        times=1,
    )
    llm.add_rule(
        lambda r: critic(r) and r.turn == 0,
        Reply.tool_calls([("read_file", {"file_path": "/tables/q3-revenue.csv"})]),
        times=1,
    )
    llm.add_rule(lambda r: critic(r) and r.turn == 1, Reply.text("No problems found."), times=1)
    llm.add_rule(
        lambda r: lead(r) and r.turn == 2, Reply.text("Q3 revenue: 2500.5, table /tables/q3-revenue.csv"), times=1
    )

    handle = await start_run(client, tools_settings, request, profile="analyst")
    result: AgentResult = await handle.result()

    assert result.agent == "analyst_lead"
    assert result.answer.startswith("Q3 revenue")
    assert [c.rsplit("/", 1)[1] for c in result.children] == ["critic-1"]
    critic_read = next(r.request for r in llm.requests if critic(r.request) and r.request.turn == 1)
    assert "label,value" in str(critic_read.messages) and "August,1300.5" in str(critic_read.messages)
    assert f"runs/{handle.id}/files/tables/q3-revenue.csv" in {a.key for a in result.artifacts}
