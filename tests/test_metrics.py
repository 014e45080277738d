"""`python worker.py` with DEEPAGENT_METRICS_PORT serves the Temporal SDK's metrics for
Prometheus; a port it cannot take is named, in two lines."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import urllib.request

from temporalio.client import Client

from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.helpers import start_run, stop_process, worker_output, worker_process


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def test_the_worker_serves_prometheus_metrics_on_its_port(
    client: Client, settings: Settings, llm: ScriptedLLM
) -> None:
    port = _free_port()
    process = worker_process(settings, DEEPAGENT_METRICS_PORT=str(port), DEEPAGENT_METRICS_HOST="127.0.0.1")
    try:
        handle = await start_run(client, settings)
        await handle.result()
        metrics = await asyncio.to_thread(_scrape, port)
    finally:
        stop_process(process)
    assert f"metrics for Prometheus at http://127.0.0.1:{port}/metrics" in worker_output(process)
    # The SDK's own metrics, for this worker's task queues.
    lines = [line for line in metrics.splitlines() if not line.startswith("#")]
    assert any(line.startswith("temporal_") for line in lines), metrics[:2000]
    completed = [line for line in lines if line.startswith("temporal_activity_execution_latency")]
    assert any(settings.model_task_queue in line and "call_model" in line for line in completed), metrics[:2000]


def test_a_taken_metrics_port_is_named(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = worker_process(settings, DEEPAGENT_METRICS_PORT=str(port), DEEPAGENT_METRICS_HOST="127.0.0.1")
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            stop_process(process)
            raise
    output = worker_output(process)
    assert process.returncode == 3, output
    assert f"error: cannot serve metrics on 127.0.0.1:{port} (the port is taken)" in output
    assert "DEEPAGENT_METRICS_PORT" in output and "Traceback" not in output
