"""The agent loop end to end: qa scenario, malformed model output, limits, child failure."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from deepagents_temporal.schema import AgentResult, Todo
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import failure_message, model_results, start_run

SPECIALISTS = {"e2e_test_specialist", "integration_test_specialist", "functional_test_specialist"}


def is_supervisor(req: ChatRequest) -> bool:
    return "task" in req.tool_names


async def test_qa_scenario_end_to_end(client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM) -> None:
    # Slow specialists make their overlap visible in the timestamps.
    llm.add_rule(lambda r: not is_supervisor(r), Reply.hold(0.5))
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()

    assert result.agent == "qa_orchestrator"
    assert [c.rsplit("/", 1)[1] for c in result.children] == [
        "e2e_test_specialist-1",
        "integration_test_specialist-1",
        "functional_test_specialist-1",
    ]
    assert all(c.startswith(handle.id + "/") for c in result.children)
    assert result.todos and all(t.status == "completed" for t in result.todos)
    todos = await handle.query("todos", result_type=list[Todo])
    assert todos == result.todos

    # The three children overlapped in time: each started before any finished.
    described = [await client.get_workflow_handle(c).describe() for c in result.children]
    assert max(d.start_time for d in described) < min(d.close_time for d in described)
    for d in described:
        assert d.status.name == "COMPLETED"

    # The final answer aggregates every specialist's answer.
    child_answers = [
        (await client.get_workflow_handle(c, result_type=AgentResult).result()).answer for c in result.children
    ]
    for answer in child_answers:
        assert answer.strip()
    final_request = llm.requests[-1].request
    tool_contents = [m.get("content") for m in final_request.messages if m.get("role") == "tool"]
    for answer in child_answers:
        assert answer in tool_contents
    assert "search" in result.answer.lower()
    assert result.usage.total_tokens > 0
    assert result.models_used == ["test-model"]


def _first_supervisor_call(req: ChatRequest) -> bool:
    return is_supervisor(req) and req.turn == 0


async def _tool_errors_seen(llm: ScriptedLLM) -> list[str]:
    seen = []
    for record in llm.requests:
        for message in record.request.messages:
            if message.get("role") == "tool" and str(message.get("content", "")).startswith("Error:"):
                seen.append(message["content"])
    return seen


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.tool_calls([("write_todos", '{"todos": [')]), "not valid JSON"),
        (Reply.tool_calls([("launch_rockets", {"count": 3})]), "unknown tool 'launch_rockets'"),
        (
            Reply.tool_calls([("task", {"description": "x", "subagent_type": "security_specialist"})]),
            "unknown subagent_type 'security_specialist'",
        ),
        (
            Reply.tool_calls([("write_todos", {"todos": [{"content": "a", "status": "done"}]})]),
            "invalid arguments for write_todos",
        ),
        (Reply.tool_calls([("task", {"subagent_type": "e2e_test_specialist"})]), "description"),
    ],
    ids=["bad-json", "unknown-tool", "unknown-subagent", "bad-enum", "missing-field"],
)
async def test_malformed_tool_calls_become_error_messages(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, reply: Reply, expected: str
) -> None:
    llm.add_rule(_first_supervisor_call, reply, times=1)
    result: AgentResult = await (await start_run(client, settings)).result()
    errors = await _tool_errors_seen(llm)
    assert any(expected in e for e in errors), errors
    assert result.answer.strip()  # the loop went on to a normal end


async def test_empty_reply_is_reported_and_loop_goes_on(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    llm.add_rule(_first_supervisor_call, Reply.text(""), times=1)
    result: AgentResult = await (await start_run(client, settings)).result()
    notices = [
        m["content"]
        for r in llm.requests
        for m in r.request.messages
        if m.get("role") == "user" and "reply was empty" in str(m.get("content"))
    ]
    assert notices
    assert len(result.children) == 3


async def test_step_limit_fails_run_with_clear_reason(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    loop_forever = Reply.tool_calls([("write_todos", {"todos": [{"content": "think more", "status": "in_progress"}]})])
    llm.add_rule(is_supervisor, loop_forever)
    handle = await start_run(client, settings, max_steps=4)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "step limit reached: agent qa_orchestrator made 4 model calls" in failure_message(failure.value)
    assert sum(1 for r in llm.requests if is_supervisor(r.request)) == 4


async def test_failed_child_is_a_tool_error_and_siblings_finish(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    # A 400 is a request no model can fix: the integration specialist fails for good.
    llm.add_rule(
        lambda r: "integration test specialist" in r.system_prompt.lower(),
        Reply.error(400, "unsupported parameter in request"),
    )
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    statuses = {c: (await client.get_workflow_handle(c).describe()).status.name for c in result.children}
    assert statuses == {
        f"{handle.id}/e2e_test_specialist-1": "COMPLETED",
        f"{handle.id}/integration_test_specialist-1": "FAILED",
        f"{handle.id}/functional_test_specialist-1": "COMPLETED",
    }
    errors = await _tool_errors_seen(llm)
    assert any("sub-agent integration_test_specialist failed" in e and "unsupported parameter" in e for e in errors), (
        errors
    )
    assert result.answer.strip()


async def test_unknown_profile_fails_fast(client: Client, settings: Settings, worker: Worker) -> None:
    handle = await start_run(client, settings, profile="nope")
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert "unknown profile 'nope'" in failure_message(failure.value)


async def test_tokens_of_a_child_that_failed_late_are_counted(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    # The integration specialist answers once (writes its file), then its next call is rejected.
    llm.add_rule(
        lambda r: "integration test specialist" in r.system_prompt.lower() and r.turn == 1,
        Reply.error(400, "unsupported parameter in request"),
    )
    handle = await start_run(client, settings)
    result: AgentResult = await handle.result()
    spent = sum(call.usage.total_tokens for call in await model_results(client, handle))
    for child in result.children:
        spent += sum(call.usage.total_tokens for call in await model_results(client, client.get_workflow_handle(child)))
    failed = f"{handle.id}/integration_test_specialist-1"
    assert (await client.get_workflow_handle(failed).describe()).status.name == "FAILED"
    assert sum(c.usage.total_tokens for c in await model_results(client, client.get_workflow_handle(failed))) > 0
    assert result.usage.total_tokens == spent


async def test_file_tools_of_one_turn_run_in_the_order_the_model_asked(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    path = "/notes/order.md"
    llm.add_rule(
        _first_supervisor_call,
        Reply.tool_calls(
            [
                ("write_file", {"file_path": path, "content": "status: one\n"}, "w"),
                ("edit_file", {"file_path": path, "old_string": "one", "new_string": "two"}, "e1"),
                ("edit_file", {"file_path": path, "old_string": "two", "new_string": "three"}, "e2"),
                ("read_file", {"file_path": path}, "r"),
            ]
        ),
        times=1,
    )
    llm.add_rule(lambda r: is_supervisor(r) and r.turn == 1, Reply.text("done"), times=1)
    handle = await start_run(client, settings)
    assert (await handle.result()).answer == "done"
    second_call = next(r.request for r in llm.requests if is_supervisor(r.request) and r.request.turn == 1)
    results = {m["tool_call_id"]: m["content"] for m in second_call.messages if m.get("role") == "tool"}
    # Each edit found what the call before it left; the read saw the last edit.
    assert not any(text.startswith("Error") for text in results.values()), results
    assert "status: three" in results["r"], results
