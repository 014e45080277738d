"""What summarization keeps and what a lean request shortens: the pure parts, exactly.

The run-level behaviour (a summary made by the model, continue-as-new) is in
tests/test_long_runs.py.
"""

from __future__ import annotations

import pytest

from deepagents_temporal import lean_requests, summarization
from deepagents_temporal.profiles.file_format import ProfileFileError, parse_profile
from deepagents_temporal.profiles.spec import DEFAULT_SUMMARIZE_AFTER_TOKENS
from deepagents_temporal.schema import Message, SummarizeRequest, Todo, ToolCall


def _step(n: int, size: int = 10) -> list[Message]:
    call = ToolCall(id=f"c{n}", name="write_file", args={"file_path": f"/f{n}.md", "content": "x" * size})
    return [
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content=f"wrote /f{n}.md", tool_call_id=f"c{n}", name="write_file"),
    ]


def _conversation(steps: int, size: int = 10) -> list[Message]:
    messages = [Message(role="system", content="prompt"), Message(role="user", content="the request")]
    for n in range(steps):
        messages.extend(_step(n, size))
    return messages


def test_split_keeps_the_system_prompt_and_the_most_recent_messages_whole() -> None:
    messages = _conversation(5)  # system, user, 10 step messages
    head, older, recent = summarization.split(messages, keep=4)
    assert head == messages[:1]
    assert older == messages[1:8]
    assert recent == messages[8:]


def test_split_never_separates_a_tool_call_from_its_results() -> None:
    messages = _conversation(5)
    # keep=3 would start the kept part on a tool result: it moves back to its call.
    _, older, recent = summarization.split(messages, keep=3)
    assert recent[0].role == "assistant" and recent[0].tool_calls
    assert [m.tool_call_id for m in recent if m.role == "tool"] == [c.id for m in recent for c in m.tool_calls]
    assert older[-1].role == "tool"
    # A call with several results: the cut moves before the call, never between its results.
    call = Message(
        role="assistant",
        tool_calls=[ToolCall(id="a", name="ls"), ToolCall(id="b", name="ls"), ToolCall(id="c", name="ls")],
    )
    results = [Message(role="tool", content="r", tool_call_id=i, name="ls") for i in "abc"]
    messages = [*_conversation(2), call, *results]
    _, older, recent = summarization.split(messages, keep=2)
    assert recent == [call, *results]


def test_split_keeps_fewer_rather_than_summarize_nothing() -> None:
    call = Message(role="assistant", tool_calls=[ToolCall(id=str(i), name="ls") for i in range(6)])
    results = [Message(role="tool", content="r", tool_call_id=str(i), name="ls") for i in range(6)]
    messages = [Message(role="system", content="p"), Message(role="user", content="q"), call, *results]
    _, older, recent = summarization.split(messages, keep=6)
    assert older == [messages[1]] and recent == [call, *results]
    # Going back would reach the system prompt: the cut goes after the whole call instead.
    _, older, recent = summarization.split([messages[0], call, *results], keep=5)
    assert older == [call, *results]
    assert recent == []


def test_the_summary_message_says_where_the_history_is_and_restates_todos_and_files() -> None:
    request = SummarizeRequest(
        keep_messages=4,
        history_path="/conversation_history/supervisor-001.md",
        todos=[Todo(content="write the plan", status="in_progress"), Todo(content="review", status="pending")],
        files=["runs/r/files/plan.md", "reports/r/final_answer.md"],
    )
    messages = _conversation(5)
    condensed, count = summarization.condensed(messages, "SUMMARY TEXT", request)
    assert count == 7
    assert condensed[0] == messages[0]
    summary = condensed[1]
    assert summary.role == "user"
    assert "SUMMARY TEXT" in summary.content
    assert "7 earlier messages condensed" in summary.content
    assert "/conversation_history/supervisor-001.md" in summary.content
    assert "- [in_progress] write the plan" in summary.content and "- [pending] review" in summary.content
    # Files as the agent reads them with read_file; other artifacts by their key.
    assert "- /plan.md\n" in summary.content and "- reports/r/final_answer.md" in summary.content
    assert "runs/r/files" not in summary.content
    assert condensed[2:] == messages[8:]


def test_a_long_run_summary_lists_only_the_latest_files() -> None:
    keys = [f"runs/r/files/notes/n{n:04d}.md" for n in range(120)]
    request = SummarizeRequest(keep_messages=2, history_path="/conversation_history/a-001.md", files=keys)
    content = summarization.summary_message("S", request, 3).content
    assert "(70 earlier ones: ls shows them all)" in content
    assert "/notes/n0119.md" in content and "/notes/n0069.md" not in content and "/notes/n0070.md" in content


