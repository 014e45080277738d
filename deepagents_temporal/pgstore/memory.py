"""Long-term memory: LangGraph's ``BaseStore`` on PostgreSQL (asyncpg).

Items live in the ``memories`` table (see ``migrations/0002_memories.sql``)
and outlive runs. Semantics follow LangGraph's stores, with these choices:

* A batch runs in one transaction. Reads (get, search, list_namespaces) see
  the state before the batch's writes; puts are applied last, and of several
  puts to one item the last one wins. This is what ``InMemoryStore`` and
  LangGraph's own ``PostgresStore`` do.
* Updating an item keeps its ``created_at`` and moves ``updated_at``
  (``InMemoryStore`` resets both; LangGraph's ``PostgresStore`` keeps it).
* ``search`` has no vector index: ``query`` is ignored, as in LangGraph's
  stores configured without an ``index``; ``PutOp.index`` is ignored too.
  Results are ordered by ``updated_at`` descending, then namespace and key.
* ``filter`` matches the JSON value: a plain value must be equal (a missing
  field equals ``None``), a nested dict matches field by field, a list must be
  equal as a whole. Operators ``$eq``/``$ne`` compare JSON values;
  ``$gt``/``$gte``/``$lt``/``$lte`` compare numbers with numbers (as float) or
  strings with strings (by code point); items whose field is of another type
  (or missing) do not match, where ``InMemoryStore`` would raise.
* ``list_namespaces`` lists namespaces that hold at least one live item,
  sorted like Python tuples, ``*`` being a wildcard label in prefix/suffix.
* TTL: ``put(..., ttl=minutes)`` sets an expiry, refreshed on reads when
  ``refresh_ttl`` is true. Expired items are never returned or listed (as if
  ``omit_expired`` were always on); :meth:`PostgresStore.asweep_ttl` deletes
  them.
* Values are stored exactly or not at all: a value ``jsonb`` cannot hold (a NUL
  character or a lone surrogate in a string or key, NaN, nesting deeper than
  100 levels) is refused with :class:`UnstorableValueError` naming what is
  wrong, before anything of the batch is written. The same holds for keys and
  namespace labels with NUL characters or lone surrogates.

The synchronous ``batch`` (and so ``get``/``put``/...) may be called from any
thread except the one running the store's event loop: it hands the work to
that loop, as LangGraph's async stores do. ``abatch`` awaited on another
event loop is handed over the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from .db import migrate
from .storable import escape_text, unstorable_reason

__all__ = ["PostgresStore", "UnstorableValueError"]


class UnstorableValueError(ValueError):
    """A put that PostgreSQL could not store as given; the message says what and where."""


_LIVE = "(expires_at IS NULL OR expires_at > now())"
_ITEM_COLUMNS = "namespace, key, value, created_at, updated_at"
_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

_PUT = """
INSERT INTO memories AS m (namespace, key, value, ttl_minutes, expires_at)
VALUES ($1, $2, $3, $4::float8, now() + $4::float8 * interval '1 minute')
ON CONFLICT (namespace, key) DO UPDATE SET
    value = EXCLUDED.value,
    updated_at = EXCLUDED.updated_at,
    -- an expired item that was not swept yet is replaced by a new one
    created_at = CASE WHEN m.expires_at <= now() THEN EXCLUDED.created_at ELSE m.created_at END,
    ttl_minutes = EXCLUDED.ttl_minutes,
    expires_at = EXCLUDED.expires_at
