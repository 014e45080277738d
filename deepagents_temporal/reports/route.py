"""The reporting workflow as the router offers it: what it needs from a request
(a template and a data file, named in the bucket) and how its result reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from deepagents_temporal.reports.schema import (
    DEFAULT_REPORT_TYPE,
    REPORT_WORKFLOW_DESCRIPTION,
    REPORT_WORKFLOW_NAME,
    ReportInput,
    ReportResult,
)
from deepagents_temporal.routable import RoutableWorkflow


class ReportArguments(BaseModel):
    template: str = Field(description="the .xlsx template's name in templates/")
    data: str = Field(description="the data file's name in uploads/ (CSV, XLSX or JSON)")
    report_type: str = Field(default=DEFAULT_REPORT_TYPE, description="the report type (default sales)")
    narrative: bool = Field(default=True, description="whether the model writes a short narrative")


def _input(args: BaseModel, run_id: str, model_chain: list[str], model_timeout_seconds: float) -> BaseModel:
    assert isinstance(args, ReportArguments)
    return ReportInput(
        template=args.template,
        data=args.data,
        run_id=run_id,
        report_type=args.report_type,
        narrative=args.narrative,
        model_chain=model_chain,
        model_timeout_seconds=model_timeout_seconds,
    )


def _answer(result: BaseModel) -> str:
    assert isinstance(result, ReportResult)
    totals = ", ".join(f"{name} {value:,}" for name, value in result.totals.items())
    lines = [
        f"{result.report_type} report: {result.rows} rows, {result.valid} valid, {result.invalid} invalid",
        f"totals: {totals}" if totals else "",
        *(f"row {e.row}, {e.column}: {e.reason}" for e in result.errors_preview),
        result.narrative.text or (f"no narrative: {result.narrative.error}" if result.narrative.error else ""),
    ]
    return "\n".join(line for line in lines if line)


REPORT_ROUTE = RoutableWorkflow(
    name="report",
    description=REPORT_WORKFLOW_DESCRIPTION,
    workflow_type=REPORT_WORKFLOW_NAME,
    arguments=ReportArguments,
    make_input=_input,
    result_type=ReportResult,
    answer=_answer,
)
