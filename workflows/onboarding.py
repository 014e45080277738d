"""OnboardingWorkflow: a checklist and a client's documents become onboarding.json and checklist.md,
waiting for a person when required fields are missing.

Steps (docs/architecture.md, "The onboarding workflow"): load the checklist
→ read the client's documents (stored as text; the prompt as a transcript
segment) → the model extracts the fields (the agents' ``call_model``, same
fallback chain, on the model queue) → each answer checked (source, quote,
pydantic validation) → while a required field is missing or invalid, wait
for the ``supply_fields`` update (validated: an unknown field or an invalid
value is refused with the reason, and the wait goes on), listed by the
``missing_fields`` query and the UI's current details, until all are there
or the wait (the input's, else DEEPAGENT_ONBOARDING_WAIT) runs out → write
the outputs → run.log. The run never stays RUNNING past its wait: it ends
COMPLETED either way, its result saying complete or which items are missing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.onboarding import OnboardingActivities
    from deepagents_temporal import s3
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.onboarding.extraction import RECORD_FIELDS_SCHEMA
    from deepagents_temporal.onboarding.fields import checked
    from deepagents_temporal.onboarding.schema import (
        MISSING_FIELDS_QUERY,
        ONBOARDING_WORKFLOW_NAME,
        SUPPLY_FIELDS_UPDATE,
        ChecklistInfo,
        ChecklistStep,
        CheckStep,
        ClientDocuments,
        DocumentsStep,
        FieldStatus,
        MissingFields,
        OnboardingInput,
        OnboardingResult,
        OutputsStep,
        SupplyFields,
    )
    from deepagents_temporal.pgstore.records import DecisionKind, RunRecord, RunStatus
    from deepagents_temporal.retries import (
        ACTIVITY_HEARTBEAT_TIMEOUT,
        CONVERSION_RETRY_POLICY,
        MODEL_CHAIN_ROUNDS,
        STORAGE_RETRY_POLICY,
    )
    from deepagents_temporal.schema import ArtifactInfo, ModelCallInput, Progress, Todo
    from workflows.bookkeeping import RunBookkeeping
    from workflows.model_call import ask_model
    from workflows.progress import todos_markdown
    from workflows.steps_run import StepsRun

AGENT_NAME = "onboarding"
STEP_TIMEOUT = timedelta(minutes=10)
WAIT_STEP = "wait for missing fields"


@workflow.defn(name=ONBOARDING_WORKFLOW_NAME)
class OnboardingWorkflow(StepsRun):
    AGENT = AGENT_NAME
    LOG_LINES = "this onboarding run's log lines"

    def __init__(self) -> None:
        super().__init__()
        self._checklist: ChecklistInfo | None = None
        self._client: ClientDocuments | None = None
        self._fields: list[FieldStatus] = []
        self._waiting = False
        self._wait_until: datetime | None = None

    # ----- what people see and do ---------------------------------------------

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=AGENT_NAME,
            step=0,
            done=self._done,
            todos=list(self._steps),
            children=[],
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.query(name=MISSING_FIELDS_QUERY)
    def missing_fields(self) -> MissingFields:
        return MissingFields(
            waiting=self._waiting,
            wait_until=self._wait_until if self._waiting else None,
            fields=self._unsettled(),
            documents=self._missing_documents(),
        )

    @workflow.update(name=SUPPLY_FIELDS_UPDATE)
    def supply_fields(self, supplied: SupplyFields) -> str:
        # The validator ran in this same activation: the values are valid.
        assert self._checklist is not None
        for name, raw in supplied.values.items():
            spec = self._checklist.checklist.field(name)
            assert spec is not None
            value = checked(spec, raw)
            self._fields = [
                FieldStatus(
                    field=f.field, label=f.label, required=f.required, status="supplied", value=value, by=supplied.by
                )
                if f.field == name
                else f
                for f in self._fields
            ]
        names = ", ".join(supplied.values)
        self._event("tool", f"supplied by {supplied.by}: {names}")
        assert self._books is not None
        self._books.decide(
            DecisionKind.VALIDATION,
            f"fields supplied by {supplied.by}: {names}",
            agent=AGENT_NAME,
            step=0,
            payload={"supplied": sorted(supplied.values), "by": supplied.by},
        )
        self._show_details()
        still = [f.field for f in self._unsettled()]
        return f"accepted: {names}; " + (f"still missing: {', '.join(still)}" if still else "nothing missing")

    @supply_fields.validator
    def _check_supplied(self, supplied: SupplyFields) -> None:
        if not self._waiting or self._checklist is None:
            raise ValueError("this run is not waiting for fields" + (" (it has ended)" if self._done else " yet"))
        problems = []
        known = [f.name for f in self._checklist.checklist.fields]
        for name, raw in supplied.values.items():
            spec = self._checklist.checklist.field(name)
            if spec is None:
                problems.append(f"unknown field {name!r} (fields: {', '.join(known)})")
                continue
            try:
                checked(spec, raw)
            except ValueError as err:
                problems.append(f"{name}: {err}")
        if problems:
            raise ValueError("; ".join(problems))

    # ----- the run --------------------------------------------------------------

    @workflow.run
    async def run(self, request: OnboardingInput) -> OnboardingResult:
        info = workflow.info()
        self._run_id = request.run_id or info.workflow_id
        is_root = request.run_id is None
        self._books = RunBookkeeping(
            RunRecord(
                run_id=info.workflow_id,
                parent_run_id=info.parent.workflow_id if info.parent else None,
                workflow_name=info.workflow_type,
                agent=AGENT_NAME,
                created_at=workflow.now(),
            )
        )
        self._books.started(f"onboarding: checklist {request.checklist}, client {request.client}")
        try:
            result = await self._onboard(request, is_root)
        except (asyncio.CancelledError, FailureError) as err:
            self._waiting = False
            if is_cancelled_exception(err):
                self._event("error", "run cancelled")
                await self._finish(is_root, RunStatus.CANCELLED, "cancelled")
                raise
            reason = innermost_failure_message(err)
            self._event("error", f"run failed: {reason}")
            await self._finish(is_root, RunStatus.FAILED, reason)
            raise ApplicationError(reason, type="OnboardingFailed", non_retryable=True) from None
        await self._finish(is_root, RunStatus.COMPLETED, None)
        result.artifacts = list(self._artifacts.values())
        return result

    async def _onboard(self, request: OnboardingInput, is_root: bool) -> OnboardingResult:
        try:
            checklist_key = s3.template_key(request.checklist)
            prefix = s3.upload_key(request.client.strip("/")) + "/"
        except ValueError as err:
            raise ApplicationError(str(err), type="OnboardingInputError", non_retryable=True) from None
        names = ["load checklist", "read documents", "extract fields", "check fields", WAIT_STEP, "write reports"]
        self._steps = [Todo(content=n, status="pending") for n in names + (["write run.log"] if is_root else [])]
        self._event("todos", todos_markdown(self._steps))

        self._checklist = await self._step(
            "load checklist",
            OnboardingActivities.load_checklist,
            ChecklistStep(run_id=self._run_id, key=checklist_key),
            f"load checklist {checklist_key} (read-only)",
        )
        checklist = self._checklist.checklist
        self._event("tool", f"{checklist_key}: {len(checklist.fields)} fields, {len(checklist.documents)} documents")
        self._client = await self._step(
            "read documents",
            OnboardingActivities.read_documents,
            DocumentsStep(run_id=self._run_id, prefix=prefix, checklist=checklist),
            f"read the client's documents under {prefix}",
            CONVERSION_RETRY_POLICY,
        )
        client = self._client
        unreadable = f", {len(client.unreadable)} unreadable" if client.unreadable else ""
        self._event("tool", f"{prefix}: {len(client.files)} documents read{unreadable}")

        transcript, reason = None, None
        self._mark("extract fields", "in_progress")
        if client.prompt is None:
            reason = "no document of the client could be read"
        else:
            transcript, reason = await self._extract(request, client.prompt)
        self._mark("extract fields", "completed")
        self._fields = await self._step(
            "check fields",
            OnboardingActivities.check_fields,
            CheckStep(
                run_id=self._run_id, checklist=checklist, files=client.files, transcript=transcript, reason=reason
            ),
            "check each field's source, quote and value",
        )
        counts = {s: sum(1 for f in self._fields if f.status == s) for s in ("found", "missing", "invalid")}
        self._event("tool", ", ".join(f"{n} {s}" for s, n in counts.items()))
        if counts["invalid"] or counts["missing"]:
            self._books_decide(
                f"{counts['missing']} fields missing, {counts['invalid']} invalid",
                {"fields": [f.model_dump(mode="json") for f in self._unsettled(required_only=False)]},
            )

        timed_out = await self._wait_for_fields(request)
        missing = [f.field for f in self._unsettled()] + self._missing_documents()
        complete = not missing
        self._mark("write reports", "in_progress")
        written: list[ArtifactInfo] = await workflow.execute_activity_method(
            OnboardingActivities.write_outputs,
            OutputsStep(
                run_id=self._run_id,
                checklist=self._checklist,
                client=client,
                fields=self._fields,
                complete=complete,
                timed_out=timed_out,
                workflow_run_id=workflow.info().run_id,
            ),
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=f"write {s3.report_key(self._run_id, 'onboarding.json')} and checklist.md",
        )
        for artifact in written:
            self._add_artifact(artifact)
        self._mark("write reports", "completed")
        self._done = True
        self._event("final", "complete" if complete else f"incomplete, missing: {', '.join(missing)}")
        return OnboardingResult(
            run_id=self._run_id,
            checklist=checklist_key,
            client=prefix,
            complete=complete,
            fields=self._fields,
            documents=client.documents,
            unreadable=client.unreadable,
            missing=missing,
            timed_out=timed_out,
            models_used=list(self._models_used),
            usage=self._usage,
        )

    async def _extract(self, request: OnboardingInput, prompt: str) -> tuple[str | None, str | None]:
        """The model's answer (its transcript), or why there is none."""
        assert self._books is not None
        chain = list(request.model_chain)
        records = self._books.take()
        call = ModelCallInput(
            run_id=self._run_id,
            agent=AGENT_NAME,
            step=1,
            model_chain=chain,
            rounds=MODEL_CHAIN_ROUNDS,
            transcript=prompt,
            tools=[RECORD_FIELDS_SCHEMA],
            records=records if records else None,
            request_timeout_seconds=request.model_timeout_seconds,
        )
        try:
            answer = await ask_model(call, "extract fields")
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            self._books.give_back(records)
            reason = innermost_failure_message(err)
            self._event("error", f"no extraction: {reason}")
            return None, f"the model could not be asked: {reason}"
        if not answer.records_written:
            self._books.give_back(records)
        self._usage = self._usage + answer.usage
        if answer.model not in self._models_used:
            self._models_used.append(answer.model)
        self._event("model", f"{answer.model} answered (attempt {answer.attempt}, {answer.usage.total_tokens} tokens)")
        self._books.decide(
            DecisionKind.MODEL_CALL,
            f"{answer.model} -> fields",
            agent=AGENT_NAME,
            step=1,
            model=answer.model,
            attempt=answer.attempt,
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            total_tokens=answer.usage.total_tokens,
            payload={"transcript": answer.transcript},
        )
        self._books.run_status(RunStatus.IN_PROGRESS, self._usage, self._models_used)
        return answer.transcript, None

    async def _wait_for_fields(self, request: OnboardingInput) -> bool:
        """Wait for the missing required fields (or the wait's end); True when it ran out."""
        assert self._checklist is not None
        if not self._unsettled():
            self._mark(WAIT_STEP, "completed")
            return False
        wait = request.wait_seconds if request.wait_seconds is not None else self._checklist.wait_seconds
        if wait <= 0:
            self._event(
                "error", "required fields missing and no wait: " + ", ".join(f.field for f in self._unsettled())
            )
            self._mark(WAIT_STEP, "completed")
            return True
        self._waiting = True
        self._wait_until = workflow.now() + timedelta(seconds=wait)
        self._mark(WAIT_STEP, "in_progress")
        self._event(
            "tool",
            f"waiting until {self._wait_until:%Y-%m-%d %H:%M:%S} UTC for: "
            + ", ".join(f.field for f in self._unsettled())
            + f" (`starter.py supply {workflow.info().workflow_id} FIELD=VALUE ...`)",
        )
        try:
            await workflow.wait_condition(lambda: not self._unsettled(), timeout=timedelta(seconds=wait))
            timed_out = False
        except TimeoutError:
            timed_out = True
            self._event("error", "the wait ran out; still missing: " + ", ".join(f.field for f in self._unsettled()))
        finally:
            self._waiting = False
        self._mark(WAIT_STEP, "completed")
        return timed_out

    # ----- helpers ------------------------------------------------------------

    def _unsettled(self, required_only: bool = True) -> list[FieldStatus]:
        return [f for f in self._fields if not f.settled and (f.required or not required_only)]

    def _missing_documents(self) -> list[str]:
        if self._client is None:
            return []
        return [f"document: {d.name}" for d in self._client.documents if d.required and d.status == "missing"]

    async def _step(
        self, name: str, activity: object, arg: object, summary: str, retry_policy: RetryPolicy = STORAGE_RETRY_POLICY
    ) -> object:
        self._mark(name, "in_progress")
        result = await workflow.execute_activity_method(
            activity,  # type: ignore[arg-type]
            arg,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=retry_policy,
            summary=summary,
        )
        self._mark(name, "completed")
        return result

    def _books_decide(self, summary: str, payload: dict) -> None:
        assert self._books is not None
        self._books.decide(DecisionKind.VALIDATION, summary, agent=AGENT_NAME, step=0, payload=payload)

    def _show_details(self) -> None:
        text = f"**{AGENT_NAME}**\n\n" + todos_markdown(self._steps)
        if self._waiting:
            text += (
                f"\n\n**waiting for fields** until {self._wait_until:%Y-%m-%d %H:%M:%S} UTC "
                f"(`starter.py supply {workflow.info().workflow_id} FIELD=VALUE ...`)\n"
            )
            text += "\n".join(
                f"- {f.field} ({f.label}): {f.status}{': ' + f.reason if f.reason else ''}" for f in self._unsettled()
            )
        missing_docs = self._missing_documents()
        if missing_docs:
            text += "\n\n**documents missing**\n" + "\n".join(f"- {d.removeprefix('document: ')}" for d in missing_docs)
        workflow.set_current_details(text)
