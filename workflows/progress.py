"""What an agent workflow tells people while it runs: progress events and todos.

The events feed the ``progress`` query (the CLI's live view), the per-agent log
lines written to the bucket and the worker's log. Everything here runs inside
the workflow sandbox, so it is deterministic: times come from ``workflow.now()``.

Bounded for long runs: a workflow that continues as new writes its events to
the run log and starts the next run with only the last ``CARRIED_EVENTS`` (so
a live view that polled just before the hop misses none), its ``seq`` going on
from where it was; a query returns at most ``MAX_QUERY_EVENTS`` of them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.schema import LogLine, ProgressEvent, Todo

_TODO_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def todos_markdown(todos: list[Todo]) -> str:
    return "\n".join(f"- {_TODO_MARKS[t.status]} {t.content}" for t in todos) or "(no todos)"


MAX_QUERY_EVENTS = 500
CARRIED_EVENTS = 50


class ProgressLog:
    """The agent's events in order; ``seq`` is the position, so a reader resumes with ``since``."""

    def __init__(self, before: int = 0, carried: list[ProgressEvent] | None = None) -> None:
        # Events of the earlier runs of this workflow (continue-as-new), already in
        # the run log; the last of them are kept for the queries.
        self._before = before
        self._carried = list(carried or [])
        self._events: list[ProgressEvent] = []

    def add(self, kind: str, text: str, *, run_id: str, agent: str) -> None:
        event = ProgressEvent(seq=len(self), kind=kind, at=workflow.now(), text=text)  # type: ignore[arg-type]
        self._events.append(event)
        # workflow.logger stays quiet during replay, so each line is logged once.
        workflow.logger.info("run_id=%s agent=%s kind=%s %s", run_id, agent, kind, text.replace("\n", " | "))

    def since(self, seq: int) -> list[ProgressEvent]:
        return [e for e in self._carried if e.seq >= seq] + self._events[max(0, seq - self._before) :][
            -MAX_QUERY_EVENTS:
        ]

    def recent(self) -> list[ProgressEvent]:
        """The last events, for the next run of the workflow to answer queries with."""
        return [*self._carried, *self._events][-CARRIED_EVENTS:]

    def __len__(self) -> int:
        return self._before + len(self._events)

    def log_lines(self, agent: str, workflow_id: str) -> list[LogLine]:
        return [LogLine(at=e.at, agent=agent, workflow_id=workflow_id, kind=e.kind, text=e.text) for e in self._events]
