"""Typed inputs and results shared by workflows, activities and the CLI.

Everything here crosses the Temporal boundary through the pydantic data
converter, so it must stay plain data: no clients, no secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from deepagents_temporal.pgstore.records import ArtifactRecord, DecisionRecord, RunRecord
from deepagents_temporal.profiles.spec import Profile


class ToolCall(BaseModel):
    id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    # Set when the model produced arguments that are not a JSON object; the
    # raw text is kept so the conversation sent back to the model is faithful.
    raw_args: str | None = None
    error: str | None = None
    # Large arguments of activity-backed tools (a file's content) stay in the
    # bucket: in the transcript segment with this hash (it ends with the reply);
    # ``args`` then keeps only the short ones (a path), to show.
    args_stored_in: str | None = None


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    # When set, this is a reference: the whole message is stored in the
    # bucket under this content hash and ``content`` is only a preview.
    stored: str | None = None


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    # USD, from the workers' DEEPAGENT_PRICES. None: unknown (no price table,
    # or a model without a price spent tokens), never a silently lower figure.
    cost_usd: float | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cost_usd=_cost_sum(self, other),
        )

    @property
    def spent_nothing(self) -> bool:
        return not (self.input_tokens or self.output_tokens or self.total_tokens)


def _cost_sum(a: TokenUsage, b: TokenUsage) -> float | None:
    """Known only when every part that spent tokens has a known cost (nothing spent costs nothing)."""
    if a.cost_usd is None and b.cost_usd is None:
        return None
    costs = [u.cost_usd if u.cost_usd is not None else (0.0 if u.spent_nothing else None) for u in (a, b)]
    return None if None in costs else sum(c for c in costs if c is not None)


class ModelCallInput(BaseModel):
    run_id: str
    agent: str
    step: int
    # Empty: the worker's DEEPAGENT_MODEL then DEEPAGENT_FALLBACK_MODELS.
    model_chain: list[str] = Field(default_factory=list)
    # With an empty chain: models of the workers' chain this run no longer asks
    # (they answered 401 or 404 earlier in the run).
    skip_models: list[str] = Field(default_factory=list)
    # How many times the whole chain is tried before the call fails for good.
    rounds: int = 2
    # The conversation so far (a stored transcript) plus what came after it.
    transcript: str | None = None
    new_messages: list[Message] = Field(default_factory=list)
    # The tool schemas on the first call; after that only their stored hash.
    tools: list[dict[str, Any]] | None = None
    tools_digest: str | None = None
    # Tools whose arguments the workflow itself needs (never stored away).
    workflow_tools: list[str] = Field(default_factory=list)
    # PostgreSQL rows of the previous step, written before the model is called
    # (saves an activity per step); see ModelCallResult.records_written.
    records: RecordBatch | None = None
    request_timeout_seconds: float = 120.0
    # Set: this call condenses the conversation instead of continuing it
    # (deepagents_temporal/summarization.py); the result's transcript is the new one.
    summarize: SummarizeRequest | None = None
    # Set: the activity runs the reply's file calls itself, right after storing
    # the answer (activities/file_calls.py); the result carries their outputs.
    files: InlineFiles | None = None


class InlineFiles(BaseModel):
    """Which of a reply's file calls the model activity may run, and whose files they are."""

    # File tools granted to the agent that need no approval; a file call of
    # another tool stops the run of calls there (the rest wait their turn).
    tools: list[str]
    # Namespace of /memories/ (long-term memory in PostgreSQL).
    profile: str
    user_id: str | None = None


class SummarizeRequest(BaseModel):
    """What a summarization call needs besides the transcript: what to keep and what never to lose."""

    # The most recent messages kept whole (a tool call stays with its results).
    keep_messages: int = 6
    # The run's file the whole conversation so far is written to, e.g. /conversation_history/qa-1.md.
    history_path: str
    todos: list[Todo] = Field(default_factory=list)
    # Keys of the files this agent and its sub-agents wrote so far.
    files: list[str] = Field(default_factory=list)


