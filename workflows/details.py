"""The parts of an agent's UI current details beyond its todos: sub-agents with
their status and the tool calls waiting for approval (markdown, as the
Temporal UI renders ``workflow.set_current_details``)."""

from __future__ import annotations

import json

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.approvals import PendingApproval
    from deepagents_temporal.schema import ChildInfo

MAX_ARGS_SHOWN = 300


def current_details_extra(children: list[ChildInfo], pending: list[PendingApproval]) -> str:
    parts = []
    if children:
        parts.append("**sub-agents**")
        parts.extend(f"- {c.subagent_type}: {c.status} (`{c.workflow_id}`)" for c in children)
    if pending:
        parts.append("**waiting for approval** (`starter.py approve RUN_ID`)")
        for p in pending:
            args = "stored in the bucket" if p.args_stored_in else json.dumps(p.args, ensure_ascii=False)
            if len(args) > MAX_ARGS_SHOWN:
                args = args[:MAX_ARGS_SHOWN] + "…"
            until = f", {p.on_timeout} at {p.decide_by:%Y-%m-%d %H:%M:%S} UTC" if p.decide_by else ""
            parts.append(f"- `{p.call_id}` {p.tool} {args} ({'/'.join(p.allow)}{until})")
    return "\n\n" + "\n".join(parts) if parts else ""
