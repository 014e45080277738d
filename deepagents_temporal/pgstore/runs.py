"""Idempotent writes and simple reads of runs, decisions and artifacts.

Every write is an upsert keyed by what the workflow determines (run id,
decision seq, artifact key), so an activity retry or a workflow replay
rewrites the same row instead of adding one. Every text and JSON value is
made storable first (``storable.py``): what a model or tool wrote can never
make PostgreSQL refuse a row.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from .records import ArtifactRecord, DecisionRecord, RunRecord, RunStatus
from .storable import (
    ERROR_CHARS,
    LABEL_CHARS,
    NAME_CHARS,
    REQUEST_CHARS,
    SUMMARY_CHARS,
    storable_json,
    storable_text,
)

__all__ = [
    "PARAMETERS",
    "get_run",
    "list_artifacts",
    "list_decisions",
    "list_runs",
    "list_runs_query",
    "record_artifact",
    "record_decision",
    "upsert_run",
]

# The WHERE on the conflict branch is what keeps statuses from going
# backwards: a write only lands if it moves the status forward, or repeats the
# current status with an event time no older than the stored one. A late
# STARTED/IN_PROGRESS after a terminal status, or a second, different terminal
# status, changes nothing.
_UPSERT_RUN = """
INSERT INTO runs AS r (
    run_id, parent_run_id, workflow_name, profile, agent, request, status,
    created_at, updated_at, completed_at, error, models_used,
    input_tokens, output_tokens, total_tokens, cost_usd)
VALUES (
    $1, $2, $3, $4, $5, $6, $7,
    coalesce($8, now()), coalesce($9, now()),
    CASE WHEN run_status_rank($7) = 2 THEN coalesce($10, $9, now()) END,
    $11, $12, $13, $14, coalesce($15, $13::bigint + $14::bigint), $16)
ON CONFLICT (run_id) DO UPDATE SET
    parent_run_id = coalesce(EXCLUDED.parent_run_id, r.parent_run_id),
    workflow_name = EXCLUDED.workflow_name,
    profile       = coalesce(EXCLUDED.profile, r.profile),
    agent         = coalesce(EXCLUDED.agent, r.agent),
    request       = coalesce(EXCLUDED.request, r.request),
    status        = EXCLUDED.status,
    created_at    = least(r.created_at, EXCLUDED.created_at),
    updated_at    = greatest(r.updated_at, EXCLUDED.updated_at),
    completed_at  = coalesce(r.completed_at, EXCLUDED.completed_at),
    error         = coalesce(EXCLUDED.error, r.error),
    models_used   = CASE WHEN cardinality(EXCLUDED.models_used) > 0
                         THEN EXCLUDED.models_used ELSE r.models_used END,
    -- token counts are cumulative: never let a stale write lower them
    input_tokens  = greatest(r.input_tokens, EXCLUDED.input_tokens),
    output_tokens = greatest(r.output_tokens, EXCLUDED.output_tokens),
    total_tokens  = greatest(r.total_tokens, EXCLUDED.total_tokens),
    -- the cost goes with the tokens it was computed from
    cost_usd      = CASE WHEN EXCLUDED.total_tokens >= r.total_tokens
                         THEN EXCLUDED.cost_usd ELSE r.cost_usd END
WHERE run_status_rank(EXCLUDED.status) > run_status_rank(r.status)
   OR (EXCLUDED.status = r.status AND EXCLUDED.updated_at >= r.updated_at)
RETURNING run_id
"""

_RECORD_DECISION = """
INSERT INTO decisions AS d (
    run_id, seq, kind, agent, step, model, attempt, tool_calls, summary,
    input_tokens, output_tokens, total_tokens, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, coalesce($14, now()))
ON CONFLICT (run_id, seq) DO UPDATE SET
    kind = EXCLUDED.kind, agent = EXCLUDED.agent, step = EXCLUDED.step,
    model = EXCLUDED.model, attempt = EXCLUDED.attempt,
    tool_calls = EXCLUDED.tool_calls, summary = EXCLUDED.summary,
    input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
    total_tokens = EXCLUDED.total_tokens, payload = EXCLUDED.payload
"""

_RECORD_ARTIFACT = """
INSERT INTO artifacts AS a (run_id, key, size, sha256, content_type, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), coalesce($7, now()))
ON CONFLICT (run_id, key) DO UPDATE SET
    size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
    content_type = coalesce(EXCLUDED.content_type, a.content_type),
    created_at = least(a.created_at, EXCLUDED.created_at),
    updated_at = EXCLUDED.updated_at
