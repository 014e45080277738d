"""The example document and onboarding inputs in the test bucket, and starting runs on them.

Shared by the document, onboarding and replay tests. Each test uploads under
names of its own, so tests running together never share inputs.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path

from minio import Minio
from temporalio.client import Client, WorkflowHandle

from deepagents_temporal.documents.schema import DocumentInput, DocumentResult
from deepagents_temporal.onboarding.schema import OnboardingInput, OnboardingResult
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HANDBOOK = (EXAMPLES / "documents" / "handbook.md").read_bytes()
CHECKLIST = (EXAMPLES / "onboarding" / "checklist.yaml").read_bytes()
RUN_TIMEOUT = timedelta(minutes=4)


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def upload_document(s3: Minio, settings: Settings, data: bytes, suffix: str = "md") -> str:
    name = f"doc-{uuid.uuid4().hex[:8]}.{suffix}"
    put(s3, settings.s3_bucket, f"uploads/{name}", data)
    return name


async def start_document(client: Client, settings: Settings, document: str, **fields: object) -> WorkflowHandle:
    fields.setdefault("model_chain", settings.model_chain)
    return await client.start_workflow(
        "DocumentWorkflow",
        DocumentInput(document=document, **fields),
        id=f"document-test-{uuid.uuid4().hex[:12]}",
        task_queue=settings.temporal_task_queue,
        result_type=DocumentResult,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        execution_timeout=RUN_TIMEOUT,
    )


def upload_client(s3: Minio, settings: Settings, example: str) -> tuple[str, str]:
    """The example checklist and one example client's documents under names of this test's own: (checklist, client)."""
    tag = uuid.uuid4().hex[:8]
    checklist, client = f"checklist-{tag}.yaml", f"clients/{example}-{tag}"
    put(s3, settings.s3_bucket, f"templates/{checklist}", CHECKLIST)
    for path in sorted((EXAMPLES / "onboarding" / example).iterdir()):
        put(s3, settings.s3_bucket, f"uploads/{client}/{path.name}", path.read_bytes())
    return checklist, client


async def start_onboarding(
    client: Client, settings: Settings, checklist: str, folder: str, **fields: object
) -> WorkflowHandle:
    fields.setdefault("model_chain", settings.model_chain)
    return await client.start_workflow(
        "OnboardingWorkflow",
        OnboardingInput(checklist=checklist, client=folder, **fields),
        id=f"onboarding-test-{uuid.uuid4().hex[:12]}",
        task_queue=settings.temporal_task_queue,
        result_type=OnboardingResult,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        execution_timeout=RUN_TIMEOUT,
    )
