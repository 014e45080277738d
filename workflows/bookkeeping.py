"""An agent workflow's PostgreSQL bookkeeping: its run row, decisions and artifact index.

Rows are collected in a ``RecordBatch`` and written by the ``record`` activity.
A step's rows normally ride along with the next model call (``take`` / ``give_back``);
``flush`` starts a write of its own without holding up the loop, and ``drain``
waits for every write before the run ends. Every row is an idempotent upsert
keyed by what the workflow decided (run id, decision seq, object key), so
retries and replays rewrite rows instead of adding them.

Rows are made storable where they are made (``pgstore/storable.py``): what a
model wrote (a NUL, a megabyte of arguments, JSON nested ten thousand levels
deep) is escaped and capped before it enters a batch, so it neither weighs on
history nor makes PostgreSQL refuse the row. The store does it again (a no-op
then) for every other writer.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from deepagents_temporal.pgstore.records import ArtifactRecord, DecisionKind, DecisionRecord, RunRecord, RunStatus
    from deepagents_temporal.pgstore.storable import (
        ERROR_CHARS,
        REQUEST_CHARS,
        SUMMARY_CHARS,
        storable_json,
        storable_text,
    )
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT, STORAGE_RETRY_POLICY
    from deepagents_temporal.schema import ArtifactInfo, RecordBatch, TokenUsage
    from workflows import summaries

MAX_RECORDED_REQUEST = REQUEST_CHARS
MAX_RECORDED_SUMMARY = SUMMARY_CHARS
MAX_RECORDED_ERROR = ERROR_CHARS
# DecisionRecord fields that are jsonb columns.
_JSON_FIELDS = ("tool_calls", "payload")


class RunBookkeeping:
    def __init__(self, run_row: RunRecord) -> None:
        self._run_row = run_row
        self._batch = RecordBatch()
        self._writes: list[workflow.ActivityHandle] = []
        self._decision_seq = 0

    def started(self, request: str) -> None:
        """The STARTED row, the only one that carries the request text, written at once."""
        self.run_status(RunStatus.STARTED, TokenUsage(), [])
        self._batch.run = self._run_row.model_copy(update={"request": storable_text(request, MAX_RECORDED_REQUEST)})
        self.flush()

    def resumed(self, decision_seq: int) -> None:
        """The run goes on after continue-as-new: no STARTED row, decisions numbered on."""
        self._decision_seq = decision_seq

    @property
    def decision_seq(self) -> int:
        return self._decision_seq

    @property
    def created_at(self) -> datetime:
        return self._run_row.created_at

    def set_agent(self, agent: str) -> None:
        self._run_row.agent = agent

    def set_profile(self, profile: str) -> None:
        """The profile the router chose (the run started without one)."""
        self._run_row.profile = profile

    def run_status(
        self, status: RunStatus, usage: TokenUsage, models_used: list[str], error: str | None = None
    ) -> None:
        now = workflow.now()
        self._run_row = self._run_row.model_copy(
            update={
                "status": status,
                "error": storable_text(error, MAX_RECORDED_ERROR) if error else None,
                "models_used": list(models_used),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "cost_usd": usage.cost_usd,
                "updated_at": now,
                "completed_at": now if status.is_terminal else None,
            }
        )
        self._batch.run = self._run_row

    def decide(self, kind: DecisionKind, summary: str, *, agent: str, step: int, **fields: object) -> None:
        for name in _JSON_FIELDS:
            if fields.get(name) is not None:
                fields[name] = storable_json(fields[name])
        self._batch.decisions.append(
            DecisionRecord(
                run_id=workflow.info().workflow_id,
                seq=self._decision_seq,
                kind=kind,
                agent=agent or None,
                step=step,
                summary=storable_text(" ".join(summary.split()), MAX_RECORDED_SUMMARY),
                created_at=workflow.now(),
                **fields,  # type: ignore[arg-type]
            )
        )
        self._decision_seq += 1

    def artifact(self, run_id: str, artifact: ArtifactInfo) -> None:
        self._batch.artifacts.append(
            ArtifactRecord(
                run_id=run_id,
                key=artifact.key,
                size=artifact.size,
                sha256=artifact.sha256,
                content_type=artifact.content_type,
                created_at=workflow.now(),
                updated_at=workflow.now(),
            )
        )

    def take(self) -> RecordBatch:
        """The rows so far, handed to a model call that writes them."""
        batch, self._batch = self._batch, RecordBatch()
        return batch

    def give_back(self, batch: RecordBatch) -> None:
        """Rows a model call could not write: kept, ahead of the newer ones."""
        self._batch = batch.merged_with(self._batch)

    def flush(self) -> None:
        if not self._batch:
            return
        self._writes.append(
            workflow.start_activity_method(
                RecordActivities.record,
                self._batch,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary=summaries.record(self._batch),
            )
        )
        self._batch = RecordBatch()

    async def drain(self) -> None:
        """Write what is left and wait for every write."""
        self.flush()
        # Retried until PostgreSQL takes them; one that failed for good (a
        # non-retryable error) must not hide the run's own outcome.
        await asyncio.gather(*self._writes, return_exceptions=True)
