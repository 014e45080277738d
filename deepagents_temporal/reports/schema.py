"""The reporting workflow's public contract: its name, description, input and result,
and the inputs and results of its activities.

Everything here crosses the Temporal boundary through the pydantic data
converter, so it stays plain and small: rows, errors and figures live in the
bucket (``runs/<run id>/report/``) and only their keys, counts and a preview
ride in history. Imported by workflow code: no openpyxl here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from deepagents_temporal.schema import ArtifactInfo

REPORT_WORKFLOW_NAME = "ReportingWorkflow"
# What the router offers the model (one line).
REPORT_WORKFLOW_DESCRIPTION = (
    "Turns a data file in uploads/ (CSV, XLSX or JSON) and an .xlsx template in templates/ into a validated "
    "report: report.xlsx with totals and per-group sums, an Errors sheet, summary.json and a short narrative."
)
DEFAULT_REPORT_TYPE = "sales"
# Row errors carried in history (the rest stay in the bucket).
ERRORS_PREVIEW = 20
DATA_FORMATS = ("csv", "xlsx", "json")


class ReportInput(BaseModel):
    # Names in the bucket's templates/ and uploads/ ("sales.xlsx"; the prefix may be given too).
    template: str
    data: str
    # The top-level run this report belongs to (its outputs go under that id);
    # None = this workflow's own id.
    run_id: str | None = None
    report_type: str = DEFAULT_REPORT_TYPE
    # A short narrative from the model (same model activity and fallback as the agents).
    narrative: bool = True
    # Primary model then fallbacks; empty = the workers' settings decide.
    model_chain: list[str] = Field(default_factory=list)
    model_timeout_seconds: float = Field(default=120.0, gt=0)


class RowError(BaseModel):
    """Why one row of the data file is left out: its row number (as a spreadsheet
    or editor shows it; a JSON file's records count from 1), the column and the reason."""

    row: int
    column: str
    reason: str
    value: str = ""


class SourceFile(BaseModel):
    """An input as the run read it."""

    key: str
    size: int
    sha256: str


class TemplateStep(BaseModel):
    run_id: str
    key: str
    report_type: str


class TemplateInfo(SourceFile):
    # The copy the run works from (templates/ is never written).
    snapshot_key: str
    tables: list[str]
    named_cells: list[str]


class ValidateStep(BaseModel):
    run_id: str
    key: str
    report_type: str


class Validated(SourceFile):
    format: Literal["csv", "xlsx", "json"]
    rows: int
    valid: int
    invalid: int
    # Columns of the file no field of the row model takes.
    ignored_columns: list[str] = Field(default_factory=list)
    # runs/<run id>/report/rows.json and errors.json
    rows_key: str
    errors_key: str
    errors_preview: list[RowError] = Field(default_factory=list)


class FiguresStep(BaseModel):
    run_id: str
    report_type: str
    rows_key: str
    # Invalid rows, for the narrative's facts.
    invalid: int = 0


class Figures(BaseModel):
    # Sums of the type's totals fields (numbers as JSON gives them: int or float).
    totals: dict[str, int | float]
    groups: dict[str, int]
    # runs/<run id>/report/figures.json: totals and every group's sums.
    figures_key: str
    # The figures as text for the narrative's prompt (bounded).
    facts: str


class Narrative(BaseModel):
    requested: bool
    text: str | None = None
    model: str | None = None
    # Set when every model failed: the report is written without a narrative.
    error: str | None = None


class WriteStep(BaseModel):
    run_id: str
    report_type: str
    template: TemplateInfo
    data: Validated
    figures: Figures
    narrative: Narrative
    # What varies from run to run: kept apart in summary.json ("run").
    workflow_run_id: str = ""
    started_at: datetime | None = None
    step_seconds: dict[str, float] = Field(default_factory=dict)


class ReportResult(BaseModel):
    run_id: str
    report_type: str
    rows: int
    valid: int
    invalid: int
    totals: dict[str, int | float]
    errors_preview: list[RowError] = Field(default_factory=list)
    narrative: Narrative
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
