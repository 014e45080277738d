"""The offline demo's routing step: pick the target whose description shares
the most words with the request.

The router's request lists each target as ``- name (kind): description`` in
its system prompt and offers the ``route`` tool; the demo answers with that
tool, naming the best match and the words it matched, like a model would.
"""

from __future__ import annotations

import re

from scripted_llm.chat_request import ChatRequest
from scripted_llm.script import Reply

_TARGET_LINE = re.compile(r"^- (\S+) \((profile|workflow)\): (.+)$", re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]{4,}")


def is_routing_request(req: ChatRequest) -> bool:
    return "route" in req.tool_names


def demo_route(req: ChatRequest) -> Reply:
    request_words = set(_WORD.findall(req.last_user_text.lower()))
    best: tuple[int, str, list[str]] | None = None
    for name, _kind, description in _TARGET_LINE.findall(req.system_prompt):
        shared = sorted(request_words & set(_WORD.findall(f"{name} {description}".lower())))
        if best is None or len(shared) > best[0]:
            best = (len(shared), name, shared)
    if best is None:
        return Reply.text("I cannot tell where this request should go.")
    _, name, shared = best
    reason = f"the request and {name}'s description share: {', '.join(shared)}" if shared else "closest match"
    call = {"target": name, "reason": reason}
    arguments = _arguments_for(name, req)
    if arguments:
        call["arguments"] = arguments
    return Reply.tool_calls([("route", call)])


def _arguments_for(target: str, req: ChatRequest) -> dict[str, str]:
    """A workflow's inputs as the request names them: ``key=value`` words, else
    files by their kind (an .xlsx after "template" is the template, another file the data;
    a .pdf, .docx, .md, .html or .txt the document; a .yaml the checklist) and the word after "client"."""
    listed = re.search(rf"^- {re.escape(target)} \(workflow\): .+\n  arguments: (.+)$", req.system_prompt, re.MULTILINE)
    if not listed:
        return {}
    names = re.findall(r"(\w+) \(", listed.group(1))
    text = req.last_user_text
    found = dict(re.findall(r"(?<!\S)(\w+)=(\S+)", text))
    files = re.findall(r"[\w.-]+\.(?:xlsx|csv|json)\b", text)
    template = next((f for f in files if f.endswith(".xlsx") and "template" in f.lower()), None)
    template = template or next((f for f in files if f.endswith(".xlsx")), None)
    if "template" in names and "template" not in found and template:
        found["template"] = template
    if "data" in names and "data" not in found:
        data = next((f for f in files if f != found.get("template")), None)
        if data:
            found["data"] = data
    # The document and onboarding workflows: a document by its kind, a checklist, the word after "client".
    document = re.search(r"[\w./-]+\.(?:pdf|docx|md|markdown|html?|txt)\b", text)
    if "document" in names and "document" not in found and document:
        found["document"] = document.group(0)
    checklist = re.search(r"[\w./-]+\.(?:ya?ml|xlsx)\b", text)
    if "checklist" in names and "checklist" not in found and checklist:
        found["checklist"] = checklist.group(0)
    client = re.search(r"\bclient (?:folder )?([\w./-]+)", text)
    if "client" in names and "client" not in found and client:
        found["client"] = client.group(1).rstrip(".")
    return {key: value for key, value in found.items() if key in names}
