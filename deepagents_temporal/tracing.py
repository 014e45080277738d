"""OpenTelemetry tracing of runs: on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, free when it is not.

Spans come from the Temporal SDK's own interceptor
(``temporalio.contrib.opentelemetry.TracingInterceptor``), put on every client
this process connects (``services.connect``), so the workers built on that
client get it too. The trace context rides in Temporal headers, so one run is
one trace: the starter's ``StartWorkflow`` span, the supervisor's and each
sub-agent's workflow spans, every activity, and within them the spans this
module opens: one per model request (GenAI semantic conventions: model, token
usage, plus the attempt) and one per file tool (the tool and its path).

Off, no interceptor is installed, this module imports nothing of
OpenTelemetry and :func:`span` is a null context. On, the OpenTelemetry side
lives in ``tracing_otel.py``: span texts (error descriptions, exception events)
pass the redaction step before export (a trace collector is outside the worker
too), and client queries are left untraced.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from deepagents_temporal.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
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
    from deepagents_temporal.tracing_otel import RunTracingInterceptor

    return [RunTracingInterceptor(tracer)]


def _start(settings: Settings) -> Tracer | None:
    """This process's tracer, set up on first use from ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    global _tracer, _provider
    with _lock:
        if _tracer is None and settings.otel_exporter_otlp_endpoint:
            from deepagents_temporal.tracing_otel import otlp_provider

            _provider = otlp_provider(settings.otel_exporter_otlp_endpoint, SERVICE_NAME)
            _tracer = _provider.get_tracer(__name__)
        return _tracer


@contextlib.contextmanager
def exporting_to(exporter: SpanExporter) -> Iterator[None]:
    """Trace to ``exporter`` (each span as it ends) instead of OTLP, within the block: for tests."""
    global _tracer, _provider
    from deepagents_temporal.tracing_otel import provider_exporting_to

    with _lock:
        previous = _tracer, _provider
        _provider = provider_exporting_to(exporter, SERVICE_NAME)
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
