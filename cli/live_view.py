"""Following a run while it works: its todos, sub-agents, events and waits.

``RunWatcher`` polls the ``progress`` query of the run and of every sub-agent
it starts, and looks at which model calls are in flight (``cli.waits``).
What it sees is shown one of two ways: on a terminal, a rich live panel
(todos, sub-agents with their status, what they wait for, the latest events)
that stays on screen as the run's summary when it ends; otherwise plain
timestamped lines, one per event, so logs and tests can read them. A run no
worker polls for, and a Temporal server that goes away, get a line too.

The models' text as it is written comes from PostgreSQL (``LISTEN`` on the
run's channel, ``deepagents_temporal/token_stream.py``), not from the queries:
the panel shows the tail of each answer being written, the plain lines show it
line by line (``[agent] │ text``). A retried attempt starts its call's text over
(a line says so); a viewer attached mid-answer marks what it missed with ``…``.
Without PostgreSQL the run is followed without live text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import timedelta

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from cli.console import console, say
from cli.reconnect import TemporalLink
from cli.waits import FIRST_NOTICE, ModelWait, WaitNotices, WorkerCheck, model_waits
from deepagents_temporal.redaction import redact
from deepagents_temporal.schema import ChildInfo, Progress, ProgressEvent
from deepagents_temporal.token_stream import CallText, StreamBoard, StreamChange, StreamChunk, StreamListener

# At most one query per second per workflow of the run (streamed text arrives in between).
POLL_SECONDS = 1.0
# Live text is drawn at most this often between two polls.
STREAM_REDRAW_SECONDS = 0.1
# Lines of each answer being written that the panel shows.
STREAM_TAIL_LINES = 6
STREAM_TAIL_CHARS = 600
RECENT_EVENTS = 8
# A query no worker answers must not stall the view.
QUERY_TIMEOUT = timedelta(seconds=5)
# Sub-agents' model calls are looked at this often (one describe each).
WAITS_EVERY_SECONDS = 1.0

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
        # Model calls in flight, by workflow id; the sub-agents' looked at now and then.
        self._waits: dict[str, list[ModelWait]] = {}
        self._next_waits_look = 0.0
        # Set while no worker polls the run's task queue: what to do about it.
        self.worker_missing: str | None = None
        # The models' text as it is written, and what changed since it was last shown.
        self.board = StreamBoard()
        self.stream_changes: list[StreamChange] = []
        self.stream_arrived = asyncio.Event()

    def take_chunk(self, chunk: StreamChunk) -> None:
        """A chunk of live text (called by the PostgreSQL listener)."""
        change = self.board.apply(chunk)
        if change is not None:
            self.stream_changes.append(change)
            self.stream_arrived.set()

    def take_stream_changes(self) -> list[StreamChange]:
        changes, self.stream_changes = self.stream_changes, []
        self.stream_arrived.clear()
        return changes

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def agent_name(self, workflow_id: str) -> str:
        if workflow_id in self.latest:
            return self.latest[workflow_id].agent
        if workflow_id in self.children:
            return self.children[workflow_id].subagent_type
        return workflow_id

    @property
    def waits(self) -> list[ModelWait]:
        return [wait for workflow_id in self._order for wait in self._waits.get(workflow_id, [])]

    async def look_at_waits(self, description: WorkflowExecutionDescription) -> None:
        """The model calls in flight: the run's from ``description``, its sub-agents' every second."""
        self._waits[self.run_id] = await model_waits(self._client, self.run_id, description)
        if time.monotonic() < self._next_waits_look:
            return
        self._next_waits_look = time.monotonic() + WAITS_EVERY_SECONDS
        running = [wid for wid, child in self.children.items() if child.status == "running"]
        descriptions = await asyncio.gather(
            *(self._client.get_workflow_handle(wid).describe() for wid in running), return_exceptions=True
        )
        for workflow_id in self._order[1:]:
            self._waits.pop(workflow_id, None)
        for workflow_id, child_description in zip(running, descriptions, strict=True):
            if isinstance(child_description, WorkflowExecutionDescription):
                self._waits[workflow_id] = await model_waits(self._client, workflow_id, child_description)
            elif not isinstance(child_description, RPCError):
                raise child_description

    async def _query(self, workflow_id: str) -> Progress | None:
        try:
            return await self._client.get_workflow_handle(workflow_id).query(
                "progress", self._cursor.get(workflow_id, 0), result_type=Progress, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError:
            return None  # not started yet, or no worker to answer right now
        except Exception:  # noqa: BLE001 - a failed query must not stop the follow
            return None

    async def poll(self, *, last: bool = False) -> list[Progress]:
        """One query per agent still running, all at once; the answers, each with its new events only.

        ``last``: the run has ended; ask every agent once more, because an agent
        says it is done before its very last events (the saved deliverable)."""
        updates = []
        asking = [workflow_id for workflow_id in self._order if last or workflow_id not in self._finished]
        answers = await asyncio.gather(*(self._query(workflow_id) for workflow_id in asking))
        for workflow_id, progress in zip(asking, answers, strict=True):
            if progress is None:
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
    """One line per event (a todo list on the lines below its own), and one per long wait."""

    def __init__(self) -> None:
        self._notices = WaitNotices()
        # Per agent, the live text not yet shown (a line is shown once complete).
        self._partial: dict[str, str] = {}

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
        for wait in self._notices.due(watcher.waits):
            say(f"{watcher.elapsed():6.1f}s [{watcher.agent_name(wait.workflow_id)}] {wait.text()}")
        self.stream(watcher)

    def stream(self, watcher: RunWatcher) -> None:
        """The live text's complete lines, and the rest of an answer once it ends."""
        for change in watcher.take_stream_changes():
            chunk = change.chunk
            stamp = f"{watcher.elapsed():6.1f}s [{chunk.agent}]"
            if change.restarted:
                self._partial.pop(change.workflow_id, None)
                say(
                    f"{stamp} step {chunk.step}: attempt {chunk.attempt} ({chunk.model}) writes the answer again "
                    "from its start (the text above is discarded)",
                    style="yellow",
                )
            text = self._partial.get(change.workflow_id, "") + change.added
            *lines, rest = text.split("\n")
            if chunk.end and rest:
                lines, rest = [*lines, rest], ""
            self._partial[change.workflow_id] = rest
            for line in lines:
                say(f"{stamp} │ {line}")


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
        self.stream(watcher)

    def stream(self, watcher: RunWatcher) -> None:
        watcher.take_stream_changes()
        self._live.update(render_panel(watcher, list(self._recent)), refresh=True)


