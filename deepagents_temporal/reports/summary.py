"""``summary.json``: what a report was made from and what it found, reproducible byte for byte.

Two top-level objects. ``report`` depends only on the inputs (their keys and
sha256, the report type, the model chain's answer): the same inputs give the
same bytes, run after run. ``run`` holds what differs between runs: the run
ids, when it started, how long each step took, where the outputs went. Keys
are sorted and the layout fixed, so ``report`` comes first and two summaries
can be compared after dropping ``run``.
"""

from __future__ import annotations

import json
from typing import Any

from deepagents_temporal.reports.schema import RowError, WriteStep


def summary(step: WriteStep, figures: dict[str, Any], errors: list[RowError], outputs: dict[str, str]) -> dict:
    data, template = step.data, step.template
    return {
        "report": {
            "type": step.report_type,
            "inputs": {
                "template": {"key": template.key, "sha256": template.sha256, "size": template.size},
                "data": {"key": data.key, "sha256": data.sha256, "size": data.size, "format": data.format},
            },
            "rows": {"total": data.rows, "valid": data.valid, "invalid": data.invalid},
            "ignored_columns": data.ignored_columns,
            "totals": figures["totals"],
            "groups": figures["groups"],
            "validation_errors": [error.model_dump() for error in errors],
            "narrative": step.narrative.model_dump(),
        },
        "run": {
            "run_id": step.run_id,
            "workflow_run_id": step.workflow_run_id,
            "started_at": step.started_at.isoformat() if step.started_at else None,
            "step_seconds": step.step_seconds,
            "outputs": outputs,
        },
    }


def to_bytes(value: dict) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
