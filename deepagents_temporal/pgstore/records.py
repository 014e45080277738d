"""Rows of the run bookkeeping tables, as pydantic models.

They are the inputs of the store-writing activities, so they cross the
Temporal boundary through the pydantic data converter: plain data only.
Timestamps are optional; pass workflow time (``workflow.now()``) where you
have it so a retried or replayed write stores the same values, otherwise the
database's ``now()`` is used.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

__all__ = ["ArtifactRecord", "DecisionKind", "DecisionRecord", "RunRecord", "RunStatus"]


class RunStatus(StrEnum):
    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class DecisionKind(StrEnum):
    MODEL_CALL = "model_call"
    TOOL_RESULT = "tool_result"
    ROUTING = "routing"
    VALIDATION = "validation"


class RunRecord(BaseModel):
    """One run (workflow execution). Upserting it never moves the status backwards.

    On an update, fields left as ``None`` (and an empty ``models_used``) keep
    the stored value; token counts are cumulative, so the larger count wins.
    """

    run_id: str
    workflow_name: str
    status: RunStatus = RunStatus.STARTED
    parent_run_id: str | None = None
    profile: str | None = None
    agent: str | None = None
    request: str | None = None
    error: str | None = None
    models_used: list[str] = Field(default_factory=list)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    # None: input_tokens + output_tokens.
    total_tokens: int | None = Field(default=None, ge=0)
    # USD, goes with the token counts; None: unknown (no price for a model it used).
    cost_usd: float | None = Field(default=None, ge=0)
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    # None on a terminal status: updated_at.
    completed_at: AwareDatetime | None = None


class DecisionRecord(BaseModel):
    """One step of a run's decision log: a model call, a tool result, a routing
    choice or a validation result. ``seq`` is assigned deterministically by the
    workflow, so a retried or replayed write lands on the same row."""

    run_id: str
    seq: int = Field(ge=0)
    kind: DecisionKind
    agent: str | None = None
    step: int | None = None
    model: str | None = None
    attempt: int | None = None
    tool_calls: list[dict[str, Any]] | None = None
    summary: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    payload: dict[str, Any] | None = None
    created_at: AwareDatetime | None = None


class ArtifactRecord(BaseModel):
    """An object a run wrote to the bucket, indexed by (run_id, key)."""

    run_id: str
    key: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
