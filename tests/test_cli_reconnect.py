"""The starter reports the run, not its own troubles.

A `run` following a run goes on following it when the Temporal server
restarts underneath (a Temporal server of the test's own, stopped and started
again on the same port and data, while the session's S3 and PostgreSQL stay),
and its exit code is the run's outcome even when the links cannot be printed
because S3 is down once the run has ended.
"""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from cli.console import console
from cli.reconnect import TemporalLink
from cli.results import report_result
from cli.services import Origin, Services
from deepagents_temporal.devstack import start_dev_stack
from deepagents_temporal.services import connect
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import CliProcess, cluster_env
from tests.helpers import QA_REQUEST, start_run
from worker import build_worker


async def test_run_follows_its_run_across_a_temporal_restart(
    settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    temporal = await start_dev_stack(ephemeral=True, s3=False, postgres=False)
    process: CliProcess | None = None
    try:
        own = settings.model_copy(
            update={"temporal_address": temporal.temporal_address, "temporal_ui_url": temporal.ui_url}
        )
        # Model calls take a moment, so the run is still going when the server stops.
        llm.add_rule(None, Reply.hold(0.3))
        client = await connect(own)
        async with await build_worker(client, own, pool):
            process = CliProcess(["run", QA_REQUEST], cluster_env(own))
            await asyncio.to_thread(process.wait_for, r"\[qa_orchestrator\] step 1: ", 90)
            async with temporal.stopped("temporal"):
                await asyncio.to_thread(
                    process.wait_for, rf"^lost the connection to Temporal at {temporal.temporal_address} ", 60
                )
            code = await asyncio.to_thread(process.wait, 180)
        output = process.output
        assert f"reconnected to Temporal at {temporal.temporal_address}" in output
        assert code == 0, output
        assert "status: COMPLETED" in output
        assert "Traceback" not in output
    finally:
        if process is not None:
            process.stop()
        await temporal.stop()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_links_that_cannot_be_printed_are_a_warning_not_the_exit_code(
    client: Client, settings: Settings, worker: Worker, closed_port: int
) -> None:
    handle = await start_run(client, settings)
    await handle.result()
    # The run has ended; now S3 is down while its links are printed.
    broken = settings.model_copy(update={"s3_endpoint": f"127.0.0.1:{closed_port}"})
    services = Services(client=client, settings=broken, ui_url=None, origin=Origin.CLUSTER, model_chain=None)
    with console.capture() as captured:
        code = await report_result(services, handle, TemporalLink(settings.temporal_address or ""))
    output = captured.get()
    assert code == 0, output
    assert f"warning: the run's artifacts cannot be listed: cannot reach S3 at 127.0.0.1:{closed_port}" in output
    assert f"python starter.py result {handle.id}" in output
    assert output.rstrip().splitlines()[-1].startswith("status: COMPLETED")
