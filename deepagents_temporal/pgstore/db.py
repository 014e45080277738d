"""Connection pool and schema migrations for the PostgreSQL store."""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

__all__ = ["create_pool", "migrate", "migration_files"]

# Any constant will do; it only has to be the same in every process that migrates.
_MIGRATION_LOCK_ID = 0x6461_7467_6D69_6772  # "datgmigr"
_MIGRATION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) of every bundled migration, oldest first.

    The version is the file name without ``.sql`` (``0001_runs``); the
    four-digit prefix orders them.
    """
    found = []
    for entry in (resources.files(__package__) / "migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        if not _MIGRATION_NAME.match(entry.name):
            raise RuntimeError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool with asyncpg's default codecs (json/jsonb travel as text), which is what
    every function in this package expects."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)


async def migrate(target: asyncpg.Pool | asyncpg.Connection | str) -> list[str]:
    """Apply the bundled migrations that are not applied yet; return their versions.

    Safe to call from every worker at start-up: all of it runs in one
    transaction under a transaction-scoped advisory lock, so concurrent callers
    queue up and the later ones find nothing left to do. Applying twice is a
    no-op that returns ``[]``.
    """
    if isinstance(target, str):
        conn = await asyncpg.connect(target)
        try:
            return await _migrate(conn)
        finally:
            await conn.close()
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await _migrate(conn)
    return await _migrate(target)


async def _migrate(conn: asyncpg.Connection) -> list[str]:
    applied: list[str] = []
    async with conn.transaction():
        # Taken before anything else (even the bookkeeping table's creation),
        # released at commit.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)  # no arguments: simple protocol, several statements allowed
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
    return applied
