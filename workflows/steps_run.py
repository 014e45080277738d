"""What the report, document and onboarding workflows share: a run made of named
steps (the UI's todo list), its progress events and artifacts, and its end.

They are not agent loops: each is a fixed list of steps. This base keeps the
bookkeeping of such a run in one place, so all three mark their steps, record
their artifacts and end (log lines, ``run.log``, the final status row) the
same way, issuing the same activities (their histories depend on it).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.pgstore.records import RunStatus
    from deepagents_temporal.schema import ArtifactInfo, Todo, TokenUsage
    from workflows.bookkeeping import RunBookkeeping
    from workflows.progress import ProgressLog, todos_markdown
    from workflows.run_log import write_run_log


class StepsRun:
    """State and helpers of a run of named steps; subclasses set ``AGENT`` and ``LOG_LINES``."""

    # The agent name of the run's events and rows.
    AGENT = ""
    # How the UI names this workflow's log lines ("this report's log lines").
    LOG_LINES = ""

    def __init__(self) -> None:
        self._run_id = ""
        self._progress = ProgressLog()
        self._steps: list[Todo] = []
        self._done = False
        self._usage = TokenUsage()
        self._models_used: list[str] = []
        self._artifacts: dict[str, ArtifactInfo] = {}
        self._books: RunBookkeeping | None = None

    def _mark(self, name: str, status: str) -> None:
        self._steps = [
            Todo(content=s.content, status=status) if s.content == name else s  # type: ignore[arg-type]
            for s in self._steps
        ]
        self._show_details()

    def _show_details(self) -> None:
        workflow.set_current_details(f"**{self.AGENT}**\n\n" + todos_markdown(self._steps))

    def _event(self, kind: str, text: str) -> None:
        self._progress.add(kind, text, run_id=self._run_id, agent=self.AGENT)

    def _add_artifact(self, artifact: ArtifactInfo) -> None:
        assert self._books is not None
        self._artifacts[artifact.key] = artifact
        self._books.artifact(self._run_id, artifact)
        self._event("tool", f"wrote {artifact.key} ({artifact.size:,} bytes)")

    async def _finish(self, is_root: bool, status: RunStatus, error: str | None) -> None:
        """The run log, the final status row, and every pending PostgreSQL write, before the run ends."""
        assert self._books is not None
        self._done = True
        if is_root:
            self._mark("write run.log", "in_progress")
        run_log = await write_run_log(self._run_id, self.AGENT, self._progress, is_root=is_root, what=self.LOG_LINES)
        if run_log is not None:
            self._artifacts[run_log.key] = run_log
            self._books.artifact(self._run_id, run_log)
            self._mark("write run.log", "completed")
        self._books.run_status(status, self._usage, self._models_used, error)
        await self._books.drain()
