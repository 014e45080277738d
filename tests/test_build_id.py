"""The worker's build ID follows the project's source: the same code gives the same ID, a changed file another."""

from __future__ import annotations

from pathlib import Path

import worker
from deepagents_temporal.build_id import source_build_id


def test_the_build_id_changes_with_the_code_and_only_with_it(tmp_path: Path) -> None:
    package = tmp_path / "workflows"
    package.mkdir()
    (package / "agent.py").write_text("STEPS = 1\n")
    (package / "notes.txt").write_text("not code")
    entry = tmp_path / "worker.py"
    entry.write_text("print('worker')\n")

    first = source_build_id([entry, package])
    assert source_build_id([entry, package]) == first
    # A folder an install does not have is skipped, not an error at start-up.
    assert source_build_id([entry, package, tmp_path / "activities"]) == first
    (package / "notes.txt").write_text("still not code")
    assert source_build_id([entry, package]) == first

    (package / "agent.py").write_text("STEPS = 2\n")
    assert source_build_id([entry, package]) != first
    (package / "agent.py").write_text("STEPS = 1\n")
    (package / "helper.py").write_text("")
    assert source_build_id([entry, package]) != first


def test_the_workers_build_id_covers_the_code_they_run() -> None:
    names = {path.name for path in worker.SOURCES}
    assert names == {"worker.py", "workflows", "activities", "deepagents_temporal"}
    assert all(path.exists() for path in worker.SOURCES)
