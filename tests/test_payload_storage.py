"""Large payloads leave Temporal history and go to S3 (ExternalStorage + S3 driver on minio)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import urllib3
    from minio import Minio
    from minio.error import S3Error
    from temporalio.api.common.v1 import Payload
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.history.v1 import History
    from temporalio.api.sdk.v1 import ExternalStorageReference
    from temporalio.client import Client
    from temporalio.converter import JSONProtoPayloadConverter
    from temporalio.worker import Replayer, Worker

    from deepagents_temporal.devstack import DevStack
    from deepagents_temporal.payload_storage import (
        DEFAULT_KEY_PREFIX,
        MinioStorageDriverClient,
        data_converter_with_external_storage,
    )
    from deepagents_temporal.services import data_converter
    from deepagents_temporal.settings import Settings

BUCKET = "deepagents"  # the app bucket (Settings.s3_bucket default)
BIG_SIZE = 5 * 1024 * 1024  # over the server's 2 MB per-payload limit


@activity.defn
async def make_big_text(size: int) -> str:
    return "x" * size


@workflow.defn
class BigPayloadWorkflow:
    @workflow.run
    async def run(self, size: int) -> int:
        text = await workflow.execute_activity(make_big_text, size, start_to_close_timeout=timedelta(seconds=60))
        return len(text)


def _minio(stack: DevStack, secret: str | None = None) -> Minio:
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=30.0), retries=False)
    return Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=secret or stack.s3_secret_key,
        secure=False,
        http_client=http,
    )


@pytest.fixture(scope="module")
async def s3(stack: DevStack) -> AsyncIterator[Minio]:
    client = _minio(stack)
    if not client.bucket_exists(BUCKET):
        try:
            client.make_bucket(BUCKET)
        except S3Error as exc:  # another test created it meanwhile
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    yield client


async def test_driver_client_round_trip(s3: Minio) -> None:
    driver_client = MinioStorageDriverClient(s3)
    key = f"v0/d/sha256/test-{uuid.uuid4().hex}"
    data = secrets.token_bytes(300_000)

    assert await driver_client.object_exists(bucket=BUCKET, key=key) is False
    await driver_client.put_object(bucket=BUCKET, key=key, data=data)
    assert await driver_client.object_exists(bucket=BUCKET, key=key) is True
    assert await driver_client.get_object(bucket=BUCKET, key=key) == data
    # Idempotent: the same key and bytes again leave one identical object.
    await driver_client.put_object(bucket=BUCKET, key=key, data=data)
    assert await driver_client.get_object(bucket=BUCKET, key=key) == data

    # The object really sits under the prefix, as the driver client names it.
    name = f"{DEFAULT_KEY_PREFIX}{key}"
    assert driver_client.object_name(key) == name
    assert s3.stat_object(BUCKET, name).size == len(data)
    s3.remove_object(BUCKET, name)


async def test_driver_client_not_found_is_not_an_error_but_denial_is(stack: DevStack, s3: Minio) -> None:
    missing = f"v0/d/sha256/missing-{uuid.uuid4().hex}"
    driver_client = MinioStorageDriverClient(s3)
    assert await driver_client.object_exists(bucket=BUCKET, key=missing) is False
    with pytest.raises(S3Error) as got:
        await driver_client.get_object(bucket=BUCKET, key=missing)
    assert got.value.code == "NoSuchKey"

    # Wrong credentials must raise, never read as "object missing" (which
    # would make the driver upload blindly or hide a misconfiguration).
    intruder = MinioStorageDriverClient(_minio(stack, secret=stack.s3_secret_key[::-1] + "x"))
    with pytest.raises(S3Error) as denied:
        await intruder.object_exists(bucket=BUCKET, key=missing)
    assert denied.value.code not in ("NoSuchKey", "NotFound")


async def test_large_activity_result_goes_to_s3_not_history(stack: DevStack, s3: Minio) -> None:
    converter = data_converter_with_external_storage(s3, BUCKET)
    client = await Client.connect(stack.temporal_address, data_converter=converter)
    task_queue = f"test-payloads-{uuid.uuid4().hex[:10]}"
    workflow_id = f"test-big-payload-{uuid.uuid4().hex[:12]}"

    # No extra worker options: the worker takes the storage drivers from the
    # client's data converter.
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BigPayloadWorkflow],
        activities=[make_big_text],
    ):
        handle = await client.start_workflow(
            BigPayloadWorkflow.run,
            BIG_SIZE,
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=120),
        )
        # The workflow saw the whole 5 MB string, transparently.
        assert await handle.result() == BIG_SIZE

    history = await handle.fetch_history()
    history_bytes = History(events=history.events).ByteSize()
    assert history_bytes < 64 * 1024, f"history is {history_bytes} bytes"

    # The activity result in history is a reference, not the data.
    completed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert len(completed) == 1
    [payload] = completed[0].activity_task_completed_event_attributes.result.payloads
    assert payload.metadata["messageType"] == b"temporal.api.sdk.v1.ExternalStorageReference"
    assert payload.external_payloads[0].size_bytes > BIG_SIZE
    ref = JSONProtoPayloadConverter().from_payload(payload, ExternalStorageReference)
    assert ref.driver_name == "aws.s3driver"
    claim = dict(ref.claim_data)
    assert claim["bucket"] == BUCKET
    # Keyed by the owning workflow run, content addressed.
    run_id = history.events[0].workflow_execution_started_event_attributes.original_execution_run_id
    assert f"/{workflow_id}/" in claim["key"] and f"/{run_id}/" in claim["key"]
    assert claim["key"].endswith(claim["hash_value"])

    # Replay fetches the payload back too (a Replayer needs the same converter).
    replayed = await Replayer(workflows=[BigPayloadWorkflow], data_converter=converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None

    # ...and the data is in the bucket under the payloads/ prefix.
    name = f"{DEFAULT_KEY_PREFIX}{claim['key']}"
    stored = [
        o for o in s3.list_objects(BUCKET, prefix=DEFAULT_KEY_PREFIX, recursive=True) if workflow_id in o.object_name
    ]
    assert [o.object_name for o in stored] == [name]
    assert stored[0].size > BIG_SIZE
    response = s3.get_object(BUCKET, name)
    try:
        body = response.read()
    finally:
        response.close()
        response.release_conn()
    assert hashlib.sha256(body).hexdigest() == claim["hash_value"]


async def test_the_project_converter_offloads_payloads_over_128_kb(stack: DevStack) -> None:
    """The threshold the README promises, on the converter workers and the CLI really use."""
    converter = data_converter(stack.settings(Settings(), s3_bucket=BUCKET))

    def offloaded(payload: Payload) -> bool:
        return payload.metadata.get("messageType") == b"temporal.api.sdk.v1.ExternalStorageReference"

    below = "x" * (120 * 1024)
    above = "x" * (136 * 1024)
    [small] = await converter.encode([below])
    [large] = await converter.encode([above])
    assert not offloaded(small) and small.ByteSize() > 120 * 1024
    assert offloaded(large) and large.ByteSize() < 4 * 1024
    assert await converter.decode([large], [str]) == [above]
