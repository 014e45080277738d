"""Profiles as files: loading and validation (every kind of mistake named with
its file, field and reason), the CLI's `profiles` commands, the worker refusing
a broken file, the general-purpose sub-agent, and a run keeping the profile it
started with when its file is edited mid-run (and replaying)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from deepagents_temporal.custom_tools import ToolDefinitionError, tool
from deepagents_temporal.profiles import GENERAL_PURPOSE, ProfileFileError, load_profiles
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.services import data_converter
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import base_env
from tests.helpers import ROOT, start_run, unique_request
from worker import WORKFLOWS, build_worker

RESEARCH = """
name: research
description: Researches a question and has a critic review the draft
system_prompt: |
  You research questions.
tools: [write_todos, task, read_file, write_file]
model: [gpt-4o-mini, gpt-4.1-mini]
max_steps: 9
subagents:
  - name: critic
    description: Reviews a draft and lists concrete problems
    system_prompt: You review drafts.
    tools: [read_file]
    model: gpt-4.1-mini
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _problems(folder: Path) -> list[str]:
    return [str(problem) for problem in load_profiles([folder]).problems]


def test_a_valid_profile_resolves_like_create_deep_agent_arguments(tmp_path: Path) -> None:
    _write(tmp_path, "research.yaml", RESEARCH)
    loaded = load_profiles([tmp_path])
    assert loaded.problems == []
    research = loaded.get("research")
    assert research.supervisor.name == "research"
    assert research.supervisor.models == ("gpt-4o-mini", "gpt-4.1-mini")
    assert research.supervisor.max_steps == 9
    assert research.subagents["critic"].models == ("gpt-4.1-mini",)
    # Every supervisor with task() also reaches general-purpose, with its own tools minus task.
    assert research.supervisor.delegates(research) == ("critic", GENERAL_PURPOSE)
    general = research.subagents[GENERAL_PURPOSE]
    assert general.tools == ("write_todos", "read_file", "write_file")
    assert general.models == research.supervisor.models
    assert "qa" in loaded.profiles  # the built-in ones stay


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RESEARCH.replace("[read_file]", "[read_file, web_serch]"), "subagents[0].tools[1]: unknown tool 'web_serch'"),
        (
            RESEARCH.replace("tools: [read_file]", "tools: [read_file, task]\n    subagents: [editor]"),
            "subagents[0].subagents[0]: unknown sub-agent 'editor'",
        ),
        (
            RESEARCH + RESEARCH[RESEARCH.index("  - name: critic") :],
            "subagents[1].name: duplicate sub-agent name 'critic'",
        ),
        (RESEARCH.replace("You review drafts.", '"   "'), "subagents[0].system_prompt: must not be empty"),
        (RESEARCH.replace("max_steps: 9", "max_steps: 9\ncolour: blue"), "colour: unknown field"),
        (RESEARCH.replace("name: research", "name: re search"), "name: 're search' is not a valid name"),
        (
            RESEARCH.replace("tools: [write_todos, task,", "tools: [write_todos,"),
            "subagents: the supervisor has sub-agents but not the task tool",
        ),
        ("name: [unclosed\n", "line 2, column 1: not valid YAML: expected ',' or ']'"),
        ("- just\n- a list\n", "a profile is a mapping of fields"),
    ],
)
def test_each_mistake_is_named_with_file_field_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "research.yaml", text)
    problems = _problems(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ")
    assert expected in problems[0]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = RESEARCH.replace("[read_file]", "[read_fil]").replace("max_steps: 9", "max_steps: 0")
    _write(tmp_path, "research.yaml", text)
    [problem] = load_profiles([tmp_path]).problems
    assert isinstance(problem, ProfileFileError)
    assert [where for where, _ in problem.problems] == ["max_steps", "subagents[0].tools[0]"]


def test_a_profile_name_defined_twice_is_refused_naming_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", RESEARCH)
    second = _write(tmp_path, "b.yaml", RESEARCH)
    [problem] = _problems(tmp_path)
    assert problem == f"{second}: name: profile 'research' is already defined in {first}"
    builtin_clash = _write(tmp_path, "b.yaml", RESEARCH.replace("name: research", "name: qa"))
    [problem] = _problems(tmp_path)
    assert problem.startswith(f"{builtin_clash}: name: profile 'qa' is already defined in ")


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nowhere.yaml") == [f"{tmp_path / 'nowhere.yaml'}: no such file or folder"]


def test_a_function_that_cannot_be_a_tool_says_what_to_change() -> None:
    def undocumented(x: int) -> str:
        return str(x)

    with pytest.raises(ToolDefinitionError, match="has no docstring"):
        tool(undocumented)
    with pytest.raises(ToolDefinitionError, match="'read_file' is a built-in tool's name"):
        tool(name="read_file")(lambda path: path)
    with pytest.raises(ToolDefinitionError, match="timeout_seconds must be positive"):
        tool(name="slow", timeout_seconds=0)(lambda: "x")


async def test_a_worker_refuses_to_start_on_a_broken_profile_or_tool_module(
    client: Client, settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    path = _write(tmp_path, "research.yaml", RESEARCH.replace("[read_file]", "[web_search]"))
    broken = settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})
    with pytest.raises(ConfigurationError) as refused:
        await build_worker(client, broken, pool)
    assert f"{path}: subagents[0].tools[0]: unknown tool 'web_search'" in refused.value.problem
    assert "profiles check" in refused.value.hint

    missing = settings.model_copy(update={"deepagent_tool_modules": ["no_such_tools_module"]})
    with pytest.raises(ConfigurationError) as refused:
        await build_worker(client, missing, pool)
    assert "cannot import 'no_such_tools_module'" in refused.value.problem
    assert "PYTHONPATH" in refused.value.problem


