"""Model health across a run: a model that answered 401 or 404 is not asked again by the run."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal import pgstore, s3
from deepagents_temporal.pgstore import DecisionKind
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.helpers import bucket_text, model_results, start_run
from worker import build_worker


def _run_log_lines(settings: Settings, run_id: str) -> list[str]:
    return bucket_text(s3_client(settings), settings.s3_bucket, [s3.log_key(run_id)]).splitlines()


@pytest.mark.parametrize(
    "failure",
    [Reply.error(404, "The model `broken-model` does not exist", code="model_not_found"), Reply.error(401)],
    ids=["404", "401"],
)
async def test_a_broken_primary_costs_one_failed_call_per_run(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool, failure: Reply
) -> None:
    llm.add_rule(lambda r: r.model == "broken-model", failure)
    handle = await start_run(client, settings, chain=["broken-model", "test-model"])
    result: AgentResult = await handle.result()

    # One failed call for the whole run: the supervisor's first; its later
    # calls and its three sub-agents never ask the broken model.
    assert [r.model for r in llm.requests].count("broken-model") == 1
    assert len(result.children) == 3 and result.models_used == ["test-model"]
    calls = await model_results(client, handle)
    assert calls[0].unhealthy_models == ["broken-model"]
    assert all(not c.failed_attempts for c in calls[1:])

    # Shown once in the run's log (the live view's events), recorded as a decision.
    status = f"HTTP {failure.status}"
    skipped = [line for line in _run_log_lines(settings, handle.id) if "skipping broken-model" in line]
    assert len(skipped) == 1 and "for the rest of the run" in skipped[0] and status in skipped[0]
    decisions = await pgstore.list_decisions(pool, handle.id)
    assert [d.model for d in decisions if d.kind is DecisionKind.VALIDATION] == ["broken-model"]


@pytest.mark.parametrize(
    "failure",
    [Reply.error(500, "upstream exploded"), Reply.error(429, "slow down"), Reply.hold(5)],
    ids=["500", "429", "timeout"],
)
async def test_transient_errors_do_not_mark_a_model(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, failure: Reply
) -> None:
    llm.add_rule(lambda r: r.model == "flaky-model", failure, times=1)
    handle = await start_run(client, settings, chain=["flaky-model", "test-model"], model_timeout_seconds=2.0)
    result: AgentResult = await handle.result()

    calls = await model_results(client, handle)
    assert calls[0].model == "test-model" and calls[0].failed_attempts[0].model == "flaky-model"
    assert not any(c.unhealthy_models for c in calls)
    # Asked again after its one failure, and it answered.
    assert "flaky-model" in result.models_used
    assert len([r for r in llm.requests if r.model == "flaky-model" and r.ok]) >= 1


async def test_the_workers_own_chain_skips_a_broken_model(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    llm.unknown_model("missing-primary")
    workers_settings = settings.model_copy(
        update={"deepagent_model": "missing-primary", "deepagent_fallback_models": ["test-model"]}
    )
    async with await build_worker(client, workers_settings, pool):
        # An empty chain in the run: the workers' settings decide, minus what the run skips.
        handle = await start_run(client, settings, chain=[])
        result: AgentResult = await handle.result()
    assert result.models_used == ["test-model"] and len(result.children) == 3
    assert [r.model for r in llm.requests].count("missing-primary") == 1


async def test_a_model_a_sub_agent_found_broken_is_skipped_by_its_parent(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    # Broken for the specialists only: the supervisor learns it from them.
    llm.add_rule(lambda r: r.model == "half-broken" and "task" not in r.tool_names, Reply.error(404))
    handle = await start_run(client, settings, chain=["half-broken", "test-model"])
    await handle.result()

    supervisor_calls = await model_results(client, handle)
    assert [c.model for c in supervisor_calls] == ["half-broken", "half-broken", "test-model", "test-model"]
    assert not any(c.failed_attempts for c in supervisor_calls)
    decisions = await pgstore.list_decisions(pool, handle.id)
    assert [d.model for d in decisions if d.kind is DecisionKind.VALIDATION] == ["half-broken"]
