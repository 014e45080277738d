"""What every benchmark needs: an ephemeral embedded stack, the scripted model,
settings pointed at both, a client and a migrated database pool."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client

from deepagents_temporal.devstack import DevStack, start_dev_stack
from deepagents_temporal.services import connect, open_database
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM


@dataclass
class Bench:
    stack: DevStack
    llm: ScriptedLLM
    settings: Settings
    client: Client
    pool: asyncpg.Pool


@asynccontextmanager
async def bench_services(**overrides: object) -> AsyncIterator[Bench]:
    """Everything started for one benchmark, and stopped again after it."""
    stack = await start_dev_stack(ephemeral=True)
    llm = ScriptedLLM()
    base_url = llm.start()
    pool = None
    try:
        settings = stack.settings(
            Settings(),
            temporal_task_queue=f"bench-{uuid.uuid4().hex[:6]}",
            openai_api_key=SecretStr("bench"),
            openai_base_url=base_url,
            **overrides,
        )
        client = await connect(settings)
        pool = await open_database(settings)
        yield Bench(stack, llm, settings, client, pool)
    finally:
        if pool is not None:
            await pool.close()
        llm.stop()
        await stack.stop()
