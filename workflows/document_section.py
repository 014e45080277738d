"""DocumentSectionWorkflow: one section sub-agent of a document run (id ``<document run>/section-<n>``).

It reads its section from the bucket inside an activity, which stores the
prompt as a transcript segment; the agents' ``call_model`` activity (same
fallback chain, on the model queue) answers with the ``section_notes`` tool;
another activity reads that answer back from the transcript, checks every
fact's quote against the section and stores the notes. History carries only
keys, hashes and counts (and the model's short reply). When every model
fails, the section comes back as failed with the reason instead of failing
its parent.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities
    from activities.files import FileActivities
    from deepagents_temporal.documents.notes import NOTES_TOOL_SCHEMA
    from deepagents_temporal.documents.schema import (
        SECTION_WORKFLOW_NAME,
        NotesStep,
        PromptStep,
        SectionInput,
        SectionNotesInfo,
        SectionResult,
    )
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.pgstore.records import DecisionKind, RunRecord, RunStatus
    from deepagents_temporal.retries import (
        ACTIVITY_HEARTBEAT_TIMEOUT,
        MODEL_CHAIN_ROUNDS,
        STORAGE_RETRY_POLICY,
    )
    from deepagents_temporal.schema import LogPartInput, ModelCallInput, Progress, Todo
    from workflows.bookkeeping import RunBookkeeping
    from workflows.model_call import ask_model
    from workflows.progress import ProgressLog, todos_markdown

STEP_TIMEOUT = timedelta(minutes=5)


@workflow.defn(name=SECTION_WORKFLOW_NAME)
class DocumentSectionWorkflow:
    def __init__(self) -> None:
        self._agent = "section"
        self._run_id = ""
        self._progress = ProgressLog()
        self._steps = [Todo(content=name, status="pending") for name in ("read section", "model call", "check facts")]
        self._done = False
        self._model_calls = 0

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=self._agent,
            step=self._model_calls,
            done=self._done,
            todos=list(self._steps),
            children=[],
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.run
    async def run(self, request: SectionInput) -> SectionResult:
        info = workflow.info()
        section = request.section
        self._agent = f"section-{section.n}"
        self._run_id = request.run_id
        books = RunBookkeeping(
            RunRecord(
                run_id=info.workflow_id,
                parent_run_id=info.parent.workflow_id if info.parent else None,
                workflow_name=info.workflow_type,
                agent=self._agent,
                created_at=workflow.now(),
            )
        )
        books.started(f"section {section.n} of {request.document_key}: {section.title} ({section.chars:,} characters)")
        result = SectionResult(n=section.n, title=section.title, status="failed")
        status, error = RunStatus.COMPLETED, None
        try:
            self._mark("read section", "in_progress")
            prompt: str = await workflow.execute_activity_method(
                DocumentActivities.section_prompt,
                PromptStep(run_id=request.run_id, agent=self._agent, section=section),
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary=f"read {section.key} ({section.chars:,} characters) into the prompt",
            )
            self._mark("read section", "completed")
            self._mark("model call", "in_progress")
            chain = list(request.model_chain)
            records = books.take()
            self._model_calls += 1
            call = ModelCallInput(
                run_id=request.run_id,
                agent=self._agent,
                step=1,
                model_chain=chain,
                rounds=MODEL_CHAIN_ROUNDS,
                transcript=prompt,
                tools=[NOTES_TOOL_SCHEMA],
                records=records if records else None,
                request_timeout_seconds=request.model_timeout_seconds,
            )
            try:
                answer = await ask_model(call, self._agent)
            except ActivityError as err:
                if is_cancelled_exception(err):
                    raise
                books.give_back(records)
                error = innermost_failure_message(err)
                self._event("error", f"no notes: {error}")
                result.error = error
                status = RunStatus.FAILED
                return result
            if not answer.records_written:
                books.give_back(records)
            self._event(
                "model", f"{answer.model} answered (attempt {answer.attempt}, {answer.usage.total_tokens} tokens)"
            )
            books.decide(
                DecisionKind.MODEL_CALL,
                f"{answer.model} -> section notes",
                agent=self._agent,
                step=1,
                model=answer.model,
                attempt=answer.attempt,
                input_tokens=answer.usage.input_tokens,
                output_tokens=answer.usage.output_tokens,
                total_tokens=answer.usage.total_tokens,
                payload={"transcript": answer.transcript},
            )
            self._mark("model call", "completed")
            self._mark("check facts", "in_progress")
            checked: SectionNotesInfo = await workflow.execute_activity_method(
                DocumentActivities.section_notes,
                NotesStep(run_id=request.run_id, section=section, transcript=answer.transcript, model=answer.model),
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary=f"check the facts' quotes against {section.key}",
            )
            self._mark("check facts", "completed")
            dropped = f", {checked.dropped} dropped (quote not in the section)" if checked.dropped else ""
            self._event("tool", f"notes: {checked.facts} facts{dropped} -> {checked.notes_key}")
            if checked.dropped:
                books.decide(
                    DecisionKind.VALIDATION,
                    f"{checked.dropped} facts of section {section.n} dropped: quote not in the section",
                    agent=self._agent,
                    step=1,
                    payload={"notes": checked.notes_key},
                )
            books.run_status(RunStatus.IN_PROGRESS, answer.usage, [answer.model])
            result = SectionResult(
                n=section.n,
                title=section.title,
                status="completed",
                notes_key=checked.notes_key,
                facts=checked.facts,
                dropped=checked.dropped,
                model=answer.model,
                usage=answer.usage,
            )
            return result
        except BaseException as err:
            status = RunStatus.CANCELLED if is_cancelled_exception(err) else RunStatus.FAILED
            error = innermost_failure_message(err) if isinstance(err, Exception) else "cancelled"
            raise
        finally:
            self._done = True
            await workflow.execute_activity_method(
                FileActivities.write_log_part,
                LogPartInput(
                    run_id=request.run_id,
                    workflow_id=info.workflow_id,
                    lines=self._progress.log_lines(self._agent, info.workflow_id),
                ),
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary="write this section's log lines",
            )
            books.run_status(status, result.usage, [result.model] if result.model else [], error)
            await books.drain()

    def _mark(self, name: str, status: str) -> None:
        self._steps = [
            Todo(content=s.content, status=status) if s.content == name else s  # type: ignore[arg-type]
            for s in self._steps
        ]
        workflow.set_current_details(f"**{self._agent}**\n\n" + todos_markdown(self._steps))

    def _event(self, kind: str, text: str) -> None:
        self._progress.add(kind, text, run_id=self._run_id, agent=self._agent)
