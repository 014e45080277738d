"""`document`: read an uploaded document with the document workflow, follow it, print what it made.

The document must be in the bucket's uploads/ already (`upload`) and of a
format the backend reads (text, Markdown, HTML, DOCX, PDF); otherwise nothing
starts (exit 2). The run is followed like `run`'s, its section sub-agents
listed as they run; at the end come the counts, any failed sections and the
artifacts' download links. Exit 0 when the run COMPLETED, 1 when it failed.
"""

from __future__ import annotations

from temporalio.client import WorkflowHandle

from cli.console import say
from cli.inputs import Bucket
from cli.reconnect import TemporalLink
from cli.results import print_outcome
from cli.run import announce_started, follow_to_end, new_run_id
from cli.services import Services, WorkerPolicy, open_services
from deepagents_temporal import s3
from deepagents_temporal.documents.convert import UnsupportedDocument, document_kind
from deepagents_temporal.documents.route import answer
from deepagents_temporal.documents.schema import DOCUMENT_WORKFLOW_NAME, DocumentInput, DocumentResult
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.settings import load_settings


async def document(name: str, *, fanout: int | None, with_worker: bool, model_timeout: float | None) -> int:
    try:
        key = s3.upload_key(name)
        document_kind(key)
    except (UnsupportedDocument, ValueError) as err:
        say(f"error: {err}")
        return 2
    settings = load_settings()
    timeout = model_timeout if model_timeout is not None else settings.deepagent_model_timeout
    async with open_services(
        settings,
        "document",
        worker=WorkerPolicy.ALWAYS if with_worker else WorkerPolicy.IF_STARTED_HERE,
        needs_database=True,
        model_settings_used=True,
    ) as services:
        if await Bucket(services.settings).stat(key) is None:
            say(f"error: no document {key} in bucket {services.settings.s3_bucket}")
            say(f"  upload it first: python starter.py upload PATH --as {key.split('/', 1)[1]}")
            return 2
        run_id = new_run_id("document")
        handle = await services.client.start_workflow(
            DOCUMENT_WORKFLOW_NAME,
            DocumentInput(document=key, fanout=fanout, model_timeout_seconds=timeout),
            id=run_id,
            task_queue=services.settings.temporal_task_queue,
            result_type=DocumentResult,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"document: {key}",
        )
        announce_started(services, run_id)
        at_once = f"{fanout} sections at once" if fanout else "sections at once: the workers' DEEPAGENT_DOCUMENT_FANOUT"
        say(f"document {key}; {at_once}; models: {services.models_text()}")
        return await follow_to_end(services, handle, document_outcome)


async def document_outcome(services: Services, handle: WorkflowHandle, link: TemporalLink) -> int:
    """Wait for the document run's end and print it; 0 when it COMPLETED, 1 when it failed."""

    def status(result: DocumentResult) -> tuple[str, str]:
        return f"status: COMPLETED, {result.sections} sections, {result.facts} facts", "green"

    return await print_outcome(services, handle, link, DocumentResult, lambda r: say(answer(r)), status)