def test_the_summary_prompt_carries_the_older_messages_and_the_history_keeps_them_whole() -> None:
    messages = _conversation(3, size=10_000)
    _, older, _ = summarization.split(messages, keep=2)
    prompt = summarization.summary_prompt(older, "/conversation_history/x.md")
    assert prompt[0].content == summarization.SUMMARY_SYSTEM_PROMPT
    assert "the request" in prompt[1].content and "/f0.md" in prompt[1].content
    # Each message is clipped for the summarizer; the history file has all of it.
    assert "x" * 10_000 not in prompt[1].content
    assert "x" * 10_000 in summarization.history_markdown(older)


def test_tokens_are_estimated_without_a_tokenizer_download() -> None:
    small = summarization.estimate_tokens(_conversation(1))
    large = summarization.estimate_tokens(_conversation(1, size=40_000))
    assert 0 < small < 100
    assert 9_000 < large < 11_000  # about four characters a token


def test_a_lean_request_shortens_old_file_writes_and_large_old_results_only() -> None:
    messages = _conversation(15, size=5_000)
    big = "y" * 9_000
    messages[3] = messages[3].model_copy(update={"content": big})  # an old, large tool result
    messages.append(Message(role="tool", content=big, tool_call_id="late", name="read_file"))
    offloaded: list[Message] = []

    def offload(message: Message) -> str:
        offloaded.append(message)
        return lean_requests.result_path(message)

    sent = lean_requests.lean(messages, offload, keep=10)
    assert len(sent) == len(messages)
    old_write = sent[2].tool_calls[0]
    assert old_write.args["file_path"] == "/f0.md"
    assert len(old_write.args["content"]) < 400
    assert "the whole is in the run's file /f0.md" in old_write.args["content"]
    assert sent[3].content.startswith("y" * 200) and len(sent[3].content) < 500
    assert "/large_tool_results/c0-" in sent[3].content
    assert offloaded == [messages[3]]
    # The most recent messages go whole, and nothing else changed.
    assert sent[-10:] == messages[-10:]
    assert sent[:2] == messages[:2]
    # The stored conversation is untouched.
    assert messages[2].tool_calls[0].args["content"] == "x" * 5_000


def test_an_old_edit_is_not_said_to_be_in_a_file() -> None:
    """An edit's strings are in no file: the note points at the stored transcript instead."""
    edit = ToolCall(
        id="e1", name="edit_file", args={"file_path": "/f.md", "old_string": "o" * 5_000, "new_string": "n"}
    )
    messages = [
        Message(role="user", content="go"),
        Message(role="assistant", content="", tool_calls=[edit]),
        Message(role="tool", content="Error: old_string not found", tool_call_id="e1", name="edit_file"),
        *[Message(role="user", content=f"later {n}") for n in range(3)],
    ]
    sent = lean_requests.lean(messages, lambda m: "/unused", keep=2)
    shortened = sent[1].tool_calls[0].args["old_string"]
    assert len(shortened) < 400 and "the run's stored transcript" in shortened and "/f.md" not in shortened


def test_a_profile_file_sets_the_summarization_budget_and_a_too_small_one_is_refused() -> None:
    base = {"name": "p", "description": "d", "system_prompt": "s", "tools": ["read_file"]}
    assert parse_profile(base, "p.yaml").summarize_after_tokens == DEFAULT_SUMMARIZE_AFTER_TOKENS
    assert parse_profile({**base, "summarize_after_tokens": 50_000}, "p.yaml").summarize_after_tokens == 50_000
    # Long runs are not bounded by a step cap any more: only by the agent's own max_steps.
    assert parse_profile({**base, "max_steps": 5_000}, "p.yaml").supervisor.max_steps == 5_000
    with pytest.raises(ProfileFileError) as refused:
        parse_profile({**base, "summarize_after_tokens": 10}, "p.yaml")
    assert "p.yaml: summarize_after_tokens" in str(refused.value)
    assert "1000" in str(refused.value)


def test_a_long_summary_prompt_keeps_the_request_and_the_latest_messages() -> None:
    messages = _conversation(200, size=3_000)
    _, older, _ = summarization.split(messages, keep=6)
    text = summarization.summary_prompt(older, "/conversation_history/x.md")[1].content
    assert len(text) <= summarization.RENDERED_TOTAL_CHARS + 1_000
    assert "the request" in text  # the first message, whatever is left out
    assert "/f196.md" in text and "/f5.md" not in text
    assert "messages left out here; they are in /conversation_history/x.md" in text
