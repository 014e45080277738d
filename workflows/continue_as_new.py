"""When an agent workflow continues as new, and the names of what it leaves behind.

Temporal caps a history (51,200 events / 50 MB); an agent that runs for
thousands of steps continues as new after a step, mid-turn if need be, when
Temporal suggests it, when its history passes ``HOP_EVENTS`` or after the run's
``continue_as_new_steps``. It does so only between steps: the step's tool
calls (sub-agents included) have returned, nothing else is in flight. The new
run gets an ``AgentResume`` (schema.py): transcript reference, pending
messages, todos, files, counters, usage, children so far, and the profile
snapshot in the input. Same workflow id, so the run row, the run log, the CLI
and the UI links stay the same. Workflow code: deterministic, no I/O.
"""

from __future__ import annotations

from temporalio import workflow

# A workflow.patched id: runs started before it never continue as new or summarize.
LONG_RUNS_PATCH = "long-runs"
# History events of one run of the workflow before it continues as new
# (Temporal warns at 10,240 and stops at 51,200).
HOP_EVENTS = 10_000


def hop_due(steps_this_run: int, every: int | None) -> bool:
    """After a step: whether this run of the workflow should hand over to a new one."""
    info = workflow.info()
    return (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() >= HOP_EVENTS
        or (every is not None and steps_this_run >= every)
    )


def agent_part(workflow_id: str) -> str:
    """The agent's name in the run's files and log parts: "supervisor" or the sub-agent's "<type>-<n>"."""
    return workflow_id.rsplit("/", 1)[-1] if "/" in workflow_id else "supervisor"


def log_part_id(workflow_id: str, hop: int) -> str:
    """The ``LogPartInput.workflow_id`` that names the log part of the run before hop ``hop``
    (write_log_part names a part after the id's last segment); the last run keeps the plain name."""
    return f"{workflow_id}/{agent_part(workflow_id)}.hop-{hop:04d}"
