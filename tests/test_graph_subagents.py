"""LangGraph graphs as sub-agents: a profile entry `graph: module:attribute`
runs the compiled graph as a child workflow of its own (GraphAgentWorkflow,
id <run id>/<name>-<n>) through the `run_graph` activity; the task description
is its input message, its last message the answer, and a graph that raises
comes back to the supervisor as a tool error while the run goes on. The
example profile (MCP server + graph) runs end to end with the scripted model
and replays; ``RECORD_HISTORIES=<name>`` records its histories beside the
others (tests/test_replay.py replays them)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from deepagents_temporal.catalog import load_catalog
from deepagents_temporal.profiles import ProfileFileError, parse_profile
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import ROOT, rows_text, start_run, unique_request
from tests.test_replay import HISTORIES, _assert_replays
from worker import build_worker

EXAMPLE = ROOT / "examples" / "glossary"
REVIEW = "You review an explanation of software testing terms"
GRAPHS = """
name: graphs
description: Hands work to graph sub-agents
system_prompt: You delegate.
tools: [task]
max_steps: 4
subagents:
  - name: reviewer
    description: Reviews a text
    graph: review_graph:graph
  - name: broken
    description: Always fails
    graph: tests.graphs_for_tests:broken
"""


@pytest.fixture
def graph_settings(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    (tmp_path / "graphs.yaml").write_text(GRAPHS)
    # As the example's comment says: its folder on PYTHONPATH; the graph's model from the environment.
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("OPENAI_BASE_URL", settings.openai_base_url or "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("DEEPAGENT_MODEL", settings.deepagent_model)
    monkeypatch.chdir(ROOT)
    # The example's `command: python` is the worker's (an activated virtualenv's).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return settings.model_copy(update={"deepagent_profiles": [str(tmp_path), str(EXAMPLE)]})


@pytest.fixture
async def graph_worker(client: Client, graph_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Settings]:
    async with await build_worker(client, graph_settings, pool):
        yield graph_settings


def _told(llm: ScriptedLLM, mine, turn: int) -> dict[str, str]:  # noqa: ANN001
    request: ChatRequest = next(r.request for r in llm.requests if mine(r.request) and r.request.turn == turn)
    return {m["tool_call_id"]: m["content"] for m in request.messages if m.get("role") == "tool"}


async def test_a_graph_sub_agent_answers_and_one_that_raises_is_a_tool_error(
    client: Client, graph_worker: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    lead = lambda r: request in r.first_user_text  # noqa: E731
    draft = f"A smoke test checks everything in depth ({request})."
    llm.add_rule(
        lambda r: lead(r) and r.turn == 0,
        Reply.tool_calls(
            [
                ("task", {"subagent_type": "reviewer", "description": draft}, "review"),
                ("task", {"subagent_type": "broken", "description": "try"}, "boom"),
            ]
        ),
        times=1,
    )
    llm.add_rule(
        lambda r: REVIEW in r.system_prompt and draft in str(r.messages),
        Reply.text("- a smoke test is quick and shallow, not in depth"),
        times=1,
    )
    llm.add_rule(lambda r: lead(r) and r.turn == 1, Reply.text("fixed the draft"), times=1)
    handle = await start_run(client, graph_worker, request, profile="graphs")
    result: AgentResult = await handle.result()
    assert result.answer == "fixed the draft"

    told = _told(llm, lead, 1)
    # The graph's last message (its second node's) is the answer.
    assert told["review"] == "1 problem(s) found.\n- a smoke test is quick and shallow, not in depth"
    assert told["boom"] == (
        "Error: sub-agent broken failed: graph tests.graphs_for_tests:broken raised RuntimeError: "
        "the graph broke on 'try'"
    )

    # Each is a child workflow of its own, running the graph in the run_graph activity.
    assert sorted(c.rsplit("/", 1)[1] for c in result.children) == ["broken-1", "reviewer-1"]
    for child in result.children:
        history = await client.get_workflow_handle(child).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.workflow_type.name == "GraphAgentWorkflow"
        assert "run_graph" in [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
    rows = await rows_text(pool, handle.id)
    assert "GraphAgentWorkflow" in rows and "COMPLETED" in rows and "FAILED" in rows


async def test_the_example_profile_looks_terms_up_over_mcp_and_asks_the_graph(
    client: Client, graph_worker: Settings, llm: ScriptedLLM
) -> None:
    request = unique_request()
    lead = lambda r: request in r.first_user_text and "task" in r.tool_names  # noqa: E731
    llm.add_rule(
        lambda r: lead(r) and r.turn == 0, Reply.tool_calls([("glossary_define", {"term": "flaky test"})]), times=1
    )
    llm.add_rule(
        lambda r: lead(r) and r.turn == 1,
        Reply.tool_calls([("task", {"subagent_type": "reviewer", "description": f"Review: flaky... {request}"})]),
        times=1,
    )
    llm.add_rule(lambda r: REVIEW in r.system_prompt and request in str(r.messages), Reply.text("Clear."), times=1)
    llm.add_rule(lambda r: lead(r) and r.turn == 2, Reply.text("A flaky test passes and fails ..."), times=1)
    handle = await start_run(client, graph_worker, request, profile="glossary")
    result: AgentResult = await handle.result()

    assert result.agent == "glossary_lead"
    told = list(_told(llm, lead, 2).values())
    assert told[0].startswith("flaky test: a test that passes and fails")
    assert told[1] == "No problems found.\nClear."

    # The run and its graph sub-agent replay (MCP listing and calls, the graph's child workflow).
    histories = [await handle.fetch_history()]
    histories += [await client.get_workflow_handle(child).fetch_history() for child in result.children]
    await _assert_replays(graph_worker, histories)
    tag = os.environ.get("RECORD_HISTORIES")
    if tag:
        for n, history in enumerate(histories):
            record = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
            (HISTORIES / f"{tag}_glossary_{n}.json").write_text(json.dumps(record, indent=1) + "\n")


def test_graph_entries_in_a_profile_file_are_checked(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"name": "p", "description": "x", "system_prompt": "x", "tools": ["task"]}
    with pytest.raises(ProfileFileError) as caught:
        parse_profile(
            base
            | {
                "subagents": [
                    {"name": "a", "description": "x", "graph": "not a reference"},
                    {"name": "b", "description": "x", "graph": "m:g", "system_prompt": "also", "tools": ["ls"]},
                    {"name": "c", "description": "x"},
                ]
            },
            "p.yaml",
        )
    problems = dict(caught.value.problems)
    assert "is not a graph reference: write module.path:attribute" in problems["subagents[0].graph"]
    assert "remove system_prompt, tools" in problems["subagents[1]"]
    assert "give system_prompt" in problems["subagents[2]"]

    # Importable on the worker: checked when a worker (or `profiles check`) loads the profiles.
    (tmp_path / "bad.yaml").write_text(
        "name: bad\ndescription: x\nsystem_prompt: x\ntools: [task]\nsubagents:\n"
        "  - {name: gone, description: x, graph: no_such_module_here:graph}\n"
        "  - {name: builder, description: x, graph: tests.graphs_for_tests:not_compiled}\n"
    )
    catalog = load_catalog(settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]}))
    with pytest.raises(ConfigurationError) as refused:
        catalog.check()
    text = str(refused.value)
    assert "bad.yaml: subagents[0].graph: cannot import 'no_such_module_here'" in text
    assert "subagents[1].graph: tests.graphs_for_tests:not_compiled is a graph builder" in text
