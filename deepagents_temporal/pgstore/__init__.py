"""PostgreSQL, the queryable store (design decision 6).

Temporal is the source of truth for execution; these tables are what people
query: runs, their decisions, their artifact index, and long-term memories
that outlive a run. Every write is an idempotent upsert, so activity retries
and workflow replays never duplicate rows.

    pool = await create_pool(dsn)
    await migrate(pool)                       # at worker start-up; idempotent
    await upsert_run(pool, RunRecord(run_id=..., workflow_name="AgentWorkflow"))
    store = PostgresStore(pool)               # LangGraph BaseStore for memories
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .db import create_pool, migrate, migration_files
from .records import ArtifactRecord, DecisionKind, DecisionRecord, RunRecord, RunStatus
from .runs import (
    get_run,
    list_artifacts,
    list_decisions,
    list_runs,
    list_runs_query,
    record_artifact,
    record_decision,
    upsert_run,
)

if TYPE_CHECKING:
    from .memory import PostgresStore


def __getattr__(name: str) -> Any:
    # Loaded on first use so that code needing only the records (workflows)
    # or the run tables does not import LangGraph.
    if name == "PostgresStore":
        from .memory import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArtifactRecord",
    "DecisionKind",
    "DecisionRecord",
    "PostgresStore",
    "RunRecord",
    "RunStatus",
    "create_pool",
    "get_run",
    "list_artifacts",
    "list_decisions",
    "list_runs",
    "list_runs_query",
    "migrate",
    "migration_files",
    "record_artifact",
    "record_decision",
    "upsert_run",
]
