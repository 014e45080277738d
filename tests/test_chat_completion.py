"""The model call sends what ChatOpenAI sends, and reads the answer as ChatOpenAI does.

``activities/chat_completion.py`` sends ChatOpenAI's request body through its
client without the SDK's per-field transforms and reads the answer itself;
these tests hold it to ChatOpenAI's own ``ainvoke`` on the same scripted server.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI

from activities.chat_completion import complete
from deepagents_temporal.token_stream import StreamChunk, TokenPublisher
from scripted_llm import Reply, ScriptedLLM

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Write a file.",
            "parameters": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["file_path", "content"],
            },
        },
    }
]
CONVERSATION = [
    SystemMessage("You write files."),
    HumanMessage("Write the notes, ünïcode and all."),
    AIMessage("", tool_calls=[{"id": "c1", "name": "write_file", "args": {"file_path": "/a.md", "content": "x"}}]),
    ToolMessage("Updated file /a.md", tool_call_id="c1", name="write_file"),
]


def _writer() -> object:
    chunk = StreamChunk(run_id="r", workflow_id="w", call="c", agent="a", step=1, attempt=1, model="m", seq=0)
    return TokenPublisher(None).writer(chunk)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_the_request_and_the_answer_match_chatopenai(llm: ScriptedLLM, stream: bool) -> None:
    content = "line of notes\n" * 800  # in hundreds of pieces when streamed
    llm.add_rule(
        lambda r: True, Reply.tool_calls([("write_file", {"file_path": "/notes.md", "content": content}, "w1")])
    )
    model = ChatOpenAI(model="test-model", api_key="k", base_url=llm.base_url, max_retries=0, stream_usage=True)

    ours = await complete(model, TOOLS, CONVERSATION, _writer(), 30, stream=stream)
    bound = model.bind_tools(TOOLS)
    if stream:
        theirs = None
        async for chunk in bound.astream(CONVERSATION):
            theirs = chunk if theirs is None else theirs + chunk
    else:
        theirs = await bound.ainvoke(CONVERSATION)
    assert isinstance(theirs, AIMessage)

    sent_by_us, sent_by_chatopenai = (r.request.body for r in llm.requests)
    assert sent_by_us == sent_by_chatopenai
    assert ours.tool_calls == theirs.tool_calls
    assert ours.tool_calls[0]["args"]["content"] == content
    assert ours.content == theirs.content
    assert ours.usage_metadata is not None and theirs.usage_metadata is not None
    assert ours.usage_metadata["input_tokens"] == theirs.usage_metadata["input_tokens"] > 0
    assert ours.response_metadata["model_name"] == "test-model"


async def test_arguments_that_are_not_json_stay_an_invalid_call(llm: ScriptedLLM) -> None:
    llm.add_rule(lambda r: True, Reply.tool_calls([("write_file", "{not json", "w1")]))
    model = ChatOpenAI(model="test-model", api_key="k", base_url=llm.base_url, max_retries=0)
    for stream in (False, True):
        answer = await complete(model, TOOLS, CONVERSATION, _writer(), 30, stream=stream)
        assert answer.tool_calls == []
        assert [(c["name"], c["args"]) for c in answer.invalid_tool_calls] == [("write_file", "{not json")]