def _profiles_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "profiles", *args],
        cwd=ROOT,
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_profiles_list_show_and_check(tmp_path: Path) -> None:
    _write(tmp_path, "research.yaml", RESEARCH)
    env = {"DEEPAGENT_PROFILES": str(tmp_path)}
    listed, shown, checked = await asyncio.gather(
        asyncio.to_thread(_profiles_cli, "list", **env),
        asyncio.to_thread(_profiles_cli, "show", "research", **env),
        asyncio.to_thread(_profiles_cli, "check", str(tmp_path)),
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "research: Researches a question" in listed.stdout
    assert "qa: QA orchestrator" in listed.stdout
    assert f"from {tmp_path / 'research.yaml'}" in listed.stdout

    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "agent_name: research" in shown.stdout
    assert "- name: general-purpose" in shown.stdout
    assert "model:\n  - gpt-4.1-mini" in shown.stdout or "model:\n- gpt-4.1-mini" in shown.stdout

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok: {tmp_path / 'research.yaml'}: profile 'research' (3 agents" in checked.stdout

    _write(
        tmp_path, "broken.yaml", RESEARCH.replace("name: research", "name: broken").replace("[read_file]", "[read_fil]")
    )
    bad, unknown = await asyncio.gather(
        asyncio.to_thread(_profiles_cli, "check", str(tmp_path)),
        asyncio.to_thread(_profiles_cli, "show", "nope", **env),
    )
    assert bad.returncode == 2
    assert f"{tmp_path / 'broken.yaml'}: subagents[0].tools[0]: unknown tool 'read_fil'" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    assert unknown.returncode == 2
    assert "unknown profile 'nope'; available profiles: fetch, qa, rag, research" in unknown.stdout


async def test_general_purpose_sub_agent_gets_the_supervisors_tools(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    request = unique_request()
    supervisor = lambda r: request in r.first_user_text and "task" in r.tool_names  # noqa: E731
    general = lambda r: "general-purpose assistant" in r.system_prompt  # noqa: E731
    job = "List three risks of the search feature"
    llm.add_rule(
        lambda r: supervisor(r) and r.turn == 0,
        Reply.tool_calls([("task", {"subagent_type": GENERAL_PURPOSE, "description": job})]),
        times=1,
    )
    llm.add_rule(lambda r: general(r) and job in r.first_user_text, Reply.text("1. ranking 2. typos 3. latency"))
    llm.add_rule(lambda r: supervisor(r) and r.turn == 1, Reply.text("risks noted"), times=1)
    handle = await start_run(client, settings, request)
    result: AgentResult = await handle.result()

    assert result.children == [f"{handle.id}/{GENERAL_PURPOSE}-1"]
    asked = next(r.request for r in llm.requests if general(r.request))
    supervisor_tools = next(r.request for r in llm.requests if supervisor(r.request)).tool_names
    assert asked.tool_names == [t for t in supervisor_tools if t != "task"]
    assert asked.first_user_text == job
    told = next(r.request for r in llm.requests if supervisor(r.request) and r.request.turn == 1)
    assert "1. ranking 2. typos 3. latency" in str(told.messages)


async def test_a_run_keeps_its_profile_when_the_file_is_edited_mid_run(
    client: Client, settings: Settings, pool: asyncpg.Pool, llm: ScriptedLLM, tmp_path: Path
) -> None:
    path = _write(tmp_path, "research.yaml", RESEARCH)
    own = settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})
    request = unique_request()
    lead = lambda r: request in r.first_user_text and "task" in r.tool_names  # noqa: E731
    critic = lambda r: r.system_prompt in ("You review drafts.", "EDITED critic prompt.")  # noqa: E731

    def lead_starts(r) -> bool:  # noqa: ANN001
        # The run has read its profile by now (its first model call): edit the file under it.
        if lead(r) and r.turn == 0:
            path.write_text(
                RESEARCH.replace("You review drafts.", "EDITED critic prompt.").replace(
                    "You research questions.", "EDITED lead prompt."
                )
            )
            return True
        return False

    llm.add_rule(
        lead_starts, Reply.tool_calls([("task", {"subagent_type": "critic", "description": "review it"})]), times=1
    )
    llm.add_rule(critic, Reply.text("looks fine"))
    llm.add_rule(lambda r: lead(r) and r.turn == 1, Reply.text("final"), times=1)
    llm.add_rule(lambda r: "task" in r.tool_names, Reply.text("a later run"))

    async with await build_worker(client, own, pool):
        handle = await start_run(client, own, request, profile="research", chain=["test-model"])
        result: AgentResult = await handle.result()
        assert result.answer == "final"
        prompts = [r.request.system_prompt for r in llm.requests if critic(r.request)]
        assert prompts == ["You review drafts."]
        assert all(r.request.system_prompt == "You research questions." for r in llm.requests if lead(r.request))
        # A run started after the edit gets the new file.
        later = await start_run(client, own, "a later run", profile="research", chain=["test-model"])
        await later.result()
        assert any(r.request.system_prompt == "EDITED lead prompt." for r in llm.requests)

    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(own))
    for workflow_id in [handle.id, *result.children]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert outcome.replay_failure is None, f"{workflow_id}: {outcome.replay_failure}"


def test_runs_from_before_profile_files_replay_with_the_frozen_profile(tmp_path: Path) -> None:
    """Their workflow code read no file: the frozen profile is what they get, whatever qa.yaml says,
    and it has no general-purpose sub-agent (such runs could not reach one)."""
    from deepagents_temporal.profiles import get_builtin_profile
    from deepagents_temporal.profiles.legacy import legacy_profile

    legacy, current = legacy_profile("qa"), get_builtin_profile("qa")
    assert GENERAL_PURPOSE not in legacy.subagents and GENERAL_PURPOSE in current.subagents
    assert legacy.supervisor.delegates(legacy) == current.supervisor.subagents
    assert legacy.supervisor.system_prompt == current.supervisor.system_prompt
