"""Secrets never leave the worker: one redaction step, applied to activity
errors, heartbeats and logs, proven with sentinel values end to end."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from datetime import timedelta
from urllib.parse import quote

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deepagents_temporal.redaction import MARKER, Redactor, secrets_of, url_password
from deepagents_temporal.redaction_hooks import install_log_redaction
from deepagents_temporal.services import connect, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import (
    bucket_text,
    failure_message,
    history_text,
    rows_text,
    start_run,
    stop_process,
    worker_output,
    worker_process,
)


def _secret(value: SecretStr | None) -> str:
    assert value is not None
    return value.get_secret_value()


# --------------------------------------------------------------------------- the step itself


def test_configured_secrets_are_removed_wherever_they_appear() -> None:
    settings = Settings(
        openai_api_key="plainkey-not-shaped-like-sk",
        s3_access_key="DAACCESSKEY123",
        s3_secret_key="s3-secret/with+chars",
        database_url="postgresql://agent:p%40ss-w0rd!@127.0.0.1:5432/db",
        deepagent_payload_key="00" * 32,
    )
    assert url_password(_secret(settings.database_url)) == "p@ss-w0rd!"
    values = secrets_of(settings)
    assert len(values) == 6  # the password both as written in the URL and decoded
    redactor = Redactor(values)
    for value in values:
        for text in (
            f"error near {value}!",
            json.dumps({"detail": f"got {value}"}),  # JSON-escaped
            f"http://host/?k={quote(value, safe='')}",  # URL-encoded
        ):
            cleaned = redactor.redact(text)
            assert value not in cleaned and MARKER in cleaned, (value, cleaned)
    # The text around a secret stays readable.
    assert redactor.redact("S3 rejected DAACCESSKEY123: SignatureDoesNotMatch") == (
        f"S3 rejected {MARKER}: SignatureDoesNotMatch"
    )
    # Values too short to be secrets do not blank ordinary words.
    assert Redactor(["ab"]).redact("a cab") == "a cab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("invalid api key: Bearer sk-abc123def456", f"invalid api key: Bearer {MARKER}"),
        ("Incorrect API key provided: sk-proj-AbCdEf0123456789", f"Incorrect API key provided: {MARKER}"),
        ('{"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}', f'{{"headers": {{"Authorization": "{MARKER}"}}}}'),
        ("authorization: Token abcdef123456, retry", f"authorization: {MARKER}, retry"),
        ("x-api-key=abcdef123456", f"x-api-key={MARKER}"),
        (
            "cannot connect to postgresql://agent:hunter2hunter@db:5432/app",
            f"cannot connect to postgresql://agent:{MARKER}@db:5432/app",
        ),
        ("host=db user=agent password=hunter2 dbname=app", f"host=db user=agent password={MARKER} dbname=app"),
        ('password authentication failed for user "agent"', 'password authentication failed for user "agent"'),
        ("HTTP 404: model gpt-4o-mini not found", "HTTP 404: model gpt-4o-mini not found"),
        ("token limit exceeded: 9000 tokens, basic tier", "token limit exceeded: 9000 tokens, basic tier"),
    ],
)
def test_generic_shapes_are_removed_and_the_rest_kept(text: str, expected: str) -> None:
    redactor = Redactor()
    assert redactor.redact(text) == expected
    assert redactor.redact(expected) == expected  # a second pass changes nothing


def test_redact_value_walks_nested_details() -> None:
    redactor = Redactor(["topsecret-value"])
    details = {"errors": [{"model": "m", "error": "echo topsecret-value"}], "n": 3, "t": ("Bearer abcdefgh",)}
    assert redactor.redact_value(details) == {
        "errors": [{"model": "m", "error": f"echo {MARKER}"}],
        "n": 3,
        "t": (f"Bearer {MARKER}",),
    }
    clean = {"errors": [], "n": 1}
    assert redactor.redact_value(clean) is clean


def test_log_records_are_redacted_message_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    logger = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.INFO, logger="tests.secrets"):
        logger.warning("model said %s", "no: Bearer sk-logged-0123456789")
        try:
            try:
                raise OSError("dsn postgresql://u:logged-password@h/db refused")
            except OSError as err:
                raise RuntimeError("giving up") from err
        except RuntimeError:
            logger.exception("store failed")
    text = caplog.text
    assert "sk-logged-0123456789" not in text and "logged-password" not in text
    assert "model said no: Bearer [redacted]" in text
    assert "giving up" in text and "postgresql://u:[redacted]@h/db" in text


# --------------------------------------------------------------------------- activity errors and heartbeats


class LeakyActivities:
    """Activities whose errors and heartbeats quote the worker's credentials, as a
    careless S3 or PostgreSQL error text would."""

    def __init__(self, settings: Settings) -> None:
        self.s3_secret = _secret(settings.s3_secret_key)
        self.database_url = _secret(settings.database_url)

    @activity.defn(name="leaky_heartbeat")
    async def leaky_heartbeat(self) -> list:
        info = activity.info()
        if info.attempt == 1:
            activity.heartbeat({"waiting_for": f"S3 with secret {self.s3_secret}"})
            raise OSError(f"connection refused: {self.database_url}")
        return list(info.heartbeat_details)

    @activity.defn(name="leaky_failure")
    async def leaky_failure(self) -> None:
        try:
            raise OSError(f"could not reach {self.database_url}")
        except OSError as err:
            raise ApplicationError(
                f"upload signed with {self.s3_secret} failed", {"secret": self.s3_secret}, type="StorageRejected"
            ) from err


@workflow.defn(name="LeakyWorkflow")
class LeakyWorkflow:
    @workflow.run
    async def run(self) -> list:
        policy = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2)
        seen = await workflow.execute_activity(
            "leaky_heartbeat", start_to_close_timeout=timedelta(seconds=30), retry_policy=policy
        )
        await workflow.execute_activity(
            "leaky_failure", start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=1)
        )
        return seen


async def test_activity_errors_and_heartbeats_reach_temporal_redacted(
    client: Client, settings: Settings, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    # The project worker's own interceptors (build_worker's), on leaky activities.
    interceptors = worker.workers[0].config()["interceptors"]
    task_queue = f"{settings.temporal_task_queue}-leaky"
    leaky = LeakyActivities(settings)
    s3_secret, password = leaky.s3_secret, url_password(leaky.database_url)
    assert password
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[LeakyWorkflow],
        activities=[leaky.leaky_heartbeat, leaky.leaky_failure],
        interceptors=interceptors,
        # The workflow is this test module's: not re-imported in a sandbox.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            LeakyWorkflow.run,
            id=f"test-leaky-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=2),
        )
        with caplog.at_level(logging.WARNING), pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    message = failure_message(failure.value)
    # Still says what went wrong, down the cause chain, with its type.
    assert f"upload signed with {MARKER} failed" in message
    assert "could not reach postgresql://" in message and MARKER in message
    cause = failure.value.cause.cause  # WorkflowFailureError -> ActivityError -> ApplicationError
    assert isinstance(cause, ApplicationError) and cause.type == "StorageRejected"
    assert cause.details == ({"secret": MARKER},)
    history = await history_text(client, handle.id)
    # The first activity's second attempt saw its first attempt's heartbeat, redacted.
    assert f"S3 with secret {MARKER}" in history
    assert "connection refused: postgresql://" in history
    for text, where in [(history, "history"), (caplog.text, "log")]:
        assert s3_secret not in text, where
        assert password not in text, where
    assert "Completing activity as failed" in caplog.text


# --------------------------------------------------------------------------- end to end, with sentinels


def _echo_after_planning(request: ChatRequest) -> bool:
    """The specialists' calls and the supervisor's once it has their results:
    the run plans and delegates, then every model call fails."""
    return "task" not in request.tool_names or any(r.name == "task" for r in request.tool_results)


async def _children(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def test_sentinel_secrets_appear_nowhere_after_a_run_whose_model_echoes_the_key(
    settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    api_key = f"sk-sentinel-{uuid.uuid4().hex}"
    payload_key = secrets.token_hex(32)
    sentinels = {
        "OPENAI_API_KEY": api_key,
        "DEEPAGENT_PAYLOAD_KEY": payload_key,
        # The test stack's real credentials: what the worker holds.
        "S3_ACCESS_KEY": _secret(settings.s3_access_key),
        "S3_SECRET_KEY": _secret(settings.s3_secret_key),
        "DATABASE_URL password": url_password(_secret(settings.database_url)),
    }
    assert all(sentinels.values())
    llm.add_rule(_echo_after_planning, Reply.error(401, "invalid api key", echo_authorization=True))
    # A reader who holds the payload key, as the workers do.
    client = await connect(settings.model_copy(update={"deepagent_payload_key": SecretStr(payload_key)}))
    worker = worker_process(settings, OPENAI_API_KEY=api_key, DEEPAGENT_PAYLOAD_KEY=payload_key)
    try:
        handle = await start_run(client, settings, chain=["test-model"])
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    finally:
        stop_process(worker)
    output = worker_output(worker)
    message = failure_message(failure.value)
    assert (await handle.describe()).status.name == "FAILED"
    # Redacted but still useful.
    assert "all models failed" in message
    assert f"HTTP 401: invalid api key: Bearer {MARKER}" in message
    # The server really echoed the key, and the specialists really ran and failed.
    assert any(api_key in (r.error or "") for r in llm.requests)
    children = await _children(client, handle.id)
    assert len(children) >= 2
    statuses = [(await client.get_workflow_handle(c).describe()).status.name for c in children]
    assert statuses == ["FAILED"] * len(children)

    histories = [(f"history of {w}", await history_text(client, w)) for w in [handle.id, *children]]
    objects = bucket_text(
        s3_client(settings),
        settings.s3_bucket,
        [f"runs/{handle.id}/", f"reports/{handle.id}/", f"logs/{handle.id}/", "payloads/"],
    )
    rows = await rows_text(pool, handle.id)
    logs = output
    # Each place was really read: the redacted error is in every one of them.
    for where, text in [*histories[:1], ("bucket", objects), ("rows", rows), ("worker output", logs)]:
        assert f"Bearer {MARKER}" in text, where
    for where, text in [*histories, ("bucket", objects), ("rows", rows), ("worker output", logs)]:
        for name, value in sentinels.items():
            assert value not in text, f"{name} found in {where}"


async def test_redaction_does_not_hide_errors_without_secrets(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.add_rule(None, Reply.error(401, "invalid api key"))
    handle = await start_run(client, settings, chain=["test-model"])
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), 120)
    message = failure_message(failure.value)
    assert "HTTP 401: invalid api key" in message and MARKER not in message
