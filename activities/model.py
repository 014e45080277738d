"""The model-call activity: one chat completion through langchain-openai.

Model fallback is this activity's retry policy. Each attempt records its error
in the heartbeat details, which Temporal hands to the next attempt; the next
attempt moves to the next model in the chain. An attempt that was lost without
recording an error (its worker died) retries the same model, so a crash does
not burn a fallback. A 401 or 404 marks the model unhealthy in the result, and
the workflow skips it for the rest of the run.

An answer is paid for once: as soon as it arrives it is stored by step in the
bucket (``deepagents_temporal/answers.py``) next to the transcript segment, and
an attempt that fails after that sends it (up to 100 KB) in its heartbeat details. A later
attempt returns the kept answer instead of asking the model again. A bucket
outage is waited out within the attempt (``STORAGE_PATIENCE``), heartbeating.

The reply's file calls are run here too, right after the answer is stored,
when the workflow allows it (``ModelCallInput.files``): a step is then one
activity and one workflow task, and big arguments are not fetched back from
the bucket (``activities/file_calls.py``). A file call that cannot run here is
left to the ``file_tool`` activity; a retried attempt runs them again with the
same operation ids, so a write is not done twice.

The call's cost comes from the workers' ``DEEPAGENT_PRICES`` and the model that
answered; the workflow adds it up with the tokens.

The answer is streamed from the model (usage in its last chunk) and its text
sent live to the run's viewers as it arrives (``deepagents_temporal/token_stream.py``:
PostgreSQL NOTIFY, at most once, tagged with the attempt); the result is still
the complete answer, built from the whole stream and parsed as a plain
completion is (tool-call arguments that are not valid JSON are invalid calls,
never repaired). ``DEEPAGENT_STREAM_TEXT=false`` asks for plain completions.
Either way the request is ChatOpenAI's, sent by its client
(``activities/chat_completion.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import httpx
import openai
import pydantic
import urllib3
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI
from minio.error import InvalidResponseError, S3Error, ServerError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import file_calls
from activities.chat_completion import complete
from activities.file_calls import FileCalls
from activities.records import RecordActivities
from deepagents_temporal import tracing
from deepagents_temporal.answers import AnswerStore
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.profiles.spec import FILE_TOOLS
from deepagents_temporal.redaction import redact
from deepagents_temporal.retries import ALL_MODELS_FAILED, MALFORMED_REQUEST
from deepagents_temporal.schema import (
    FileToolOutput,
    KeptAnswer,
    Message,
    ModelAttemptError,
    ModelCallInput,
    ModelCallResult,
    TokenUsage,
    ToolCall,
)
from deepagents_temporal.settings import Settings
from deepagents_temporal.storage_errors import describe as describe_storage_error
from deepagents_temporal.token_stream import StreamChunk, StreamWriter, TokenPublisher

T = TypeVar("T")
# A slow database must not hold up a model call: its rows are kept and retried.
RECORD_TIMEOUT_SECONDS = 5.0
# A tool result longer than this reaches the model as its head and tail; the
# stored conversation keeps it whole.
MAX_TOOL_RESULT_CHARS = 100_000
# Tool-call arguments longer than this stay in the stored reply, not in history.
MAX_INLINE_ARGS_BYTES = 1024
# Of stored-away arguments, strings up to this long stay inline (a file path).
MAX_SHORT_ARG_CHARS = 200
RETRY_AFTER_CAP_SECONDS = 60.0
SUMMARY_PREVIEW_CHARS = 300
# Answers up to this size also ride in the heartbeat details (payloads over
# 128 KB go to the bucket through ExternalStorage, see services.py).
MAX_HEARTBEAT_ANSWER_BYTES = 100_000
# How long one attempt waits for an unreachable bucket before it fails (and
# Temporal retries it, the model's answer kept).
STORAGE_PATIENCE = timedelta(seconds=30)
# A reply's file calls run in this activity for at most this long, and never
# into the last half of it before the attempt's timeout; the rest go to
# file_tool activities (they have their own timeouts).
INLINE_FILE_SECONDS = 20.0
# File tools that change files: at most one runs in the model activity (see _run_file_calls).
WRITING_TOOLS = frozenset({"write_file", "edit_file"})


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
            # The short ones (a path) stay, for the activity's summary and the records.
            short = {k: v for k, v in call.args.items() if _is_short(v)}
            call = call.model_copy(update={"args": short, "args_stored_in": transcript})
        calls.append(call)
    return message.model_copy(update={"tool_calls": calls})


def _is_short(value: object) -> bool:
    return isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= MAX_SHORT_ARG_CHARS)


# Arguments nested deeper than this cannot be carried to the workflow (its
# decoder gives up long before Python's own limit); no tool needs them.
MAX_ARGS_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(text: str) -> str:
    """Lone surrogates cannot be encoded as UTF-8, so no payload could carry them."""
    return _SURROGATE.sub("\ufffd", text)


def _depth(value: object, limit: int) -> int:
    """How deeply ``value`` nests, counting no further than ``limit`` + 1 (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _carried(call_id: str, name: str, args: object) -> ToolCall:
    """A valid tool call as the workflow gets it, or an invalid one the model is told about."""
    call_id, name = _without_surrogates(call_id), _without_surrogates(name)
    problem = None
    if not isinstance(args, dict):
        problem = "arguments must be a JSON object"
    elif _depth(args, MAX_ARGS_DEPTH) > MAX_ARGS_DEPTH:
        problem = f"arguments nest deeper than {MAX_ARGS_DEPTH} levels"
    else:
        text = json.dumps(args, ensure_ascii=False)
        if _SURROGATE.search(text):
            problem = "arguments contain lone surrogates (not valid Unicode text)"
    if problem is None:
        return ToolCall(id=call_id, name=name, args=args)
    try:
        raw = json.dumps(args, ensure_ascii=False)
    except (RecursionError, ValueError):
        raw = repr(args)
    return ToolCall(id=call_id, name=name, raw_args=_without_surrogates(raw)[:10_000], error=problem)


def from_langchain(ai: AIMessage) -> Message:
    calls = [_carried(c.get("id") or f"call_{i}", c["name"], c.get("args") or {}) for i, c in enumerate(ai.tool_calls)]
    for i, c in enumerate(ai.invalid_tool_calls):
        calls.append(
            ToolCall(
                id=_without_surrogates(c.get("id") or f"invalid_{i}"),
                name=_without_surrogates(c.get("name") or ""),
                raw_args=_without_surrogates(c.get("args") or ""),
                error=c.get("error") or "arguments are not valid JSON",
            )
        )
    content = ai.content if isinstance(ai.content, str) else json.dumps(ai.content)
    return Message(role="assistant", content=_without_surrogates(content), tool_calls=calls)


def _usage(ai: AIMessage) -> TokenUsage:
    meta = ai.usage_metadata or {}
    return TokenUsage(
        input_tokens=meta.get("input_tokens", 0),
        output_tokens=meta.get("output_tokens", 0),
        total_tokens=meta.get("total_tokens", 0),
    )


def describe_error(err: BaseException) -> tuple[str, float | None, bool]:
    """(short description, retry-after seconds, can another attempt help)."""
    if isinstance(err, pydantic.ValidationError):
        # langchain-openai could not build a message from the reply (a tool
        # call whose arguments are JSON but not an object); another model may do better.
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        if where.startswith("tool_calls") and where.endswith("args"):
            return "unreadable reply: tool call arguments must be a JSON object", None, True
        return f"unreadable reply: {where or 'message'}: {first.get('msg', err)}", None, True
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


def marks_model_unhealthy(err: BaseException) -> bool:
    """A 401 (bad key) or 404 (no such model): that model answers the same for the rest of the run."""
    return isinstance(err, openai.APIStatusError) and err.status_code in (401, 404)


# S3 error codes of a bucket that is failing or not there, as opposed to refusing this request.
_OUTAGE_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "NoSuchBucket"})


