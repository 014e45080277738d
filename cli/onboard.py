"""`onboard`: onboard a client with the onboarding workflow; follow it until it ends or waits for a person.

The checklist must be in templates/ (.yaml, .yml or .xlsx) and the client's
documents in a folder of uploads/ (`upload PATH --as clients/NAME/FILE`);
otherwise nothing starts (exit 2). The run is followed like `run`'s. When
required fields are missing the run waits for them: this command then prints
what is missing and the `supply` command that completes it, and leaves the
run waiting (exit 0). At the end come each field's status with its source,
the missing items and the artifacts' download links: exit 0 when the run
COMPLETED (complete or not: the outcome says which), 1 when it failed.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import WorkflowHandle

from cli.console import say
from cli.inputs import Bucket
from cli.live_view import follow
from cli.reconnect import TemporalLink
from cli.results import print_outcome
from cli.run import announce_started, new_run_id
from cli.services import Origin, Services, WorkerPolicy, open_services
from deepagents_temporal import s3
from deepagents_temporal.onboarding.checklist import FORMATS
from deepagents_temporal.onboarding.route import answer
from deepagents_temporal.onboarding.schema import (
    MISSING_FIELDS_QUERY,
    ONBOARDING_WORKFLOW_NAME,
    MissingFields,
    OnboardingInput,
    OnboardingResult,
)
from deepagents_temporal.retries import WORKFLOW_TASK_TIMEOUT
from deepagents_temporal.settings import load_settings

LOOK_SECONDS = 1.0


async def onboard(
    *, checklist: str, client: str, wait: float | None, with_worker: bool, model_timeout: float | None
) -> int:
    try:
        checklist_key = s3.template_key(checklist)
        prefix = s3.upload_key(client.strip("/")) + "/"
    except ValueError as err:
        say(f"error: {err}")
        return 2
    if not checklist_key.lower().endswith(FORMATS):
        say(f"error: a checklist is a .yaml, .yml or .xlsx file; {checklist!r} is not named like one")
        return 2
    settings = load_settings()
    timeout = model_timeout if model_timeout is not None else settings.deepagent_model_timeout
    async with open_services(
        settings,
        "onboard",
        worker=WorkerPolicy.ALWAYS if with_worker else WorkerPolicy.IF_STARTED_HERE,
        needs_database=True,
        model_settings_used=True,
    ) as services:
        bucket = Bucket(services.settings)
        if await bucket.stat(checklist_key) is None:
            say(f"error: no checklist {checklist_key} in bucket {services.settings.s3_bucket}")
            say(f"  upload it first: python starter.py upload PATH --template --as {checklist_key.split('/', 1)[1]}")
            return 2
        run_id = new_run_id("onboarding")
        handle = await services.client.start_workflow(
            ONBOARDING_WORKFLOW_NAME,
            OnboardingInput(checklist=checklist_key, client=prefix, wait_seconds=wait, model_timeout_seconds=timeout),
            id=run_id,
            task_queue=services.settings.temporal_task_queue,
            result_type=OnboardingResult,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            static_summary=f"onboarding: {prefix} against {checklist_key}",
        )
        announce_started(services, run_id)
        say(f"onboarding {prefix} against {checklist_key}; models: {services.models_text()}")
        return await follow_onboarding(services, handle)


async def follow_onboarding(services: Services, handle: WorkflowHandle) -> int:
    """Follow the run until it ends (its outcome) or waits for fields (what is missing, how to supply it)."""
    link = TemporalLink(services.settings.temporal_address or "")
    hint = services.no_worker_hint() if services.origin is Origin.CLUSTER and not services.worker_here else None
    following = asyncio.create_task(follow(handle, services.client, link, no_worker_hint=hint))
    try:
        while not following.done():
            await asyncio.wait({following}, timeout=LOOK_SECONDS)
            if following.done():
                break
            try:
                missing = await handle.query(MISSING_FIELDS_QUERY, result_type=MissingFields)
            except Exception:  # noqa: BLE001 - no worker answering yet: keep following
                continue
            if missing.waiting:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
                say_missing(handle.id, missing)
                return 0
        following.result()
    except asyncio.CancelledError:
        say(f"\ninterrupted; the run is kept in Temporal: `python starter.py status {handle.id}`")
        return 130
    finally:
        following.cancel()
    return await onboarding_outcome(services, handle, link)


def say_missing(run_id: str, missing: MissingFields) -> None:
    until = f" until {missing.wait_until:%Y-%m-%d %H:%M:%S} UTC" if missing.wait_until else ""
    say()
    say(f"run {run_id} is waiting{until} for these fields:", style="yellow")
    for field in missing.fields:
        value = f" (found {field.value!r})" if field.value else ""
        say(f"  {field.field} ({field.label}): {field.status}{value}{': ' + field.reason if field.reason else ''}")
    for document in missing.documents:
        say(f"  {document}: missing (upload it and onboard again; it cannot be supplied as a field)")
    say(f"supply them: python starter.py supply {run_id} FIELD=VALUE ...")


async def onboarding_outcome(services: Services, handle: WorkflowHandle, link: TemporalLink) -> int:
    """Wait for the onboarding run's end and print it; 0 when it COMPLETED, 1 when it failed."""

    def status(result: OnboardingResult) -> tuple[str, str]:
        if result.complete:
            return "status: COMPLETED, onboarding complete", "green"
        return f"status: COMPLETED, onboarding INCOMPLETE: missing {', '.join(result.missing)}", "yellow"

    return await print_outcome(services, handle, link, OnboardingResult, lambda r: say(answer(r)), status)
