"""A LangGraph graph that raises, for the graph sub-agent tests."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def explode(state: State) -> dict:
    raise RuntimeError(f"the graph broke on {state['messages'][-1].text!r}")


builder = StateGraph(State)
builder.add_node("explode", explode)
builder.add_edge(START, "explode")
builder.add_edge("explode", END)
broken = builder.compile()
# A builder, not a compiled graph: refused by name.
not_compiled = builder
