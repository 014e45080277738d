"""The model-call activity: one chat completion through langchain-openai.

Model fallback is this activity's retry policy. Each attempt records its error
in the heartbeat details, which Temporal hands to the next attempt; the next
attempt moves to the next model in the chain. An attempt that was lost without
recording an error (its worker died) retries the same model, so a crash does
not burn a fallback.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.records import RecordActivities
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.redaction import redact
from deepagents_temporal.retries import ALL_MODELS_FAILED, MALFORMED_REQUEST
from deepagents_temporal.schema import (
    Message,
    ModelAttemptError,
    ModelCallInput,
    ModelCallResult,
    TokenUsage,
    ToolCall,
)
from deepagents_temporal.settings import Settings

HEARTBEAT_EVERY = timedelta(seconds=1)
# A slow database must not hold up a model call: its rows are kept and retried.
RECORD_TIMEOUT_SECONDS = 5.0
# A tool result longer than this reaches the model as its head and tail; the
# stored conversation keeps it whole.
MAX_TOOL_RESULT_CHARS = 100_000
# Tool-call arguments longer than this stay in the stored reply, not in history.
MAX_INLINE_ARGS_BYTES = 1024
RETRY_AFTER_CAP_SECONDS = 60.0


def to_langchain(messages: list[Message]) -> list[BaseMessage]:
    converted: list[BaseMessage] = []
    for m in messages:
        if m.role == "system":
            converted.append(SystemMessage(m.content))
        elif m.role == "user":
            converted.append(HumanMessage(m.content))
        elif m.role == "tool":
            converted.append(ToolMessage(_clip(m.content), tool_call_id=m.tool_call_id or "", name=m.name))
        else:
            valid = [
                {"id": c.id, "name": c.name, "args": c.args, "type": "tool_call"}
                for c in m.tool_calls
                if c.raw_args is None
            ]
            invalid = [
                {"id": c.id, "name": c.name, "args": c.raw_args, "error": c.error, "type": "invalid_tool_call"}
                for c in m.tool_calls
                if c.raw_args is not None
            ]
            converted.append(AIMessage(m.content, tool_calls=valid, invalid_tool_calls=invalid))
    return converted


def _clip(text: str) -> str:
    if len(text) <= MAX_TOOL_RESULT_CHARS:
        return text
    half = MAX_TOOL_RESULT_CHARS // 2
    return (
        f"{text[:half]}\n\n[... {len(text) - MAX_TOOL_RESULT_CHARS:,} characters of this tool result "
        f"left out; ask for a narrower result ...]\n\n{text[-half:]}"
    )


def _elide_large_args(message: Message, transcript: str, keep: set[str]) -> Message:
    """The reply as history carries it: big tool arguments stay in the bucket."""
    calls = []
    for call in message.tool_calls:
        if call.name not in keep and call.raw_args is None and len(json.dumps(call.args)) > MAX_INLINE_ARGS_BYTES:
            call = call.model_copy(update={"args": {}, "args_stored_in": transcript})
        calls.append(call)
    return message.model_copy(update={"tool_calls": calls})


def from_langchain(ai: AIMessage) -> Message:
    calls = [
        ToolCall(id=c.get("id") or f"call_{i}", name=c["name"], args=c.get("args") or {})
        for i, c in enumerate(ai.tool_calls)
    ]
    for i, c in enumerate(ai.invalid_tool_calls):
        calls.append(
            ToolCall(
                id=c.get("id") or f"invalid_{i}",
                name=c.get("name") or "",
                raw_args=c.get("args") or "",
                error=c.get("error") or "arguments are not valid JSON",
            )
        )
    content = ai.content if isinstance(ai.content, str) else json.dumps(ai.content)
    return Message(role="assistant", content=content, tool_calls=calls)


def _usage(ai: AIMessage) -> TokenUsage:
    meta = ai.usage_metadata or {}
    return TokenUsage(
        input_tokens=meta.get("input_tokens", 0),
        output_tokens=meta.get("output_tokens", 0),
        total_tokens=meta.get("total_tokens", 0),
    )


def describe_error(err: BaseException) -> tuple[str, float | None, bool]:
    """(short description, retry-after seconds, can another attempt help)."""
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        retry_after = None
        header = err.response.headers.get("retry-after") if err.response is not None else None
        if header:
            try:
                retry_after = min(float(header), RETRY_AFTER_CAP_SECONDS)
            except ValueError:
                retry_after = None
        message = err.message
        if isinstance(err.body, dict):
            message = err.body.get("message") or message
        code = getattr(err, "code", None)
        text = f"HTTP {status}: {message}"
        # A request this run built badly fails on every model; a context
        # overflow may fit a fallback with a larger window.
        fixable = not (status in (400, 422) and code != "context_length_exceeded")
        return text, retry_after, fixable
    if isinstance(err, (openai.APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError)):
        return "timed out", None, True
    if isinstance(err, openai.APIConnectionError):
        return f"connection error: {err.__cause__ or err}", None, True
    return f"{type(err).__name__}: {err}", None, True


class _ModelError(Exception):
    """Wraps (as __cause__) an error of the model call itself, as opposed to storage."""


class ModelActivities:
    """Holds the worker-side settings (API key, base URL): never in workflow inputs."""

    def __init__(
        self, settings: Settings, conversations: ConversationStore, records: RecordActivities | None = None
    ) -> None:
        self._settings = settings
        self._conversations = conversations
        self._records = records
        # One client per (model, timeout): reuses its HTTP connection pool.
        self._clients: dict[tuple[str, float], ChatOpenAI] = {}

    def _chat_model(self, model: str, timeout: float) -> ChatOpenAI:
        cached = self._clients.get((model, timeout))
        if cached is None:
            cached = self._clients[(model, timeout)] = self._new_chat_model(model, timeout)
        return cached

    def _new_chat_model(self, model: str, timeout: float) -> ChatOpenAI:
        key = self._settings.openai_api_key
        return ChatOpenAI(
            model=model,
            api_key=key.get_secret_value() if key else "not-needed",
            base_url=self._settings.openai_base_url,
            max_retries=0,  # Temporal owns retries
            timeout=timeout,
            stream_usage=True,
        )

    @activity.defn(name="call_model")
    async def call_model(self, request: ModelCallInput) -> ModelCallResult:
        info = activity.info()
        previous: list[ModelAttemptError] = []
        if info.heartbeat_details:
            previous = [ModelAttemptError.model_validate(e) for e in info.heartbeat_details[0].get("errors", [])]
        # The run may name its chain; otherwise it is this worker's settings.
        chain = request.model_chain or self._settings.model_chain
        model = chain[len(previous) % len(chain)]
        # No heartbeat up front (it would cost a server call per step): the
        # details that matter, the earlier attempts' errors, persist anyway.
        attempt = asyncio.ensure_future(self._attempt(request, model, previous))
        try:
            # Heartbeats cover the whole attempt (storage included), so only a
            # dead worker, never a slow bucket, makes Temporal retry a call.
            while True:
                done, _ = await asyncio.wait({attempt}, timeout=HEARTBEAT_EVERY.total_seconds())
                if done:
                    break
                activity.heartbeat({"errors": [e.model_dump() for e in previous], "calling": model})
            return attempt.result()
        except asyncio.CancelledError:
            attempt.cancel()
            raise
        except _ModelError as failure:
            raise self._next_attempt_error(
                failure.__cause__ or failure, model, chain, previous, request.rounds
            ) from None

    async def _attempt(self, request: ModelCallInput, model: str, previous: list[ModelAttemptError]) -> ModelCallResult:
        # Off the critical path: the rows are written while the model thinks.
        recording = asyncio.ensure_future(self._write_records(request))
        try:
            conversation, tools, tools_digest = await asyncio.to_thread(self._prepare, request)
            llm = self._chat_model(model, request.request_timeout_seconds)
            runnable = llm.bind_tools(tools) if tools else llm
            try:
                ai = await runnable.ainvoke(to_langchain(conversation))
            except Exception as err:  # noqa: BLE001 - classified by _next_attempt_error
                raise _ModelError() from err
            records_written = await recording
        finally:
            if not recording.done():
                recording.cancel()
        if not isinstance(ai, AIMessage):
            raise ApplicationError(f"{model} returned {type(ai).__name__}, not an AI message", type="ModelCallFailed")
        reply = from_langchain(ai)
        transcript = await asyncio.to_thread(
            self._conversations.append, request.run_id, request.transcript, [*request.new_messages, reply]
        )
        return ModelCallResult(
            message=_elide_large_args(reply, transcript, set(request.workflow_tools)),
            transcript=transcript,
            tools_digest=tools_digest,
            records_written=records_written,
            model=model,
            attempt=activity.info().attempt,
            usage=_usage(ai),
            failed_attempts=previous,
        )

    def _next_attempt_error(
        self,
        err: BaseException,
        model: str,
        chain: list[str],
        previous: list[ModelAttemptError],
        rounds: int,
    ) -> ApplicationError:
        """Record this model's error for the next attempt and say how Temporal should go on."""
        attempt = activity.info().attempt
        text, retry_after, fixable = describe_error(err)
        text = redact(text)  # a provider may echo the key in its error
        errors = [*previous, ModelAttemptError(model=model, attempt=attempt, error=text)]
        activity.heartbeat({"errors": [e.model_dump() for e in errors]})
        activity.logger.warning("model %s failed on attempt %d: %s", model, attempt, text)
        if not fixable:
            return ApplicationError(
                f"model request rejected by {model}: {text}", type=MALFORMED_REQUEST, non_retryable=True
            )
        if len(errors) >= len(chain) * rounds:
            return ApplicationError(
                "all models failed: " + "; ".join(f"{e.model} (attempt {e.attempt}): {e.error}" for e in errors),
                [e.model_dump() for e in errors],
                type=ALL_MODELS_FAILED,
                non_retryable=True,
            )
        next_model = chain[len(errors) % len(chain)]
        # Retry-After is the server's word about this model only.
        delay = timedelta(seconds=retry_after) if retry_after and next_model == model else None
        return ApplicationError(f"{model}: {text}", type="ModelCallFailed", next_retry_delay=delay)

    def _prepare(self, request: ModelCallInput) -> tuple[list[Message], list[dict], str | None]:
        """The conversation to send and the tool schemas (stored once, then by hash)."""
        store = self._conversations
        conversation = store.load(request.run_id, request.transcript)
        conversation.extend(store.resolve(request.run_id, m) for m in request.new_messages)
        if request.tools is not None:
            return conversation, request.tools, store.put_tools(request.run_id, request.tools)
        if request.tools_digest is not None:
            return conversation, store.get_tools(request.run_id, request.tools_digest), request.tools_digest
        return conversation, [], None

    async def _write_records(self, request: ModelCallInput) -> bool:
        """Write the previous step's PostgreSQL rows; an outage must not cost a model attempt."""
        if request.records is None or self._records is None:
            return request.records is None
        try:
            await asyncio.wait_for(self._records.write(request.records), RECORD_TIMEOUT_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            activity.logger.warning("could not record to PostgreSQL, the workflow keeps the rows: %s", err)
            return False
        return True
