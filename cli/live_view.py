"""Following a run while it works: its todos, sub-agents and events.

``RunWatcher`` polls the ``progress`` query of the run and of every sub-agent
it starts. What it sees is shown one of two ways: on a terminal, a rich live
panel (todos, sub-agents with their status, the latest events) that stays on
screen as the run's summary when it ends; otherwise plain timestamped lines,
one per event, so logs and tests can read them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from cli.console import console, say
from deepagents_temporal.schema import ChildInfo, Progress, ProgressEvent

POLL_SECONDS = 0.4
RECENT_EVENTS = 8

_TODO_MARKS = {"completed": ("✓", "green"), "in_progress": ("▶", "bold yellow"), "pending": ("○", "dim")}
_CHILD_STYLES = {"running": "yellow", "completed": "green", "failed": "bold red"}


class RunWatcher:
    """The latest progress of a run and its sub-agents, and their new events."""

    def __init__(self, client: Client, run_id: str) -> None:
        self.run_id = run_id
        self.started = time.monotonic()
        # Every agent's latest progress, by workflow id, in the order first seen.
        self.latest: dict[str, Progress] = {}
        self.children: dict[str, ChildInfo] = {}
        self._client = client
        self._order = [run_id]
        self._cursor: dict[str, int] = {}
        self._finished: set[str] = set()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def poll(self, *, last: bool = False) -> list[Progress]:
        """One query per agent still running; the answers, each with its new events only.

        ``last``: the run has ended; ask every agent once more, because an agent
        says it is done before its very last events (the saved deliverable)."""
        updates = []
        for workflow_id in list(self._order):
            if workflow_id in self._finished and not last:
                continue
            try:
                progress: Progress = await self._client.get_workflow_handle(workflow_id).query(
                    "progress", self._cursor.get(workflow_id, 0), result_type=Progress
                )
            except RPCError:
                continue  # not started yet, or no worker to answer right now
            except Exception:  # noqa: BLE001 - a failed query must not stop the follow
                continue
            updates.append(progress)
            self.latest[workflow_id] = progress
            self._cursor[workflow_id] = progress.next_seq
            for child in progress.children:
                self.children[child.workflow_id] = child
                if child.workflow_id not in self._order:
                    self._order.append(child.workflow_id)
            if progress.done:
                self._finished.add(workflow_id)
        return updates


class PlainView:
    """One line per event (a todo list on the lines below its own)."""

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, watcher: RunWatcher, updates: list[Progress]) -> None:
        for progress in updates:
            for event in progress.events:
                stamp = f"{watcher.elapsed():6.1f}s"
                if event.kind == "todos":
                    say(f"{stamp} [{progress.agent}] todo list:")
                    for line in event.text.splitlines():
                        say(f"{'':8}   {line}")
                else:
                    say(f"{stamp} [{progress.agent}] {event.text}")


class LivePanel:
    """A panel redrawn after every poll; its last state stays on screen."""

    def __init__(self) -> None:
        self._recent: deque[Text] = deque(maxlen=RECENT_EVENTS)
        # No redirection of sys.stdout/stderr: the in-process worker's workflow
        # code (and its logging) would then run rich inside the workflow sandbox.
        self._live = Live(console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False)

    def __enter__(self) -> LivePanel:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)

    def update(self, watcher: RunWatcher, updates: list[Progress]) -> None:
        for progress in updates:
            for event in progress.events:
                self._recent.append(_event_line(watcher.elapsed(), progress.agent, event))
        self._live.update(render_panel(watcher, list(self._recent)), refresh=True)


def render_panel(watcher: RunWatcher, recent: list[Text]) -> Panel:
    supervisor = watcher.latest.get(watcher.run_id)
    parts: list[Text | Table] = []
    if supervisor is None:
        parts.append(Text("waiting for a worker to pick the run up...", style="dim"))
    else:
        state = "finished" if supervisor.done else "working"
        parts.append(Text(f"{supervisor.agent}: {state}, {supervisor.step} model calls", style="bold"))
        parts.append(_todo_table(supervisor))
    if watcher.children:
        parts.append(Text("\nsub-agents", style="bold"))
        parts.append(_children_table(watcher))
    if recent:
        parts.append(Text("\nrecent", style="bold"))
        parts.extend(recent)
    return Panel(
        Group(*parts),
        title=Text(f"run {watcher.run_id}"),
        subtitle=Text(f"{watcher.elapsed():.0f}s"),
        title_align="left",
        subtitle_align="right",
    )


def _todo_table(progress: Progress) -> Table | Text:
    if not progress.todos:
        return Text("(no todos yet)", style="dim")
    table = Table.grid(padding=(0, 1))
    for todo in progress.todos:
        mark, style = _TODO_MARKS.get(todo.status, ("?", ""))
        table.add_row(Text(mark, style=style), Text(todo.content, style="dim" if todo.status == "completed" else ""))
    return table


def _children_table(watcher: RunWatcher) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    for child in watcher.children.values():
        progress = watcher.latest.get(child.workflow_id)
        calls = f"{progress.step} model calls" if progress else "starting"
        status = Text(child.status, style=_CHILD_STYLES.get(child.status, ""))
        table.add_row(Text(child.subagent_type), status, Text(calls))
    return table


def _event_line(elapsed: float, agent: str, event: ProgressEvent) -> Text:
    # The panel already shows the todo list itself.
    text = "updated the todo list" if event.kind == "todos" else event.text.replace("\n", " | ")
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{elapsed:6.1f}s ", style="dim")
    line.append(f"[{agent}] ", style="cyan")
    line.append(text, style="red" if event.kind == "error" else "")
    return line


def open_view() -> PlainView | LivePanel:
    # With `-v` log lines scroll by, which a redrawn panel would mangle.
    logs_shown = logging.getLogger().isEnabledFor(logging.INFO)
    return LivePanel() if console.is_interactive and not logs_shown else PlainView()


async def follow(handle: WorkflowHandle, client: Client) -> None:
    """Show the run's progress until it is no longer running."""
    watcher = RunWatcher(client, handle.id)
    with open_view() as view:
        while True:
            description = await handle.describe()
            view.update(watcher, await watcher.poll())
            if description.status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(POLL_SECONDS)
        view.update(watcher, await watcher.poll(last=True))
