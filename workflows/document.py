"""DocumentWorkflow: an uploaded document becomes summary.md and facts.json, a sub-agent per section.

Steps (docs/architecture.md, "The document workflow"): convert and split (an
activity stores the sections in the bucket and returns their keys) → one
``DocumentSectionWorkflow`` child per section (``<run id>/section-<n>``), at
most ``fanout`` at once (the input's, else the workers'
DEEPAGENT_DOCUMENT_FANOUT) → summary.md and facts.json from the stored notes →
run.log. No section text passes through this workflow's history: only keys,
titles and counts. A missing or unreadable document fails the run naming it;
a section whose models all failed is listed in the outputs, and the run fails
only when every section did.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities
    from deepagents_temporal import s3
    from deepagents_temporal.documents.schema import (
        DOCUMENT_WORKFLOW_NAME,
        DocumentInput,
        DocumentResult,
        OutputsStep,
        SectionInput,
        SectionRef,
        SectionResult,
        SplitDocument,
        SplitStep,
    )
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.pgstore.records import RunRecord, RunStatus
    from deepagents_temporal.retries import (
        ACTIVITY_HEARTBEAT_TIMEOUT,
        CONVERSION_RETRY_POLICY,
        STORAGE_RETRY_POLICY,
        WORKFLOW_TASK_TIMEOUT,
    )
    from deepagents_temporal.schema import ArtifactInfo, ChildInfo, Progress, Todo
    from workflows.bookkeeping import RunBookkeeping
    from workflows.details import current_details_extra
    from workflows.document_section import DocumentSectionWorkflow
    from workflows.progress import todos_markdown
    from workflows.steps_run import StepsRun

AGENT_NAME = "document"
STEP_TIMEOUT = timedelta(minutes=10)
SECTIONS_STEP = "summarise sections"


@workflow.defn(name=DOCUMENT_WORKFLOW_NAME)
class DocumentWorkflow(StepsRun):
    AGENT = AGENT_NAME
    LOG_LINES = "this document run's log lines"

    def __init__(self) -> None:
        super().__init__()
        self._children: list[ChildInfo] = []

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=AGENT_NAME,
            step=0,
            done=self._done,
            todos=list(self._steps),
            children=list(self._children),
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.run
    async def run(self, request: DocumentInput) -> DocumentResult:
        info = workflow.info()
        self._run_id = request.run_id or info.workflow_id
        is_root = request.run_id is None
        self._books = RunBookkeeping(
            RunRecord(
                run_id=info.workflow_id,
                parent_run_id=info.parent.workflow_id if info.parent else None,
                workflow_name=info.workflow_type,
                agent=AGENT_NAME,
                created_at=workflow.now(),
            )
        )
        self._books.started(f"document {request.document}")
        try:
            result = await self._read(request, is_root)
        except (asyncio.CancelledError, FailureError) as err:
            if is_cancelled_exception(err):
                self._event("error", "run cancelled")
                await self._finish(is_root, RunStatus.CANCELLED, "cancelled")
                raise
            reason = innermost_failure_message(err)
            self._event("error", f"run failed: {reason}")
            await self._finish(is_root, RunStatus.FAILED, reason)
            raise ApplicationError(reason, type="DocumentFailed", non_retryable=True) from None
        await self._finish(is_root, RunStatus.COMPLETED, None)
        result.artifacts = list(self._artifacts.values())
        return result

    async def _read(self, request: DocumentInput, is_root: bool) -> DocumentResult:
        try:
            key = s3.upload_key(request.document)
        except ValueError as err:
            raise ApplicationError(str(err), type="DocumentInputError", non_retryable=True) from None
        names = ["convert and split", SECTIONS_STEP, "write summary.md and facts.json"]
        self._steps = [Todo(content=name, status="pending") for name in names + (["write run.log"] if is_root else [])]
        self._event("todos", todos_markdown(self._steps))

        self._mark("convert and split", "in_progress")
        document: SplitDocument = await workflow.execute_activity_method(
            DocumentActivities.split,
            SplitStep(run_id=self._run_id, key=key, section_chars=request.section_chars),
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=CONVERSION_RETRY_POLICY,
            summary=f"convert {key} to text and store its sections",
        )
        self._mark("convert and split", "completed")
        pages = f", {document.pages} pages" if document.pages else ""
        fanout = request.fanout or document.fanout
        self._event(
            "tool",
            f"{key}: {document.kind}{pages}, {document.chars:,} characters, {len(document.sections)} sections; "
            f"{fanout} read at once",
        )

        total = len(document.sections)
        self._rename(SECTIONS_STEP, f"{SECTIONS_STEP} (0/{total})")
        self._mark(f"{SECTIONS_STEP} (0/{total})", "in_progress")
        limit = asyncio.Semaphore(fanout)
        finished = [0]

        async def one(section: SectionRef) -> SectionResult:
            async with limit:
                result = await self._section(request, document, section)
            finished[0] += 1
            self._rename(f"{SECTIONS_STEP} ({finished[0] - 1}/{total})", f"{SECTIONS_STEP} ({finished[0]}/{total})")
            return result

        results = list(await asyncio.gather(*(one(section) for section in document.sections)))
        self._mark(f"{SECTIONS_STEP} ({total}/{total})", "completed")
        failed = [r for r in results if r.status == "failed"]
        if failed and len(failed) == len(results):
            raise ApplicationError(
                f"no section could be summarised; section 1: {failed[0].error}",
                type="DocumentFailed",
                non_retryable=True,
            )

        self._mark("write summary.md and facts.json", "in_progress")
        written: list[ArtifactInfo] = await workflow.execute_activity_method(
            DocumentActivities.write_outputs,
            # The sections' keys are known from their results: not sent again.
            OutputsStep(run_id=self._run_id, document=document.model_copy(update={"sections": []}), sections=results),
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=f"write {s3.report_key(self._run_id, 'summary.md')} and facts.json",
        )
        for artifact in written:
            self._add_artifact(artifact)
        self._mark("write summary.md and facts.json", "completed")
        facts = sum(r.facts for r in results)
        dropped = sum(r.dropped for r in results)
        self._done = True
        self._event("final", f"{total} sections, {facts} facts ({dropped} dropped), {len(failed)} sections failed")
        return DocumentResult(
            run_id=self._run_id,
            document=key,
            kind=document.kind,
            title=document.title,
            pages=document.pages,
            chars=document.chars,
            sections=total,
            sections_failed=failed,
            facts=facts,
            facts_dropped=dropped,
            fanout=fanout,
            models_used=list(self._models_used),
            usage=self._usage,
        )

    async def _section(self, request: DocumentInput, document: SplitDocument, section: SectionRef) -> SectionResult:
        child_id = f"{workflow.info().workflow_id}/section-{section.n}"
        child = ChildInfo(workflow_id=child_id, subagent_type=f"section-{section.n}")
        self._children.append(child)
        self._event("child_started", f"section {section.n} ({section.title}, {section.chars:,} characters): {child_id}")
        self._show_details()
        try:
            result: SectionResult = await workflow.execute_child_workflow(
                DocumentSectionWorkflow.run,
                SectionInput(
                    run_id=self._run_id,
                    document_key=document.key,
                    section=section,
                    model_chain=list(request.model_chain),
                    model_timeout_seconds=request.model_timeout_seconds,
                ),
                id=child_id,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"section {section.n}: {section.title}",
            )
        except FailureError as err:
            if is_cancelled_exception(err):
                raise
            result = SectionResult(
                n=section.n, title=section.title, status="failed", error=innermost_failure_message(err)
            )
        child.status = "completed" if result.status == "completed" else "failed"
        self._usage = self._usage + result.usage
        if result.model and result.model not in self._models_used:
            self._models_used.append(result.model)
        outcome = f"{result.facts} facts" if result.status == "completed" else f"failed: {result.error}"
        self._event("child_finished", f"section {section.n} ({child_id}): {outcome}")
        self._show_details()
        return result

    # ----- progress, records, the run log ------------------------------------

    def _rename(self, old: str, new: str) -> None:
        self._steps = [Todo(content=new, status=s.status) if s.content == old else s for s in self._steps]
        self._show_details()

    def _show_details(self) -> None:
        workflow.set_current_details(
            f"**{AGENT_NAME}**\n\n" + todos_markdown(self._steps) + current_details_extra(self._children, [])
        )
