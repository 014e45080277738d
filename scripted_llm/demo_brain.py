"""The offline demo model: plays the "qa" profile from the conversation alone.

Without an API key the starter runs the scripted model with this brain. It
keeps no state: each step is decided from the request it is sent, so a
retried or replayed model call gets the same answer.

* Router (offered the ``route`` tool): the registered target whose
  description shares the most words with the request (``demo_router``).
* Supervisor (offered the ``task`` tool): plan with ``write_todos``, delegate
  to every specialist of the profile in parallel, mark the todos completed,
  then answer with a test strategy built from the specialists' answers.
* Specialist (no ``task`` tool): save its scenarios with ``write_file`` (if
  offered), then answer with them.
* Report narrative (the reporting workflow's fixed instruction): a few
  sentences read off the figures it is sent (``demo_narrative``).
* An agent offered ``fetch_url`` or ``search_documents`` (the ``fetch`` and
  ``rag`` profiles): ``demo_fetch`` and ``demo_rag``.
* Document section (offered ``section_notes``): a summary and quoted facts
  read off the section (``demo_document_notes``).
* Onboarding (offered ``record_fields``): ``Label: value`` lines of the
  client's documents (``demo_onboarding``).

Who the specialists are comes from the profile (``demo_specialists``); what
they write comes from ``demo_documents``.
"""

from __future__ import annotations

import logging
import re

from scripted_llm.chat_request import ChatRequest, ToolCall, canonical_json, text_of, tool_calls_in, tool_results_in
from scripted_llm.demo_document_notes import demo_section_notes, is_section_notes_request
from scripted_llm.demo_documents import (
    KIND_TITLES,
    SpecialistAnswer,
    delegation_text,
    request_in_delegation,
    scenarios_markdown,
    strategy_markdown,
)
from scripted_llm.demo_fetch import demo_fetch, is_fetch_request
from scripted_llm.demo_narrative import demo_narrative, is_narrative_request
from scripted_llm.demo_onboarding import demo_onboarding, is_onboarding_request
from scripted_llm.demo_rag import demo_rag, is_rag_request
from scripted_llm.demo_router import demo_route, is_routing_request
from scripted_llm.demo_specialists import DEMO_SPECIALISTS, specialty_of
from scripted_llm.demo_text import human_list, one_line, subject_of
from scripted_llm.script import Reply

log = logging.getLogger(__name__)

_SYNTHESIZE_TODO = "Synthesize the test strategy"


def demo_brain(req: ChatRequest) -> Reply:
    """Offline demo of the "qa" profile, derived only from the request.

    Supervisor (has a ``task`` tool): plan with ``write_todos`` -> delegate to
    the specialists in parallel -> mark todos completed -> final test
    strategy aggregating the specialists' results. Specialist (no ``task``
    tool): save scenarios with ``write_file`` (if offered) -> final answer with
    Given/When/Then scenarios for its specialty. Never raises.
    """
    try:
        if is_routing_request(req):
            return demo_route(req)
        if is_narrative_request(req):
            return demo_narrative(req)
        if is_fetch_request(req):
            return demo_fetch(req)
        if is_rag_request(req):
            return demo_rag(req)
        if is_section_notes_request(req):
            return demo_section_notes(req)
        if is_onboarding_request(req):
            return demo_onboarding(req)
        if "task" in req.tool_names:
            return _demo_supervisor(req)
        return _demo_specialist(req)
    except Exception as exc:  # the demo must never crash the server
        log.debug("demo brain fell back to plain text", exc_info=True)
        subject = _safe_subject(req)
        return Reply.text(
            f"I could not complete the scripted demo flow for {subject} ({type(exc).__name__}). "
            "Set OPENAI_API_KEY to use a real model."
        )


def _safe_subject(req: ChatRequest) -> str:
    try:
        return subject_of(req.last_user_text) if req.last_user_text.strip() else "this request"
    except Exception:
        return "this request"


def _current_exchange(messages: list[dict]) -> list[dict]:
    """Messages since the last finished assistant turn (an assistant message
    with text and no tool calls): the work on the most recent user request.
    Empty assistant replies do not end a turn."""
    start = 0
    for index, m in enumerate(messages):
        if m.get("role") == "assistant" and not m.get("tool_calls") and text_of(m.get("content")).strip():
            start = index + 1
    return messages[start:]


def _request_text(exchange: list[dict], req: ChatRequest) -> str:
    for m in exchange:
        if m.get("role") == "user":
            text = text_of(m.get("content")).strip()
            if text:
                return text
    return req.last_user_text.strip()


# -- supervisor ------------------------------------------------------------- #


