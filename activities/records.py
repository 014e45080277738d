"""Bookkeeping in PostgreSQL: the run's row, its decisions and its artifact index.

One activity writes a whole batch in one transaction. Every row is an
idempotent upsert keyed by what the workflow decided (run id, decision seq,
object key), so retries and replays rewrite rows instead of adding them.

Errors are classified (``deepagents_temporal/storage_errors.py``): an outage
retries until PostgreSQL is back. A row PostgreSQL refuses for its content
can never be written, and must not cost the others (the run's final status
above all): the batch is then written again one row at a time, the refused
rows are left out, and the ``record`` activity fails without retrying,
naming each refused row's table, key and column.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal import pgstore
from deepagents_temporal.pgstore.runs import PARAMETERS
from deepagents_temporal.schema import RecordBatch
from deepagents_temporal.storage_errors import UNKNOWN_ATTEMPTS, Cause, classify, describe

UNSTORABLE_RECORD = "UnstorableRecord"
_ARGUMENT = re.compile(r"query argument \$(\d+)")
_SHOWN_ROWS = 5  # refused rows named in the activity's error

Write = Callable[[asyncpg.Connection], Awaitable[object]]


class RecordActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record")
    async def record(self, batch: RecordBatch) -> None:
        try:
            refused = await self.write(batch)
        except Exception as err:
            cause = classify(err)
            if cause is Cause.OUTAGE or (cause is Cause.UNKNOWN and activity.info().attempt < UNKNOWN_ATTEMPTS):
                raise ApplicationError(f"waiting for PostgreSQL: {describe(err)}", type=type(err).__name__) from err
            raise ApplicationError(
                f"cannot record to PostgreSQL: {describe(err)}", type=UNSTORABLE_RECORD, non_retryable=True
            ) from err
        if refused:
            shown = "; ".join(refused[:_SHOWN_ROWS]) + (
                f"; and {len(refused) - _SHOWN_ROWS} more" if len(refused) > _SHOWN_ROWS else ""
            )
            raise ApplicationError(
                f"PostgreSQL refused {len(refused)} row(s) for their content; the others are written: {shown}",
                type=UNSTORABLE_RECORD,
                non_retryable=True,
            )

    async def write(self, batch: RecordBatch) -> list[str]:
        """Write every row of ``batch``; return the rows PostgreSQL refused for their content
        (one line each), after writing all the others. Outages raise."""
        rows = list(_rows(batch))
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                for _, _, write in rows:
                    await write(connection)
            return []
        except Exception as err:
            if classify(err) is not Cause.CONTENT:
                raise
        # One row at a time, each in its own transaction, so the good rows land.
        refused = []
        for table, key, write in rows:
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    await write(connection)
            except Exception as err:
                if classify(err) is not Cause.CONTENT:
                    raise
                refused.append(f"{table} {key}{_column(table, err)}: {describe(err)}")
        if refused:
            activity.logger.warning("PostgreSQL refused %d row(s), left out: %s", len(refused), "; ".join(refused))
        return refused


def _rows(batch: RecordBatch) -> Iterator[tuple[str, str, Write]]:
    """(table, row key, write) of each row of ``batch``, run row first."""
    run = batch.run
    if run is not None:
        yield "runs", f"run_id={_short(run.run_id)}", lambda c: pgstore.upsert_run(c, run)
    for decision in batch.decisions:
        yield (
            "decisions",
            f"run_id={_short(decision.run_id)} seq={decision.seq}",
            lambda c, d=decision: pgstore.record_decision(c, d),
        )
    for artifact in batch.artifacts:
        yield (
            "artifacts",
            f"run_id={_short(artifact.run_id)} key={_short(artifact.key)}",
            lambda c, a=artifact: pgstore.record_artifact(c, a),
        )


def _short(label: str) -> str:
    return repr(label if len(label) <= 120 else label[:120] + "…")


def _column(table: str, err: BaseException) -> str:
    """ ", column X" when the error says which value was refused."""
    column = getattr(err, "column_name", None)
    found = _ARGUMENT.search(str(err))
    if column is None and found is not None:
        index = int(found.group(1)) - 1
        names = PARAMETERS.get(table, ())
        column = names[index] if 0 <= index < len(names) else None
    return f", column {column}" if column else ""
