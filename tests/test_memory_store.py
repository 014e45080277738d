"""PostgresStore (long-term memory) against LangGraph's own InMemoryStore.

The same operations go to both stores and the answers must match. Where the
two differ by design (documented in deepagents_temporal/pgstore/memory.py),
the difference is tested on its own: search order, created_at on update,
namespaces left empty, comparisons on fields of another type, TTL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from deepagents_temporal.devstack import DevStack
from deepagents_temporal.pgstore import PostgresStore, create_pool, migrate
from deepagents_temporal.pgstore.memory import _search_query


@pytest.fixture(scope="module")
async def pool(stack: DevStack) -> AsyncIterator[asyncpg.Pool]:
    name = f"test_memory_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await create_pool(urlunsplit(urlsplit(stack.database_url)._replace(path=f"/{name}")))
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def store(pool: asyncpg.Pool) -> PostgresStore:
    await pool.execute("TRUNCATE memories")
    return PostgresStore(pool)


def _normalize(result: Any) -> Any:
    """Comparable form of a batch result. Search results are compared as sets:
    InMemoryStore returns insertion order, PostgresStore newest first."""
    if isinstance(result, Item):
        return (result.namespace, result.key, result.value)
    if isinstance(result, list) and result and isinstance(result[0], Item):
        return sorted(_normalize(item) for item in result)
    return result


async def _same_answers(store: PostgresStore, steps: list[list[Op]]) -> list[Any]:
    """Run each batch on both stores; assert equal answers; return them."""
    reference = InMemoryStore()
    answers = []
    for ops in steps:
        expected = [_normalize(r) for r in await reference.abatch(ops)]
        actual = [_normalize(r) for r in await store.abatch(ops)]
        assert actual == expected, ops
        answers.append(actual)
    return answers


# --------------------------------------------------------------------------- same answers as InMemoryStore


async def test_put_get_update_delete(store: PostgresStore) -> None:
    ns = ("users", "u1", "prefs")
    answers = await _same_answers(
        store,
        [
            [PutOp(ns, "theme", {"color": "dark", "size": 12}), PutOp(("users", "u2"), "theme", {"color": "light"})],
            [
                GetOp(ns, "theme"),
                GetOp(ns, "missing"),
                GetOp(("users", "u1"), "theme"),
                GetOp(("users", "u2"), "theme"),
            ],
            [PutOp(ns, "theme", {"color": "blue", "nested": {"a": [1, 2, {"b": None}]}, "text": 'é ✓ "q"'})],
            [GetOp(ns, "theme")],
            [PutOp(ns, "theme", None), PutOp(ns, "never-existed", None)],
            [GetOp(ns, "theme"), GetOp(("users", "u2"), "theme")],
        ],
    )
    assert answers[3] == [(ns, "theme", {"color": "blue", "nested": {"a": [1, 2, {"b": None}]}, "text": 'é ✓ "q"'})]
    assert answers[5] == [None, (("users", "u2"), "theme", {"color": "light"})]


async def test_reads_in_a_batch_see_the_state_before_its_writes(store: PostgresStore) -> None:
    ns = ("batch",)
    answers = await _same_answers(
        store,
        [
            [PutOp(ns, "k", {"v": 1}), GetOp(ns, "k"), PutOp(ns, "k", {"v": 2}), SearchOp(ns)],
            [GetOp(ns, "k"), PutOp(ns, "k", None), GetOp(ns, "k")],
            [GetOp(ns, "k")],
        ],
    )
    assert answers == [
        [None, None, None, []],
        [(ns, "k", {"v": 2}), None, (ns, "k", {"v": 2})],
        [None],
    ]


SEED = [
    PutOp(("docs", "u1"), "a", {"type": "report", "score": 3, "tags": ["x", "y"], "meta": {"lang": "en", "v": 2}}),
    PutOp(("docs", "u1"), "b", {"type": "note", "score": 4.5, "tags": ["y"], "meta": {"lang": "fr", "v": 2}}),
    PutOp(("docs", "u1", "drafts"), "c", {"type": "report", "score": 7, "tags": [], "meta": {"lang": "en"}}),
    PutOp(("docs", "u2"), "a", {"type": "report", "score": 1, "tags": ["y", "x"], "owner": None}),
    PutOp(("docsets",), "d", {"type": "report", "score": 9}),
    PutOp(("do",), "e", {"type": "note", "score": 2}),
    PutOp(("mixed",), "f", {"type": "note", "score": "high"}),
    PutOp(("mixed",), "g", {"type": "note"}),
]


@pytest.mark.parametrize(
    "prefix, filter",
    [
        ((), None),
        (("docs",), None),
        (("docs", "u1"), None),
        (("docs", "u1", "drafts"), None),
        (("do",), None),  # a label prefix, not a string prefix: ("docs",) is not in it
        (("docs", "u1", "drafts", "deeper"), None),
        (("nothing",), None),
        ((), {"type": "report"}),
        ((), {"type": "note", "score": 2}),
        (("docs",), {"score": 4.5}),
        (("docs",), {"score": 3.0}),  # JSON numbers: 3 == 3.0
        (("docs",), {"tags": ["x", "y"]}),  # lists must be equal, in order
        (("docs",), {"tags": []}),
        (("docs",), {"meta": {"lang": "en"}}),  # nested objects match field by field
        (("docs",), {"meta": {"lang": "en", "v": 2}}),
        (("docs",), {"meta": {}}),
        (("docs",), {"owner": None}),  # null, and missing fields, equal None
        (("docs",), {"nope": "x"}),
        ((), {"type": {"$eq": "note"}}),
        ((), {"type": {"$ne": "note"}}),
        ((), {"owner": {"$ne": None}}),
        (("docs",), {"score": {"$gt": 3}}),
        (("docs",), {"score": {"$gte": 3}}),
        (("docs",), {"score": {"$lt": 4.5}}),
        (("docs",), {"score": {"$lte": 4.5}}),
        (("docs",), {"score": {"$gt": 1, "$lt": 7}, "type": "report"}),
        (("docs",), {"score": {"$gte": 3}, "meta": {"lang": "en"}}),
    ],
)
async def test_search_prefix_and_filters(
    store: PostgresStore, prefix: tuple[str, ...], filter: dict[str, Any] | None
) -> None:
    await _same_answers(store, [SEED, [SearchOp(prefix, filter, limit=100)]])


async def test_search_limit_and_offset(store: PostgresStore) -> None:
    for i in range(25):  # one batch each, so updated_at increases
        await store.aput(("pages", f"g{i % 3}"), f"k{i:02d}", {"i": i})
    full = await store.asearch(("pages",), limit=100)
    assert len(full) == 25
    # Newest first; this is the one place where the order differs from InMemoryStore's.
    assert [item.key for item in full] == [f"k{i:02d}" for i in range(24, -1, -1)]
    assert all(a.updated_at >= b.updated_at for a, b in zip(full, full[1:], strict=False))

    pages = [await store.asearch(("pages",), limit=10, offset=offset) for offset in (0, 10, 20, 30)]
    assert [len(page) for page in pages] == [10, 10, 5, 0]
    assert [item.key for page in pages for item in page] == [item.key for item in full]

    reference = InMemoryStore()
    for i in range(25):
        await reference.aput(("pages", f"g{i % 3}"), f"k{i:02d}", {"i": i})
    assert [len(await reference.asearch(("pages",), limit=10, offset=o)) for o in (0, 10, 20, 30)] == [10, 10, 5, 0]
    odd = {"i": {"$gt": 10}}
    assert _normalize(await store.asearch(("pages",), filter=odd, limit=5, offset=2)) != []
    assert len(await store.asearch(("pages",), filter=odd, limit=5, offset=12)) == 2
    assert len(await reference.asearch(("pages",), filter=odd, limit=5, offset=12)) == 2


NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("a",),
    ("B", "b"),  # sorts before "a": code-point order, like Python
    ("x", "y", "f"),
    ("ab", "f"),
]


def _list(prefix: tuple[str, ...] | None = None, suffix: tuple[str, ...] | None = None, **kw: Any) -> ListNamespacesOp:
    conditions = []
    if prefix is not None:
        conditions.append(MatchCondition("prefix", prefix))
    if suffix is not None:
        conditions.append(MatchCondition("suffix", suffix))
    return ListNamespacesOp(tuple(conditions), **kw)


@pytest.mark.parametrize(
    "op",
    [
        ListNamespacesOp(),
        _list(("a", "b"), max_depth=3),  # the example in BaseStore.list_namespaces
        _list(("a",)),
        _list(("a", "b", "d", "e")),
        _list(("a", "b", "d", "e", "z")),
        _list(("a", "*", "f")),
        _list(("*", "b")),
        _list(("*",)),
        _list(suffix=("f",)),
        _list(suffix=("*", "f")),
        _list(suffix=("b", "*", "i")),
        _list(suffix=("a",)),
        _list(("a",), suffix=("f",)),
        _list(("a",), suffix=("f",), max_depth=2),
        ListNamespacesOp(max_depth=1),
        ListNamespacesOp(max_depth=2),
        ListNamespacesOp(limit=3),
        ListNamespacesOp(limit=3, offset=3),
        ListNamespacesOp(max_depth=2, limit=2, offset=1),
        _list(("nothing",)),
    ],
)
async def test_list_namespaces(store: PostgresStore, op: ListNamespacesOp) -> None:
    seed = [PutOp(ns, "k", {"n": i}) for i, ns in enumerate(NAMESPACES)]
    await _same_answers(store, [seed, [op]])


async def test_sync_api_works_from_another_thread(store: PostgresStore) -> None:
    def scenario(s: BaseStore) -> list[Any]:
        s.put(("t", "1"), "k", {"v": 1})
        s.put(("t", "2"), "k", {"v": 2})
        s.put(("t", "1"), "k", {"v": 3})
        seen = [
            _normalize(s.get(("t", "1"), "k")),
            _normalize(s.search(("t",), filter={"v": {"$gte": 2}})),
            s.list_namespaces(prefix=("t",)),
        ]
        s.delete(("t", "2"), "k")
        return [*seen, _normalize(s.get(("t", "2"), "k"))]

    # The store's loop keeps running (it is awaiting the thread) and serves the calls.
    assert await asyncio.to_thread(scenario, store) == scenario(InMemoryStore())
    results = await asyncio.gather(*(asyncio.to_thread(store.get, ("t", "1"), "k") for _ in range(8)))
    assert {r.value["v"] for r in results if r} == {3}
    # The async API awaited on another thread's event loop is handed to the store's loop too.
    item = await asyncio.to_thread(asyncio.run, store.aget(("t", "1"), "k"))
    assert item is not None and item.value == {"v": 3}


async def test_sync_api_on_the_store_loop_refuses_instead_of_deadlocking(store: PostgresStore) -> None:
    with pytest.raises(asyncio.InvalidStateError):
        store.get(("t",), "k")


# --------------------------------------------------------------------------- differences by design


async def test_timestamps_created_at_kept_on_update(store: PostgresStore) -> None:
    ns = ("stamps",)
    await store.aput(ns, "k", {"v": 1})
    first = await store.aget(ns, "k")
    assert first is not None
    assert first.created_at == first.updated_at
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == UTC.utcoffset(None)

    await store.aput(ns, "k", {"v": 2})
    second = await store.aget(ns, "k")
    assert second is not None
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    [found] = await store.asearch(ns)
    assert (found.created_at, found.updated_at, found.score) == (second.created_at, second.updated_at, None)

    # Deleted then put again: a new item.
    await store.adelete(ns, "k")
    await store.aput(ns, "k", {"v": 3})
    third = await store.aget(ns, "k")
    assert third is not None and third.created_at > first.created_at


async def test_emptied_namespaces_are_not_listed(store: PostgresStore) -> None:
    # InMemoryStore keeps listing a namespace after its last item is deleted
    # (and even one that was only read from); this store lists namespaces with items.
    await store.aput(("gone",), "k", {"v": 1})
    await store.aput(("kept",), "k", {"v": 1})
    await store.adelete(("gone",), "k")
    await store.aget(("only-read",), "k")
    assert await store.alist_namespaces() == [("kept",)]


async def test_comparisons_skip_values_of_another_type(store: PostgresStore) -> None:
    await store.abatch(SEED)
    # InMemoryStore raises on these (float("high"), float(None)); here they just don't match.
    assert [i.key for i in await store.asearch(("mixed",), filter={"score": {"$gt": 0}})] == []
    assert [i.key for i in await store.asearch(("mixed",), filter={"score": {"$gte": "a"}})] == ["f"]
    assert sorted(i.key for i in await store.asearch((), filter={"score": {"$lt": 4}})) == ["a", "a", "e"]
    with pytest.raises(ValueError, match="unsupported filter operator"):
        await store.asearch((), filter={"score": {"$in": [1]}})
    reference = InMemoryStore()
    await reference.abatch(SEED)
    with pytest.raises(ValueError):
        await reference.asearch((), filter={"score": {"$in": [1]}})


async def test_query_is_ignored_without_a_vector_index(store: PostgresStore) -> None:
    await store.abatch(SEED)
    with_query = await store.asearch(("docs",), query="anything at all", limit=100)
    assert _normalize(with_query) == _normalize(await store.asearch(("docs",), limit=100))


async def test_ttl_expiry_refresh_and_sweep(store: PostgresStore, pool: asyncpg.Pool) -> None:
    ns = ("ttl",)
    expires_in = "SELECT extract(epoch FROM expires_at - now()) FROM memories WHERE namespace = $1 AND key = $2"

    async def set_expiry(key: str, seconds: float) -> None:
        await pool.execute(
            "UPDATE memories SET expires_at = now() + $3 * interval '1 second' WHERE namespace = $1 AND key = $2",
            list(ns),
            key,
            seconds,
        )

    await store.aput(ns, "short", {"v": 1}, ttl=5)
    await store.aput(ns, "forever", {"v": 2})
    ttl_set = "SELECT expires_at - updated_at FROM memories WHERE namespace = $1 AND key = $2"
    assert await pool.fetchval(ttl_set, list(ns), "short") == timedelta(minutes=5)
    assert await pool.fetchval(expires_in, list(ns), "forever") is None

    # Reads push the expiry back unless asked not to.
    await set_expiry("short", 10)
    assert await store.aget(ns, "short", refresh_ttl=False) is not None
    assert await pool.fetchval(expires_in, list(ns), "short") <= 10
    # Pushed back to a full TTL from the read: far beyond the 10 s left.
    assert await store.aget(ns, "short") is not None
    assert await pool.fetchval(expires_in, list(ns), "short") > 60
    await set_expiry("short", 10)
    assert len(await store.asearch(ns)) == 2
    assert await pool.fetchval(expires_in, list(ns), "short") > 60

    # Once expired it is gone from every read, before and after the sweep.
    await set_expiry("short", -1)
    created = await pool.fetchval("SELECT created_at FROM memories WHERE key = 'short'")
    assert await store.aget(ns, "short") is None
    assert [i.key for i in await store.asearch(ns)] == ["forever"]
    await store.aput(("ttl", "other"), "k", {"v": 3}, ttl=5)
    assert await store.alist_namespaces(prefix=("ttl",)) == [("ttl",), ("ttl", "other")]
    await pool.execute(
        "UPDATE memories SET expires_at = now() - interval '1 second' WHERE namespace = $1", ["ttl", "other"]
    )
    assert await store.alist_namespaces(prefix=("ttl",)) == [("ttl",)]

    # Putting over an expired, unswept item makes a new item.
    await store.aput(ns, "short", {"v": 4}, ttl=5)
    renewed = await store.aget(ns, "short")
    assert renewed is not None and renewed.created_at > created
    await set_expiry("short", -1)

    assert await store.asweep_ttl() == 2
    assert await pool.fetchval("SELECT count(*) FROM memories") == 1


async def test_prefix_search_is_an_index_range_scan(store: PostgresStore, pool: asyncpg.Pool) -> None:
    await pool.execute(
        """
        INSERT INTO memories (namespace, key, value)
        SELECT ARRAY['user' || (g % 500), 'notes'], 'k' || g, jsonb_build_object('g', g)
        FROM generate_series(1, 10000) AS g
        """
    )
    await pool.execute("ANALYZE memories")
    for op in (SearchOp(("user42",)), SearchOp(("user42", "notes"), {"g": {"$gt": 10}}, refresh_ttl=False)):
        sql, args = _search_query(op)
        plan = "\n".join(row[0] for row in await pool.fetch(f"EXPLAIN {sql}", *args))
        assert "memories_pkey" in plan and "Seq Scan" not in plan, plan
    assert len(await store.asearch(("user42",), limit=100)) == 20
    assert await store.asearch(("user",), limit=100) == []  # labels, not string prefixes
