"""What an onboarding run leaves in ``reports/<run id>/``: onboarding.json (the fields, validated, with
their sources) and checklist.md (each item found / missing / invalid, with its source or why)."""

from __future__ import annotations

import json
from typing import Any

from deepagents_temporal.onboarding.schema import OutputsStep

_MARK = {"found": "found", "supplied": "found (supplied)", "missing": "MISSING", "invalid": "INVALID"}


def onboarding_json(step: OutputsStep) -> bytes:
    value: dict[str, Any] = {
        "checklist": {
            "key": step.checklist.key,
            "sha256": step.checklist.sha256,
            "title": step.checklist.checklist.title,
        },
        "client": step.client.prefix,
        "complete": step.complete,
        "timed_out": step.timed_out,
        "values": {f.field: f.value for f in step.fields if f.settled},
        "fields": [f.model_dump(mode="json") for f in step.fields],
        "documents": [d.model_dump(mode="json") for d in step.client.documents],
        "files": [
            {"name": f.name, "key": f.key, "kind": f.kind, "sha256": f.sha256, "chars": f.chars}
            for f in step.client.files
        ],
        "unreadable": [u.model_dump(mode="json") for u in step.client.unreadable],
        "run": {"run_id": step.run_id, "workflow_run_id": step.workflow_run_id},
    }
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def checklist_markdown(step: OutputsStep) -> str:
    checklist = step.checklist.checklist
    outcome = (
        "complete"
        if step.complete
        else "INCOMPLETE" + (" (the wait for missing fields ran out)" if step.timed_out else "")
    )
    lines = [
        f"# {checklist.title}: {step.client.prefix}",
        "",
        f"Checklist `{step.checklist.key}`; run `{step.run_id}`; outcome: **{outcome}**.",
        "",
        "## Fields",
        "",
        "| field | required | status | value | source |",
        "|---|---|---|---|---|",
    ]
    for f in step.fields:
        if f.status == "supplied":
            source = f"supplied by {f.by}"
        elif f.document:
            source = f"{f.document}: “{f.quote}”"
        else:
            source = ""
        if f.reason and f.status in ("missing", "invalid"):
            source = f"{source} ({f.reason})" if source else f.reason
        lines.append(
            f"| {_cell(f.label)} (`{f.field}`) | {'yes' if f.required else 'no'} | {_MARK[f.status]} | "
            f"{_cell(f.value)} | {_cell(source)} |"
        )
    if step.client.documents:
        lines += ["", "## Documents", "", "| document | required | status | files |", "|---|---|---|---|"]
        for d in step.client.documents:
            status = "found" if d.status == "found" else "MISSING"
            required = "yes" if d.required else "no"
            lines.append(f"| {_cell(d.name)} | {required} | {status} | {_cell(', '.join(d.files))} |")
    if step.client.unreadable:
        lines += ["", "## Files that could not be read", ""]
        lines += [f"- {u.name}: {u.reason}" for u in step.client.unreadable]
    return "\n".join(lines) + "\n"
