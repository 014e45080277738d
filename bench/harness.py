"""What every benchmark needs: an ephemeral embedded stack, the scripted model,
settings pointed at both, a client and a migrated database pool."""

from __future__ import annotations

import sys

# A deployed worker reads its modules' compiled bytecode; where the
# environment forbids writing it, every workflow the sandbox loads in a bench's
# own worker would compile its module again (see worker_environment too).
sys.dont_write_bytecode = False

import uuid  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import asyncpg  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from temporalio.client import Client  # noqa: E402

from deepagents_temporal.devstack import DevStack, start_dev_stack  # noqa: E402
from deepagents_temporal.services import connect, open_database  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from scripted_llm import ScriptedLLM  # noqa: E402


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


def worker_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a ``python worker.py`` subprocess needs to serve ``settings``' stack."""
    import os

    # A deployed worker reads its modules' compiled bytecode (the image's pip
    # install writes it; a clone's first run does). Where the environment
    # forbids writing it, every start, and every workflow the sandbox loads,
    # would compile the project's source again: time no deployment spends.
    inherited = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {
        **inherited,
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": settings.openai_base_url or "",
        "S3_ENDPOINT": settings.s3_endpoint or "",
        "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        "S3_BUCKET": settings.s3_bucket,
        "DATABASE_URL": settings.database_url.get_secret_value() if settings.database_url else "",
        **extra,
    }


def peak_rss_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MiB."""
    from pathlib import Path

    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_line() -> str:
    """The machine a figure was taken on: cores, memory and how busy it was (figures scale with the load)."""
    import os

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    loads = " ".join(f"{load:.2f}" for load in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, {memory:.0f} GiB, load average {loads} (1, 5, 15 min) at the start"
