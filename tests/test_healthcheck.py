"""The image's health check (`python -m cli.healthcheck`) against the dev server.

Healthy only when the Temporal server saw a worker of this host poll the task
queue; a queue nobody polls and an unreachable server are unhealthy, with one
line (or the service's two) saying why, and exit code 1 as Docker expects.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from temporalio.worker import Worker

from deepagents_temporal.settings import Settings
from tests.cli_process import ROOT, cluster_env


async def healthcheck(env: dict[str, str], *queues: str) -> subprocess.CompletedProcess[str]:
    # In a thread: the test's worker polls on this event loop meanwhile.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.healthcheck", *queues],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_healthy_when_a_worker_of_this_host_polls_its_queue(settings: Settings, worker: Worker) -> None:
    env = cluster_env(settings)
    # The server records a poller when its first poll arrives: look a few times.
    for _ in range(20):
        result = await healthcheck(env)
        if result.returncode == 0:
            break
        await asyncio.sleep(0.5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"a worker on {socket.gethostname()} polls {settings.temporal_task_queue!r}" in result.stdout

    result = await healthcheck(env, settings.temporal_task_queue, "nobody-polls-this-queue")
    assert result.returncode == 1
    assert "unhealthy: no worker on" in result.stdout and "'nobody-polls-this-queue'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


async def test_unhealthy_when_temporal_cannot_be_reached(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    result = await healthcheck(cluster_env(settings, TEMPORAL_ADDRESS=closed))
    assert result.returncode == 1
    assert f"error: cannot reach Temporal at {closed}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
