"""The scripted OpenAI-compatible server, driven by the real openai / langchain-openai clients."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI

from scripted_llm import ChatRequest, Reply, ScriptedLLM
from scripted_llm.demo_brain import demo_brain

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_products",
            "description": "Search the catalogue",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_stock",
            "description": "Stock level of a product",
            "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
        },
    },
]


@pytest.fixture
def server() -> Iterator[ScriptedLLM]:
    # A private server: these tests must not share rules with the session-wide one.
    with ScriptedLLM() as llm:
        yield llm


def chat(server: ScriptedLLM, model: str = "test-model", **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(model=model, api_key="test", base_url=server.base_url, max_retries=0, **kwargs)


def raw_post(server: ScriptedLLM, path: str, data: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.base_url.removesuffix("/v1") + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --------------------------------------------------------------------------- replies


def test_text_reply_with_usage_and_request_log(server: ScriptedLLM) -> None:
    server.add_rule(lambda r: r.last_user_text == "ping", Reply.text("pong, from the scripted model"))
    message = chat(server).bind_tools(TOOLS).invoke([SystemMessage("Be brief."), HumanMessage("ping")])

    assert isinstance(message, AIMessage)
    assert message.content == "pong, from the scripted model"
    assert message.tool_calls == []
    usage = message.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert message.response_metadata["finish_reason"] == "stop"

    [record] = server.requests
    assert (record.seq, record.model, record.status) == (1, "test-model", 200)
    assert record.completed and not record.aborted and record.ok
    assert record.finished is not None and record.finished >= record.started
    assert record.request.system_prompt == "Be brief."
    assert record.request.tool_names == ["search_products", "get_stock"]
    assert record.request.stream is False
    assert record.key == record.request.key and len(record.key) == 64


def test_parallel_tool_calls_and_tool_results_round_trip(server: ScriptedLLM) -> None:
    server.add_rule(
        lambda r: r.turn == 0,
        Reply.tool_calls([("search_products", {"query": "red shoes", "limit": 3}), ("get_stock", {"sku": "SKU-1"})]),
    )
    server.add_rule(lambda r: r.turn == 1, Reply.text("3 red shoes, 7 in stock"))
    model = chat(server).bind_tools(TOOLS)
    messages = [HumanMessage("find red shoes")]

    first = model.invoke(messages)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("search_products", {"query": "red shoes", "limit": 3}),
        ("get_stock", {"sku": "SKU-1"}),
    ]
    ids = [c["id"] for c in first.tool_calls]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)
    assert first.response_metadata["finish_reason"] == "tool_calls"

    messages += [first, ToolMessage("3 results", tool_call_id=ids[0]), ToolMessage("7", tool_call_id=ids[1])]
    second = model.invoke(messages)
    assert second.content == "3 red shoes, 7 in stock"

    request = server.requests[1].request
    assert request.turn == 1
    assert [tuple(r) for r in request.tool_results] == [
        (ids[0], "search_products", "3 results"),
        (ids[1], "get_stock", "7"),
    ]
    assert request.last_user_text == "find red shoes"


def test_tool_call_ids_are_stable_for_the_same_conversation(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.tool_calls([("get_stock", {"sku": "A"})]))
    model = chat(server).bind_tools(TOOLS)
    a = model.invoke([HumanMessage("stock of A?")])
    b = model.invoke([HumanMessage("stock of A?")])
    c = model.invoke([HumanMessage("stock of B?")])
    assert a.tool_calls[0]["id"] == b.tool_calls[0]["id"] != c.tool_calls[0]["id"]
    keys = [r.key for r in server.requests]
    assert keys[0] == keys[1] != keys[2]


def test_malformed_tool_arguments_arrive_as_invalid_tool_calls(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.tool_calls([("search_products", '{"query": "sho')]))
    message = chat(server).bind_tools(TOOLS).invoke("search")
    assert message.tool_calls == []
    [invalid] = message.invalid_tool_calls
    assert invalid["name"] == "search_products" and invalid["args"] == '{"query": "sho'


def test_streaming_text_and_usage(server: ScriptedLLM) -> None:
    text = "Streaming works: several words arrive in several server-sent event chunks."
    server.add_rule(None, Reply.text(text))
    chunks = list(chat(server, stream_usage=True).stream("stream please"))

    assert sum(1 for c in chunks if c.content) > 2
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == text
    assert merged.usage_metadata and merged.usage_metadata["output_tokens"] > 0
    [record] = server.requests
    assert record.request.stream and record.completed and record.status == 200


def test_streaming_tool_calls_with_the_openai_client(server: ScriptedLLM) -> None:
    server.add_rule(
        None,
        Reply.tool_calls(
            [("search_products", {"query": "a fairly long query string to split"}), ("get_stock", {"sku": "X"})]
        ),
    )
    client = openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=0)
    stream = client.chat.completions.create(
        model="test-model",
        messages=[{"role": "user", "content": "go"}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                arguments[delta.index] = arguments.get(delta.index, "") + (delta.function.arguments or "")
                if delta.function.name:
                    names[delta.index] = delta.function.name
    assert names == {0: "search_products", 1: "get_stock"}
    assert json.loads(arguments[0]) == {"query": "a fairly long query string to split"}
    assert json.loads(arguments[1]) == {"sku": "X"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_async_streaming_tool_calls_with_langchain(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.tool_calls([("get_stock", {"sku": "SKU-9"})], content="Checking stock."))
    merged = None
    async for chunk in chat(server, stream_usage=True).bind_tools(TOOLS).astream("stock?"):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert merged.content == "Checking stock."
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("get_stock", {"sku": "SKU-9"})]
    assert merged.usage_metadata and merged.usage_metadata["input_tokens"] > 0


# --------------------------------------------------------------------------- errors


def test_unknown_model_is_a_404_model_not_found(server: ScriptedLLM) -> None:
    server.unknown_model("gpt-missing")
    with pytest.raises(openai.NotFoundError) as err:
        chat(server, model="gpt-missing").invoke("hi")
    assert err.value.status_code == 404
    assert err.value.code == "model_not_found"
    assert "gpt-missing" in err.value.message
    assert chat(server, model="gpt-present").invoke("hi").content  # other models still answer
    assert [(r.model, r.status) for r in server.requests] == [("gpt-missing", 404), ("gpt-present", 200)]

    client = openai.OpenAI(api_key="test", base_url=server.base_url, max_retries=0)
    listed = [m.id for m in client.models.list()]
    assert "gpt-present" in listed and "gpt-missing" not in listed
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-missing")


def test_rate_limit_carries_retry_after(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.error(429, "slow down", retry_after=2.5, code="rate_limit_exceeded"), times=1)
    model = chat(server)
    with pytest.raises(openai.RateLimitError) as err:
        model.invoke("hi")
    assert err.value.response.headers["retry-after"] == "2.5"
    assert err.value.response.headers["retry-after-ms"] == "2500"
    assert err.value.code == "rate_limit_exceeded" and "slow down" in err.value.message
    assert model.invoke("hi").content  # the rule was used up; the brain answers
    first, second = server.requests
    assert (first.status, first.completed, first.ok) == (429, True, False)
    assert second.status == 200


def test_a_401_can_echo_the_authorization_header(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.error(401, "invalid api key", echo_authorization=True), times=1)
    key = "sk-echo-me-0123456789"
    model = ChatOpenAI(model="test-model", api_key=key, base_url=server.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        model.invoke("hi")
    assert err.value.status_code == 401
    assert err.value.body["message"] == f"invalid api key: Bearer {key}"
    assert server.requests[0].error == f"invalid api key: Bearer {key}"
    # Without the option the key stays out of the error.
    server.add_rule(None, Reply.error(401, "invalid api key"), times=1)
    with pytest.raises(openai.AuthenticationError) as err:
        model.invoke("hi")
    assert err.value.body["message"] == "invalid api key" and key not in str(err.value)


def test_server_error_and_streaming_error(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.error(500, "upstream exploded"))
    with pytest.raises(openai.InternalServerError) as err:
        chat(server).invoke("hi")
    assert "upstream exploded" in err.value.message
    assert "retry-after" not in err.value.response.headers
    with pytest.raises(openai.InternalServerError):
        list(chat(server).stream("hi"))
    assert [r.status for r in server.requests] == [500, 500]


def test_invalid_json_unknown_path_and_bad_request_shape(server: ScriptedLLM) -> None:
    status, body = raw_post(server, "/v1/chat/completions", b"{not json")
    assert (
        status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "invalid_json"
    )
    status, body = raw_post(server, "/v1/chat/completions", json.dumps({"model": "m", "messages": "hi"}).encode())
    assert status == 400 and body["error"]["param"] == "messages"
    status, body = raw_post(server, "/v1/audio/speech", b"{}")
    assert status == 404 and body["error"]["code"] == "unknown_url"
    status, body = raw_post(server, "/v1/embeddings", b"{}")
    assert status == 400 and "model" in body["error"]["message"]
    # Only chat-completion calls are logged, malformed ones included.
    assert [r.status for r in server.requests] == [400, 400]


def test_embeddings_are_deterministic_and_near_for_shared_words(server: ScriptedLLM) -> None:
    # The real client, which asks for base64 by default, as the workers call it.
    from langchain_openai import OpenAIEmbeddings

    client = OpenAIEmbeddings(
        model="any-embed", base_url=server.base_url, api_key="sk-test", check_embedding_ctx_length=False
    )
    refund, refunds_again, shipping = client.embed_documents(
        ["Damaged items are refunded", "Refunds for damaged items", "Orders ship on Monday"]
    )
    assert client.embed_query("Damaged items are refunded") == refund
    cosine = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731 - vectors have length 1
    assert cosine(refund, refunds_again) >= 0.5 > cosine(refund, shipping)  # two of four words shared, then none
    assert len(refund) == 256


def test_failing_brain_is_a_500_not_a_dead_server() -> None:
    def broken(req: ChatRequest) -> Reply:
        raise RuntimeError("brain bug")

    with ScriptedLLM(brain=broken) as llm:
        with pytest.raises(openai.InternalServerError) as err:
            chat(llm).invoke("hi")
        assert "brain bug" in err.value.message
        llm.add_rule(None, Reply.text("still serving"))
        assert chat(llm).invoke("hi").content == "still serving"


# --------------------------------------------------------------------------- rules


def test_rules_first_match_wins_and_times_are_counted_across_threads(server: ScriptedLLM) -> None:
    server.add_rule(lambda r: "special" in r.last_user_text, Reply.text("special"), times=5)
    server.add_rule(None, Reply.text("ordinary"))
    model = chat(server)
    answers: list[str] = []
    lock = threading.Lock()

    def ask(i: int) -> None:
        content = model.invoke(f"special {i}").content
        with lock:
            answers.append(str(content))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == ["ordinary"] * 11 + ["special"] * 5
    assert len(server.requests) == 16 and len({r.seq for r in server.requests}) == 16

    server.clear()
    assert server.requests == []
    assert model.invoke("special again").content != "special"  # rules are gone: the demo brain answers


def test_hold_waits_then_falls_through(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.hold(0.4), times=1)
    server.add_rule(lambda r: r.turn == 99, Reply.text("never"))
    server.add_rule(None, Reply.text("after the hold"))
    model = chat(server)
    assert model.invoke("hi").content == "after the hold"
    held = server.requests[0]
    # The server's own record: it kept the call open for the hold before answering.
    assert held.finished is not None and held.finished - held.started >= 0.4
    assert model.invoke("hi").content == "after the hold"
    assert [r.ok for r in server.requests] == [True, True]


def test_client_timeout_marks_the_call_aborted(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.text("too late", delay=60))
    with pytest.raises(openai.APITimeoutError):
        chat(server, timeout=0.5).invoke("slow please")
    # Finished long before the reply's 60 s delay: the server noticed the disconnect.
    record = server.wait_for(lambda r: r.finished is not None, timeout=30)
    assert record.aborted and not record.completed and not record.ok
    assert record.status == 499


def test_wait_for_sees_in_flight_calls_and_a_killed_client(server: ScriptedLLM) -> None:
    server.add_rule(None, Reply.hold(30))
    code = (
        "import openai, sys\n"
        "c = openai.OpenAI(api_key='t', base_url=sys.argv[1], max_retries=0)\n"
        "c.chat.completions.create(model='test-model', messages=[{'role': 'user', 'content': 'killed'}])\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, server.base_url])
    try:
        in_flight = server.wait_for(lambda r: r.request.last_user_text == "killed", timeout=30)
        assert in_flight.finished is None and in_flight.status == 0 and in_flight.in_flight
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        finished = server.wait_for(lambda r: r.aborted, timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert finished is in_flight
    assert not finished.completed and finished.finished is not None
    with pytest.raises(TimeoutError):
        server.wait_for(lambda r: r.completed, timeout=0.2)


async def test_serves_while_the_event_loop_is_blocked(server: ScriptedLLM) -> None:
    # The server lives in its own thread: a blocking call from a coroutine still gets an answer.
    server.add_rule(None, Reply.text("from a thread"))
    assert chat(server).invoke("blocking call inside the loop").content == "from a thread"
    answers = await asyncio.gather(*(chat(server).ainvoke(f"async {i}") for i in range(5)))
    assert all(a.content == "from a thread" for a in answers)


def test_stop_is_idempotent_and_restartable() -> None:
    llm = ScriptedLLM()
    url = llm.start()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1") and llm.start() == url
    assert chat(llm).invoke("hi").content  # leaves a kept-alive connection open
    llm.stop()
    llm.stop()
    with pytest.raises(openai.APIConnectionError):
        ChatOpenAI(model="m", api_key="t", base_url=url, max_retries=0, timeout=2).invoke("hi")
    assert llm.start().startswith("http://127.0.0.1:")
    llm.stop()


def test_reply_constructors_validate() -> None:
    with pytest.raises(ValueError):
        Reply.tool_calls([])
    with pytest.raises(ValueError):
        Reply.error(200)
    with pytest.raises(ValueError):
        Reply.text("x", delay=-1)
    assert Reply.tool_calls([("f", {"a": 1})]).calls == (("f", '{"a": 1}', None),)


# --------------------------------------------------------------------------- demo brain

QA_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_todos",
            "description": "Replace your todo list.",
            "parameters": {
                "type": "object",
                "properties": {"todos": {"type": "array", "items": {"type": "object"}}},
                "required": ["todos"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "task",
            "description": "Delegate to a sub-agent. Available: e2e_test_specialist, integration_test_specialist, "
            "functional_test_specialist",
            "parameters": {
                "type": "object",
                "properties": {"description": {"type": "string"}, "subagent_type": {"type": "string"}},
                "required": ["description", "subagent_type"],
            },
        },
    },
]
WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file",
        "parameters": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["file_path", "content"],
        },
    },
}
SPECIALIST_PROMPTS = {
    "e2e_test_specialist": "You are an end-to-end (E2E) test specialist. You design user-journey tests.",
    "integration_test_specialist": "You are an integration test specialist. You test contracts between components.",
    "functional_test_specialist": "You are a functional test specialist. You test business rules.",
}
REQUEST = "Create a test strategy for the checkout flow with Stripe payments and email receipts"


def run_specialist(model: ChatOpenAI, name: str, description: str) -> tuple[str, list[str]]:
    """Drive one specialist conversation to its final answer; returns (answer, files written)."""
    bound = model.bind_tools([WRITE_FILE])
    messages = [SystemMessage(SPECIALIST_PROMPTS[name]), HumanMessage(description)]
    files = []
    for _ in range(4):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return str(reply.content), files
        for call in reply.tool_calls:
            assert call["name"] == "write_file"
            files.append(call["args"]["file_path"])
            assert "Given" in call["args"]["content"]
            messages.append(ToolMessage(f"Updated file {call['args']['file_path']}", tool_call_id=call["id"]))
    raise AssertionError("specialist never answered")


def test_demo_brain_plays_the_supervisor_flow_to_a_final_strategy(server: ScriptedLLM) -> None:
    model = chat(server)
    supervisor = model.bind_tools(QA_TOOLS)
    messages = [SystemMessage("You are a QA lead orchestrating test specialists."), HumanMessage(REQUEST)]

    # (1) plan
    plan = supervisor.invoke(messages)
    assert [c["name"] for c in plan.tool_calls] == ["write_todos"]
    todos = plan.tool_calls[0]["args"]["todos"]
    assert len(todos) == 4 and todos[-1]["content"] == "Synthesize the test strategy"
    assert [t["status"] for t in todos] == ["in_progress", "pending", "pending", "pending"]
    for name in SPECIALIST_PROMPTS:
        assert any(name in t["content"] for t in todos)
    messages += [plan, ToolMessage("Updated todo list", tool_call_id=plan.tool_calls[0]["id"])]

    # (2) delegate all three in one reply
    delegate = supervisor.invoke(messages)
    names = [c["name"] for c in delegate.tool_calls]
    assert names.count("task") == 3 and names.count("write_todos") == 1
    tasks = [c for c in delegate.tool_calls if c["name"] == "task"]
    assert [c["args"]["subagent_type"] for c in tasks] == list(SPECIALIST_PROMPTS)
    for call in tasks:
        assert "checkout flow" in call["args"]["description"]
    assert "end-to-end" in tasks[0]["args"]["description"].lower()
    assert "integration" in tasks[1]["args"]["description"].lower()
    assert "functional" in tasks[2]["args"]["description"].lower()
    in_progress = next(c for c in delegate.tool_calls if c["name"] == "write_todos")["args"]["todos"]
    assert [t["status"] for t in in_progress] == ["in_progress"] * 3 + ["pending"]

    messages.append(delegate)
    answers = {}
    for call in delegate.tool_calls:
        if call["name"] == "write_todos":
            messages.append(ToolMessage("Updated todo list", tool_call_id=call["id"]))
            continue
        name = call["args"]["subagent_type"]
        answer, files = run_specialist(model, name, call["args"]["description"])
        kind = {"e2e_test_specialist": "e2e", "integration_test_specialist": "integration"}.get(name, "functional")
        assert files == [f"/scenarios/{kind}.md"]
        assert 3 <= answer.count("**Given**") <= 5 and answer.count("**Then**") == answer.count("**Given**")
        assert "checkout flow" in answer
        answers[name] = answer
        messages.append(ToolMessage(answer, tool_call_id=call["id"]))
    assert "declines the card" in answers["e2e_test_specialist"]  # domain-specific, from the request
    assert len(set(answers.values())) == 3

    # (3) close the todos
    close = supervisor.invoke(messages)
    assert [c["name"] for c in close.tool_calls] == ["write_todos"]
    assert {t["status"] for t in close.tool_calls[0]["args"]["todos"]} == {"completed"}
    messages += [close, ToolMessage("Updated todo list", tool_call_id=close.tool_calls[0]["id"])]

    # (4) the final strategy aggregates every specialist's answer
    final = supervisor.invoke(messages)
    assert final.tool_calls == []
    strategy = str(final.content)
    assert strategy.startswith("# Test strategy: Checkout flow")
    for name, answer in answers.items():
        assert f"`{name}`" in strategy
        first_scenario = next(line for line in answer.splitlines() if line.startswith("### "))
        assert first_scenario in strategy
    assert "Stripe payments" in strategy and "/scenarios/e2e.md" in strategy
    assert server.requests[-1].request.turn == 3
    assert all(r.ok for r in server.requests)
    assert len({r.key for r in server.requests}) == len(server.requests)


def test_demo_specialist_without_tools_answers_directly() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            {"role": "system", "content": SPECIALIST_PROMPTS["integration_test_specialist"]},
            {"role": "user", "content": "Design scenarios for the e-commerce search feature"},
        ],
    )
    reply = demo_brain(req)
    assert reply.kind == "text"
    assert reply.content.startswith("# Integration test scenarios")
    assert "search index" in reply.content and reply.content.count("**Given**") == 5


def test_demo_supervisor_redelegates_after_a_rejected_task_call() -> None:
    messages = [
        {"role": "system", "content": "QA lead"},
        {"role": "user", "content": REQUEST},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "task", "arguments": '{"subagent_type": "x"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Error: invalid arguments for task: description: missing"},
    ]
    reply = demo_brain(ChatRequest(model="m", messages=messages, tools=QA_TOOLS))
    assert reply.kind == "tool_calls"
    assert [name for name, _, _ in reply.calls].count("task") == 3


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": None}],
        [{"role": "user", "content": [{"type": "text", "text": "test "}, {"type": "text", "text": "the login page"}]}],
        [{"role": "tool", "tool_call_id": "nope", "content": 42}],
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "task", "arguments": "{bad"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "?"},
        ],
    ],
    ids=["empty", "none-content", "parts-content", "orphan-tool", "bad-args"],
)
@pytest.mark.parametrize("tools", [[], QA_TOOLS], ids=["specialist", "supervisor"])
def test_demo_brain_never_crashes(messages: list[dict], tools: list[dict]) -> None:
    reply = demo_brain(ChatRequest(model="m", messages=messages, tools=tools))
    assert reply.kind in ("text", "tool_calls")
    assert reply.content.strip() or reply.calls


def _assistant_calls(*calls: tuple[str, str, dict | str]) -> dict:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
            for call_id, name, args in calls
        ],
    }


def test_demo_final_strategy_reports_a_failed_specialist_once() -> None:
    todos = {"todos": [{"content": "t", "status": "completed"}]}
    messages = [
        {"role": "system", "content": "QA lead"},
        {"role": "user", "content": REQUEST},
        _assistant_calls(("bad", "task", {"subagent_type": "e2e_test_specialist"})),
        {"role": "tool", "tool_call_id": "bad", "content": "Error: invalid arguments for task: description: missing"},
        _assistant_calls(
            ("e", "task", {"description": "d", "subagent_type": "e2e_test_specialist"}),
            ("i", "task", {"description": "d", "subagent_type": "integration_test_specialist"}),
            ("f", "task", {"description": "d", "subagent_type": "functional_test_specialist"}),
        ),
        {"role": "tool", "tool_call_id": "e", "content": "# E2E\n\n### E2E-1 (P0): Buy something"},
        {"role": "tool", "tool_call_id": "i", "content": "Error: sub-agent integration_test_specialist failed: boom"},
        {"role": "tool", "tool_call_id": "f", "content": "### FUN-1 (P0): Validate the form"},
        _assistant_calls(("t", "write_todos", todos)),
        {"role": "tool", "tool_call_id": "t", "content": "Updated todo list"},
    ]
    reply = demo_brain(ChatRequest(model="m", messages=messages, tools=QA_TOOLS))
    assert reply.kind == "text"
    strategy = reply.content
    assert strategy.count("`e2e_test_specialist`") == 1
    assert "### E2E-1 (P0): Buy something" in strategy and "### FUN-1 (P0): Validate the form" in strategy
    assert "sub-agent integration_test_specialist failed: boom" in strategy
    assert "Coverage gap" in strategy and "integration_test_specialist" in strategy


def test_demo_detects_each_specialty_from_the_qa_profile_prompts() -> None:
    from deepagents_temporal.profiles import get_builtin_profile

    expected = {
        "e2e_test_specialist": "# End-to-end test scenarios",
        "integration_test_specialist": "# Integration test scenarios",
        "functional_test_specialist": "# Functional test scenarios",
    }
    for name, heading in expected.items():
        req = ChatRequest(
            model="m",
            messages=[
                {"role": "system", "content": get_builtin_profile("qa").subagents[name].system_prompt},
                {"role": "user", "content": "Write scenarios for the password reset flow"},
            ],
        )
        reply = demo_brain(req)
        assert reply.content.startswith(heading), (name, reply.content[:80])
        assert "password reset flow" in reply.content


def test_demo_follow_up_question_starts_a_new_round() -> None:
    messages = [
        {"role": "system", "content": "QA lead"},
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": "# Test strategy: Checkout flow\n..."},
        {"role": "user", "content": "Now do the same for the refund process"},
    ]
    reply = demo_brain(ChatRequest(model="m", messages=messages, tools=QA_TOOLS))
    assert [name for name, _, _ in reply.calls] == ["write_todos"]
    assert "refund process" in reply.content


def test_paused_holds_every_answer_until_the_block_ends(server: ScriptedLLM) -> None:
    answers: list[str] = []
    with server.paused():
        # A client that gives up while answers are held: logged aborted, never completed.
        with pytest.raises(openai.APITimeoutError):
            chat(server, timeout=0.5).invoke("gave up")
        gave_up = server.wait_for(lambda r: r.request.last_user_text == "gave up" and r.finished, timeout=30)
        assert gave_up.aborted and not gave_up.completed
        # One that waits gets its answer once the block ends.
        waiting = threading.Thread(target=lambda: answers.append(chat(server).invoke("waited").content))
        waiting.start()
        held = server.wait_for(lambda r: r.request.last_user_text == "waited", timeout=30)
        assert held.in_flight
    waiting.join(30)
    assert answers and held.ok