class ModelAttemptError(BaseModel):
    model: str
    attempt: int
    error: str
    # The model answered 401 or 404: it will answer the same for the rest of the run.
    unhealthy: bool = False


class KeptAnswer(BaseModel):
    """A model's answer as a call_model attempt received it, kept (heartbeat
    details, and the bucket by step) so a later attempt returns it instead of
    asking the model again."""

    model: str
    attempt: int
    message: Message
    usage: TokenUsage = Field(default_factory=TokenUsage)
    tools_digest: str | None = None


class ModelCallResult(BaseModel):
    message: Message
    # The transcript segment ending with this reply.
    transcript: str
    tools_digest: str | None = None
    # False when the database was unreachable: the workflow keeps the rows.
    records_written: bool = True
    model: str
    # The attempt that got the answer.
    attempt: int
    # Set when a later attempt returned an answer an earlier one had received
    # (that attempt failed or was lost after the answer arrived).
    returned_on_attempt: int | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    # Errors of the earlier attempts of this call (the fallbacks that fired).
    failed_attempts: list[ModelAttemptError] = Field(default_factory=list)
    # Models that answered 401 or 404 during this call: the run skips them from now on.
    unhealthy_models: list[str] = Field(default_factory=list)
    # Estimated tokens of the conversation after this call, for a model that reports no usage.
    context_tokens: int = 0
    # A summarization call: how many messages it condensed and where the whole conversation is.
    summarized_messages: int = 0
    history_path: str | None = None
    # By position in message.tool_calls: the outputs of the file calls the
    # activity ran (ModelCallInput.files); None for every call left to the workflow.
    file_outputs: list[FileToolOutput | None] = Field(default_factory=list)


TodoStatus = Literal["pending", "in_progress", "completed"]


class Todo(BaseModel):
    content: str
    status: TodoStatus


class AgentInput(BaseModel):
    # None: the request is routed first (one model call chooses the profile or workflow).
    profile: str | None = "qa"
    # With profile None: send the request to this routable workflow without a
    # routing call, its inputs from ``workflow_arguments``.
    workflow: str | None = None
    workflow_arguments: dict[str, str] = Field(default_factory=dict)
    # Which agent of the profile this workflow runs; None = the supervisor.
    agent: str | None = None
    request: str
    # Primary model then fallbacks; empty = the workers' settings decide.
    model_chain: list[str] = Field(default_factory=list)
    # Models the parent found unhealthy (401, 404): this agent does not ask them.
    skip_models: list[str] = Field(default_factory=list)
    # The top-level run this agent belongs to (the supervisor's workflow id).
    run_id: str | None = None
    max_steps: int | None = None
    # Per HTTP request to the model; a timeout moves on to the next model.
    model_timeout_seconds: float = Field(default=120.0, gt=0)
    # Namespaces long-term memories (/memories/) together with the profile.
    user_id: str | None = None
    # The resolved profile, fixed when the run started: sub-agents get it from
    # their parent so a profile file edited meanwhile changes nothing for them.
    profile_snapshot: Profile | None = None
    # Tokens the whole run (supervisor and every sub-agent) may spend; None =
    # the profile's, else no budget (workflows/budget.py).
    max_tokens: int | None = Field(default=None, gt=0)
    # A sub-agent's: what the run had spent, as its parent knew, when it was started.
    tokens_used_before: int = Field(default=0, ge=0)
    # Continue as new after this many model calls of one run of the workflow
    # (None: only when Temporal suggests it or the history passes HOP_EVENTS).
    continue_as_new_steps: int | None = Field(default=None, gt=0)
    # Set by the agent itself when it continues as new: where it was (workflows/continue_as_new.py).
    resume: AgentResume | None = None


