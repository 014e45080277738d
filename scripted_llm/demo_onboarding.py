"""The offline demo's field extraction for onboarding: ``Label: value`` lines read off the documents.

The onboarding workflow offers the ``record_fields`` tool and lists each field
as ``- name (rules): Label`` before the documents, each under
``=== document: NAME ===`` (``deepagents_temporal/onboarding/extraction.py``).
For every field this looks for a line ``Label: value`` (or ``name: value``)
in the documents, any case, and answers with that value, the document and the
line as the quote; fields no line names are left out, as a careful model would.
"""

from __future__ import annotations

import re

from deepagents_temporal.onboarding.extraction import RECORD_FIELDS_TOOL
from scripted_llm.chat_request import ChatRequest
from scripted_llm.script import Reply

_FIELD = re.compile(r"^- (\w+) \(.*?\): (.+?)(?:\. .*)?$", re.MULTILINE)
_DOCUMENT = re.compile(r"^=== document: (.+) ===$", re.MULTILINE)


def is_onboarding_request(req: ChatRequest) -> bool:
    return RECORD_FIELDS_TOOL in req.tool_names


def demo_onboarding(req: ChatRequest) -> Reply:
    text = req.last_user_text
    head, _, documents_part = text.partition("\nDocuments:\n")
    documents: list[tuple[str, str]] = []
    marks = list(_DOCUMENT.finditer(documents_part))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(documents_part)
        documents.append((mark.group(1), documents_part[mark.end() : end]))
    found = []
    for name, label in _FIELD.findall(head):
        names = {label.strip().lower(), name.lower(), name.replace("_", " ").lower()}
        hit = _find(documents, names)
        if hit is not None:
            document, line, value = hit
            found.append({"field": name, "value": value, "document": document, "quote": line})
    return Reply.tool_calls([(RECORD_FIELDS_TOOL, {"fields": found})])


def _find(documents: list[tuple[str, str]], names: set[str]) -> tuple[str, str, str] | None:
    for document, body in documents:
        for line in body.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() in names and value.strip():
                return document, line.strip(), value.strip()
    return None
