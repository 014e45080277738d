"""What a followed run is waiting for, so no wait is silent: a model's answer, or a worker.

The workflow cannot see its activities' progress; the CLI can. A model call
in flight is a pending ``call_model`` activity of the run or of one of its
sub-agents (``describe`` of the workflow); its heartbeat details name the
model it is calling (``"calling"``), its last start time says for how long.
A run nobody works on is a task queue without pollers
(``describe_task_queue``). :class:`WaitNotices` decides when each is worth a
line: a model wait once it passes :data:`FIRST_NOTICE`, then every
:data:`REPEAT_NOTICE`; a missing worker when first seen and when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionDescription

from cli.services import workflow_pollers

MODEL_ACTIVITY = "call_model"
FIRST_NOTICE = timedelta(seconds=5)
REPEAT_NOTICE = timedelta(seconds=30)
# How long after the start of a follow the first look for workers is taken
# (a worker started with the command needs a moment for its first poll).
WORKER_GRACE = timedelta(seconds=2)
WORKER_RECHECK = timedelta(seconds=10)


@dataclass(frozen=True)
class ModelWait:
    """A model call in flight: which agent waits for which model, since when."""

    workflow_id: str
    activity_id: str
    attempt: int
    model: str
    since: datetime

    def waited(self, now: datetime | None = None) -> timedelta:
        return max(timedelta(0), (now or datetime.now(UTC)) - self.since)

    def text(self, now: datetime | None = None) -> str:
        seconds = int(self.waited(now).total_seconds())
        attempt = f", attempt {self.attempt}" if self.attempt > 1 else ""
        return f"waiting for {self.model} ({seconds} s{attempt})"


async def model_waits(client: Client, workflow_id: str, description: WorkflowExecutionDescription) -> list[ModelWait]:
    """The model calls of one workflow that are running now."""
    waits = []
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name != MODEL_ACTIVITY:
            continue
        if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            continue
        if not pending.HasField("last_started_time"):
            continue
        model = "the model"
        if pending.heartbeat_details.payloads:
            try:
                details = (await client.data_converter.decode(pending.heartbeat_details.payloads))[0]
            except Exception:  # noqa: BLE001 - the name is a nicety; the wait is shown anyway
                details = None
            if isinstance(details, dict) and isinstance(details.get("calling"), str):
                model = details["calling"]
        waits.append(
            ModelWait(
                workflow_id=workflow_id,
                activity_id=pending.activity_id,
                attempt=pending.attempt,
                model=model,
                since=pending.last_started_time.ToDatetime(UTC),
            )
        )
    return waits


async def retries(client: Client, description: WorkflowExecutionDescription) -> list[str]:
    """The activities of one workflow that failed and wait for their next attempt, and why.

    An outage (PostgreSQL or S3 down) is retried with backoff; this is where a
    person sees what the run waits for ("record: attempt 12, waiting for PostgreSQL ...").
    """
    lines = []
    for pending in description.raw_description.pending_activities:
        if pending.attempt < 2 or not pending.HasField("last_failure"):
            continue
        try:
            # Through the client's converter: failures may be encrypted (DEEPAGENT_PAYLOAD_KEY).
            failure = await client.data_converter.decode_failure(pending.last_failure)
            reason = getattr(failure, "message", None) or str(failure)
        except Exception:  # noqa: BLE001 - the attempt count is worth showing anyway
            reason = pending.last_failure.message
        lines.append(f"{pending.activity_type.name}: attempt {pending.attempt}, last error: {reason}")
    return lines


class WaitNotices:
    """Which waits deserve a line now (each model wait once past 5 s, then every 30 s)."""

    def __init__(self) -> None:
        self._told: dict[tuple[str, str, int], timedelta] = {}

    def due(self, waits: list[ModelWait], now: datetime | None = None) -> list[ModelWait]:
        now = now or datetime.now(UTC)
        due = []
        for wait in waits:
            key = (wait.workflow_id, wait.activity_id, wait.attempt)
            waited = wait.waited(now)
            told = self._told.get(key)
            if (told is None and waited >= FIRST_NOTICE) or (told is not None and waited - told >= REPEAT_NOTICE):
                self._told[key] = waited
                due.append(wait)
        return due


class WorkerCheck:
    """Whether anyone polls the run's task queue: looked at after a short grace, then now and then."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue
        self._next = datetime.now(UTC) + WORKER_GRACE
        # None until first looked at; then whether a worker was polling.
        self.polled: bool | None = None

    def postpone(self) -> None:
        """Look again only after a while (workers reconnect to a restarted server at their own pace)."""
        self._next = datetime.now(UTC) + WORKER_RECHECK

    def saw_a_worker(self) -> bool:
        """The run moved on, so a worker works on it; True when that ends a missing-worker notice."""
        was_missing = self.polled is False
        self.polled = True
        return was_missing

    async def changed(self) -> bool | None:
        """``self.polled`` when it changed at this look (False: no worker), else None."""
        now = datetime.now(UTC)
        if now < self._next:
            return None
        self._next = now + WORKER_RECHECK
        polled = await workflow_pollers(self._client, self._task_queue) > 0
        if polled == self.polled or (self.polled is None and polled):
            self.polled = polled
            return None
        self.polled = polled
        return polled
