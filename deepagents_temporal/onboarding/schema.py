"""The onboarding workflow's public contract: its names, description, input and result, the
checklist's model, its query and update, and what its steps hand each other.

Everything here crosses the Temporal boundary: the documents' text stays in
the bucket (``runs/<run id>/onboarding/``); field values, their source
document and a short quote ride in history. Imported by workflow code: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from deepagents_temporal.schema import ArtifactInfo, TokenUsage

ONBOARDING_WORKFLOW_NAME = "OnboardingWorkflow"
ONBOARDING_WORKFLOW_DESCRIPTION = (
    "Onboards a new client: reads the client's uploaded documents (a folder in uploads/), extracts the fields "
    "an onboarding checklist in templates/ requires, validates them, waits for a person to supply missing "
    "ones, and writes onboarding.json and a checklist report."
)
# The query and update a person (or `starter.py supply`) uses: a public contract, like the type name.
MISSING_FIELDS_QUERY = "missing_fields"
SUPPLY_FIELDS_UPDATE = "supply_fields"

FieldType = Literal["string", "integer", "number", "date", "email", "boolean"]
FieldState = Literal["found", "missing", "invalid", "supplied"]
QUOTE_CHARS = 300
# The longest wait for missing fields (a year): a timer beyond what Python's timedelta holds would fail
# the workflow task on every attempt, leaving the run RUNNING.
MAX_WAIT_SECONDS = 366 * 86_400


class FieldSpec(BaseModel):
    """A field the checklist requires (or asks for, when ``required`` is false)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = ""
    type: FieldType = "string"
    required: bool = True
    # A regular expression the whole value must match (after trimming).
    pattern: str | None = None
    # The only values allowed (compared as written).
    choices: list[str] | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        import re

        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from None
        return value

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


class DocumentSpec(BaseModel):
    """A document the client must provide, recognised by its file name (shell-style patterns, any case)."""

    name: str = Field(min_length=1)
    match: list[str] = Field(min_length=1)
    required: bool = True
    description: str = ""


class Checklist(BaseModel):
    title: str = "Client onboarding"
    fields: list[FieldSpec] = Field(min_length=1)
    documents: list[DocumentSpec] = Field(default_factory=list)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


class OnboardingInput(BaseModel):
    # The checklist's name in templates/ (.yaml, .yml or .xlsx) and the client's folder in uploads/.
    checklist: str
    client: str
    run_id: str | None = None
    # Seconds to wait for missing fields; None = the workers' DEEPAGENT_ONBOARDING_WAIT; 0 = no wait.
    wait_seconds: float | None = Field(default=None, ge=0, le=MAX_WAIT_SECONDS)
    model_chain: list[str] = Field(default_factory=list)
    model_timeout_seconds: float = Field(default=120.0, gt=0)


class ChecklistStep(BaseModel):
    run_id: str
    key: str


class ChecklistInfo(BaseModel):
    key: str
    sha256: str
    checklist: Checklist
    # The worker's DEEPAGENT_ONBOARDING_WAIT (the input's, when it gives one, wins).
    wait_seconds: float = Field(ge=0, le=MAX_WAIT_SECONDS)


class DocumentsStep(BaseModel):
    run_id: str
    prefix: str
    checklist: Checklist


class ClientFile(BaseModel):
    name: str
    key: str
    kind: str
    chars: int
    sha256: str
    # Its text, for the checks (runs/<run id>/onboarding/documents/...).
    text_key: str


class Unreadable(BaseModel):
    name: str
    reason: str


class DocumentStatus(BaseModel):
    name: str
    required: bool
    status: Literal["found", "missing"]
    files: list[str] = Field(default_factory=list)


class ClientDocuments(BaseModel):
    prefix: str
    files: list[ClientFile]
    unreadable: list[Unreadable] = Field(default_factory=list)
    documents: list[DocumentStatus] = Field(default_factory=list)
    # The extraction prompt, stored as a transcript segment; None when no file could be read.
    prompt: str | None = None


class CheckStep(BaseModel):
    run_id: str
    checklist: Checklist
    files: list[ClientFile]
    # The model's reply (a transcript segment); None when there was none (reason says why).
    transcript: str | None = None
    reason: str | None = None


class FieldStatus(BaseModel):
    field: str
    label: str
    required: bool
    status: FieldState
    value: str | None = None
    document: str | None = None
    quote: str | None = None
    reason: str | None = None
    # Who supplied it (``supplied`` only).
    by: str | None = None

    @property
    def settled(self) -> bool:
        return self.status in ("found", "supplied")


class MissingFields(BaseModel):
    """The ``missing_fields`` query's answer."""

    waiting: bool
    # When the wait ends with the items still missing (None: not waiting).
    wait_until: datetime | None = None
    fields: list[FieldStatus]
    documents: list[str] = Field(default_factory=list)


# Bounds on what one person or one client folder can put into a run's history.
MAX_SUPPLIED_VALUES = 100
MAX_CLIENT_FILES = 200


class SupplyFields(BaseModel):
    """The ``supply_fields`` update: field name -> value, as a person types it."""

    values: dict[str, str] = Field(min_length=1, max_length=MAX_SUPPLIED_VALUES)
    by: str = Field(default="a person", min_length=1, max_length=200)


class OutputsStep(BaseModel):
    run_id: str
    checklist: ChecklistInfo
    client: ClientDocuments
    fields: list[FieldStatus]
    complete: bool
    timed_out: bool
    workflow_run_id: str = ""


class OnboardingResult(BaseModel):
    run_id: str
    checklist: str
    client: str
    complete: bool
    fields: list[FieldStatus]
    documents: list[DocumentStatus]
    unreadable: list[Unreadable] = Field(default_factory=list)
    # Required items still missing or invalid at the end (fields by name, then documents).
    missing: list[str] = Field(default_factory=list)
    timed_out: bool = False
    models_used: list[str] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
