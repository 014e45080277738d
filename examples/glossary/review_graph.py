"""A two-node LangGraph graph, used as a sub-agent (``graph: review_graph:graph``).

``review`` asks a chat model to review the text it was handed for unclear or
wrong terms, one ``- `` line per problem; ``verdict`` counts those lines and
puts the count on top. The sub-agent's answer is the graph's last message.
The model is the workers' (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
``DEEPAGENT_MODEL``), read when the node runs.
"""

from __future__ import annotations

import os
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

REVIEW_PROMPT = (
    "You review an explanation of software testing terms. List each unclear or wrong statement on a line "
    "of its own starting with '- '. If there is none, say so in one sentence."
)


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def review(state: State) -> dict:
    model = ChatOpenAI(
        model=os.environ.get("DEEPAGENT_MODEL", "gpt-4o-mini"), base_url=os.environ.get("OPENAI_BASE_URL")
    )
    reply = await model.ainvoke([SystemMessage(REVIEW_PROMPT), *state["messages"]])
    return {"messages": [reply]}


def verdict(state: State) -> dict:
    text = state["messages"][-1].text
    problems = [line for line in text.splitlines() if line.strip().startswith("- ")]
    head = f"{len(problems)} problem(s) found." if problems else "No problems found."
    return {"messages": [AIMessage(f"{head}\n{text}")]}


builder = StateGraph(State)
builder.add_node("review", review)
builder.add_node("verdict", verdict)
builder.add_edge(START, "review")
builder.add_edge("review", "verdict")
builder.add_edge("verdict", END)
graph = builder.compile()
