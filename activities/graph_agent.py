"""A LangGraph graph sub-agent's run: the ``run_graph`` activity.

The compiled graph gets the task description as its input message
(``{"messages": [user message]}``) and its last message is the answer. The
whole graph runs inside this one activity, which heartbeats while it runs
(``activities/keepalive.py``), so a lost worker is noticed in seconds and the
graph is run again from the start elsewhere. An exception raised by the graph
is not retried: it fails the sub-agent, which the supervisor reads as a tool
error. (Why not Temporal's LangGraph plugin: docs/profiles.md.)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal.redaction import redact

GRAPH_FAILED = "GraphFailed"


class GraphRunInput(BaseModel):
    run_id: str
    agent: str
    # module.path:attribute, as the profile names it.
    graph: str
    request: str


class GraphRunOutput(BaseModel):
    answer: str
    # How many messages the graph's final state holds.
    messages: int


class GraphActivities:
    def __init__(self, graphs: dict[str, Any]) -> None:
        self._graphs = graphs

    @activity.defn(name="run_graph")
    async def run_graph(self, request: GraphRunInput) -> GraphRunOutput:
        graph = self._graphs.get(request.graph)
        if graph is None:
            raise ApplicationError(
                f"graph {request.graph} is not loaded on this worker "
                "(the workers of one task queue need the same profiles)",
                type=GRAPH_FAILED,
                non_retryable=True,
            )
        # Here, not at import: langchain-core is a second of a worker's start-up,
        # and only a worker with graph sub-agents needs it (they import it anyway).
        from langchain_core.messages import HumanMessage

        try:
            state = await graph.ainvoke(
                {"messages": [HumanMessage(content=request.request)]},
                config={"configurable": {"thread_id": activity.info().workflow_id}},
            )
        except Exception as err:  # noqa: BLE001 - the graph's own failure, for the supervisor to read
            raise ApplicationError(
                redact(f"graph {request.graph} raised {type(err).__name__}: {err}"),
                type=GRAPH_FAILED,
                non_retryable=True,
            ) from None
        messages = state.get("messages") if isinstance(state, dict) else None
        if not messages:
            raise ApplicationError(
                f"graph {request.graph} ended without messages in its state (its answer is its last message)",
                type=GRAPH_FAILED,
                non_retryable=True,
            )
        answer = _text(messages[-1])
        activity.logger.info("%s: graph %s answered (%d characters)", request.agent, request.graph, len(answer))
        return GraphRunOutput(answer=answer, messages=len(messages))


def _text(message: Any) -> str:
    from langchain_core.messages import BaseMessage

    if isinstance(message, BaseMessage):
        return message.text
    if isinstance(message, dict):
        return str(message.get("content", ""))
    return str(message)
