"""Token budgets and costs: a run stops cleanly once it has used its budget,
supervisor and sub-agents counted together; with DEEPAGENT_PRICES its rows,
`run`, `list` and `show` give what it cost. Token counts are what the scripted
model reported, read back from the run's own history."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Replayer, Worker

from deepagents_temporal.devstack import DevStack
from deepagents_temporal.profiles.library import BUILTIN_FOLDER
from deepagents_temporal.schema import AgentResult, ModelCallResult, TokenUsage
from deepagents_temporal.services import data_converter, s3_client
from deepagents_temporal.settings import ModelPrice, Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.cli_process import ROOT, cluster_env
from tests.conftest import make_settings
from tests.helpers import failure_message, model_results, start_run, unique_request, worker_output, worker_process
from worker import WORKFLOWS, build_worker

BUDGET_MESSAGE = "token budget exceeded: used {used} of {budget}"
PRICES = {"test-model": ModelPrice(input=0.15, output=0.60)}


def is_supervisor(req: ChatRequest) -> bool:
    return "task" in req.tool_names


def is_e2e_specialist(req: ChatRequest) -> bool:
    return "end-to-end (e2e) test specialist" in req.system_prompt.lower()


def of_run(llm: ScriptedLLM, request: str) -> list:
    """The model requests of the run (and sub-agents) whose conversation holds ``request``."""
    return [r for r in llm.requests if request in json.dumps(r.request.messages)]


# A supervisor that only plans and never answers: each call is one more step.
PLAN_FOREVER = Reply.tool_calls([("write_todos", {"todos": [{"content": "think more", "status": "in_progress"}]})])


async def calls_of(client: Client, workflow_ids: list[str]) -> list[ModelCallResult]:
    calls = []
    for workflow_id in workflow_ids:
        calls += await model_results(client, client.get_workflow_handle(workflow_id))
    return calls


async def failure_of(handle: WorkflowHandle) -> str:
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    return failure_message(failure.value)


async def run_row(pool: asyncpg.Pool, run_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT status, error, total_tokens, cost_usd FROM runs WHERE run_id = $1", run_id)


def run_log(settings: Settings, run_id: str) -> str:
    response = s3_client(settings).get_object(settings.s3_bucket, f"logs/{run_id}/run.log")
    try:
        return response.read().decode()
    finally:
        response.close()
        response.release_conn()


async def test_a_run_stops_before_the_call_that_would_start_over_budget(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.add_rule(is_supervisor, PLAN_FOREVER)
    request = unique_request()
    budget = 5_000
    handle = await start_run(client, settings, request, max_tokens=budget, max_steps=50)
    message = await failure_of(handle)

    calls = await model_results(client, handle)
    used = sum(c.usage.total_tokens for c in calls)
    assert BUDGET_MESSAGE.format(used=used, budget=budget) in message, message
    # Counted over several calls; the last one started under budget, the next would not have.
    assert len(calls) >= 2 and used >= budget > used - calls[-1].usage.total_tokens
    # No model call after the budget was used: every request the model got has its answer in the history.
    assert len(of_run(llm, request)) == len(calls)

    row = await run_row(pool, handle.id)
    assert row["status"] == "FAILED" and row["error"] == BUDGET_MESSAGE.format(used=used, budget=budget)
    assert row["total_tokens"] == used
    assert BUDGET_MESSAGE.format(used=used, budget=budget) in await asyncio.to_thread(run_log, settings, handle.id)


def delegate_to_a_specialist_that_never_ends(llm: ScriptedLLM, request: str) -> None:
    """The supervisor delegates ``request`` to one specialist, which lists files until the budget is gone."""
    llm.clear()
    llm.add_rule(
        lambda r: is_supervisor(r) and r.turn == 0,
        Reply.tool_calls([("task", {"description": request, "subagent_type": "e2e_test_specialist"})]),
    )
    llm.add_rule(is_supervisor, Reply.text("the specialist answered"))
    llm.add_rule(is_e2e_specialist, Reply.tool_calls([("ls", {"path": "/"})]))


async def test_a_budget_used_up_inside_a_sub_agent_stops_the_whole_run(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    # The supervisor's first call, measured: with a budget of 1 it is the only one.
    request = unique_request()
    delegate_to_a_specialist_that_never_ends(llm, request)
    handle = await start_run(client, settings, request, max_tokens=1)
    await failure_of(handle)
    first_call = sum(c.usage.total_tokens for c in await model_results(client, handle))
    # A budget the supervisor's first call leaves room under, which the specialist then uses up.
    budget = first_call + 2_000
    request = unique_request()
    delegate_to_a_specialist_that_never_ends(llm, request)
    handle = await start_run(client, settings, request, max_tokens=budget)
    message = await failure_of(handle)

    child_id = f"{handle.id}/e2e_test_specialist-1"
    supervisor_calls = await model_results(client, handle)
    child_calls = await model_results(client, client.get_workflow_handle(child_id))
    used = sum(c.usage.total_tokens for c in [*supervisor_calls, *child_calls])
    assert BUDGET_MESSAGE.format(used=used, budget=budget) in message, message
    assert len(supervisor_calls) == 1 and len(child_calls) >= 2
    # The supervisor did not hand the failure to its model: no call after the specialist stopped.
    assert len(of_run(llm, request)) == len(supervisor_calls) + len(child_calls)
    child = await client.get_workflow_handle(child_id).describe()
    assert child.status.name == "FAILED"
    rows = {run_id: await run_row(pool, run_id) for run_id in (handle.id, child_id)}
    assert rows[child_id]["status"] == "FAILED" and rows[child_id]["error"].startswith("token budget exceeded: used ")
    assert rows[handle.id]["status"] == "FAILED"
    assert rows[handle.id]["error"] == BUDGET_MESSAGE.format(used=used, budget=budget)
    assert rows[handle.id]["total_tokens"] == used
    log = await asyncio.to_thread(run_log, settings, handle.id)
    assert BUDGET_MESSAGE.format(used=used, budget=budget) in log and "e2e_test_specialist" in log

    # Both histories replay against the workflow code (the budget is behind workflow.patched).
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings))
    for workflow_id in (handle.id, child_id):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert outcome.replay_failure is None, f"{workflow_id}: {outcome.replay_failure}"


async def test_a_budget_not_reached_changes_nothing(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    budget = 10_000_000
    result: AgentResult = await (await start_run(client, settings, unique_request(), max_tokens=budget)).result()
    assert len(result.children) == 3 and result.answer.strip()
    assert 0 < result.usage.total_tokens < budget


@pytest.fixture
async def budget_profile(
    client: Client, settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[tuple[Settings, str]]:
    """The qa profile's file with another name and a budget of one token, and a worker that has it."""
    name = "qa-budget-test"
    text = (BUILTIN_FOLDER / "qa.yaml").read_text().replace("name: qa\n", f"name: {name}\nmax_tokens: 1\n", 1)
    (tmp_path / "budget.yaml").write_text(text)
    own = settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})
    async with await build_worker(client, own, pool):
        yield own, name