def render_panel(watcher: RunWatcher, recent: list[Text]) -> Panel:
    supervisor = watcher.latest.get(watcher.run_id)
    parts: list[Text | Table] = []
    if watcher.worker_missing:
        parts.append(Text(watcher.worker_missing, style="yellow"))
    elif supervisor is None:
        parts.append(Text("waiting for a worker to pick the run up...", style="dim"))
    else:
        state = "finished" if supervisor.done else "working"
        parts.append(Text(f"{supervisor.agent}: {state}, {supervisor.step} model calls", style="bold"))
        parts.append(_todo_table(supervisor))
    waits = [wait for wait in watcher.waits if wait.waited() >= FIRST_NOTICE]
    if waits:
        parts.append(Text("\nwaiting", style="bold"))
        for wait in waits:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"[{watcher.agent_name(wait.workflow_id)}] ", style="cyan")
            line.append(wait.text(), style="yellow")
            parts.append(line)
    if watcher.children:
        parts.append(Text("\nsub-agents", style="bold"))
        parts.append(_children_table(watcher))
    # An attempt that failed sent no end: its agent's next call or its end closes it.
    writing = [
        call
        for workflow_id, call in watcher.board.calls.items()
        if not call.ended and not (workflow_id in watcher.latest and watcher.latest[workflow_id].done)
    ]
    if writing:
        parts.append(Text("\nwriting", style="bold"))
        for call in writing:
            parts.extend(_writing_lines(call))
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


