"""Every benchmark still runs: each is started as its users start it, with a
tiny size, and must end well and print its figure line (no timing is judged)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d+(\.\d+)?"

SMOKE_RUNS = {
    "step_overhead.py": (["--steps", "3", "--repeats", "1"], rf"agent-step / floor-step time ratio .*: {NUMBER}$"),
    "history_growth.py": (["--steps", "3", "6"], rf"^history bytes/step ratio step-6/step-3 .*: {NUMBER}$"),
    "artifact_throughput.py": (
        ["--sizes", "65536", "--count", "3", "--repeats", "1", "--parallel", "1"],
        rf"^file-tool write throughput / raw put_object: .*{NUMBER}.* \(goal >= 0\.8\)$",
    ),
    "peer_step_time.py": (
        ["--steps", "3", "--repeats", "1"],
        rf"^ours plain/plugin\+s3 time \(history bytes\): N=3: {NUMBER}",
    ),
    "concurrency.py": (
        ["--runs", "4", "--steps", "2", "--latency", "0.05"],
        rf"^wall / ideal: {NUMBER} \(floor {NUMBER}\)$",
    ),
    "resume_time.py": (["--repeats", "1"], rf"^resume time, median over 2 kills: {NUMBER} s$"),
}


@pytest.mark.parametrize("script", sorted(SMOKE_RUNS))
def test_benchmark_prints_its_figure(script: str) -> None:
    arguments, figure = SMOKE_RUNS[script]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.search(figure, last), f"{script} ended with {last!r}"