"""

_RUN_COLUMNS = (
    "run_id, parent_run_id, workflow_name, profile, agent, request, status, created_at, updated_at,"
    " completed_at, error, models_used, input_tokens, output_tokens, total_tokens, cost_usd"
)


# The column each query parameter ($1, $2, ...) of a write goes to, by table:
# an error about "query argument $9" names its column.
PARAMETERS = {
    "runs": (
        "run_id", "parent_run_id", "workflow_name", "profile", "agent", "request", "status", "created_at",
        "updated_at", "completed_at", "error", "models_used", "input_tokens", "output_tokens", "total_tokens",
        "cost_usd",
    ),
    "decisions": (
        "run_id", "seq", "kind", "agent", "step", "model", "attempt", "tool_calls", "summary",
        "input_tokens", "output_tokens", "total_tokens", "payload", "created_at",
    ),
    "artifacts": ("run_id", "key", "size", "sha256", "content_type", "created_at", "updated_at"),
}  # fmt: skip


def _json(value: Any) -> str | None:
    # asyncpg's default codec sends and returns jsonb as text.
    return None if value is None else json.dumps(storable_json(value), ensure_ascii=False)


def _label(value: str | None) -> str | None:
    return storable_text(value, LABEL_CHARS)


def _name(value: str | None) -> str | None:
    return storable_text(value, NAME_CHARS)


async def upsert_run(pool: asyncpg.Pool, run: RunRecord) -> bool:
    """Insert or update a run. Returns False when the write was stale and ignored
    (it would have moved the status backwards or was older than the stored row)."""
    request = storable_text(run.request, REQUEST_CHARS)
    written = await pool.fetchval(
        _UPSERT_RUN,
        _label(run.run_id),
        _label(run.parent_run_id),
        _name(run.workflow_name),
        _name(run.profile),
        _name(run.agent),
        request,
        run.status.value,
        run.created_at,
        run.updated_at,
        run.completed_at,
        storable_text(run.error, ERROR_CHARS),
        [_name(model) for model in run.models_used],
        run.input_tokens,
        run.output_tokens,
        run.total_tokens,
        run.cost_usd,
    )
    if written is None and request is not None:
        # A stale row (say STARTED, landing after IN_PROGRESS) still carries
        # facts the newer rows leave out: fill in what is missing.
        await pool.execute(
            "UPDATE runs SET request = $2, created_at = least(created_at, coalesce($3, created_at)) "
            "WHERE run_id = $1 AND request IS NULL",
            _label(run.run_id),
            request,
            run.created_at,
        )
    return written is not None


async def record_decision(pool: asyncpg.Pool, decision: DecisionRecord) -> None:
    """Insert or overwrite the decision (run_id, seq); its first created_at is kept."""
    d = decision
    await pool.execute(
        _RECORD_DECISION,
        _label(d.run_id),
        d.seq,
        d.kind.value,
        _name(d.agent),
        d.step,
        _name(d.model),
        d.attempt,
        _json(d.tool_calls),
        storable_text(d.summary, SUMMARY_CHARS),
        d.input_tokens,
        d.output_tokens,
        d.total_tokens,
        _json(d.payload),
        d.created_at,
    )


async def record_artifact(pool: asyncpg.Pool, artifact: ArtifactRecord) -> None:
    """Insert or update the artifact (run_id, key) with its latest size and hash."""
    a = artifact
    await pool.execute(
        _RECORD_ARTIFACT,
        _label(a.run_id),
        _label(a.key),
        a.size,
        a.sha256,
        _name(a.content_type),
        a.created_at,
        a.updated_at,
    )


async def get_run(pool: asyncpg.Pool, run_id: str) -> RunRecord | None:
    row = await pool.fetchrow(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = $1", run_id)
    return None if row is None else RunRecord.model_validate(dict(row))


def list_runs_query(
    limit: int = 20,
    status: RunStatus | str | None = None,
    parent_run_id: str | None = None,
    top_level: bool = False,
) -> tuple[str, list[Any]]:
    """The SQL and arguments :func:`list_runs` runs, exposed so it can be EXPLAINed.

    Only the conditions asked for are in the statement (no ``$1 IS NULL OR ...``),
    so each shape maps onto its own index: runs_recent_idx,
    runs_status_recent_idx or runs_parent_idx.
    """
    conditions: list[str] = []
    args: list[Any] = []
    if status is not None:
        args.append(RunStatus(status).value)
        conditions.append(f"status = ${len(args)}")
    if parent_run_id is not None:
        args.append(parent_run_id)
        conditions.append(f"parent_run_id = ${len(args)}")
    elif top_level:
        conditions.append("parent_run_id IS NULL")
    args.append(limit)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    sql = f"SELECT {_RUN_COLUMNS} FROM runs {where}ORDER BY created_at DESC, run_id DESC LIMIT ${len(args)}"
    return sql, args


async def list_runs(
    pool: asyncpg.Pool,
    limit: int = 20,
    status: RunStatus | str | None = None,
    *,
    parent_run_id: str | None = None,
    top_level: bool = False,
) -> list[RunRecord]:
    """Most recent runs first, optionally only one status, one parent's sub-agent runs,
    or only top-level runs (no sub-agents)."""
    sql, args = list_runs_query(limit, status, parent_run_id, top_level)
    return [RunRecord.model_validate(dict(row)) for row in await pool.fetch(sql, *args)]


async def list_decisions(pool: asyncpg.Pool, run_id: str) -> list[DecisionRecord]:
    rows = await pool.fetch("SELECT * FROM decisions WHERE run_id = $1 ORDER BY seq", run_id)
    decisions = []
    for row in rows:
        fields = dict(row)
        for name in ("tool_calls", "payload"):
            if fields[name] is not None:
                fields[name] = json.loads(fields[name])
        decisions.append(DecisionRecord.model_validate(fields))
    return decisions


async def list_artifacts(pool: asyncpg.Pool, run_id: str) -> list[ArtifactRecord]:
    rows = await pool.fetch("SELECT * FROM artifacts WHERE run_id = $1 ORDER BY key", run_id)
    return [ArtifactRecord.model_validate(dict(row)) for row in rows]
