"""The reporting workflow's steps as activities: template, validation, figures, the workbook, the summary.

Each step reads its inputs from the bucket and writes what it made there
(``runs/<run id>/report/``, then ``reports/<run id>/``), handing the workflow
only keys, counts and a preview: a million rows never enter history. The
template is copied once to the run's prefix and used from there, so the run
sees one version of it and ``templates/`` is never written.

Errors: what is wrong with an input (a missing object, an unknown report
type, a template without its table, a data file that cannot be parsed)
fails the step without retrying, naming the object and the problem; a
storage outage raises as it is, so Temporal retries it
(``deepagents_temporal/storage_errors.py``). Invalid rows are never errors:
they are counted and listed.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from minio import Minio
from minio.error import S3Error
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal import s3
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.reports import figures as report_figures
from deepagents_temporal.reports import narrative, parsing, summary, validation, workbook
from deepagents_temporal.reports.row import ReportRow
from deepagents_temporal.reports.schema import (
    ERRORS_PREVIEW,
    Figures,
    FiguresStep,
    RowError,
    TemplateInfo,
    TemplateStep,
    Validated,
    ValidateStep,
    WriteStep,
)
from deepagents_temporal.reports.types import UnknownReportTypeError, report_type
from deepagents_temporal.schema import ArtifactInfo
from deepagents_temporal.storage_errors import UNKNOWN_ATTEMPTS, Cause, classify, describe

# The error type of a bad input: never retried (the workflow fails the run with its message).
REPORT_INPUT_ERROR = "ReportInputError"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _bad_input(message: str) -> ApplicationError:
    return ApplicationError(message, type=REPORT_INPUT_ERROR, non_retryable=True)


@contextmanager
def _step(subject: str) -> Iterator[None]:
    """Errors about ``subject`` (an object key) as the step's outcome: bad input fails, outages retry."""
    try:
        yield
    except ApplicationError:
        raise
    except (parsing.DataFileError, workbook.TemplateError, UnknownReportTypeError) as err:
        raise _bad_input(f"{subject}: {err}") from None
    except Exception as err:
        cause = classify(err)
        if cause is Cause.OUTAGE or (cause is Cause.UNKNOWN and activity.info().attempt < UNKNOWN_ATTEMPTS):
            raise
        raise _bad_input(f"{subject}: {describe(err)}") from None


