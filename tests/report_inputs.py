"""The example report's inputs in the test bucket, and starting a ReportingWorkflow run on them.

Shared by the reporting tests and the replay test. Each test uploads the
example under names of its own, so tests running together never share inputs.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path

from minio import Minio
from temporalio.client import Client, WorkflowHandle

from deepagents_temporal.reports.narrative import NARRATIVE_INSTRUCTION
from deepagents_temporal.reports.schema import ReportInput, ReportResult
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "reports"
TEMPLATE = (EXAMPLE / "sales_template.xlsx").read_bytes()
SALES_CSV = (EXAMPLE / "sales.csv").read_bytes()
NARRATIVE = "Revenue reached 4,056.99 across four regions; North led and South trailed."
REPORT_TIMEOUT = timedelta(minutes=3)


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def read(s3: Minio, bucket: str, key: str) -> bytes:
    response = s3.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def keys(s3: Minio, bucket: str, prefix: str) -> list[str]:
    return sorted(obj.object_name for obj in s3.list_objects(bucket, prefix=prefix, recursive=True))


def upload_inputs(s3: Minio, settings: Settings, data: bytes, suffix: str = "csv") -> tuple[str, str]:
    """The example template and ``data`` uploaded under names of this test's own: (template, data) names."""
    tag = uuid.uuid4().hex[:8]
    template, upload = f"sales-{tag}.xlsx", f"sales-{tag}.{suffix}"
    put(s3, settings.s3_bucket, f"templates/{template}", TEMPLATE)
    put(s3, settings.s3_bucket, f"uploads/{upload}", data)
    return template, upload


async def start_report(
    client: Client, settings: Settings, template: str, data: str, **fields: object
) -> WorkflowHandle:
    fields.setdefault("model_chain", settings.model_chain)
    return await client.start_workflow(
        "ReportingWorkflow",
        ReportInput(template=template, data=data, **fields),
        id=f"report-test-{uuid.uuid4().hex[:12]}",
        task_queue=settings.temporal_task_queue,
        result_type=ReportResult,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        # A regression fails the test instead of hanging the suite.
        execution_timeout=REPORT_TIMEOUT,
    )


def narrates(llm: ScriptedLLM, text: str = NARRATIVE) -> None:
    """The scripted model answers the narrative request with ``text``."""
    llm.add_rule(lambda r: r.system_prompt == NARRATIVE_INSTRUCTION, Reply.text(text))
