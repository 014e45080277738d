"""The command line as a person uses it, against the test servers: result, list, show, bad input."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from tests.helpers import start_run

ROOT = Path(__file__).resolve().parent.parent


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "S3_", "TEMPORAL_", "DATABASE_"))}
    env.update(
        TEMPORAL_ADDRESS=settings.temporal_address or "",
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        S3_ENDPOINT=settings.s3_endpoint or "",
        S3_ACCESS_KEY=settings.s3_access_key.get_secret_value() if settings.s3_access_key else "",
        S3_SECRET_KEY=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else "",
        S3_BUCKET=settings.s3_bucket,
        DATABASE_URL=settings.database_url.get_secret_value() if settings.database_url else "",
    )
    return env


async def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_result_list_and_show_of_a_finished_run(client: Client, settings: Settings, worker: Worker) -> None:
    handle = await start_run(client, settings)
    await handle.result()

    result = await _cli(settings, "result", handle.id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"run id: {handle.id}" in result.stdout
    links = re.findall(r"^\s+(http://\S+)$", result.stdout, re.MULTILINE)
    assert len(links) == 5, result.stdout
    # A presigned link downloads exactly the stored deliverable.
    report_link = next(link for link in links if f"reports/{handle.id}/final_answer.md" in link)
    with urllib.request.urlopen(report_link, timeout=10) as response:
        downloaded = response.read()
    stored = s3_client(settings).get_object(settings.s3_bucket, f"reports/{handle.id}/final_answer.md").read()
    assert downloaded == stored and downloaded
    # Secrets stay out of what the command prints.
    assert settings.s3_secret_key.get_secret_value() not in result.stdout

    listing = await _cli(settings, "list", "--limit", "50")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(handle.id))
    assert "COMPLETED" in row and "test-model" in row
    assert f"{handle.id}/" not in listing.stdout  # sub-agents only with --all

    show = await _cli(settings, "show", handle.id)
    assert show.returncode == 0, show.stderr
    assert "status:   COMPLETED" in show.stdout
    assert show.stdout.count("model_call") == 4 + 3 * 2  # supervisor 4, each specialist 2
    assert f"reports/{handle.id}/final_answer.md" in show.stdout


async def test_bad_input_gets_a_clear_error(settings: Settings) -> None:
    unknown_profile = await _cli(settings, "run", "--profile", "nope", "do something")
    assert unknown_profile.returncode == 2
    assert "unknown profile 'nope'; available profiles: qa" in unknown_profile.stdout

    empty = await _cli(settings, "run", "   ")
    assert empty.returncode == 2 and "the request is empty" in empty.stdout

    missing = await _cli(settings, "show", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stdout


async def test_worker_stops_cleanly_on_sigterm(settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=_env(settings), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        assert "worker polling task queue" in first
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        assert code == 0
        assert "shutting down" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
