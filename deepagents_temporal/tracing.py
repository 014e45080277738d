"""OpenTelemetry tracing of runs: on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, free when it is not.

Spans come from the Temporal SDK's own interceptor
(``temporalio.contrib.opentelemetry.TracingInterceptor``), put on every client
this process connects (``services.connect``), so the workers built on that
client get it too. The trace context rides in Temporal headers, so one run is
one trace: the starter's ``StartWorkflow`` span, the supervisor's and each
sub-agent's workflow spans, every activity, and within them the spans this
module opens: one per model request (GenAI semantic conventions: model, token
usage, plus the attempt) and one per file tool (the tool and its path).

Off, nothing of OpenTelemetry is imported and :func:`span` is a null context.
Span texts (error descriptions, exception events) pass the redaction step
before they are exported: a trace collector is outside the worker too.
Client queries (the CLI polls ``progress``) are left untraced, so a followed
run does not scatter one-span traces.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from deepagents_temporal.redaction import redact, redact_value
from deepagents_temporal.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

SERVICE_NAME = "deepagents-temporal"
# Attribute names of the OpenTelemetry GenAI semantic conventions.
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
FILE_PATH = "file.path"
ERROR_TYPE = "error.type"
# No convention names a retry attempt: the project's own name.
ATTEMPT = "deepagents.attempt"
STEP = "deepagents.step"

_lock = threading.Lock()
_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _tracer is not None


def client_interceptors(settings: Settings) -> list[Any]:
    """The tracing interceptor for a client (and the workers on it); none when tracing is off."""
    tracer = _start(settings)
    if tracer is None:
        return []
    from deepagents_temporal.tracing_interceptor import RunTracingInterceptor

    return [RunTracingInterceptor(tracer)]


def _start(settings: Settings) -> Tracer | None:
    """This process's tracer, set up on first use from ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    global _tracer, _provider
    with _lock:
        if _tracer is None and settings.otel_exporter_otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            # The base endpoint, as the OTLP exporter's own variable means it.
            endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            _provider = _new_provider(BatchSpanProcessor(RedactingExporter(OTLPSpanExporter(endpoint=endpoint))))
            _tracer = _provider.get_tracer(__name__)
        return _tracer


def _new_provider(processor: Any) -> TracerProvider:
    from opentelemetry.sdk.resources import OTEL_SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still apply (Resource.create reads them).
    resource = Resource.create({} if os.environ.get(OTEL_SERVICE_NAME) else {"service.name": SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider


@contextlib.contextmanager
def exporting_to(exporter: SpanExporter) -> Iterator[None]:
    """Trace to ``exporter`` (each span as it ends) instead of OTLP, within the block: for tests."""
    global _tracer, _provider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with _lock:
        previous = _tracer, _provider
        _provider = _new_provider(SimpleSpanProcessor(RedactingExporter(exporter)))
        _tracer = _provider.get_tracer(__name__)
    try:
        yield
    finally:
        with _lock:
            provider = _provider
            _tracer, _provider = previous
        assert provider is not None
        provider.shutdown()


def shutdown() -> None:
    """Send the spans still buffered (a worker that stops calls this)."""
    if _provider is not None:
        _provider.shutdown()


class _NoSpan:
    """What :func:`span` yields: attributes to add once the work is done (kept only when tracing)."""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def update(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any]) -> Iterator[_NoSpan]:
    """A child span of the current one (the activity's), with ``attributes``; a null context when off.

    Attributes known only at the end go through the yielded object's
    ``update``; an exception marks the span as an error, with its type.
    """
    extra = _NoSpan()
    tracer = _tracer
    if tracer is None:
        yield extra
        return
    with tracer.start_as_current_span(name, attributes=dict(attributes)) as current:
        try:
            yield extra
        except BaseException as err:
            current.set_attribute(ERROR_TYPE, type(err.__cause__ or err).__name__)
            raise
        finally:
            if extra.attributes:
                current.set_attributes(extra.attributes)


def model_call_attributes(model: str, attempt: int, agent: str, step: int) -> dict[str, Any]:
    return {
        GEN_AI_OPERATION: "chat",
        GEN_AI_PROVIDER: "openai",
        GEN_AI_REQUEST_MODEL: model,
        GEN_AI_AGENT_NAME: agent,
        ATTEMPT: attempt,
        STEP: step,
    }


def usage_attributes(input_tokens: int, output_tokens: int, response_model: str | None) -> dict[str, Any]:
    found = {GEN_AI_INPUT_TOKENS: input_tokens, GEN_AI_OUTPUT_TOKENS: output_tokens}
    if response_model:
        found[GEN_AI_RESPONSE_MODEL] = response_model
    return found


def tool_attributes(tool: str, call_id: str, path: str | None, agent: str) -> dict[str, Any]:
    found = {GEN_AI_OPERATION: "execute_tool", GEN_AI_TOOL_NAME: tool, GEN_AI_TOOL_CALL_ID: call_id}
    found[GEN_AI_AGENT_NAME] = agent
    if path:
        found[FILE_PATH] = path
    return found


class RedactingExporter:
    """A span exporter that redacts every text of a span (status, attributes, events) before passing it on."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> Any:
        return self._inner.export([_redacted(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    status = span.status
    if status.description:
        status = Status(status.status_code, redact(status.description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_value(dict(span.attributes or {})),
        events=[Event(e.name, redact_value(dict(e.attributes or {})), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
