"""The SDK's tracing interceptor, with client queries left untraced.

Imported only when tracing is on (``deepagents_temporal/tracing.py``): it
imports OpenTelemetry. The CLI follows a run by polling its ``progress``
query; traced, every poll would be a trace of its own (and a span in the
worker), burying the run's one trace.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import OutboundInterceptor, QueryWorkflowInput
from temporalio.contrib.opentelemetry import TracingInterceptor


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