async def test_a_profile_sets_the_budget_and_the_run_s_own_wins(
    client: Client, llm: ScriptedLLM, budget_profile: tuple[Settings, str]
) -> None:
    settings, profile = budget_profile
    llm.add_rule(is_supervisor, PLAN_FOREVER)
    handle = await start_run(client, settings, unique_request(), profile=profile)
    message = await failure_of(handle)
    used = sum(c.usage.total_tokens for c in await model_results(client, handle))
    assert BUDGET_MESSAGE.format(used=used, budget=1) in message, message

    llm.clear()
    llm.add_rule(is_supervisor, Reply.text("done at once"))
    result = await (await start_run(client, settings, unique_request(), profile=profile, max_tokens=10**6)).result()
    assert result.answer == "done at once"


@pytest.fixture
async def priced_worker(
    client: Client, stack: DevStack, llm: ScriptedLLM, pool: asyncpg.Pool
) -> AsyncIterator[Settings]:
    priced = make_settings(stack, llm, deepagent_prices=PRICES)
    async with await build_worker(client, priced, pool):
        yield priced


def expected_cost(calls: list[ModelCallResult]) -> float:
    price = PRICES["test-model"]
    return sum(c.usage.input_tokens * price.input + c.usage.output_tokens * price.output for c in calls) / 1e6


