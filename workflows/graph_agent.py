"""GraphAgentWorkflow: a LangGraph graph as a sub-agent.

A sub-agent whose profile entry names ``graph: module.path:attribute`` runs as
this child workflow (id ``<run id>/<name>-<n>``, like any sub-agent's) instead
of an AgentWorkflow: it runs the graph in the ``run_graph`` activity with the
task description as its input message and returns the graph's last message as
its answer. It keeps a run row and answers the ``progress`` query like an
agent, so ``run``, ``status`` and ``show`` list it with the others; a failure
reaches the supervisor as a tool error (``SubAgentFailed``), as an agent's does.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.graph_agent import GRAPH_FAILED, GraphActivities, GraphRunInput, GraphRunOutput
    from deepagents_temporal.failures import innermost_failure_message
    from deepagents_temporal.pgstore.records import RunRecord, RunStatus
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT
    from deepagents_temporal.schema import AgentInput, AgentResult, Progress, Todo, TokenUsage
    from workflows.bookkeeping import RunBookkeeping
    from workflows.progress import ProgressLog

# One run of a graph, unless its entry's timeout_seconds says otherwise.
GRAPH_TIMEOUT_SECONDS = 600.0
# Attempts lost with their worker are run again; the graph's own exception is not.
GRAPH_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_attempts=5, non_retryable_error_types=[GRAPH_FAILED]
)


@workflow.defn(name="GraphAgentWorkflow")
class GraphAgentWorkflow:
    def __init__(self) -> None:
        self._agent = ""
        self._done = False
        self._progress = ProgressLog()

    @workflow.query
    def todos(self) -> list[Todo]:
        return []

    @workflow.query
    def progress(self, since: int = 0) -> Progress:
        return Progress(
            agent=self._agent,
            step=0,
            done=self._done,
            todos=[],
            children=[],
            events=self._progress.since(since),
            next_seq=len(self._progress),
        )

    @workflow.run
    async def run(self, request: AgentInput) -> AgentResult:
        info = workflow.info()
        run_id = request.run_id or info.workflow_id
        profile = request.profile_snapshot
        if profile is None or request.agent is None or profile.agent(request.agent).graph is None:
            raise ApplicationError(
                "GraphAgentWorkflow runs a graph sub-agent of a profile", type="BadAgentInput", non_retryable=True
            )
        spec = profile.agent(request.agent)
        assert spec.graph is not None
        self._agent = spec.name
        books = RunBookkeeping(
            RunRecord(
                run_id=info.workflow_id,
                parent_run_id=info.parent.workflow_id if info.parent else None,
                workflow_name=info.workflow_type,
                profile=profile.name,
                agent=spec.name,
                created_at=workflow.now(),
            )
        )
        books.started(request.request)
        self._event("tool", f"running graph {spec.graph}", run_id)
        try:
            output: GraphRunOutput = await workflow.execute_activity_method(
                GraphActivities.run_graph,
                GraphRunInput(run_id=run_id, agent=spec.name, graph=spec.graph, request=request.request),
                start_to_close_timeout=timedelta(seconds=spec.timeout_seconds or GRAPH_TIMEOUT_SECONDS),
                heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                retry_policy=GRAPH_RETRY_POLICY,
                summary=f"{spec.name}: graph {spec.graph}",
            )
        except (asyncio.CancelledError, FailureError) as err:
            cancelled = is_cancelled_exception(err)
            reason = "cancelled" if cancelled else innermost_failure_message(err)
            self._event("error", f"graph failed: {reason}", run_id)
            await self._finish(books, RunStatus.CANCELLED if cancelled else RunStatus.FAILED, reason)
            if cancelled:
                raise
            raise ApplicationError(
                reason,
                {"usage": TokenUsage().model_dump(), "models_used": []},
                type="SubAgentFailed",
                non_retryable=True,
            ) from None
        self._event("final", f"graph {spec.graph} answered ({output.messages} messages)", run_id)
        await self._finish(books, RunStatus.COMPLETED, None)
        return AgentResult(run_id=run_id, agent=spec.name, answer=output.answer, answer_transcript="", steps=0)

    def _event(self, kind: str, text: str, run_id: str) -> None:
        self._progress.add(kind, text, run_id=run_id, agent=self._agent)

    async def _finish(self, books: RunBookkeeping, status: RunStatus, error: str | None) -> None:
        self._done = True
        books.run_status(status, TokenUsage(), [], error)
        await books.drain()
