"""Session-wide real servers: the embedded stack (Temporal dev server, S3, PostgreSQL)
and the scripted OpenAI-compatible LLM. Each test gets its own worker and task queue."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

# Compiled bytecode is read and written as in a deployment (the image's pip
# install compiles it): where the environment forbids writing it, each worker
# start, and every workflow the sandbox loads, would compile the source again.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import asyncpg  # noqa: E402
import pytest  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from deepagents_temporal.devstack import DevStack, start_dev_stack  # noqa: E402
from deepagents_temporal.services import connect, open_database  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from scripted_llm import ScriptedLLM  # noqa: E402
from worker import build_worker  # noqa: E402

_exit_status = 0


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[DevStack]:
    started = await start_dev_stack(ephemeral=True)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_llm_script(request: pytest.FixtureRequest) -> None:
    if "llm" in request.fixturenames:
        request.getfixturevalue("llm").clear()


def make_settings(stack: DevStack, llm: ScriptedLLM | None, **overrides: object) -> Settings:
    return stack.settings(
        Settings(),
        temporal_task_queue=f"test-{uuid.uuid4().hex[:10]}",
        openai_api_key=SecretStr("sk-test-not-a-real-key"),
        openai_base_url=llm.base_url if llm else None,
        deepagent_model="test-model",
        s3_bucket="test-deepagents",
        **overrides,
    )


@pytest.fixture
def settings(stack: DevStack, llm: ScriptedLLM) -> Settings:
    return make_settings(stack, llm)


@pytest.fixture(scope="session")
async def client(stack: DevStack) -> Client:
    return await connect(make_settings(stack, None))


@pytest.fixture(scope="session")
async def pool(stack: DevStack) -> AsyncIterator[asyncpg.Pool]:
    """One migrated pool on the stack's database, shared by the tests' workers."""
    opened = await open_database(make_settings(stack, None))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def worker(client: Client, settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    running = await build_worker(client, settings, pool)
    async with running:
        yield running


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # A process holding Temporal clients can abort at interpreter exit
    # (temporalio/sdk-python#300); leave without finalization instead.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
