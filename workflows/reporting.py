"""ReportingWorkflow: a template and a data file become report.xlsx, summary.json and run.log.

The steps, each an activity visible in the UI by its summary
(docs/architecture.md, "The reporting workflow"): load the template
(read-only) → parse and validate the data against the report type's row model
→ compute the figures → optionally a narrative from the model (the agents'
``call_model`` activity, so the same fallback chain) → write report.xlsx →
write summary.json → run.log, with the run's row in PostgreSQL COMPLETED and
the artifacts indexed (``workflows/bookkeeping.py``).

Only keys, counts and a preview pass through history; the rows stay in the
bucket. A bad input (a missing template or data file, an unparseable file, an
unknown report type) fails the run with a message naming it, and nothing is
written to ``reports/``; invalid rows never do: they are listed. When every
model fails, the report is written without its narrative and says why.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.reporting import ReportActivities
    from deepagents_temporal import s3
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.pgstore.records import DecisionKind, RunRecord, RunStatus
    from deepagents_temporal.reports.narrative import NARRATIVE_INSTRUCTION, clipped
    from deepagents_temporal.reports.schema import (
        Figures,
        FiguresStep,
        Narrative,
        ReportInput,
        ReportResult,
        TemplateInfo,
        TemplateStep,
        Validated,
        ValidateStep,
        WriteStep,
    )
    from deepagents_temporal.retries import (
        ACTIVITY_HEARTBEAT_TIMEOUT,
        MODEL_CHAIN_ROUNDS,
        STORAGE_RETRY_POLICY,
    )
    from deepagents_temporal.schema import (
        Message,
        ModelCallInput,
        Progress,
        Todo,
    )
    from workflows.bookkeeping import RunBookkeeping
    from workflows.model_call import ask_model
    from workflows.progress import todos_markdown
    from workflows.steps_run import StepsRun

AGENT_NAME = "report"
STEP_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name="ReportingWorkflow")
class ReportingWorkflow(StepsRun):
    AGENT = AGENT_NAME
    LOG_LINES = "this report's log lines"

    def __init__(self) -> None:
        super().__init__()
        self._model_calls = 0
        self._seconds: dict[str, float] = {}

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=AGENT_NAME,
            step=self._model_calls,
            done=self._done,
            todos=list(self._steps),
            children=[],
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.run
    async def run(self, request: ReportInput) -> ReportResult:
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
        self._books.started(
            f"{request.report_type} report: template {request.template}, data {request.data}"
            f"{'' if request.narrative else ', no narrative'}"
        )
        try:
            result = await self._report(request, is_root)
        except (asyncio.CancelledError, FailureError) as err:
            if is_cancelled_exception(err):
                self._event("error", "run cancelled")
                await self._finish(is_root, RunStatus.CANCELLED, "cancelled")
                raise
            reason = innermost_failure_message(err)
            self._event("error", f"run failed: {reason}")
            await self._finish(is_root, RunStatus.FAILED, reason)
            raise ApplicationError(reason, type="ReportFailed", non_retryable=True) from None
        await self._finish(is_root, RunStatus.COMPLETED, None)
        result.artifacts = list(self._artifacts.values())
        return result

    async def _report(self, request: ReportInput, is_root: bool) -> ReportResult:
        try:
            template_key = s3.template_key(request.template)
            data_key = s3.upload_key(request.data)
        except ValueError as err:
            raise ApplicationError(str(err), type="ReportInputError", non_retryable=True) from None
        names = ["load template", "validate data", "compute figures"]
        names += ["narrative"] if request.narrative else []
        names += ["write report.xlsx", "write summary.json"] + (["write run.log"] if is_root else [])
        self._steps = [Todo(content=name, status="pending") for name in names]
        self._event("todos", todos_markdown(self._steps))
        started_at = workflow.now()

        template: TemplateInfo = await self._step(
            "load template",
            ReportActivities.load_template,
            TemplateStep(run_id=self._run_id, key=template_key, report_type=request.report_type),
            f"load template {template_key} (read-only)",
        )
        self._event("tool", f"template {template.key}: {template.size:,} bytes, sha256 {template.sha256[:12]}")

        data: Validated = await self._step(
            "validate data",
            ReportActivities.validate_data,
            ValidateStep(run_id=self._run_id, key=data_key, report_type=request.report_type),
            f"parse and validate {data_key} as {request.report_type} rows",
        )
        self._event(
            "error" if data.invalid else "tool",
            f"{data.key}: {data.rows:,} rows, {data.valid:,} valid, {data.invalid:,} invalid",
        )
        if data.invalid:
            self._decide(
                DecisionKind.VALIDATION,
                f"{data.invalid} of {data.rows} rows of {data.key} are invalid and left out",
                payload={"invalid": data.invalid, "errors": [e.model_dump() for e in data.errors_preview]},
            )

        figures: Figures = await self._step(
            "compute figures",
            ReportActivities.compute_figures,
            FiguresStep(
                run_id=self._run_id, report_type=request.report_type, rows_key=data.rows_key, invalid=data.invalid
            ),
            "compute totals and per-group sums",
        )
        self._event("tool", "totals: " + ", ".join(f"{name} {value:,}" for name, value in figures.totals.items()))

        narrative = Narrative(requested=request.narrative)
        if request.narrative:
            narrative = await self._narrative(request, figures)

        step = WriteStep(
            run_id=self._run_id,
            report_type=request.report_type,
            template=template,
            data=data,
            figures=figures,
            narrative=narrative,
            workflow_run_id=workflow.info().run_id,
            started_at=started_at,
            step_seconds=self._seconds,
        )
        report_key = s3.report_key(self._run_id, "report.xlsx")
        self._add_artifact(
            await self._step("write report.xlsx", ReportActivities.write_xlsx, step, f"write {report_key}")
        )
        step.step_seconds = dict(self._seconds)
        summary_key = s3.report_key(self._run_id, "summary.json")
        self._add_artifact(
            await self._step("write summary.json", ReportActivities.write_summary, step, f"write {summary_key}")
        )
        self._done = True
        self._event("final", f"report written: {report_key}, {summary_key}")
        return ReportResult(
            run_id=self._run_id,
            report_type=request.report_type,
            rows=data.rows,
            valid=data.valid,
            invalid=data.invalid,
            totals=figures.totals,
            errors_preview=data.errors_preview,
            narrative=narrative,
        )

    async def _step(self, name: str, activity: object, arg: object, summary: str) -> object:
        """One step as an activity: its checklist entry, its time, a failure named by its step."""
        self._mark(name, "in_progress")
        began = workflow.now()
        result = await workflow.execute_activity_method(
            activity,  # type: ignore[arg-type]
            arg,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=summary,
        )
        self._seconds[name] = _seconds_since(began)
        self._mark(name, "completed")
        return result

    async def _narrative(self, request: ReportInput, figures: Figures) -> Narrative:
        """The model's few sentences about the figures; every model failing leaves the report without them."""
        assert self._books is not None
        self._mark("narrative", "in_progress")
        began = workflow.now()
        self._model_calls += 1
        chain = list(request.model_chain)
        records = self._books.take()
        call = ModelCallInput(
            run_id=self._run_id,
            agent=AGENT_NAME,
            step=self._model_calls,
            model_chain=chain,
            rounds=MODEL_CHAIN_ROUNDS,
            new_messages=[
                Message(role="system", content=NARRATIVE_INSTRUCTION),
                Message(role="user", content=figures.facts),
            ],
            records=records if records else None,
            request_timeout_seconds=request.model_timeout_seconds,
        )
        try:
            result = await ask_model(call, "narrative", on_model_queue=False)
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            self._books.give_back(records)
            reason = innermost_failure_message(err)
            self._event("error", f"no narrative: {reason}")
            self._seconds["narrative"] = _seconds_since(began)
            self._mark("narrative", "completed")
            return Narrative(requested=True, error=reason)
        if not result.records_written:
            self._books.give_back(records)
        self._usage = self._usage + result.usage
        if result.model not in self._models_used:
            self._models_used.append(result.model)
        fallback = "; ".join(f"{e.model}: {e.error}" for e in result.failed_attempts)
        self._event(
            "model",
            f"narrative: {result.model} answered (attempt {result.attempt}, {result.usage.total_tokens} tokens)"
            + (f" after {fallback}" if fallback else ""),
        )
        self._decide(
            DecisionKind.MODEL_CALL,
            f"{result.model} -> narrative",
            model=result.model,
            attempt=result.attempt,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            total_tokens=result.usage.total_tokens,
            payload={
                "transcript": result.transcript,
                "failed_attempts": [e.model_dump() for e in result.failed_attempts],
            },
        )
        self._books.run_status(RunStatus.IN_PROGRESS, self._usage, self._models_used)
        self._seconds["narrative"] = _seconds_since(began)
        self._mark("narrative", "completed")
        text = clipped(result.message.content)
        if not text:
            return Narrative(requested=True, model=result.model, error=f"{result.model} answered with no text")
        return Narrative(requested=True, text=text, model=result.model)

    # ----- progress, records, the run log ------------------------------------

    def _decide(self, kind: DecisionKind, summary: str, **fields: object) -> None:
        assert self._books is not None
        self._books.decide(kind, summary, agent=AGENT_NAME, step=self._model_calls, **fields)


def _seconds_since(began: datetime) -> float:
    return round((workflow.now() - began).total_seconds(), 3)
