"""OpenTelemetry tracing: one qa run is one trace, from the starter's span through the
supervisor and its sub-agents to each model call (GenAI attributes) and file tool;
over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing when it is not."""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from deepagents_temporal import tracing
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import connect
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.helpers import start_run, stop_process, worker_output, worker_process
from worker import build_worker


def _ancestors(spans: list[ReadableSpan], span: ReadableSpan) -> list[ReadableSpan]:
    """``span``'s parent, its parent, ... up to the root."""
    by_id = {s.context.span_id: s for s in spans}
    found = []
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


def _names(spans: list[ReadableSpan]) -> list[str]:
    return [s.name for s in spans]


async def test_one_qa_run_is_one_trace_with_model_and_tool_spans(
    settings: Settings, pool: asyncpg.Pool, llm: ScriptedLLM
) -> None:
    exporter = InMemorySpanExporter()
    own = settings.model_copy(update={"temporal_task_queue": f"traced-{uuid.uuid4().hex[:8]}"})
    with tracing.exporting_to(exporter):
        client = await connect(own)
        async with await build_worker(client, own, pool):
            handle = await start_run(client, own)
            result: AgentResult = await handle.result()
            # Client queries are left out of the trace (the CLI polls one).
            await handle.query("todos")
    spans = list(exporter.get_finished_spans())

    assert {s.context.trace_id for s in spans} == {spans[0].context.trace_id}, "one run, one trace"
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["StartWorkflow:AgentWorkflow"]
    assert roots[0].attributes["temporalWorkflowID"] == handle.id
    assert not [s for s in spans if "Query" in s.name]

    runs = [s for s in spans if s.name == "RunWorkflow:AgentWorkflow"]
    assert sorted(s.attributes["temporalWorkflowID"] for s in runs) == sorted([handle.id, *result.children])
    supervisor = next(s for s in runs if s.attributes["temporalWorkflowID"] == handle.id)
    assert supervisor.parent is not None and supervisor.parent.span_id == roots[0].context.span_id
    starts = [s for s in spans if s.name == "StartChildWorkflow:AgentWorkflow"]
    assert len(starts) == 3
    # A sub-agent's workflow hangs under the supervisor's span that started it.
    for child in (s for s in runs if s is not supervisor):
        started_by, root = _ancestors(spans, child)
        assert [started_by.name, root.name] == ["StartChildWorkflow:AgentWorkflow", "StartWorkflow:AgentWorkflow"]
        assert started_by.attributes["temporalWorkflowID"] == handle.id

    # Each model request: a span under its call_model activity, with the GenAI attributes.
    chats = [s for s in spans if s.name == "chat test-model"]
    assert len(chats) == len([r for r in llm.requests if r.completed]) >= 8
    for chat in chats:
        above = _ancestors(spans, chat)
        assert _names(above[:2]) == ["RunActivity:call_model", "StartActivity:call_model"]
        # In the agent that asked: the supervisor's calls right under the run, a specialist's under its start.
        agent, workflow_id = chat.attributes["gen_ai.agent.name"], above[0].attributes["temporalWorkflowID"]
        if agent == "qa_orchestrator":
            assert workflow_id == handle.id and above[2] is roots[0]
        else:
            assert workflow_id == f"{handle.id}/{agent}-1"
            assert above[2].name == "StartChildWorkflow:AgentWorkflow"
        attributes = chat.attributes
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "test-model"
        assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] > 0
        assert attributes["deepagents.attempt"] == 1
    assert {c.attributes["gen_ai.agent.name"] for c in chats} == {
        "qa_orchestrator",
        *(c.rsplit("/", 1)[1].removesuffix("-1") for c in result.children),
    }
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats) == result.usage.input_tokens
    assert sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats) == result.usage.output_tokens

    # Each file tool the specialists called: its tool and path.
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    assert tools
    for tool in tools:
        # Run by the model call's activity, after its chat span.
        assert _ancestors(spans, tool)[0].name == "RunActivity:call_model"
        assert tool.attributes["gen_ai.tool.name"] == tool.name.removeprefix("execute_tool ")
        assert tool.attributes["file.path"].startswith("/")
    # And every span of the run hangs under the starter's.
    assert all(_ancestors(spans, s)[-1] is roots[0] for s in spans if s.parent is not None)


async def test_tracing_is_off_without_an_endpoint(client: Client, settings: Settings) -> None:
    assert settings.otel_exporter_otlp_endpoint is None
    assert tracing.client_interceptors(settings) == [] and not tracing.enabled()
    assert not client.config()["interceptors"]
    with tracing.span("chat test-model", {"gen_ai.request.model": "test-model"}) as span:
        span.update({"gen_ai.usage.input_tokens": 1})


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def _collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An OTLP/HTTP collector on loopback: what it receives, by path."""
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_the_worker_exports_over_otlp_when_the_endpoint_is_set(
    client: Client, settings: Settings, llm: ScriptedLLM
) -> None:
    with _collector() as (endpoint, received):
        process = worker_process(settings, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="qa-workers")
        try:
            handle = await start_run(client, settings)
            await handle.result()
            # Spans still buffered are sent when the worker stops.
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
        finally:
            stop_process(process)
    output = worker_output(process)
    assert process.returncode == 0, output
    assert f"tracing to {endpoint}" in output
    assert received and {path for path, _ in received} == {"/v1/traces"}
    names, services = [], set()
    for _, body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"}
            names += [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert services == {"qa-workers"}
    # This client is not traced, so the worker's spans start from the run's own workflows.
    assert "RunActivity:call_model" in names and "chat test-model" in names, names
