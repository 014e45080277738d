"""The OpenTelemetry side of tracing: the SDK's interceptor, the tracer provider, redacted export.

Imported only when tracing is on (``deepagents_temporal/tracing.py`` is the
switch), and then outside any workflow: it imports OpenTelemetry at the top so
that nothing of it is first imported inside the workflow sandbox, where
completed workflow spans are made (and, with a simple processor, exported).
The CLI follows a run by polling its ``progress`` query; traced, every poll
would be a trace of its own (and a span in the worker), burying the run's one
trace: client queries are left untraced.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import OTEL_SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from temporalio.client import OutboundInterceptor, QueryWorkflowInput
from temporalio.contrib.opentelemetry import TracingInterceptor

from deepagents_temporal.redaction import redact, redact_value


class RunTracingInterceptor(TracingInterceptor):
    """``TracingInterceptor`` for clients and workers; queries go untraced."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _UntracedQueries(super().intercept_client(next), untraced=next)


class _UntracedQueries(OutboundInterceptor):
    def __init__(self, traced: OutboundInterceptor, *, untraced: OutboundInterceptor) -> None:
        super().__init__(traced)
        self._untraced = untraced

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self._untraced.query_workflow(input)


def otlp_provider(endpoint: str, service_name: str) -> TracerProvider:
    """Spans batched to an OTLP/HTTP collector at ``endpoint`` (its base URL, as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` means it)."""
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    return _provider(BatchSpanProcessor(RedactingExporter(exporter)), service_name)


def provider_exporting_to(exporter: SpanExporter, service_name: str) -> TracerProvider:
    """Each span to ``exporter`` as it ends (tests)."""
    return _provider(SimpleSpanProcessor(RedactingExporter(exporter)), service_name)


def _provider(processor: SpanProcessor, service_name: str) -> TracerProvider:
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still apply (Resource.create reads them).
    resource = Resource.create({} if os.environ.get(OTEL_SERVICE_NAME) else {"service.name": service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider


class RedactingExporter(SpanExporter):
    """A span exporter that redacts every text of a span (status, attributes, events) before passing it on."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([_redacted(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
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