async def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=cluster_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_with_prices_the_run_row_run_list_and_show_give_the_cost(
    client: Client, priced_worker: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    settings = priced_worker
    ran = await _cli(settings, "run", unique_request())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = next(line.split()[-1] for line in ran.stdout.splitlines() if line.startswith("run id: "))
    result = await client.get_workflow_handle(run_id, result_type=AgentResult).result()
    calls = await calls_of(client, [run_id, *result.children])
    cost = expected_cost(calls)
    assert cost > 0 and result.usage.cost_usd == pytest.approx(cost)
    row = await run_row(pool, run_id)
    assert row["cost_usd"] == pytest.approx(cost)
    assert row["total_tokens"] == sum(c.usage.total_tokens for c in calls)
    for child in result.children:
        child_cost = expected_cost(await calls_of(client, [child]))
        assert (await run_row(pool, child))["cost_usd"] == pytest.approx(child_cost)

    shown = f"${cost:,.6f}"
    assert f"tokens: {result.usage.total_tokens}, cost: {shown}" in ran.stdout, ran.stdout
    listing = await _cli(settings, "list", "--limit", "1000")
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if line.startswith(run_id))
    assert line.split()[5] == shown, listing.stdout
    show = await _cli(settings, "show", run_id)
    assert show.returncode == 0, show.stderr
    assert f"tokens {result.usage.total_tokens:,}, cost {shown}" in show.stdout, show.stdout


async def test_a_model_without_a_price_leaves_the_cost_unknown(
    client: Client, stack: DevStack, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    settings = make_settings(stack, llm, deepagent_prices={"another-model": ModelPrice(input=1, output=1)})
    llm.add_rule(is_supervisor, Reply.text("done at once"))
    async with await build_worker(client, settings, pool):
        handle = await start_run(client, settings, unique_request())
        result = await handle.result()
    assert result.usage.total_tokens > 0 and result.usage.cost_usd is None
    assert (await run_row(pool, handle.id))["cost_usd"] is None
    listing = await _cli(settings, "list", "--limit", "1000")
    line = next(line for line in listing.stdout.splitlines() if line.startswith(handle.id))
    assert line.split()[5] == "-", listing.stdout


async def test_bad_budgets_and_price_tables_get_a_clear_error(settings: Settings) -> None:
    cases = {
        ("run", "--max-tokens", "0", "x"): "must be a positive number of tokens, got 0",
        ("run", "--max-tokens", "abc", "x"): "not a whole number of tokens: 'abc'",
    }
    results = await asyncio.gather(*(_cli(settings, *args) for args in cases))
    for (args, expected), result in zip(cases.items(), results, strict=True):
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)

    prices = {
        "{gpt-4o-mini: 1}": "not JSON",
        '{"gpt-4o-mini": {"input": 0.15}}': "gpt-4o-mini.output: Field required",
        '{"gpt-4o-mini": {"input": -1, "output": 0.6}}': "gpt-4o-mini.input: Input should be greater than",
    }
    results = await asyncio.gather(*(_cli(settings, "list", DEEPAGENT_PRICES=value) for value in prices))
    for (value, expected), result in zip(prices.items(), results, strict=True):
        output = result.stdout + result.stderr
        assert result.returncode == 2, (value, output)
        assert "DEEPAGENT_PRICES" in output and expected in output and "Traceback" not in output, (value, output)

    help_text = await _cli(settings, "run", "--help")
    assert help_text.returncode == 0 and "--max-tokens" in help_text.stdout, help_text.stdout

    worker = worker_process(settings, DEEPAGENT_PRICES="[1, 2]")
    code = await asyncio.to_thread(worker.wait, 60)
    output = worker_output(worker)
    assert code == 2 and "DEEPAGENT_PRICES" in output and "Traceback" not in output, output


def test_a_cost_adds_up_only_while_every_part_that_spent_tokens_has_one() -> None:
    priced = TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15, cost_usd=0.5)
    unpriced = TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15)
    nothing = TokenUsage()
    assert (priced + priced).cost_usd == 1.0
    assert (priced + nothing).cost_usd == 0.5 and (nothing + priced).cost_usd == 0.5
    assert (priced + unpriced).cost_usd is None and (unpriced + priced + priced).cost_usd is None
    assert (nothing + nothing).cost_usd is None and (unpriced + unpriced).cost_usd is None
    assert (priced + unpriced).total_tokens == 30