"""


class PostgresStore(BaseStore):
    """LangGraph ``BaseStore`` over an asyncpg pool. See the module docstring for semantics.

    Create it inside the event loop that owns ``pool``; call :meth:`setup`
    (or :func:`~deepagents_temporal.pgstore.migrate`) once before use.
    """

    supports_ttl = True

    def __init__(self, pool: asyncpg.Pool, *, ttl: TTLConfig | None = None) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("create PostgresStore inside the event loop that owns its pool") from None
        self._pool = pool
        self.ttl_config = ttl

    async def setup(self) -> list[str]:
        """Apply pending migrations (idempotent)."""
        return await migrate(self._pool)

    async def asweep_ttl(self) -> int:
        """Delete expired items; returns how many."""
        status = await self._pool.execute("DELETE FROM memories WHERE expires_at <= now()")
        return int(status.split()[-1])

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            # Blocking here would wait for work that this very loop has to do.
            raise asyncio.InvalidStateError(
                "synchronous PostgresStore calls from the store's own event loop would deadlock; "
                "use the async methods (aget, aput, asearch, alist_namespaces, abatch)"
            )
        if not self._loop.is_running():
            raise RuntimeError("the event loop that owns the PostgresStore is not running")
        return asyncio.run_coroutine_threadsafe(self.abatch(list(ops)), self._loop).result()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        if asyncio.get_running_loop() is not self._loop:
            # The pool's connections belong to the store's loop: run there.
            future = asyncio.run_coroutine_threadsafe(self._abatch(ops), self._loop)
            return await asyncio.wrap_future(future)
        return await self._abatch(ops)

    async def _abatch(self, ops: list[Op]) -> list[Result]:
        results: list[Result] = [None] * len(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                _check_storable(op)
        async with self._pool.acquire() as conn, conn.transaction():
            for i, op in enumerate(ops):
                if isinstance(op, GetOp):
                    results[i] = await _get(conn, op)
                elif isinstance(op, SearchOp):
                    results[i] = await _search(conn, op)
                elif isinstance(op, ListNamespacesOp):
                    results[i] = await _list_namespaces(conn, op)
                elif isinstance(op, PutOp):
                    puts[(tuple(op.namespace), op.key)] = op
                else:
                    raise TypeError(f"unknown store operation: {op!r}")
            for op in puts.values():
                await _put(conn, op)
        return results


# --------------------------------------------------------------------------- operations


def _check_storable(op: PutOp) -> None:
    where = escape_text(f"memory {'.'.join(map(str, op.namespace))}/{op.key}")
    problem = unstorable_reason(list(op.namespace), where="namespace") or unstorable_reason(op.key, where="key")
    if problem is None and op.value is not None:
        problem = unstorable_reason(dict(op.value))
    if problem is not None:
        raise UnstorableValueError(f"cannot store {where!r}: {problem}")


async def _get(conn: asyncpg.Connection, op: GetOp) -> Item | None:
    sql = f"SELECT {_ITEM_COLUMNS} FROM memories WHERE namespace = $1 AND key = $2 AND {_LIVE}"
    rows = await conn.fetch(_refreshing(sql) if op.refresh_ttl else sql, list(op.namespace), op.key)
    return _item(rows[0]) if rows else None


async def _search(conn: asyncpg.Connection, op: SearchOp) -> list[SearchItem]:
    sql, args = _search_query(op)
    return [_item(row, SearchItem) for row in await conn.fetch(sql, *args)]


async def _list_namespaces(conn: asyncpg.Connection, op: ListNamespacesOp) -> list[tuple[str, ...]]:
    sql, args = _list_namespaces_query(op)
    return [tuple(row["ns"]) for row in await conn.fetch(sql, *args)]


async def _put(conn: asyncpg.Connection, op: PutOp) -> None:
    namespace = list(op.namespace)
    if op.value is None:
        await conn.execute("DELETE FROM memories WHERE namespace = $1 AND key = $2", namespace, op.key)
    else:
        await conn.execute(_PUT, namespace, op.key, json.dumps(dict(op.value)), op.ttl)


# --------------------------------------------------------------------------- SQL building


def _search_query(op: SearchOp) -> tuple[str, list[Any]]:
    params = _Params()
    conditions = [_LIVE, *_prefix_conditions(op.namespace_prefix, params, wildcards=False)]
    conditions += _filter_conditions(op.filter or {}, params)
    order = "ORDER BY updated_at DESC, namespace, key"
    sql = (
        f"SELECT {_ITEM_COLUMNS} FROM memories WHERE {' AND '.join(conditions)}"
        f" {order} LIMIT {params.add(op.limit)} OFFSET {params.add(op.offset)}"
    )
    return (_refreshing(sql, order) if op.refresh_ttl else sql), params.values


def _list_namespaces_query(op: ListNamespacesOp) -> tuple[str, list[Any]]:
    params = _Params()
    conditions = [_LIVE]
    for condition in op.match_conditions or ():
        conditions += _match_conditions(condition, params)
    namespace = "namespace" if op.max_depth is None else f"namespace[1:{int(op.max_depth)}]"
    sql = (
        f"SELECT ns FROM (SELECT DISTINCT {namespace} AS ns FROM memories WHERE {' AND '.join(conditions)}) d"
        f' ORDER BY ns COLLATE "C" LIMIT {params.add(op.limit)} OFFSET {params.add(op.offset)}'
    )
    return sql, params.values


class _Params:
    """Collects query arguments and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _refreshing(select: str, order: str = "") -> str:
    """Wrap a SELECT of items so the same statement also pushes back their expiry."""
    return (
        f"WITH hit AS ({select}),"
        " refreshed AS (UPDATE memories m SET expires_at = now() + m.ttl_minutes * interval '1 minute'"
        "  FROM hit WHERE m.ttl_minutes IS NOT NULL AND m.namespace = hit.namespace AND m.key = hit.key)"
        f" SELECT * FROM hit {order}"
    )


