"""Bookkeeping in PostgreSQL: the run's row, its decisions and its artifact index.

One activity writes a whole batch in one transaction. Every row is an
idempotent upsert keyed by what the workflow decided (run id, decision seq,
object key), so retries and replays rewrite rows instead of adding them.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from deepagents_temporal import pgstore
from deepagents_temporal.schema import RecordBatch


class RecordActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record")
    async def record(self, batch: RecordBatch) -> None:
        await self.write(batch)

    async def write(self, batch: RecordBatch) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            if batch.run is not None:
                await pgstore.upsert_run(connection, batch.run)
            for decision in batch.decisions:
                await pgstore.record_decision(connection, decision)
            for artifact in batch.artifacts:
                await pgstore.record_artifact(connection, artifact)
