"""AgentWorkflow: the deep-agent loop as deterministic workflow code.

One workflow type runs the supervisor and every sub-agent; the agent profile
says which prompt, tools and sub-agents it has. Model calls are activities;
todos and message bookkeeping are workflow state; each ``task()`` call is a
child AgentWorkflow. The PostgreSQL rows are kept by ``workflows/bookkeeping.py``
and the progress events by ``workflows/progress.py``. A model that answers 401
or 404 is skipped by the rest of the run, sub-agents included. Long runs
summarize their conversation (``workflows/summarization.py``) and continue as
new after any step (``workflows/continue_as_new.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    RetryState,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities import file_calls
    from activities.files import FileActivities
    from activities.model import ModelActivities
    from activities.profiles import ProfileActivities
    from deepagents_temporal.approvals import ApprovalDecision, PendingApproval, rejection_text
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.mcp import McpToolSpec, granted
    from deepagents_temporal.pgstore.records import DecisionKind, RunRecord, RunStatus
    from deepagents_temporal.profiles import (
        ACTIVITY_TOOLS,
        FILE_TOOLS,
        WORKFLOW_TOOLS,
        AgentSpec,
        CustomToolSpec,
        Profile,
        UnknownAgentError,
        UnknownProfileError,
    )
    from deepagents_temporal.profiles.legacy import legacy_profile
    from deepagents_temporal.retries import (
        ACTIVITY_HEARTBEAT_TIMEOUT,
        MODEL_CHAIN_ROUNDS,
        STORAGE_RETRY_POLICY,
        WORKFLOW_TASK_TIMEOUT,
        custom_tool_retry_policy,
        model_retry_policy,
    )
    from deepagents_temporal.routing import (
        ROUTABLE_WORKFLOWS,
        ROUTE_TOOL,
        RouteChoice,
        RoutingOptions,
        choose_route,
        route_tool,
        router_prompt,
        workflow_arguments,
    )
    from deepagents_temporal.schema import (
        AgentInput,
        AgentResult,
        AgentResume,
        ArtifactInfo,
        ChildInfo,
        CustomToolInput,
        DeliverableInput,
        FileToolInput,
        FileToolOutput,
        InlineFiles,
        LogPartInput,
        Message,
        ModelCallInput,
        ModelCallResult,
        Progress,
        SummarizeRequest,
        Todo,
        TokenUsage,
        ToolCall,
        ToolOutput,
    )
    from deepagents_temporal.tools import TaskArgs, ToolArgumentError, WriteTodosArgs, parse_args, tool_schemas
    from workflows import activity_tools, mcp_tools, summaries
    from workflows.approvals import ApprovalGate
    from workflows.bookkeeping import MAX_RECORDED_SUMMARY, RunBookkeeping
    from workflows.budget import EXCEEDED_DETAIL, TokenBudget
    from workflows.cancellation import cancellation_text
    from workflows.continue_as_new import LONG_RUNS_PATCH, agent_part, hop_due, log_part_id
    from workflows.details import current_details_extra
    from workflows.graph_agent import GraphAgentWorkflow
    from workflows.progress import ProgressLog, todos_markdown
    from workflows.summarization import KEEP_MESSAGES, ConversationSize
    from workflows.visibility import child_attributes, record_end

# Models that answered 401 or 404 are skipped for the rest of the run (a
# workflow.patched id: runs started before it keep asking them).
SKIP_UNHEALTHY_MODELS = "skip-unhealthy-models"
# The run's profile is read by an activity and handed to sub-agents (a
# workflow.patched id: runs started before it use the built-in profiles).
PROFILE_FROM_ACTIVITY = "profile-from-activity"
# The model activity runs a reply's file calls (workflow.patched id: runs
# started before it keep a file_tool activity per call).
INLINE_FILE_CALLS = "inline-file-calls"
# The agent name of a request's routing step (progress lines, rows, UI).
ROUTER_AGENT = "router"
DELIVERABLE_NAME = "final_answer.md"
MAX_QUERY_CHILDREN = 100
EMPTY_REPLY_NOTICE = (
    "Error: your last reply was empty (no text and no tool calls). Call a tool or give your final answer."
)


@dataclass(frozen=True)
class AgentContext:
    """What the tools of one agent need besides the call: fixed for the whole run."""

    profile: Profile
    spec: AgentSpec
    chain: list[str]
    model_timeout_seconds: float
    user_id: str | None


@dataclass
class ReplyFiles:
    """A reply's file calls as its model activity left them (activities/file_calls.py):
    the outputs of those it ran, by position; the rest run under ids named after the reply."""

    transcript: str
    outputs: list[FileToolOutput | None]

    def output(self, index: int) -> FileToolOutput | None:
        return self.outputs[index] if index < len(self.outputs) else None

    def operation_id(self, index: int) -> str:
        info = workflow.info()
        return file_calls.operation_id(info.workflow_id, info.run_id, self.transcript, index)


@workflow.defn(name="AgentWorkflow")
class AgentWorkflow:
    def __init__(self) -> None:
        self._agent_name = ""
        self._step = 0
        self._done = False
        self._todos: list[Todo] = []
        self._children: list[ChildInfo] = []
        self._progress = ProgressLog()
        self._child_counters: dict[str, int] = {}
        self._child_usage = TokenUsage()
        self._models_used: list[str] = []
        self._run_id = ""
        # One entry per object key, the latest write's (an edit replaces a write).
        self._artifacts: dict[str, ArtifactInfo] = {}
        self._usage = TokenUsage()
        self._books: RunBookkeeping | None = None
        # Models this agent no longer asks (they answered 401 or 404), with why.
        self._skipped: dict[str, str] = {}
        # Set when this run's request was routed: shown on top of the UI's current details.
        self._routing_note = ""
        self._budget = TokenBudget(None)
        # Tool calls waiting for a person (the profile's interrupt_on).
        self._approvals = ApprovalGate()
        self._last_model = ""
        # The previous reply's file calls its model activity ran (for the next call's summary).
        self._files_before: list[str] = []
        # Long runs (workflows/continue_as_new.py): hops so far, summaries so far.
        self._hops = 0
        self._log_parts = 0
        self._summaries = 0
        self._size: ConversationSize | None = None
        self._hop_steps: int | None = None

    # ----- queries -------------------------------------------------------

    @workflow.query
    def todos(self) -> list[Todo]:
        return list(self._todos)

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=self._agent_name,
            step=self._step,
            done=self._done,
            todos=list(self._todos),
            # Running ones and the latest: a long run's query stays small.
            children=[c for c in self._children[:-MAX_QUERY_CHILDREN] if c.status == "running"]
            + self._children[-MAX_QUERY_CHILDREN:],
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[PendingApproval]:
        return self._approvals.pending()

    @workflow.update(name="decide")
    async def decide(self, decision: ApprovalDecision) -> str:
        return await self._approvals.take(decision)

    @decide.validator
    def _check_decision(self, decision: ApprovalDecision) -> None:
        self._approvals.check(decision)

    # ----- the loop ------------------------------------------------------

    @workflow.run
    async def run(self, request: AgentInput) -> AgentResult:
        info = workflow.info()
        self._run_id = request.run_id or info.workflow_id
        is_root = request.run_id is None
        resume = request.resume
        self._hop_steps = request.continue_as_new_steps
        self._books = RunBookkeeping(
            RunRecord(
                run_id=info.workflow_id,
                parent_run_id=info.parent.workflow_id if info.parent else None,
                workflow_name=info.workflow_type,
                profile=request.profile,
                agent=request.agent,
                created_at=resume.created_at if resume else workflow.now(),
            )
        )
        if resume is None:
            self._books.started(request.request)
        else:
            # The same run going on: no second STARTED row, its decisions numbered on.
            self._resume(resume)
        try:
            profile_name = request.profile
            if profile_name is None and resume is None:
                choice = await self._route(request) if request.workflow is None else self._named_workflow(request)
                if choice.kind == "workflow":
                    return await self._run_routed_workflow(request, choice)
                profile_name = choice.name
            profile = await self._profile(request, profile_name)
            if mcp_tools.needs_listing(profile):
                profile = await self._list_mcp_tools(profile)
            self._approvals.profile = profile
            try:
                spec = profile.agent(request.agent)
            except UnknownAgentError as err:
                raise ApplicationError(str(err), type="BadAgentInput", non_retryable=True) from None
            self._agent_name = spec.name
            self._books.set_agent(spec.name)
            limit = request.max_tokens or (profile.max_tokens if is_root else None)
            self._budget = TokenBudget(limit, request.tokens_used_before)
            result = await self._agent_loop(request, profile, spec)
            if is_root:
                self._add_artifact(await self._save_deliverable(result))
        except (asyncio.CancelledError, FailureError) as err:
            if is_cancelled_exception(err):
                why = cancellation_text(workflow.cancellation_reason(), is_root)
                self._event("error", f"run {why}")
                await self._finish(is_root, RunStatus.CANCELLED, why)
                raise
            reason = innermost_failure_message(err)
            self._event("error", f"run failed: {reason}")
            await self._finish(is_root, RunStatus.FAILED, reason)
            if is_root:
                raise
            # A sub-agent tells its parent what it spent before failing.
            spent = {"usage": (self._usage + self._child_usage).model_dump(), "models_used": self._models_used}
            if TokenBudget.is_exceeded(err):
                spent[EXCEEDED_DETAIL] = True
            raise ApplicationError(reason, spent, type="SubAgentFailed", non_retryable=True) from None
        await self._finish(is_root, RunStatus.COMPLETED, None)
        result.artifacts = list(self._artifacts.values())
        return result

    async def _profile(self, request: AgentInput, name: str) -> Profile:
        """The run's profile: the parent's snapshot, or read by a worker as the run starts."""
        if request.profile_snapshot is not None:
            return request.profile_snapshot
        if not workflow.patched(PROFILE_FROM_ACTIVITY):
            try:
                # Frozen Python data: no file read, as that version did.
                return legacy_profile(name)
            except UnknownProfileError as err:
                raise ApplicationError(str(err), type="BadAgentInput", non_retryable=True) from None
        try:
            return await workflow.execute_activity_method(
                ProfileActivities.resolve_profile,
                name,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary=f"read profile {name}",
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            raise ApplicationError(innermost_failure_message(err), type="BadAgentInput", non_retryable=True) from None

    async def _list_mcp_tools(self, profile: Profile) -> Profile:
        """The MCP servers' tools, listed once for the whole run; a server that is down is left out."""
        listed, problems = await mcp_tools.list_tools(profile, self._run_id)
        for problem in problems:
            self._event("error", f"{problem}; its tools are left out of this run")
            self._decide(DecisionKind.VALIDATION, problem, payload={"mcp_problem": problem})
        return listed

    # ----- routing ---------------------------------------------------------

    async def _route(self, request: AgentInput) -> RouteChoice:
        """A request started without a profile: one model call chooses among the
        registered profiles and workflows (deepagents_temporal/routing.py)."""
        assert self._books is not None
        if not request.request.strip():
            raise ApplicationError("the request is empty", type="BadAgentInput", non_retryable=True)
        self._agent_name = ROUTER_AGENT
        options: RoutingOptions = await workflow.execute_activity_method(
            ProfileActivities.routing_options,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary="routing: the registered profiles and workflows",
        )
        chain = list(request.model_chain)
        records = self._books.take()
        result = await self._call_model(
            ModelCallInput(
                run_id=self._run_id,
                agent=ROUTER_AGENT,
                step=0,
                model_chain=self._usable(chain),
                skip_models=[] if chain else list(self._skipped),
                rounds=MODEL_CHAIN_ROUNDS,
                new_messages=[
                    Message(role="system", content=router_prompt(options.options)),
                    Message(role="user", content=request.request),
                ],
                tools=[route_tool(options.options)],
                workflow_tools=[ROUTE_TOOL],
                records=records if records else None,
                request_timeout_seconds=request.model_timeout_seconds,
            ),
            ROUTER_AGENT,
        )
        if not result.records_written:
            self._books.give_back(records)
        # The routing call is the run's too: its tokens count with the sub-agents'.
        self._child_usage = self._child_usage + result.usage
        self._note_models([result.model])
        self._learn_unhealthy(result)
        choice = choose_route(result.message, options)
        self._routing_note = f"routed to {choice.kind} **{choice.name}**: {choice.reason}"
        self._event("model", f"routed to {choice.kind} {choice.name} ({result.model}): {choice.reason}")
        workflow.set_current_details(self._routing_note)
        self._decide(
            DecisionKind.ROUTING,
            f"route -> {choice.kind} {choice.name}: {choice.reason}",
            model=result.model,
            attempt=result.attempt,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            total_tokens=result.usage.total_tokens,
            payload={
                "routed_to": choice.name,
                "kind": choice.kind,
                "reason": choice.reason,
                "fallback": choice.fallback,
                "options": [o.name for o in options.options],
            },
        )
        if choice.kind == "profile":
            self._books.set_profile(choice.name)
        return choice

    def _named_workflow(self, request: AgentInput) -> RouteChoice:
        """``run --workflow NAME``: no routing call; recorded like a routing decision."""
        assert request.workflow is not None
        choice = RouteChoice(
            kind="workflow", name=request.workflow, reason="named with --workflow", arguments=request.workflow_arguments
        )
        self._decide(
            DecisionKind.ROUTING,
            f"route -> workflow {choice.name}: {choice.reason}",
            payload={"routed_to": choice.name, "kind": choice.kind, "reason": choice.reason, "fallback": False},
        )
        return choice

    async def _run_routed_workflow(self, request: AgentInput, choice: RouteChoice) -> AgentResult:
        """The routed workflow as a child of this run (its outputs under this run's id)."""
        route = ROUTABLE_WORKFLOWS.get(choice.name)
        if route is None:
            known = ", ".join(sorted(ROUTABLE_WORKFLOWS)) or "none"
            raise ApplicationError(
                f"unknown workflow {choice.name!r}; routable workflows: {known}",
                type="BadAgentInput",
                non_retryable=True,
            )
        try:
            arguments = workflow_arguments(route, choice.arguments)
        except ValueError as err:
            raise ApplicationError(str(err), type="BadAgentInput", non_retryable=True) from None
        self._agent_name = route.name
        child_id = f"{workflow.info().workflow_id}/{route.name}"
        child = ChildInfo(workflow_id=child_id, subagent_type=route.name)
        self._children.append(child)
        self._event("child_started", f"started workflow {route.workflow_type} ({child_id})")
        assert self._books is not None
        self._books.flush()
        try:
            result = await workflow.execute_child_workflow(
                route.workflow_type,
                route.make_input(arguments, self._run_id, list(request.model_chain), request.model_timeout_seconds),
                id=child_id,
                result_type=route.result_type,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"{route.name}: {request.request[:120]}",
            )
        except ChildWorkflowError as err:
            child.status = "failed"
            reason = innermost_failure_message(err)
            self._event("child_finished", f"{route.name} ({child_id}) failed: {reason}")
            raise ApplicationError(
                f"workflow {route.name} failed: {reason}", type="RoutedWorkflowFailed", non_retryable=True
            ) from None
        child.status = "completed"
        self._event("child_finished", f"{route.name} ({child_id}) finished")
        # Indexed by the child itself; kept here so the run's result lists them.
        self._artifacts.update((a.key, a) for a in getattr(result, "artifacts", []))
        self._done = True
        await self._finish(True, RunStatus.COMPLETED, None)
        return AgentResult(
            run_id=self._run_id,
            agent=route.name,
            answer=route.answer(result),
            answer_transcript="",
            steps=0,
            models_used=self._models_used,
            usage=self._child_usage,
            children=[child_id],
            artifacts=list(self._artifacts.values()),
        )

    async def _agent_loop(self, request: AgentInput, profile: Profile, spec: AgentSpec) -> AgentResult:
        assert self._books is not None
        run_id = self._run_id
        # Empty: the workers' own DEEPAGENT_MODEL / DEEPAGENT_FALLBACK_MODELS.
        chain = list(spec.models) or list(request.model_chain)
        if request.skip_models and workflow.patched(SKIP_UNHEALTHY_MODELS):
            # The parent already told the run about these (progress and a decision).
            self._skipped.update((m, "answered 401 or 404 earlier in the run") for m in request.skip_models)
        if not request.request.strip():
            raise ApplicationError("the request is empty", type="BadAgentInput", non_retryable=True)
        max_steps = request.max_steps or spec.max_steps
        tools = tool_schemas(profile, spec)
        context = AgentContext(profile, spec, chain, request.model_timeout_seconds, request.user_id)

        # The conversation lives in the bucket (see conversation.py); the
        # workflow keeps its transcript reference and what came after it.
        transcript: str | None = None
        tools_digest: str | None = None
        pending: list[Message] = [
            Message(role="system", content=spec.system_prompt),
            Message(role="user", content=request.request),
        ]
        usage = TokenUsage()
        resume = request.resume
        if resume is not None:
            transcript, tools_digest, pending, usage = (
                resume.transcript,
                resume.tools_digest,
                list(resume.pending),
                resume.usage,
            )
        long_runs = workflow.patched(LONG_RUNS_PATCH)
        # The model activity runs the reply's file calls (one activity and one workflow task a step).
        inline_files = self._inline_files(context) if workflow.patched(INLINE_FILE_CALLS) else None
        if long_runs:
            self._size = ConversationSize(
                profile.summarize_after_tokens,
                resume.context_tokens if resume else 0,
                resume.context_messages if resume else 0,
            )
        steps_before = self._step
        while True:
            if self._step >= max_steps:
                raise ApplicationError(
                    f"step limit reached: agent {spec.name} made {max_steps} model calls without a final answer",
                    type="StepLimitExceeded",
                    non_retryable=True,
                )
            self._budget.check(self._usage + self._child_usage)
            if self._size is not None and self._size.due(pending):
                transcript, pending, usage = await self._summarize(spec, chain, request, transcript, pending, usage)
            self._step += 1
            # The previous step's rows ride along with the model call.
            records = self._books.take()
            result = await self._call_model(
                ModelCallInput(
                    run_id=run_id,
                    agent=spec.name,
                    step=self._step,
                    model_chain=self._usable(chain),
                    skip_models=[] if chain else list(self._skipped),
                    rounds=MODEL_CHAIN_ROUNDS,
                    transcript=transcript,
                    new_messages=pending,
                    tools=tools if tools_digest is None else None,
                    tools_digest=tools_digest,
                    workflow_tools=list(WORKFLOW_TOOLS),
                    records=records if records else None,
                    request_timeout_seconds=request.model_timeout_seconds,
                    files=inline_files,
                ),
                spec.name,
            )
            if not result.records_written:
                self._books.give_back(records)
            if self._size is not None:
                self._size.after_call(pending, result)
            transcript, pending, tools_digest = result.transcript, [], result.tools_digest
            usage = usage + result.usage
            self._note_models([result.model])
            reply = result.message
            self._log_model_answer(spec, result)
            self._learn_unhealthy(result)
            self._usage = usage
            self._queue_run_status(RunStatus.IN_PROGRESS)

            if not reply.tool_calls:
                if reply.content.strip():
                    break
                pending.append(Message(role="user", content=EMPTY_REPLY_NOTICE))
                self._event("error", f"empty reply from {result.model}")
                continue
            files = ReplyFiles(result.transcript, result.file_outputs) if inline_files else None
            pending.extend(await self._run_tools(reply.tool_calls, context, files))
            self._files_before = [
                summaries.file_tool(call) for i, call in enumerate(reply.tool_calls) if files and files.output(i)
            ]
            if long_runs and hop_due(self._step - steps_before, request.continue_as_new_steps):
                await self._continue_as_new(request, profile, spec, transcript, tools_digest, pending, usage)

        self._done = True
        self._event("final", f"finished after {self._step} model calls")
        return AgentResult(
            run_id=run_id,
            agent=spec.name,
            answer=reply.content,
            answer_transcript=result.transcript,
            todos=self._todos,
            steps=self._step,
            models_used=self._models_used,
            usage=usage + self._child_usage,
            children=[c.workflow_id for c in self._children],
            skipped_models=list(self._skipped),
        )

    # ----- long runs: summarization and continue-as-new ---------------------

    async def _summarize(
        self,
        spec: AgentSpec,
        chain: list[str],
        request: AgentInput,
        transcript: str | None,
        pending: list[Message],
        usage: TokenUsage,
    ) -> tuple[str, list[Message], TokenUsage]:
        """Condense the older messages into one summary (deepagents_temporal/summarization.py):
        a model call through the same activity and chain; returns the new transcript."""
        assert self._books is not None and self._size is not None
        self._summaries += 1
        path = f"/conversation_history/{agent_part(workflow.info().workflow_id)}-{self._summaries:03d}.md"
        records = self._books.take()
        result = await self._call_model(
            ModelCallInput(
                run_id=self._run_id,
                agent=spec.name,
                step=self._step,
                model_chain=self._usable(chain),
                skip_models=[] if chain else list(self._skipped),
                rounds=MODEL_CHAIN_ROUNDS,
                transcript=transcript,
                new_messages=pending,
                records=records if records else None,
                request_timeout_seconds=request.model_timeout_seconds,
                summarize=SummarizeRequest(
                    keep_messages=KEEP_MESSAGES,
                    history_path=path,
                    todos=list(self._todos),
                    files=list(self._artifacts),
                ),
            ),
            spec.name,
        )
        if not result.records_written:
            self._books.give_back(records)
        tokens_before = self._size.tokens
        self._size.after_summary(result)
        self._note_models([result.model])
        self._learn_unhealthy(result)
        self._event(
            "model",
            f"summarized {result.summarized_messages} earlier messages ({tokens_before} tokens, limit "
            f"{self._size.limit}) with {result.model}; the whole conversation is in {path}",
        )
        self._decide(
            DecisionKind.MODEL_CALL,
            f"{result.model} -> summary of {result.summarized_messages} messages",
            model=result.model,
            attempt=result.attempt,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            total_tokens=result.usage.total_tokens,
            payload={
                "summarization": {
                    "messages": result.summarized_messages,
                    "tokens_before": tokens_before,
                    "tokens_after": result.context_tokens,
                    "history_path": path,
                },
                "transcript": result.transcript,
                "failed_attempts": [e.model_dump() for e in result.failed_attempts],
            },
        )
        return result.transcript, [], usage + result.usage

    def _resume(self, resume: AgentResume) -> None:
        """Where the run was when its previous run of this workflow continued as new."""
        assert self._books is not None
        self._agent_name = resume.agent
        self._step = resume.step
        self._todos = list(resume.todos)
        self._usage = resume.usage
        self._child_usage = resume.child_usage
        self._models_used = list(resume.models_used)
        self._skipped = dict(resume.skipped)
        self._artifacts = {a.key: a for a in resume.artifacts}
        self._children = list(resume.children)
        self._child_counters = dict(resume.child_counters)
        self._progress = ProgressLog(resume.events_before, resume.recent_events)
        self._log_parts = resume.log_parts
        self._hops = resume.hops
        self._summaries = resume.summaries
        self._routing_note = resume.routing_note
        self._last_model = resume.last_model
        self._books.resumed(resume.decision_seq)
        # The UI shows where the run is from the new run's first moment, not only after its next answer.
        self._show_details()

    async def _continue_as_new(
        self,
        request: AgentInput,
        profile: Profile,
        spec: AgentSpec,
        transcript: str | None,
        tools_digest: str | None,
        pending: list[Message],
        usage: TokenUsage,
    ) -> None:
        """Hand the run to a new run of this workflow (same id), after this step: the
        step's tools have returned; handlers, log lines and rows are finished first."""
        assert self._books is not None and self._size is not None
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._hops += 1
        self._event("model", f"continuing as new after step {self._step} (hop {self._hops})")
        self._log_parts += 1
        await self._write_log_part(log_part_id(workflow.info().workflow_id, self._log_parts))
        self._queue_run_status(RunStatus.IN_PROGRESS)
        await self._books.drain()
        carry = AgentResume(
            agent=spec.name,
            step=self._step,
            transcript=transcript,
            tools_digest=tools_digest,
            pending=pending,
            todos=self._todos,
            usage=usage,
            child_usage=self._child_usage,
            models_used=self._models_used,
            skipped=self._skipped,
            artifacts=list(self._artifacts.values()),
            children=self._children,
            child_counters=self._child_counters,
            decision_seq=self._books.decision_seq,
            events_before=len(self._progress),
            recent_events=self._progress.recent(),
            log_parts=self._log_parts,
            hops=self._hops,
            routing_note=self._routing_note,
            last_model=self._last_model,
            created_at=self._books.created_at,
            context_tokens=self._size.tokens,
            context_messages=self._size.messages,
            summaries=self._summaries,
        )
        workflow.continue_as_new(
            request.model_copy(
                update={
                    # The profile it started with, whatever the profile files say now.
                    "profile": profile.name,
                    "profile_snapshot": profile,
                    "resume": carry,
                }
            )
        )

    async def _call_model(self, call: ModelCallInput, agent: str) -> ModelCallResult:
        # Model calls have a queue of their own (worker.py, its own concurrency
        # limit), named after the run's queue: runs started before keep theirs.
        queue = f"{workflow.info().task_queue}-models" if workflow.patched("model-task-queue") else None
        self._approvals.model_calls += 1
        try:
            return await workflow.execute_activity_method(
                ModelActivities.call_model,
                call,
                task_queue=queue,
                start_to_close_timeout=timedelta(seconds=call.request_timeout_seconds + 30),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=model_retry_policy(len(call.model_chain) or None, call.rounds),
                summary=summaries.model_call(
                    agent, call.step, call.model_chain, self._skipped, self._last_model, self._files_before
                ),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            reason = innermost_failure_message(err)
            self._event("error", reason)
            raise ApplicationError(
                f"agent {agent}, step {call.step}: {reason}", type="ModelCallFailed", non_retryable=True
            ) from None
        finally:
            self._approvals.model_calls -= 1

    def _log_model_answer(self, spec: AgentSpec, result: ModelCallResult) -> None:
        asked = ", ".join(c.name for c in result.message.tool_calls) or "final answer"
        fallback = ""
        if result.returned_on_attempt:
            fallback = f", answer kept and returned on attempt {result.returned_on_attempt}"
        if result.failed_attempts:
            fallback += " after " + "; ".join(f"{e.model}: {e.error}" for e in result.failed_attempts)
        self._event(
            "model",
            f"step {self._step}: {result.model} answered (attempt {result.attempt}, "
            f"{result.usage.total_tokens} tokens) -> {asked}{fallback}",
        )
        self._last_model = result.model
        self._show_details()
        self._decide(
            DecisionKind.MODEL_CALL,
            f"{result.model} -> {asked}",
            model=result.model,
            attempt=result.attempt,
            tool_calls=[
                {"id": c.id, "name": c.name, "args": c.args, "args_stored_in": c.args_stored_in, "invalid": c.raw_args}
                for c in result.message.tool_calls
            ],
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            total_tokens=result.usage.total_tokens,
            payload={
                "transcript": result.transcript,
                "failed_attempts": [e.model_dump() for e in result.failed_attempts],
            },
        )

    # ----- model health ---------------------------------------------------

    def _usable(self, chain: list[str]) -> list[str]:
        """The chain without the skipped models (all of it, if every one is skipped)."""
        return [m for m in chain if m not in self._skipped] or chain

    def _learn_unhealthy(self, result: ModelCallResult) -> None:
        """Models that answered 401 or 404 in this call are not asked again in this run."""
        new = [m for m in result.unhealthy_models if m not in self._skipped]
        if not new or not workflow.patched(SKIP_UNHEALTHY_MODELS):
            return
        for model in new:
            reason = next((e.error for e in result.failed_attempts if e.model == model and e.unhealthy), "")
            self._skip_model(model, reason or "answered 401 or 404")
            self._event("error", f"skipping {model} for the rest of the run: {self._skipped[model]}")

    def _skip_model(self, model: str, reason: str) -> None:
        self._skipped[model] = reason
        self._decide(
            DecisionKind.VALIDATION,
            f"skipping {model} for the rest of the run: {reason}",
            model=model,
            payload={"skipped_model": model, "reason": reason},
        )

    def _note_models(self, models: list[str]) -> None:
        """Models that answered for this agent or its sub-agents, each once, first use first."""
        for model in models:
            if model not in self._models_used:
                self._models_used.append(model)

    # ----- tools ---------------------------------------------------------

    def _inline_files(self, context: AgentContext) -> InlineFiles:
        """The file tools the model activity may run itself: granted, and no approval asked."""
        mcp = granted(context.spec.tools, context.profile.mcp_tools)
        tools = [
            t for t in FILE_TOOLS if t in context.spec.tools and t not in context.spec.interrupt_on and t not in mcp
        ]
        return InlineFiles(tools=tools, profile=context.profile.name, user_id=context.user_id)

    async def _run_tools(
        self, calls: list[ToolCall], context: AgentContext, files: ReplyFiles | None = None
    ) -> list[Message]:
        """One turn's tool calls, results in call order. File tools run one after
        another in the model's order (a write then an edit of one file must not
        race); the rest, sub-agents above all, run in parallel with them. ``files``:
        what the model activity did with the file calls already."""
        results: list[Message | None] = [None] * len(calls)

        async def in_order(indexes: list[int]) -> None:
            for i in indexes:
                results[i] = await self._run_tool(calls[i], context, files, i)

        async def one(i: int) -> None:
            results[i] = await self._run_tool(calls[i], context, files, i)

        file_indexes = [i for i, call in enumerate(calls) if call.name in FILE_TOOLS]
        others = [i for i, call in enumerate(calls) if call.name not in FILE_TOOLS]
        await asyncio.gather(in_order(file_indexes), *(one(i) for i in others))
        return [message for message in results if message is not None]

    async def _run_tool(self, call: ToolCall, context: AgentContext, files: ReplyFiles | None, index: int) -> Message:
        done = files.output(index) if files else None
        if done is not None:
            # Run by the model activity (granted and without approval, so no checks are left).
            return self._recorded(call, self._file_output(done))
        call, decision = await self._approval(call, context)
        if decision is not None and decision.decision == "reject":
            output: str | Message = rejection_text(call.name, decision)
        else:
            output = await self._tool_output(call, context, files.operation_id(index) if files else None)
        return self._recorded(call, output)

    def _recorded(self, call: ToolCall, output: str | Message) -> Message:
        """The tool message of ``call``, with its decision row."""
        message = (
            output
            if isinstance(output, Message)
            else Message(role="tool", content=output, tool_call_id=call.id, name=call.name)
        )
        self._decide(
            DecisionKind.TOOL_RESULT,
            f"{call.name}: {message.content[:MAX_RECORDED_SUMMARY]}",
            payload={
                "tool_call_id": call.id,
                "tool": call.name,
                "stored": message.stored,
                "error": message.content.startswith("Error:"),
            },
        )
        return message

    async def _approval(self, call: ToolCall, context: AgentContext) -> tuple[ToolCall, ApprovalDecision | None]:
        """A call of a tool in the agent's interrupt_on waits for a decision (workflows/approvals.py)."""
        rule = context.spec.interrupt_on.get(call.name)
        if rule is None or call.raw_args is not None:
            return call, None
        self._event("tool", f"{call.name} waits for approval (call {call.id})")
        decision = await self._approvals.wait(call, rule, context.spec.name, self._show_details)
        self._event("tool", f"{call.name} {decision.decision} by {decision.by}: {decision.reason or ''}".strip())
        self._decide(
            DecisionKind.VALIDATION,
            f"approval of {call.name}: {decision.decision} by {decision.by}",
            payload={"approval": decision.model_dump(), "tool_call_id": call.id, "tool": call.name},
        )
        if decision.decision == "edit" and decision.args is not None:
            call = call.model_copy(update={"args": decision.args, "args_stored_in": None})
        return call, decision

    async def _tool_output(self, call: ToolCall, context: AgentContext, operation_id: str | None) -> str | Message:
        """Validate the call and hand it to its tool; a bad call becomes an error message for the model."""
        if call.raw_args is not None:
            return self._tool_error(
                f"arguments for {call.name or 'the tool'} are not valid JSON ({call.error}): {call.raw_args[:200]!r}"
            )
        mcp = granted(context.spec.tools, context.profile.mcp_tools)
        if call.name in mcp:
            return await self._mcp_tool(call, mcp[call.name], context)
        custom = context.profile.custom_tools
        known = (*WORKFLOW_TOOLS, *FILE_TOOLS, *custom, *ACTIVITY_TOOLS)
        if call.name not in context.spec.tools or call.name not in known:
            available = ", ".join(context.spec.tools) or "none"
            return self._tool_error(f"unknown tool {call.name!r}; available tools: {available}")
        # File and custom tools are validated by their activity: large arguments never enter the workflow.
        if call.name in FILE_TOOLS:
            return await self._file_tool(call, context, operation_id)
        if call.name in custom:
            return await self._custom_tool(call, custom[call.name], context)
        # No patch needed: a run's profile could not list these before they existed.
        if call.name in ACTIVITY_TOOLS:
            return await self._activity_tool(call, context)
        try:
            args = parse_args(call.name, call.args)
        except ToolArgumentError as err:
            return self._tool_error(str(err))
        match args:
            case WriteTodosArgs():
                return self._write_todos(args)
            case TaskArgs():
                return await self._task(args, context)
        raise AssertionError(f"no handler for workflow tool {call.name}")

    def _tool_error(self, problem: str) -> str:
        self._event("error", problem)
        self._decide(DecisionKind.VALIDATION, problem)
        return f"Error: {problem}"

    async def _file_tool(self, call: ToolCall, context: AgentContext, operation_id: str | None) -> Message:
        output: FileToolOutput = await workflow.execute_activity_method(
            FileActivities.file_tool,
            FileToolInput(
                run_id=self._run_id,
                agent=context.spec.name,
                call=call,
                profile=context.profile.name,
                user_id=context.user_id,
                operation_id=operation_id,
            ),
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=summaries.file_tool(call),
        )
        return self._file_output(output)

    def _file_output(self, output: FileToolOutput) -> Message:
        self._event("error" if output.error else "tool", output.summary)
        if output.artifact is not None:
            self._add_artifact(output.artifact)
        return output.message

    async def _custom_tool(self, call: ToolCall, tool: CustomToolSpec, context: AgentContext) -> Message | str:
        try:
            output: ToolOutput = await workflow.execute_activity(
                tool.activity_name,
                CustomToolInput(
                    run_id=self._run_id,
                    agent=context.spec.name,
                    call=call,
                    profile=context.profile.name,
                    user_id=context.user_id,
                ),
                result_type=ToolOutput,
                start_to_close_timeout=timedelta(seconds=tool.timeout_seconds),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=custom_tool_retry_policy(tool.retries),
                summary=summaries.tool_call(call.name, call),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            attempts = ""
            if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
                attempts = f" after {tool.retries + 1} attempts"
            return self._tool_error(f"tool {call.name} failed{attempts}: {innermost_failure_message(err)}")
        self._event("error" if output.error else "tool", output.summary)
        for artifact in output.artifacts:
            self._add_artifact(artifact)
        return output.message

    async def _activity_tool(self, call: ToolCall, context: AgentContext) -> Message | str:
        """fetch_url and search_documents (workflows/activity_tools.py)."""
        request = CustomToolInput(
            run_id=self._run_id,
            agent=context.spec.name,
            call=call,
            profile=context.profile.name,
            user_id=context.user_id,
        )
        try:
            output = await activity_tools.call_tool(request, f"{context.spec.name}: {call.name}")
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            attempts = ""
            if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
                attempts = f" after {activity_tools.ACTIVITY_TOOLS[call.name].attempts} attempts"
            return self._tool_error(f"tool {call.name} failed{attempts}: {innermost_failure_message(err)}")
        self._event("error" if output.error else "tool", output.summary)
        for artifact in output.artifacts:
            self._add_artifact(artifact)
        return output.message

    async def _mcp_tool(self, call: ToolCall, tool: McpToolSpec, context: AgentContext) -> Message | str:
        try:
            output = await mcp_tools.call_tool(self._run_id, context.spec.name, call, tool, context.profile)
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            attempts = ""
            if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
                attempts = f" after {context.profile.mcp_servers[tool.server].retries + 1} attempts"
            return self._tool_error(f"tool {call.name} failed{attempts}: {innermost_failure_message(err)}")
        self._event("error" if output.error else "tool", output.summary)
        return output.message

    def _write_todos(self, args: WriteTodosArgs) -> str:
        self._todos = list(args.todos)
        self._event("todos", todos_markdown(self._todos))
        return f"Updated todo list to {[t.model_dump() for t in self._todos]}"

    async def _task(self, args: TaskArgs, context: AgentContext) -> str:
        profile, spec = context.profile, context.spec
        delegates = spec.delegates(profile)
        if args.subagent_type not in delegates or args.subagent_type not in profile.subagents:
            return self._tool_error(
                f"unknown subagent_type {args.subagent_type!r}; available sub-agents: {', '.join(delegates) or 'none'}"
            )
        n = self._child_counters.get(args.subagent_type, 0) + 1
        self._child_counters[args.subagent_type] = n
        child_id = f"{workflow.info().workflow_id}/{args.subagent_type}-{n}"
        child = ChildInfo(workflow_id=child_id, subagent_type=args.subagent_type)
        self._children.append(child)
        self._event("child_started", f"delegated to {args.subagent_type} ({child_id})")
        self._decide(
            DecisionKind.ROUTING,
            f"task -> {args.subagent_type}",
            payload={
                "subagent_type": args.subagent_type,
                "child_run_id": child_id,
                "description": args.description[:MAX_RECORDED_SUMMARY],
            },
        )
        assert self._books is not None
        self._books.flush()
        # A graph sub-agent (a compiled LangGraph graph) has a workflow of its own.
        child_run = GraphAgentWorkflow.run if profile.subagents[args.subagent_type].graph else AgentWorkflow.run
        try:
            result = await workflow.execute_child_workflow(
                child_run,
                AgentInput(
                    profile=profile.name,
                    agent=args.subagent_type,
                    request=args.description,
                    model_chain=context.chain,
                    skip_models=list(self._skipped),
                    run_id=self._run_id,
                    model_timeout_seconds=context.model_timeout_seconds,
                    user_id=context.user_id,
                    profile_snapshot=profile,
                    continue_as_new_steps=self._hop_steps,
                    **self._budget.for_child(self._usage + self._child_usage),
                ),
                id=child_id,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"{args.subagent_type}: {args.description[:120]}",
                search_attributes=child_attributes(),
            )
        except ChildWorkflowError as err:
            child.status = "failed"
            reason = innermost_failure_message(err)
            self._count_spent_by_failed_child(err)
            self._event("child_finished", f"{args.subagent_type} ({child_id}) failed: {reason}")
            if self._budget.stopped_child(err):
                # The run's budget is spent: the whole run stops, not just this tool call.
                raise self._budget.exceeded(self._usage + self._child_usage) from None
            return f"Error: sub-agent {args.subagent_type} failed: {reason}"
        child.status = "completed"
        learned = [m for m in result.skipped_models if m not in self._skipped]
        if learned and workflow.patched(SKIP_UNHEALTHY_MODELS):
            for model in learned:
                self._skip_model(model, f"answered 401 or 404 to {args.subagent_type}")
        self._child_usage = self._child_usage + result.usage
        # Recorded by the child itself; kept here so the run's result lists everything.
        self._artifacts.update((a.key, a) for a in result.artifacts)
        self._note_models(result.models_used)
        self._event("child_finished", f"{args.subagent_type} ({child_id}) finished in {result.steps} model calls")
        return result.answer

    def _count_spent_by_failed_child(self, err: ChildWorkflowError) -> None:
        cause = err.cause
        if not isinstance(cause, ApplicationError) or cause.type != "SubAgentFailed" or not cause.details:
            return
        spent = cause.details[0]
        self._child_usage = self._child_usage + TokenUsage.model_validate(spent.get("usage", {}))
        self._note_models(spent.get("models_used", []))

    def _show_details(self) -> None:
        """The UI's current details: routing, step, todos, sub-agents, calls waiting for approval."""
        routed = f"{self._routing_note}\n\n" if self._routing_note else ""
        workflow.set_current_details(
            f"{routed}**{self._agent_name}** step {self._step}, last answer from `{self._last_model}`\n\n"
            + todos_markdown(self._todos)
            + current_details_extra(self._children, self._approvals.pending())
        )

    # ----- progress and records -------------------------------------------

    def _event(self, kind: str, text: str) -> None:
        self._progress.add(kind, text, run_id=self._run_id, agent=self._agent_name)

    def _decide(self, kind: DecisionKind, summary: str, **fields: object) -> None:
        assert self._books is not None
        self._books.decide(kind, summary, agent=self._agent_name, step=self._step, **fields)

    def _queue_run_status(self, status: RunStatus, error: str | None = None) -> None:
        assert self._books is not None
        self._books.run_status(status, self._usage + self._child_usage, self._models_used, error)

    def _add_artifact(self, artifact: ArtifactInfo) -> None:
        assert self._books is not None
        self._artifacts[artifact.key] = artifact
        self._books.artifact(self._run_id, artifact)

    # ----- deliverables and the run log ------------------------------------

    async def _save_deliverable(self, result: AgentResult) -> ArtifactInfo:
        artifact = await workflow.execute_activity_method(
            FileActivities.save_deliverable,
            DeliverableInput(run_id=self._run_id, name=DELIVERABLE_NAME, transcript=result.answer_transcript),
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=summaries.deliverable(self._run_id, DELIVERABLE_NAME),
        )
        self._event("tool", f"saved the final answer to {artifact.key}")
        return artifact

    async def _write_log_part(self, part_id: str) -> None:
        """This run's lines to the bucket, as the part named after ``part_id``."""
        workflow_id = workflow.info().workflow_id
        await workflow.execute_activity_method(
            FileActivities.write_log_part,
            LogPartInput(
                run_id=self._run_id,
                workflow_id=part_id,
                lines=self._progress.log_lines(self._agent_name, workflow_id),
            ),
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
            retry_policy=STORAGE_RETRY_POLICY,
            summary=summaries.log_part(self._agent_name, len(self._progress)),
        )

    async def _write_logs(self, is_root: bool) -> None:
        """This agent's lines to the bucket; the supervisor then merges all agents' into run.log
        (the parts of earlier runs of a workflow that continued as new included)."""
        await self._write_log_part(workflow.info().workflow_id)
        if is_root:
            run_log = await workflow.execute_activity_method(
                FileActivities.compose_run_log,
                self._run_id,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=STORAGE_RETRY_POLICY,
                summary=summaries.run_log(self._run_id),
            )
            self._add_artifact(run_log)

    async def _finish(self, is_root: bool, status: RunStatus, error: str | None) -> None:
        """Logs, the final status row, and every pending PostgreSQL write, before the run ends."""
        assert self._books is not None
        self._done = True
        await self._write_logs(is_root)
        self._queue_run_status(status, error)
        record_end(status.value, self._approvals.profile.name if self._approvals.profile else None)
        await self._books.drain()
