"""What an agent workflow tells people while it runs: progress events and todos.

The events feed the ``progress`` query (the CLI's live view), the per-agent log
lines written to the bucket and the worker's log. Everything here runs inside
the workflow sandbox, so it is deterministic: times come from ``workflow.now()``.

Bounded for long runs: a workflow that continues as new writes its events to
the run log and starts the next run with none, its ``seq`` going on from where
it was (``before``); a query returns at most ``MAX_QUERY_EVENTS`` of them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.schema import LogLine, ProgressEvent, Todo

_TODO_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def todos_markdown(todos: list[Todo]) -> str:
    return "\n".join(f"- {_TODO_MARKS[t.status]} {t.content}" for t in todos) or "(no todos)"


MAX_QUERY_EVENTS = 500


class ProgressLog:
    """The agent's events in order; ``seq`` is the position, so a reader resumes with ``since``."""

    def __init__(self, before: int = 0) -> None:
        # Events of the earlier runs of this workflow (continue-as-new), already in the run log.
        self._before = before
        self._events: list[ProgressEvent] = []

    def add(self, kind: str, text: str, *, run_id: str, agent: str) -> None:
        event = ProgressEvent(seq=len(self), kind=kind, at=workflow.now(), text=text)  # type: ignore[arg-type]
        self._events.append(event)
        # workflow.logger stays quiet during replay, so each line is logged once.
        workflow.logger.info("run_id=%s agent=%s kind=%s %s", run_id, agent, kind, text.replace("\n", " | "))

    def since(self, seq: int) -> list[ProgressEvent]:
        return self._events[max(0, seq - self._before) :][-MAX_QUERY_EVENTS:]

    def __len__(self) -> int:
        return self._before + len(self._events)

    def log_lines(self, agent: str, workflow_id: str) -> list[LogLine]:
        return [LogLine(at=e.at, agent=agent, workflow_id=workflow_id, kind=e.kind, text=e.text) for e in self._events]