class AgentResume(BaseModel):
    """An agent's state carried across continue-as-new: the run goes on where it was."""

    agent: str
    step: int
    transcript: str | None
    tools_digest: str | None
    # Messages after the transcript not yet sent (the last step's tool results).
    pending: list[Message] = Field(default_factory=list)
    todos: list[Todo] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    child_usage: TokenUsage = Field(default_factory=TokenUsage)
    models_used: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
    children: list[ChildInfo] = Field(default_factory=list)
    child_counters: dict[str, int] = Field(default_factory=dict)
    decision_seq: int = 0
    # Progress events before this run of the workflow (their seq continues), and the last of them.
    events_before: int = 0
    recent_events: list[ProgressEvent] = Field(default_factory=list)
    # Run-log parts written so far (one per hop).
    log_parts: int = 0
    hops: int = 0
    routing_note: str = ""
    last_model: str = ""
    created_at: datetime
    # Tokens of the conversation as last counted (reported usage, else estimated), and its messages.
    context_tokens: int = 0
    context_messages: int = 0
    summaries: int = 0


class AgentResult(BaseModel):
    run_id: str
    agent: str
    answer: str
    # The stored transcript segment that ends with the answer.
    answer_transcript: str
    todos: list[Todo] = Field(default_factory=list)
    steps: int
    models_used: list[str] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    children: list[str] = Field(default_factory=list)
    # Models this agent skipped (answered 401 or 404), for its parent to skip too.
    skipped_models: list[str] = Field(default_factory=list)
    # Objects written by this agent and its sub-agents, deliverables included.
    artifacts: list[ArtifactInfo] = Field(default_factory=list)


class ChildInfo(BaseModel):
    workflow_id: str
    subagent_type: str
    status: Literal["running", "completed", "failed"] = "running"


class ProgressEvent(BaseModel):
    seq: int
    kind: Literal["todos", "model", "tool", "child_started", "child_finished", "error", "final"]
    at: datetime
    text: str


class Progress(BaseModel):
    agent: str
    step: int
    done: bool
    todos: list[Todo]
    children: list[ChildInfo]
    events: list[ProgressEvent]
    next_seq: int


class ArtifactInfo(BaseModel):
    key: str
    size: int
    sha256: str
    content_type: str


class FileToolInput(BaseModel):
    run_id: str
    agent: str
    call: ToolCall
    # Namespace of /memories/ (long-term memory in PostgreSQL).
    profile: str
    user_id: str | None = None
    # Set by runs whose model activity may have run the call already
    # (activities/file_calls.py operation_id): a repeat answers as the first did.
    operation_id: str | None = None


class FileToolOutput(BaseModel):
    # The tool message for the model: inline when small, else a stored reference.
    message: Message
    summary: str
    error: str | None = None
    artifact: ArtifactInfo | None = None


class CustomToolInput(FileToolInput):
    """A call of a custom tool (its activity is named after the tool)."""


class ToolOutput(BaseModel):
    # The tool message for the model: inline when small, else a stored reference.
    message: Message
    summary: str
    error: str | None = None
    # The run's files the tool wrote.
    artifacts: list[ArtifactInfo] = Field(default_factory=list)


class LogLine(BaseModel):
    at: datetime
    agent: str
    workflow_id: str
    kind: str
    text: str


class LogPartInput(BaseModel):
    run_id: str
    workflow_id: str
    lines: list[LogLine]


class DeliverableInput(BaseModel):
    run_id: str
    name: str
    # The transcript segment whose last message is the deliverable's text (no copy in history).
    transcript: str


AgentResult.model_rebuild()
AgentInput.model_rebuild()


class RecordBatch(BaseModel):
    """Rows for PostgreSQL, written together by the ``record`` activity."""

    run: RunRecord | None = None
    decisions: list[DecisionRecord] = Field(default_factory=list)
    artifacts: list[ArtifactRecord] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return self.run is not None or bool(self.decisions) or bool(self.artifacts)

    def merged_with(self, later: RecordBatch) -> RecordBatch:
        """This batch followed by ``later`` (whose run row, being newer, wins)."""
        return RecordBatch(
            run=later.run or self.run,
            decisions=[*self.decisions, *later.decisions],
            artifacts=[*self.artifacts, *later.artifacts],
        )


SummarizeRequest.model_rebuild()
ModelCallInput.model_rebuild()
ModelCallResult.model_rebuild()
AgentResume.model_rebuild()