def _is_storage_outage(err: BaseException) -> bool:
    if isinstance(err, (urllib3.exceptions.HTTPError, OSError, ServerError, InvalidResponseError)):
        return True
    return isinstance(err, S3Error) and err.code in _OUTAGE_CODES


class _ModelError(Exception):
    """Wraps (as __cause__) an error of the model call itself, as opposed to storage."""


class _Details:
    """This attempt's heartbeat details: the earlier attempts' errors and, once
    it arrived, the answer. The keepalive interceptor (activities/keepalive.py)
    repeats what was last sent; Temporal hands the details to the next attempt."""

    def __init__(self, errors: list[ModelAttemptError]) -> None:
        self._value: dict = {"errors": [e.model_dump() for e in errors]}

    def note(self, **fields: object) -> None:
        """Changed here, sent with the next ``send``."""
        self._value.update(fields)

    def send(self) -> None:
        activity.heartbeat(dict(self._value))


class ModelActivities:
    """Holds the worker-side settings (API key, base URL): never in workflow inputs."""

    def __init__(
        self,
        settings: Settings,
        conversations: ConversationStore,
        records: RecordActivities | None = None,
        answers: AnswerStore | None = None,
        stream: TokenPublisher | None = None,
        files: FileCalls | None = None,
    ) -> None:
        self._settings = settings
        self._conversations = conversations
        self._records = records
        self._answers = answers
        self._stream = stream or TokenPublisher(None)
        self._files = files
        # One client per (model, timeout): reuses its HTTP connection pool.
        self._clients: dict[tuple[str, float], ChatOpenAI] = {}
        # Summarized conversations just stored: (messages condensed, estimated tokens) by transcript.
        self._condensed: dict[str, tuple[int, int]] = {}

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

    def _chain(self, request: ModelCallInput) -> list[str]:
        """The run's chain, else this worker's settings without the models the run skips."""
        if request.model_chain:
            return request.model_chain
        own = self._settings.model_chain
        return [m for m in own if m not in request.skip_models] or own

    @activity.defn(name="call_model")
    async def call_model(self, request: ModelCallInput) -> ModelCallResult:
        info = activity.info()
        earlier: dict = info.heartbeat_details[0] if info.heartbeat_details else {}
        previous = [ModelAttemptError.model_validate(e) for e in earlier.get("errors", [])]
        chain = self._chain(request)
        model = chain[len(previous) % len(chain)]
        details = _Details(previous)
        # Off the critical path: the previous step's rows are written while the
        # model thinks and the answer is stored; awaited last.
        recording = asyncio.ensure_future(self._write_records(request))
        try:
            return await self._answer(request, earlier, previous, chain, model, details, recording)
        finally:
            if not recording.done():
                recording.cancel()

    async def _answer(
        self,
        request: ModelCallInput,
        earlier: dict,
        previous: list[ModelAttemptError],
        chain: list[str],
        model: str,
        details: _Details,
        recording: asyncio.Future[bool],
    ) -> ModelCallResult:
        """This attempt's result: the kept answer or the model's, stored, its file calls run."""
        info = activity.info()
        kept = await self._kept_answer(request, earlier, previous)
        if kept is None:
            # Which model this attempt waits for, for people following the run
            # (the CLI reads it from the pending activity); the keepalive repeats it.
            details.note(calling=model)
            details.send()
            try:
                kept = await self._ask(request, model)
            except _ModelError as failure:
                raise self._next_attempt_error(
                    failure.__cause__ or failure, model, chain, previous, request.rounds
                ) from None
        else:
            activity.logger.info("reusing the answer %s gave on attempt %d", kept.model, kept.attempt)
            # Viewers start this call's text over with this attempt: the kept answer, whole.
            shown = self._writer(request, kept.model, reused=True)
            shown.add(kept.message.content)
            await shown.close()
        answer = kept.model_dump(mode="json")
        # A larger one would be offloaded to the bucket by the data converter,
        # which fails when the bucket is what is down: it is kept by step only.
        if len(json.dumps(answer)) <= MAX_HEARTBEAT_ANSWER_BYTES:
            details.note(answer=answer)
        try:
            transcript = await self._keep(request, kept, details)
        except BaseException:
            # This attempt fails with the answer in hand: its heartbeat details go
            # to Temporal with the failure (the SDK flushes them first).
            details.send()
            raise
        file_outputs = await self._run_file_calls(request, kept.message, transcript)
        records_written = await recording
        return ModelCallResult(
            message=_elide_large_args(kept.message, transcript, set(request.workflow_tools))
            if request.summarize is None
            # The summary itself is in the new transcript; history gets its start.
            else Message(role="assistant", content=kept.message.content[:SUMMARY_PREVIEW_CHARS]),
            transcript=transcript,
            tools_digest=kept.tools_digest,
            records_written=records_written,
            model=kept.model,
            attempt=kept.attempt,
            returned_on_attempt=info.attempt if info.attempt != kept.attempt else None,
            usage=self._priced(kept),
            failed_attempts=previous,
            unhealthy_models=list(dict.fromkeys(e.model for e in previous if e.unhealthy and e.model != kept.model)),
            file_outputs=file_outputs,
            **self._summarized(request, transcript),
        )

    async def _run_file_calls(
        self, request: ModelCallInput, message: Message, transcript: str
    ) -> list[FileToolOutput | None]:
        """Run the reply's file calls in order, as the file_tool activity would, while
        they may run here (see ModelCallInput.files). The first one that cannot and
        every file call after it are left to the workflow, which runs them as
        file_tool activities with the same operation ids.

        A retried attempt runs them all again, so every call must see then what it
        saw the first time: a write (or edit) runs here only as the first call run
        here, and only one does. A retried write finds its own object and answers as
        before; the reads after it see it both times. Left to the workflow: calls
        that need approval, a second write, a call after a storage error or once the
        time here is up."""
        inline = request.files
        if inline is None or self._files is None or request.summarize is not None:
            return []
        info = activity.info()
        budget = INLINE_FILE_SECONDS
        if info.start_to_close_timeout:
            # Never into the attempt's own timeout: the ones left go to file_tool activities.
            ends = info.started_time + info.start_to_close_timeout
            budget = min(budget, (ends - datetime.now(UTC)).total_seconds() - INLINE_FILE_SECONDS / 2)
        deadline = time.monotonic() + budget
        files = self._files.files(request.run_id, inline.profile, inline.user_id)
        outputs: list[FileToolOutput | None] = [None] * len(message.tool_calls)
        ran = 0
        for index, call in enumerate(message.tool_calls):
            if call.name not in FILE_TOOLS or call.raw_args is not None:
                continue  # not a file call, or one the workflow refuses: no file touched
            if call.name not in inline.tools or (call.name in WRITING_TOOLS and ran):
                break
            operation = file_calls.operation_id(info.workflow_id, info.workflow_run_id, transcript, index)
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    output = await self._files.run(files, request.run_id, request.agent, call, call.args, operation)
            except Exception as err:  # noqa: BLE001 - the file_tool activity retries it and reports it
                reason = "time is up" if isinstance(err, TimeoutError) else describe_storage_error(err)
                activity.logger.warning("%s %s left to the file_tool activity: %s", request.agent, call.name, reason)
                break
            outputs[index], ran = output, ran + 1
            activity.logger.info("%s %s", request.agent, output.summary)
        return outputs if ran else []

    def _summarized(self, request: ModelCallInput, transcript: str) -> dict:
        """A summarization call's result fields (its answer, the summary, only previewed in history)."""
        if request.summarize is None:
            return {}
        count, tokens = self._condensed.pop(transcript, (0, 0))
        return {"summarized_messages": count, "context_tokens": tokens, "history_path": request.summarize.history_path}

    def _priced(self, kept: KeptAnswer) -> TokenUsage:
        """The call's usage with its cost, when DEEPAGENT_PRICES has the model that answered.
        Without a price the cost stays unknown (None), so the run's total is unknown rather than low."""
        price = self._settings.deepagent_prices.get(kept.model)
        if price is None:
            if self._settings.deepagent_prices:
                activity.logger.warning("DEEPAGENT_PRICES has no price for %s: the run's cost is unknown", kept.model)
            return kept.usage.model_copy(update={"cost_usd": None})
        cost = price.cost(kept.usage.input_tokens, kept.usage.output_tokens)
        return kept.usage.model_copy(update={"cost_usd": cost})

    async def _kept_answer(
        self, request: ModelCallInput, earlier: dict, previous: list[ModelAttemptError]
    ) -> KeptAnswer | None:
        """The answer an earlier attempt received before it failed or was lost, if any."""
        if earlier.get("answer"):
            return KeptAnswer.model_validate(earlier["answer"])
        info = activity.info()
        # One that follows a model error had no answer. Attempt 1 looks too: a
        # Temporal server restarted while the attempt was out can hand the same
        # attempt to another worker, after the first one kept its answer.
        if self._answers is None or (previous and previous[-1].attempt == info.attempt - 1):
            return None
        return await self._storage("look for a kept answer", self._answers.find, self._step_key(request))

    def _step_key(self, request: ModelCallInput) -> str:
        info = activity.info()
        return AnswerStore.key(request.run_id, info.workflow_run_id, info.activity_id)

    async def _ask(self, request: ModelCallInput, model: str) -> KeptAnswer:
        """Ask ``model`` (its errors raise ``_ModelError``)."""
        conversation, tools, tools_digest = await self._storage("read the conversation", self._prepare, request)
        llm = self._chat_model(model, request.request_timeout_seconds)
        attributes = tracing.model_call_attributes(model, activity.info().attempt, request.agent, request.step)
        writer = self._writer(request, model)
        try:
            with tracing.span(f"chat {model}", attributes) as span:
                ai = await complete(
                    llm,
                    tools,
                    to_langchain(conversation),
                    writer,
                    request.request_timeout_seconds,
                    stream=self._settings.deepagent_stream_text,
                )
                if request.summarize is not None and not (isinstance(ai.content, str) and ai.content.strip()):
                    # An empty summary would replace the older messages by nothing: ask the next model.
                    raise ValueError("the model answered the summary request with no text")
                if tracing.enabled():
                    used = _usage(ai)
                    served_by = ai.response_metadata.get("model_name")
                    span.update(tracing.usage_attributes(used.input_tokens, used.output_tokens, served_by))
        except Exception as err:  # noqa: BLE001 - classified by _next_attempt_error
            writer.abort()
            raise _ModelError() from err
        except BaseException:
            writer.abort()
            raise
        await writer.close()
        return KeptAnswer(
            model=model,
            attempt=activity.info().attempt,
            message=from_langchain(ai),
            usage=_usage(ai),
            tools_digest=tools_digest,
        )

    def _writer(self, request: ModelCallInput, model: str, *, reused: bool = False) -> StreamWriter:
        """This attempt's live text, tagged so viewers can tell calls and attempts apart."""
        info = activity.info()
        return self._stream.writer(
            StreamChunk(
                run_id=request.run_id,
                workflow_id=info.workflow_id,
                call=f"{info.workflow_run_id}/{info.activity_id}",
                agent=request.agent,
                step=request.step,
                attempt=info.attempt,
                model=model,
                seq=0,
                reused=reused,
            )
        )

    async def _keep(self, request: ModelCallInput, kept: KeptAnswer, details: _Details) -> str:
        """Store the answer by step (so a lost worker or Temporal server does not
        lose it) and in the conversation; returns the new transcript segment."""
        storing = [
            self._storage(
                "store the transcript",
                self._conversations.append,
                request.run_id,
                request.transcript,
                [*request.new_messages, kept.message],
                on_outage=details.send,
            )
            if request.summarize is None
            else self._storage(
                "store the summarized conversation", self._condense, request, kept, on_outage=details.send
            )
        ]
        if self._answers is not None and kept.attempt == activity.info().attempt:
            storing.append(
                self._storage(
                    "keep the answer", self._answers.keep, self._step_key(request), kept, on_outage=details.send
                )
            )
        transcript, *_ = await asyncio.gather(*storing)
        return transcript

    async def _storage(
        self, what: str, call: Callable[..., T], *args: object, on_outage: Callable[[], None] | None = None
    ) -> T:
        """A blocking bucket call in a thread. An outage is waited out within this
        attempt (the keepalive heartbeats meanwhile), up to ``STORAGE_PATIENCE``;
        ``on_outage`` runs when the waiting starts."""
        delay, deadline = 0.2, None
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except Exception as err:
                if not _is_storage_outage(err):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + STORAGE_PATIENCE.total_seconds()
                    if on_outage is not None:
                        on_outage()
                if now >= deadline:
                    raise
                activity.logger.warning("waiting for S3 to %s: %s", what, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

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
        errors = [
            *previous,
            ModelAttemptError(model=model, attempt=attempt, error=text, unhealthy=marks_model_unhealthy(err)),
        ]
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

    def _condense(self, request: ModelCallInput, kept: KeptAnswer) -> str:
        assert request.summarize is not None
        transcript, count, tokens = self._conversations.condense(
            request.run_id, request.transcript, request.new_messages, request.summarize, kept.message.content
        )
        self._condensed[transcript] = (count, tokens)
        return transcript

    def _prepare(self, request: ModelCallInput) -> tuple[list[Message], list[dict], str | None]:
        """The conversation to send (made lean, see lean_requests.py) and the tool
        schemas (stored once, then by hash); or the request of a summarization call."""
        store = self._conversations
        if request.summarize is not None:
            prompt = store.summary_request(request.run_id, request.transcript, request.new_messages, request.summarize)
            return prompt, [], None
        conversation = store.load(request.run_id, request.transcript)
        conversation.extend(store.resolve(request.run_id, m) for m in request.new_messages)
        conversation = store.lean(request.run_id, conversation)
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
