"""Small helpers the tests share: starting runs and reading their histories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
from google.protobuf.message import Message
from minio import Minio
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from deepagents_temporal.failures import failure_messages
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.schema import AgentInput, AgentResult, ModelCallResult
from deepagents_temporal.settings import Settings

QA_REQUEST = "Generate test scenarios for e-commerce search feature"
RUN_TIMEOUT = timedelta(minutes=3)
ROOT = Path(__file__).resolve().parent.parent


async def start_run(
    client: Client,
    settings: Settings,
    request: str = QA_REQUEST,
    *,
    chain: list[str] | None = None,
    run_id: str | None = None,
    **fields: object,
) -> WorkflowHandle:
    run_id = run_id or f"test-{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        "AgentWorkflow",
        AgentInput(request=request, model_chain=settings.model_chain if chain is None else chain, **fields),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        result_type=AgentResult,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        # A regression fails the test instead of hanging the suite.
        execution_timeout=RUN_TIMEOUT,
    )


def unique_request() -> str:
    """The qa request, made this run's own: runs of one request have the same
    conversation, so the model server's request keys would mix their calls."""
    return f"{QA_REQUEST} (run {uuid.uuid4().hex[:8]})"


def calls_made_twice(requests: list, request: str) -> list:
    """Completed model calls of the run of ``request`` whose identical call had completed before."""
    mine = [r for r in requests if r.completed and request in json.dumps(r.request.messages)]
    seen = Counter(r.key for r in mine)
    return [r for r in mine if seen[r.key] > 1]


def worker_process(settings: Settings, **env: str) -> subprocess.Popen:
    """``python worker.py`` against the test stack, configured only through its environment."""
    values = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OPENAI_BASE_URL": settings.openai_base_url or "",
        "S3_ENDPOINT": settings.s3_endpoint or "",
        "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        "S3_BUCKET": settings.s3_bucket,
        "DATABASE_URL": settings.database_url.get_secret_value() if settings.database_url else "",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")],
        cwd=ROOT,
        env=values,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Read all along: a worker that logs more than a pipe holds must never block on it.
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    _worker_output[process.pid] = (lines, reader)
    return process


_worker_output: dict[int, tuple[list[str], threading.Thread]] = {}


def worker_output(process: subprocess.Popen) -> str:
    """What a ``worker_process`` printed, whole once it has exited."""
    lines, reader = _worker_output[process.pid]
    if process.poll() is not None:
        reader.join(10)
    return "".join(lines)


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(10)


async def model_results(client: Client, handle: WorkflowHandle) -> list[ModelCallResult]:
    """Every completed call_model result in the workflow's history, in order."""
    history = await handle.fetch_history()
    model_calls = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "call_model"
    }
    results = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads = event.activity_task_completed_event_attributes.result.payloads
            if event.activity_task_completed_event_attributes.scheduled_event_id not in model_calls:
                continue
            # decode() also fetches payloads that ExternalStorage moved to S3.
            results.append((await client.data_converter.decode(payloads, [ModelCallResult]))[0])
    return results


def failure_message(err: BaseException) -> str:
    """All messages down the failure's cause chain, joined."""
    return " | ".join(failure_messages(err))


def _payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (inputs, results, heartbeats, failures' details...)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.is_repeated:
            items = value.values() if field.message_type.GetOptions().map_entry else value
            for item in items:
                if isinstance(item, Message):
                    yield from _payloads_in(item)
        else:
            yield from _payloads_in(value)


async def history_text(client: Client, workflow_id: str) -> str:
    """A workflow's history as a person with the data converter reads it: the
    event JSON plus every payload decoded (external storage fetched from S3)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    parts = [history.to_json()]
    for event in history.events:
        for payload in _payloads_in(event):
            value = (await client.data_converter.decode([payload]))[0]
            parts.append(
                value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value, default=str)
            )
    return "\n".join(parts)


def bucket_text(s3: Minio, bucket: str, prefixes: list[str]) -> str:
    """Every object under ``prefixes``, as text."""
    parts = []
    for prefix in prefixes:
        for obj in s3.list_objects(bucket, prefix=prefix, recursive=True):
            response = s3.get_object(bucket, obj.object_name)
            try:
                parts.append(f"{obj.object_name}\n{response.read().decode('utf-8', 'replace')}")
            finally:
                response.close()
                response.release_conn()
    return "\n".join(parts)


async def rows_text(pool: asyncpg.Pool, run_id: str) -> str:
    """Every PostgreSQL row of a run and its sub-agents, as text."""
    parts = []
    for table in ("runs", "decisions", "artifacts"):
        rows = await pool.fetch(f"SELECT t::text AS row FROM {table} t WHERE run_id LIKE $1 || '%'", run_id)
        parts.extend(r["row"] for r in rows)
    return "\n".join(parts)
