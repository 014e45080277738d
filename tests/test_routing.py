"""The routing step: a request started without a profile goes, through one
model call, to the registered profile or workflow the model names, with a
reason recorded as a `routing` decision; a nonsense answer goes to the default
profile with why; --profile skips the model; the CLI prints the choice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from deepagents_temporal.routing import ROUTE_TOOL, RouteOption, RoutingOptions, choose_route, workflow_arguments_from
from deepagents_temporal.schema import AgentResult, Message, ToolCall
from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import cluster_env
from tests.helpers import ROOT, failure_message, start_run, unique_request
from tests.report_inputs import NARRATIVE, SALES_CSV, narrates, upload_inputs
from worker import build_worker

RESEARCH = """
name: research
description: Researches a question on the web and writes a sourced brief
system_prompt: You research questions.
tools: [write_todos, read_file, write_file]
"""


def routing(r) -> bool:  # noqa: ANN001
    return ROUTE_TOOL in r.tool_names


@pytest.fixture
async def routed_settings(
    client: Client, settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[Settings]:
    (tmp_path / "research.yaml").write_text(RESEARCH)
    own = settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})
    async with await build_worker(client, own, pool):
        yield own


async def _decisions(pool: asyncpg.Pool, run_id: str) -> list[asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM decisions WHERE run_id = $1 AND kind = 'routing' ORDER BY seq", run_id)
    return [row for row in rows if row["summary"].startswith("route -> ")]


async def test_the_model_routes_a_request_to_each_registered_profile(
    client: Client, routed_settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and routing(r),
        Reply.tool_calls([(ROUTE_TOOL, {"target": "research", "reason": "it asks for research"})]),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and "You research questions." in r.system_prompt, Reply.text("a brief"))
    handle = await start_run(client, routed_settings, request, profile=None)
    result: AgentResult = await handle.result()
    assert result.agent == "research" and result.answer == "a brief"

    routed = next(r.request for r in llm.requests if mine(r.request) and routing(r.request))
    offered = routed.tool_schema(ROUTE_TOOL)["parameters"]["properties"]["target"]["enum"]
    assert {"qa", "research"} <= set(offered)
    assert "research (profile): Researches a question on the web" in routed.system_prompt
    [decision] = await _decisions(pool, handle.id)
    assert decision["summary"] == "route -> profile research: it asks for research"
    row = await pool.fetchrow("SELECT profile FROM runs WHERE run_id = $1", handle.id)
    assert row["profile"] == "research"
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "routed to profile **research**: it asks for research" in metadata.current_details

    # A request the model sends to qa.
    llm.add_rule(lambda r: routing(r), Reply.tool_calls([(ROUTE_TOOL, {"target": "qa", "reason": "tests"})]), times=1)
    qa = await start_run(client, routed_settings, "Write test scenarios with specialists " + request, profile=None)
    result = await qa.result()
    assert result.agent == "qa_orchestrator"
    assert len(result.children) == 3


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (Reply.text("banana"), "the router's answer named nothing registered ('banana')"),
        (
            Reply.tool_calls([(ROUTE_TOOL, {"target": "astrology", "reason": "stars"})]),
            "the router named 'astrology', which is not registered",
        ),
    ],
)
async def test_an_answer_naming_nothing_registered_goes_to_the_default_profile(
    client: Client, routed_settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool, reply: Reply, why: str
) -> None:
    request = unique_request()
    llm.add_rule(lambda r: request in r.first_user_text and routing(r), reply, times=1)
    handle = await start_run(client, routed_settings, request, profile=None)
    result: AgentResult = await handle.result()
    assert result.agent == "qa_orchestrator"
    [decision] = await _decisions(pool, handle.id)
    assert decision["summary"] == f"route -> profile qa: {why}; using the default profile qa"


async def test_a_named_profile_skips_the_routing_call(
    client: Client, routed_settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    llm.add_rule(lambda r: request in r.first_user_text, Reply.text("direct"))
    handle = await start_run(client, routed_settings, request, profile="research")
    assert (await handle.result()).answer == "direct"
    assert not [r for r in llm.requests if request in r.request.first_user_text and routing(r.request)]
    assert await _decisions(pool, handle.id) == []


def test_choose_route_reads_a_text_answer_that_names_one_target() -> None:
    options = RoutingOptions(
        options=[
            RouteOption(kind="profile", name="qa", description="tests"),
            RouteOption(kind="profile", name="research", description="research"),
        ],
        default_profile="qa",
    )
    text = Message(role="assistant", content="This is a job for research.")
    assert choose_route(text, options).name == "research"
    both = Message(role="assistant", content="qa or research")
    assert choose_route(both, options).fallback
    bad_json = Message(role="assistant", tool_calls=[ToolCall(id="1", name=ROUTE_TOOL, raw_args="{", error="not JSON")])
    assert choose_route(bad_json, options).fallback


async def test_a_default_profile_that_does_not_exist_stops_the_worker(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    wrong = settings.model_copy(update={"deepagent_default_profile": "nope"})
    with pytest.raises(ConfigurationError) as refused:
        await build_worker(client, wrong, pool)
    assert "DEEPAGENT_DEFAULT_PROFILE='nope' is not a profile" in refused.value.problem


def _run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=cluster_env(settings, NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_run_prints_the_routing_choice_and_show_lists_it(
    client: Client, settings: Settings, pool: asyncpg.Pool, llm: ScriptedLLM
) -> None:
    async with await build_worker(client, settings, pool):
        routed = await asyncio.to_thread(_run_cli, settings, "run", unique_request())
    assert routed.returncode == 0, routed.stdout + routed.stderr
    assert "profile: chosen by the router" in routed.stdout
    assert "routed to profile qa" in routed.stdout
    run_id = next(line.split()[-1] for line in routed.stdout.splitlines() if line.startswith("run id: "))
    shown = await asyncio.to_thread(_run_cli, settings, "show", run_id)
    assert "routing" in shown.stdout and "route -> profile qa:" in shown.stdout

    both, unknown = await asyncio.gather(
        asyncio.to_thread(_run_cli, settings, "run", "--profile", "qa", "--workflow", "report", "x"),
        asyncio.to_thread(_run_cli, settings, "run", "--workflow", "nope", "x"),
    )
    assert both.returncode == 2 and "--profile and --workflow both name" in both.stdout
    assert unknown.returncode == 2 and "unknown workflow 'nope'" in unknown.stdout


async def test_a_report_request_is_routed_to_the_reporting_workflow_as_a_child(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    """The offline demo router (the scripted model's default brain) picks the
    report workflow by its description and takes the file names from the request."""
    s3 = s3_client(settings)
    template, data = upload_inputs(s3, settings, SALES_CSV)
    narrates(llm)
    request = f"Build the sales report from the data file {data} with the template {template}"
    handle = await start_run(client, settings, request, profile=None)
    result: AgentResult = await handle.result()

    assert result.children == [f"{handle.id}/report"]
    child = await client.get_workflow_handle(result.children[0]).describe()
    assert child.workflow_type == "ReportingWorkflow" and child.status.name == "COMPLETED"
    assert "14 valid, 4 invalid" in result.answer and NARRATIVE in result.answer
    assert {f"reports/{handle.id}/report.xlsx", f"reports/{handle.id}/summary.json"} <= {
        a.key for a in result.artifacts
    }
    [decision] = await _decisions(pool, handle.id)
    assert decision["summary"].startswith("route -> workflow report: ")
    row = await pool.fetchrow("SELECT status FROM runs WHERE run_id = $1", handle.id)
    assert row["status"] == "COMPLETED"


async def test_workflow_named_with_its_inputs_skips_the_model_and_bad_inputs_fail_clearly(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    s3 = s3_client(settings)
    template, data = upload_inputs(s3, settings, SALES_CSV)
    request = f"template={template} data={data} narrative=false"
    handle = await start_run(
        client, settings, request, profile=None, workflow="report", workflow_arguments=workflow_arguments_from(request)
    )
    result: AgentResult = await handle.result()
    assert "14 valid, 4 invalid" in result.answer
    assert not [r for r in llm.requests if request in r.request.first_user_text]

    missing = await start_run(
        client, settings, "data=x.csv", profile=None, workflow="report", workflow_arguments={"data": "x.csv"}
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await missing.result()
    assert "arguments for workflow report: template: Field required" in failure_message(failed.value)