def _prefix_conditions(path: Sequence[str], params: _Params, *, wildcards: bool) -> list[str]:
    head = list(itertools.takewhile(lambda label: label != "*", path)) if wildcards else list(path)
    conditions = []
    if head:
        # Namespaces starting with `head` sort from `head` itself up to (not
        # including) `head` with "\x01" appended to its last label: no text
        # sorts between a label and the label + "\x01" ("\x00" is not valid in
        # PostgreSQL text). As a range, this is a scan of the primary key.
        upper = [*head[:-1], head[-1] + "\x01"]
        conditions.append(f"namespace >= {params.add(head)} AND namespace < {params.add(upper)}")
    for position, label in enumerate(path[len(head) :], start=len(head) + 1):
        if label != "*":
            conditions.append(f"namespace[{position}] = {params.add(label)}")
    if len(path) > len(head):
        conditions.append(f"cardinality(namespace) >= {len(path)}")
    return conditions


def _match_conditions(condition: MatchCondition, params: _Params) -> list[str]:
    path = list(condition.path)
    if condition.match_type == "prefix":
        return _prefix_conditions(path, params, wildcards=True)
    if condition.match_type != "suffix":
        raise ValueError(f"unsupported namespace match type: {condition.match_type!r}")
    if not path:
        return []
    conditions = [f"cardinality(namespace) >= {len(path)}"]
    for from_end, label in enumerate(reversed(path)):
        if label != "*":
            conditions.append(f"namespace[cardinality(namespace) - {from_end}] = {params.add(label)}")
    return conditions


def _filter_conditions(filter: dict[str, Any], params: _Params, path: tuple[str, ...] = ()) -> list[str]:
    conditions = []
    for field, expected in filter.items():
        field_path = (*path, field)
        value = f"(value #> {params.add(list(field_path))})"
        if isinstance(expected, dict) and any(key.startswith("$") for key in expected):
            conditions += [_operator(value, op, operand, params) for op, operand in expected.items()]
        elif isinstance(expected, dict):
            # A nested object matches field by field; the stored one may have more fields.
            conditions.append(f"jsonb_typeof{value} = 'object'")
            conditions += _filter_conditions(expected, params, field_path)
        else:
            conditions.append(_operator(value, "$eq", expected, params))
    return conditions


def _operator(value: str, op: str, operand: Any, params: _Params) -> str:
    if op in ("$eq", "$ne"):
        # A missing field compares as JSON null, like a missing key is None in Python.
        sql_op = "=" if op == "$eq" else "<>"
        return f"coalesce({value}, 'null'::jsonb) {sql_op} {params.add(json.dumps(operand))}::jsonb"
    if op not in _COMPARISONS:
        raise ValueError(f"unsupported filter operator: {op!r}")
    sql_op = _COMPARISONS[op]
    if isinstance(operand, (int, float)) and not isinstance(operand, bool):
        number = f"CASE WHEN jsonb_typeof{value} = 'number' THEN {value}::float8 END"
        return f"({number}) {sql_op} {params.add(float(operand))}::float8"
    if isinstance(operand, str):
        text = f"CASE WHEN jsonb_typeof{value} = 'string' THEN {value} #>> '{{}}' END"
        return f'({text}) COLLATE "C" {sql_op} {params.add(operand)}::text'
    raise ValueError(f"filter operator {op} needs a number or a string, got {operand!r}")


def _item(row: asyncpg.Record, cls: type[Item] = Item) -> Any:
    return cls(
        namespace=tuple(row["namespace"]),
        key=row["key"],
        value=json.loads(row["value"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
