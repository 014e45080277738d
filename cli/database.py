"""`db migrate`: apply the pending PostgreSQL schema migrations (idempotent)."""

from __future__ import annotations

from cli.console import say
from cli.services import open_database_only
from deepagents_temporal import pgstore
from deepagents_temporal.settings import load_settings


async def migrate() -> int:
    async with open_database_only(load_settings(), "db migrate", migrate=False) as pool:
        applied = await pgstore.migrate(pool)
        known = [version for version, _sql in pgstore.migration_files()]
    say(f"applied: {', '.join(applied)}" if applied else f"schema up to date ({known[-1]})")
    return 0
