"""Chaos in the suite: 5 qa runs while the worker is SIGKILLed every few seconds
and the Temporal and S3 servers are restarted once each (tests/chaos.py; run the
full size with ``python -m tests.chaos --runs 50``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.chaos import run_chaos

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the embedded stack needs Linux")


async def test_runs_survive_worker_kills_and_server_restarts(tmp_path: Path) -> None:
    # Calls of 2.5-4.5 s (the figures use 0.3-1 s): the runs last long enough for
    # several kills after the two restarts (with 1.5-3 s, a step of one activity
    # let the runs end after the first kill now and then).
    report = await run_chaos(5, tmp_path / "stack", latency=(2.5, 4.5))
    print(report.figures())
    # Every run COMPLETED, its artifacts in the bucket with the checksums the
    # store recorded, the store's statuses equal to Temporal's.
    assert report.problems == []
    assert report.completed == report.runs == 5
    assert report.kills >= 2 and report.restarts == {"s3": 1, "temporal": 1}
    # No completed model call made twice (the scripted model's request log).
    assert report.model_calls >= 50 and report.repeated_calls == 0