def _writing_lines(call: CallText) -> list[Text]:
    """An answer being written: who, and the tail of its text."""
    chunk = call.chunk
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"[{chunk.agent}] ", style="cyan")
    head.append(f"step {chunk.step}, {chunk.model}, attempt {chunk.attempt}", style="dim")
    if call.restarts:
        head.append(" (started over: a worker was lost mid-answer)", style="yellow")
    tail = call.text[-STREAM_TAIL_CHARS:].splitlines()[-STREAM_TAIL_LINES:]
    return [head, *(Text("  " + line, no_wrap=True, overflow="ellipsis") for line in tail)]


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


async def follow(
    handle: WorkflowHandle,
    client: Client,
    link: TemporalLink,
    *,
    no_worker_hint: str | None = None,
    stream_dsn: str | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Show the run's progress until it is no longer running.

    With ``no_worker_hint``, a task queue nobody polls gets a warning that
    says what to do (and the follow goes on waiting). Calls outlast a
    restart of the Temporal server (``link``). With ``stream_dsn`` (the
    PostgreSQL the workers use), the models' text is shown as it is written.
    ``poll_seconds``: the pause between two queries of each agent.
    """
    watcher = RunWatcher(client, handle.id)
    listener = await _listen(stream_dsn, handle.id, watcher)
    try:
        await _follow(handle, client, link, watcher, no_worker_hint, poll_seconds)
    finally:
        if listener is not None:
            await listener.stop()


async def _listen(dsn: str | None, run_id: str, watcher: RunWatcher) -> StreamListener | None:
    if dsn is None:
        return None
    listener = StreamListener(dsn, run_id, watcher.take_chunk)
    try:
        await listener.start()
    except Exception as err:  # noqa: BLE001 - the run is followed without live text
        say(f"warning: no live model text (cannot listen on PostgreSQL: {redact(str(err))})", style="yellow")
        await listener.stop()
        return None
    return listener


async def _pause(view: PlainView | LivePanel, watcher: RunWatcher, seconds: float) -> None:
    """Wait ``seconds``, showing live text as it arrives meanwhile."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(watcher.stream_arrived.wait(), left)
        except TimeoutError:
            return
        view.stream(watcher)
        await asyncio.sleep(min(STREAM_REDRAW_SECONDS, max(0.0, deadline - time.monotonic())))


async def _follow(
    handle: WorkflowHandle,
    client: Client,
    link: TemporalLink,
    watcher: RunWatcher,
    no_worker_hint: str | None,
    poll_seconds: float,
) -> None:
    """Poll and show until the run ends."""
    # By workflow id alone: a run that continued as new is followed to its latest run.
    latest = client.get_workflow_handle(handle.id)
    workers: WorkerCheck | None = None
    with open_view() as view:
        while True:
            reconnections = link.reconnections
            description = await link.call(latest.describe)
            await link.call(lambda: watcher.look_at_waits(description))  # noqa: B023 - called at once
            updates = await link.call(watcher.poll)
            if no_worker_hint is not None and description.status == WorkflowExecutionStatus.RUNNING:
                workers = workers or WorkerCheck(client, description.task_queue)
                if link.reconnections != reconnections:
                    workers.postpone()
                if any(progress.events for progress in updates):
                    polled = True if workers.saw_a_worker() else None
                else:
                    polled = await link.call(workers.changed)
                if polled is False:
                    watcher.worker_missing = (
                        f"no worker is polling task queue {description.task_queue!r} on {link.address}: "
                        f"{no_worker_hint}; waiting for one"
                    )
                    say(f"warning: {watcher.worker_missing}", style="yellow")
                elif polled:
                    watcher.worker_missing = None
                    say(f"a worker is polling task queue {description.task_queue!r} now")
            view.update(watcher, updates)
            if description.status != WorkflowExecutionStatus.RUNNING:
                break
            await _pause(view, watcher, poll_seconds)
        view.update(watcher, await link.call(lambda: watcher.poll(last=True)))