class ReportActivities:
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    # ----- the steps -------------------------------------------------------

    @activity.defn(name="report_load_template")
    async def load_template(self, step: TemplateStep) -> TemplateInfo:
        """Check the template fits the report type and copy it to the run's prefix (read-only: it is never changed)."""
        with _step(step.key):
            return await asyncio.to_thread(self._load_template, step)

    @activity.defn(name="report_validate_data")
    async def validate_data(self, step: ValidateStep) -> Validated:
        """Parse the data file and check every row against the report type's row model."""
        with _step(step.key):
            return await asyncio.to_thread(self._validate, step)

    @activity.defn(name="report_compute_figures")
    async def compute_figures(self, step: FiguresStep) -> Figures:
        """Totals and per-group sums of the valid rows."""
        with _step(step.rows_key):
            return await asyncio.to_thread(self._figures, step)

    @activity.defn(name="report_write_xlsx")
    async def write_xlsx(self, step: WriteStep) -> ArtifactInfo:
        """The template filled: reports/<run id>/report.xlsx."""
        with _step(step.template.key):
            return await asyncio.to_thread(self._write_xlsx, step)

    @activity.defn(name="report_write_summary")
    async def write_summary(self, step: WriteStep) -> ArtifactInfo:
        """reports/<run id>/summary.json (docs/architecture.md, "The reporting workflow")."""
        with _step(s3.report_key(step.run_id, "summary.json")):
            return await asyncio.to_thread(self._write_summary, step)

    # ----- their work (blocking: run in a thread) ---------------------------

    def _load_template(self, step: TemplateStep) -> TemplateInfo:
        model = report_type(step.report_type)
        data = self._get(step.key, "template", "upload it with `python starter.py upload PATH --template`")
        book = workbook.open_template(data)
        tables = workbook.check_template(book, model)
        snapshot = s3.report_work_key(step.run_id, "template.xlsx")
        self._put(snapshot, data, XLSX_TYPE)
        return TemplateInfo(
            key=step.key,
            size=len(data),
            sha256=sha256_hex(data),
            snapshot_key=snapshot,
            tables=tables,
            named_cells=workbook.named_cells(book),
        )

    def _validate(self, step: ValidateStep) -> Validated:
        model = report_type(step.report_type)
        data = self._get(step.key, "data file", "upload it with `python starter.py upload PATH`")
        table = parsing.parse(step.key, data)
        checked = validation.check(table, model)
        rows_key = s3.report_work_key(step.run_id, "rows.json")
        errors_key = s3.report_work_key(step.run_id, "errors.json")
        self._put_json(rows_key, [row.model_dump(mode="json") for row in checked.valid])
        self._put_json(errors_key, [error.model_dump() for error in checked.errors])
        return Validated(
            key=step.key,
            size=len(data),
            sha256=sha256_hex(data),
            format=table.format,  # type: ignore[arg-type]
            rows=len(table.rows),
            valid=len(checked.valid),
            invalid=checked.invalid_rows,
            ignored_columns=checked.ignored_columns,
            rows_key=rows_key,
            errors_key=errors_key,
            errors_preview=checked.errors[:ERRORS_PREVIEW],
        )

    def _figures(self, step: FiguresStep) -> Figures:
        model = report_type(step.report_type)
        rows = self._rows(step.rows_key, model)
        figures = report_figures.compute(rows, model)
        figures_key = s3.report_work_key(step.run_id, "figures.json")
        self._put_json(figures_key, figures)
        return Figures(
            totals=figures["totals"],
            groups={field: len(groups) for field, groups in figures["groups"].items()},
            figures_key=figures_key,
            facts=narrative.facts(model.report_type, figures, step.invalid),
        )

    def _write_xlsx(self, step: WriteStep) -> ArtifactInfo:
        model = report_type(step.report_type)
        template = self._get(step.template.snapshot_key, "template copy", "run the report again")
        figures = self._get_json(step.figures.figures_key)
        errors = [RowError.model_validate(e) for e in self._get_json(step.data.errors_key)]
        values: dict[str, Any] = {
            "rows": step.data.rows,
            "valid_rows": step.data.valid,
            "invalid_rows": step.data.invalid,
            "narrative": step.narrative.text or "",
            "report_type": step.report_type,
            "data_file": step.data.key,
            "data_sha256": step.data.sha256,
            "template_file": step.template.key,
        }
        data = workbook.fill(template, model, self._rows(step.data.rows_key, model), figures, errors, values)
        return self._put(s3.report_key(step.run_id, "report.xlsx"), data, XLSX_TYPE)

    def _write_summary(self, step: WriteStep) -> ArtifactInfo:
        figures = self._get_json(step.figures.figures_key)
        errors = [RowError.model_validate(e) for e in self._get_json(step.data.errors_key)]
        outputs = {
            "report.xlsx": s3.report_key(step.run_id, "report.xlsx"),
            "summary.json": s3.report_key(step.run_id, "summary.json"),
            "run.log": s3.log_key(step.run_id),
        }
        data = summary.to_bytes(summary.summary(step, figures, errors, outputs))
        return self._put(outputs["summary.json"], data, "application/json")

    # ----- the bucket --------------------------------------------------------

    def _get(self, key: str, what: str, hint: str) -> bytes:
        try:
            response = self._client.get_object(self._bucket, key)
        except S3Error as err:
            if s3.is_missing(err):
                raise _bad_input(f"no {what} {key} in bucket {self._bucket}; {hint}") from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def _get_json(self, key: str) -> Any:
        return json.loads(self._get(key, "step output", "run the report again"))

    def _rows(self, key: str, model: type[ReportRow]) -> list[ReportRow]:
        return [model.model_validate(row) for row in self._get_json(key)]

    def _put(self, key: str, data: bytes, content_type: str) -> ArtifactInfo:
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return ArtifactInfo(key=key, size=len(data), sha256=sha256_hex(data), content_type=content_type)

    def _put_json(self, key: str, value: object) -> None:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._put(key, data, "application/json")
