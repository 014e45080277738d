"""Model fallback is the activity retry policy: which model answered is in the history."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.helpers import (
    QA_REQUEST,
    bucket_text,
    failure_message,
    history_text,
    model_results,
    rows_text,
    start_run,
)


async def test_unknown_primary_falls_back_and_history_names_the_model(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.unknown_model("gpt-missing")
    handle = await start_run(client, settings, chain=["gpt-missing", "test-model"])
    result: AgentResult = await handle.result()
    assert result.models_used == ["test-model"]

    calls = await model_results(client, handle)
    assert calls, "no model call in the history"
    assert {call.model for call in calls} == {"test-model"}
    # The first call went to the primary first (later ones skip it: test_model_health.py).
    first = calls[0]
    assert first.attempt == 2
    assert [e.model for e in first.failed_attempts] == ["gpt-missing"]
    assert "404" in first.failed_attempts[0].error
    assert any(r.model == "gpt-missing" and r.status == 404 for r in llm.requests)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Reply.error(500, "upstream exploded"), "HTTP 500"),
        (Reply.error(401, "invalid api key"), "HTTP 401"),
        (Reply.hold(5), "timed out"),
    ],
    ids=["500", "401", "timeout"],
)
async def test_errors_move_on_to_the_next_model(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, failure: Reply, expected: str
) -> None:
    llm.add_rule(lambda r: r.model == "flaky-model", failure)
    handle = await start_run(client, settings, chain=["flaky-model", "test-model"], model_timeout_seconds=1.0)
    await handle.result()
    first = (await model_results(client, handle))[0]
    assert first.model == "test-model"
    assert expected in first.failed_attempts[0].error


async def test_rate_limit_waits_for_retry_after_on_the_same_model(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.add_rule(None, Reply.error(429, "slow down", retry_after=4), times=1)
    handle = await start_run(client, settings, chain=["test-model"])
    await asyncio.to_thread(llm.wait_for, lambda r: r.status == 429, 60)
    delay = None
    while delay is None and len(llm.requests) < 2:
        pending = (await handle.describe()).raw_description.pending_activities
        if pending and pending[0].attempt == 2 and pending[0].HasField("next_attempt_schedule_time"):
            scheduled = pending[0].next_attempt_schedule_time.ToDatetime()
            failed = pending[0].last_attempt_complete_time.ToDatetime()
            delay = (scheduled - failed).total_seconds()
        await asyncio.sleep(0.05)
    await handle.result()
    limited, retried = llm.requests[0], llm.requests[1]
    assert limited.status == 429 and retried.status == 200
    if delay is None:
        # The retry started before the test saw it scheduled: the model server's own record.
        assert limited.finished is not None
        delay = retried.started - limited.finished
    # Retried Retry-After seconds later, not after the 0.2 s default.
    assert delay >= 3.9, delay
    first = (await model_results(client, handle))[0]
    assert first.attempt == 2 and "HTTP 429" in first.failed_attempts[0].error


async def test_a_bad_request_fails_at_once_without_asking_the_fallback(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.add_rule(lambda r: r.model == "primary-model", Reply.error(400, "unsupported parameter: temperature"))
    handle = await start_run(client, settings, chain=["primary-model", "fallback-model"])
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    message = failure_message(failure.value)
    assert "model request rejected by primary-model" in message and "unsupported parameter" in message
    assert "all models failed" not in message
    assert [r.model for r in llm.requests] == ["primary-model"]


async def test_all_models_failing_fails_the_run_naming_each_model(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.unknown_model("gpt-missing", "also-missing")
    handle = await start_run(client, settings, chain=["gpt-missing", "also-missing"])
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    message = failure_message(failure.value)
    assert "all models failed" in message
    assert "gpt-missing" in message and "also-missing" in message
    assert "HTTP 404" in message
    description = await handle.describe()
    assert description.status.name == "FAILED"
    # Two rounds through the chain, then it stops.
    assert [r.model for r in llm.requests] == ["gpt-missing", "also-missing"] * 2


async def test_api_key_never_enters_history_bucket_or_records(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    key = "sk-test-not-a-real-key"
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    histories = [await history_text(client, workflow_id) for workflow_id in [handle.id, *result.children]]
    s3 = s3_client(settings)
    objects = bucket_text(
        s3, settings.s3_bucket, [f"runs/{handle.id}/", f"reports/{handle.id}/", f"logs/{handle.id}/", "payloads/"]
    )
    rows = await rows_text(pool, handle.id)
    # The scan reads decoded payloads and stored transcripts: the request, which
    # history only carries base64-encoded, is found in each.
    assert QA_REQUEST in histories[0] and QA_REQUEST not in (await handle.fetch_history()).to_json()
    assert QA_REQUEST in objects and QA_REQUEST in rows
    for where, text in [
        *zip([handle.id, *result.children], histories, strict=True),
        ("bucket", objects),
        ("rows", rows),
    ]:
        assert key not in text, where
    # It did reach the model server, as the bearer token of every request.
    assert all(r.request.headers.get("authorization") == f"Bearer {key}" for r in llm.requests)
