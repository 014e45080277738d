"""`report`: run the reporting workflow on a template and a data file, follow it, print what it made.

The template and the data file must be in the bucket already (`upload`); a
missing one, an unknown report type or a data file of an unreadable format is
refused before a run starts (exit 2). The run is followed like `run`'s (live
panel or plain lines); at the end come the row counts, totals, the first
invalid rows, the narrative and the artifacts' download links. Exit 0 when
the run COMPLETED, 1 when it failed.
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
from deepagents_temporal.reports.parsing import DataFileError, data_format
from deepagents_temporal.reports.schema import REPORT_WORKFLOW_NAME, ReportInput, ReportResult
from deepagents_temporal.reports.types import UnknownReportTypeError, report_type
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.settings import load_settings


def _refused(problem: str, hint: str | None = None) -> int:
    say(f"error: {problem}")
    if hint:
        say(f"  {hint}")
    return 2


async def report(
    *,
    template: str,
    data: str,
    kind: str,
    narrative: bool,
    with_worker: bool,
    model_timeout: float | None,
) -> int:
    try:
        report_type(kind)
        template_key = s3.template_key(template)
        data_key = s3.upload_key(data)
        data_format(data_key)
    except (UnknownReportTypeError, ValueError) as err:
        where = f"{data}: " if isinstance(err, DataFileError) else ""
        return _refused(f"{where}{err}")
    settings = load_settings()
    timeout = model_timeout if model_timeout is not None else settings.deepagent_model_timeout
    async with open_services(
        settings,
        "report",
        worker=WorkerPolicy.ALWAYS if with_worker else WorkerPolicy.IF_STARTED_HERE,
        needs_database=True,
        model_settings_used=narrative,
    ) as services:
        bucket = Bucket(services.settings)
        for key, what, flag in ((template_key, "template", " --template"), (data_key, "data file", "")):
            if await bucket.stat(key) is None:
                return _refused(
                    f"no {what} {key} in bucket {services.settings.s3_bucket}",
                    f"upload it first: python starter.py upload PATH{flag} --as {key.split('/', 1)[1]}",
                )
        run_id = new_run_id("report")
        handle = await services.client.start_workflow(
            REPORT_WORKFLOW_NAME,
            ReportInput(
                template=template_key,
                data=data_key,
                report_type=kind,
                narrative=narrative,
                model_timeout_seconds=timeout,
            ),
            id=run_id,
            task_queue=services.settings.temporal_task_queue,
            result_type=ReportResult,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"{kind} report: {template_key} + {data_key}",
        )
        announce_started(services, run_id)
        models = f"models: {services.models_text()}" if narrative else "no narrative"
        say(f"{kind} report: template {template_key}, data {data_key}; {models}")
        return await follow_to_end(services, handle, report_outcome)


async def report_outcome(services: Services, handle: WorkflowHandle, link: TemporalLink) -> int:
    """Wait for the report's end and print it; 0 when it COMPLETED, 1 when it failed."""

    def body(result: ReportResult) -> None:
        say(f"rows: {result.rows:,} ({result.valid:,} valid, {result.invalid:,} invalid)")
        say("totals: " + ", ".join(f"{name} {value:,}" for name, value in result.totals.items()))
        if result.errors_preview:
            more = f" (the first {len(result.errors_preview)}; all in report.xlsx, sheet Errors)"
            say(f"invalid rows{more if result.invalid > len(result.errors_preview) else ''}:", style="yellow")
            for error in result.errors_preview:
                value = f" (value {error.value!r})" if error.value else ""
                say(f"  row {error.row}, {error.column}: {error.reason}{value}")
        story = result.narrative
        if story.text:
            say(f"narrative ({story.model}): {story.text}")
        elif story.error:
            say(f"no narrative: {story.error}", style="yellow")

    def status(result: ReportResult) -> tuple[str, str]:
        return f"status: COMPLETED, {result.report_type} report", "green"

    return await print_outcome(services, handle, link, ReportResult, body, status)