def _demo_supervisor(req: ChatRequest) -> Reply:
    exchange = _current_exchange(req.messages)
    request_text = _request_text(exchange, req)
    if not request_text:
        return Reply.text("What should I prepare a test strategy for? Describe the feature or system to test.")
    subject = subject_of(request_text)

    specialists = _offered_specialists(req)
    has_todos = "write_todos" in req.tool_names
    calls = tool_calls_in(exchange)
    task_calls = [c for c in calls if c.name == "task"]
    todo_calls = [c for c in calls if c.name == "write_todos"]
    # A delegation counts once it was well-formed; rejected ones are redone.
    delegated = {
        c.args.get("subagent_type")
        for c in task_calls
        if isinstance(c.args, dict) and isinstance(c.args.get("description"), str) and c.args["description"].strip()
    }
    pending = [name for name in specialists if name not in delegated]

    # (1) plan
    if has_todos and not todo_calls and not task_calls:
        todos = [
            {"content": _todo_text(name), "status": "in_progress" if i == 0 else "pending"}
            for i, name in enumerate(specialists)
        ] + [{"content": _SYNTHESIZE_TODO, "status": "pending"}]
        return Reply.tool_calls(
            [("write_todos", {"todos": todos})],
            content=f"I'll plan the QA work for {subject} and delegate each test layer to a specialist.",
        )
    # (2) delegate, in parallel
    if pending and len(pending) == len(specialists):
        delegations: list[tuple[str, dict]] = []
        if has_todos:
            todos = [{"content": _todo_text(n), "status": "in_progress"} for n in specialists]
            todos.append({"content": _SYNTHESIZE_TODO, "status": "pending"})
            delegations.append(("write_todos", {"todos": todos}))
        for name in pending:
            description = delegation_text(_kind_of(name), request_text, subject)
            delegations.append(("task", {"description": description, "subagent_type": name}))
        return Reply.tool_calls(
            delegations,
            content="Delegating to the "
            + human_list([_short_title(n) for n in pending])
            + " test specialists in parallel.",
        )
    # (3) close the todo list
    last_todos = _todos_of(todo_calls[-1]) if todo_calls else None
    if has_todos and (last_todos is None or any(t.get("status") != "completed" for t in last_todos)):
        base = last_todos or [{"content": _todo_text(n)} for n in specialists] + [{"content": _SYNTHESIZE_TODO}]
        todos = [{"content": str(t.get("content") or "Task"), "status": "completed"} for t in base]
        return Reply.tool_calls(
            [("write_todos", {"todos": todos})],
            content="The specialists have reported back; compiling the test strategy.",
        )
    # (4) final answer
    return Reply.text(strategy_markdown(request_text, subject, _specialist_answers(exchange, task_calls)))


def _offered_specialists(req: ChatRequest) -> list[str]:
    schema = canonical_json(req.tool_schema("task") or {})
    offered = [name for name in DEMO_SPECIALISTS if name in schema]
    return offered or list(DEMO_SPECIALISTS)


def _kind_of(name: str) -> str:
    specialist = DEMO_SPECIALISTS.get(name)
    return specialist.kind if specialist else "general"


def _todo_text(name: str) -> str:
    return f"Get {_short_title(name)} test scenarios from {name}"


def _short_title(name: str) -> str:
    specialist = DEMO_SPECIALISTS.get(name)
    return (specialist.title if specialist else name).replace(" tests", "").lower()


def _todos_of(call: ToolCall) -> list[dict] | None:
    args = call.args
    if isinstance(args, dict) and isinstance(args.get("todos"), list):
        return [t for t in args["todos"] if isinstance(t, dict)]
    return None


def _specialist_answers(exchange: list[dict], task_calls: list[ToolCall]) -> list[SpecialistAnswer]:
    """One answer per sub-agent: its latest successful delegation, else its
    latest attempt. Rejected delegations (bad arguments, unknown sub-agent)
    were redone and are left out."""
    results = {r.tool_call_id: r.content for r in tool_results_in(exchange)}
    chosen: dict[str, ToolCall] = {}
    for call in task_calls:
        args = call.args if isinstance(call.args, dict) else {}
        name = str(args.get("subagent_type") or "")
        failed = results.get(call.id, "").lstrip().startswith("Error")
        if not name or not str(args.get("description") or "").strip() or (failed and name not in DEMO_SPECIALISTS):
            continue
        previous = chosen.get(name)
        if previous is None or not failed or results.get(previous.id, "").lstrip().startswith("Error"):
            chosen[name] = call
    answers: list[SpecialistAnswer] = []
    for name, call in chosen.items():
        specialist = DEMO_SPECIALISTS.get(name)
        title = specialist.title if specialist else name.replace("_", " ").capitalize()
        answers.append(SpecialistAnswer(name, title, results.get(call.id, "").strip()))
    return answers


# -- specialists ------------------------------------------------------------ #


def _demo_specialist(req: ChatRequest) -> Reply:
    exchange = _current_exchange(req.messages)
    request_text = _request_text(exchange, req)
    if not request_text:
        return Reply.text("Describe the feature or system you want tested and I will propose test scenarios.")
    kind = specialty_of(req.system_prompt) or specialty_of(request_text) or "general"
    original = request_in_delegation(request_text)
    subject = subject_of(original)
    document = scenarios_markdown(kind, subject, original)
    path = f"/scenarios/{kind}.md"

    write_schema = req.tool_schema("write_file")
    write_calls = [c for c in tool_calls_in(exchange) if c.name == "write_file"]
    if write_schema is not None and not write_calls:
        parameters = write_schema.get("parameters")
        props = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
        path_key = "path" if "path" in props and "file_path" not in props else "file_path"
        return Reply.tool_calls(
            [("write_file", {path_key: path, "content": document})],
            content=f"Saving the {KIND_TITLES[kind].lower()} to {path}.",
        )
    note = ""
    if write_calls:
        outcome = {r.tool_call_id: r.content for r in tool_results_in(exchange)}.get(write_calls[-1].id, "")
        if re.search(r"\berror\b|\bfailed\b", outcome, re.I):
            note = f"\n\nNote: saving to `{path}` failed ({one_line(outcome, 200)}); the scenarios are above."
        else:
            note = f"\n\nSaved to `{path}`."
    return Reply.text(document + note)
