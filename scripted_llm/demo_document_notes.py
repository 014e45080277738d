"""The offline demo's section notes: a summary and facts with verbatim quotes, read off the section.

A document run's section sub-agent offers the ``section_notes`` tool with
the section in its user message (``deepagents_temporal/documents/notes.py``);
this answers from that text alone, so the same section always gets the same
notes: the summary is the section's first sentences, the facts its sentences
that carry a number (else its first ones), each quoted as it stands.
"""

from __future__ import annotations

import re

from deepagents_temporal.documents.notes import NOTES_TOOL
from scripted_llm.chat_request import ChatRequest
from scripted_llm.script import Reply

_SENTENCE = re.compile(r"[^.!?\n]{12,300}[.!?]")
FACTS = 3


def is_section_notes_request(req: ChatRequest) -> bool:
    return NOTES_TOOL in req.tool_names


def demo_section_notes(req: ChatRequest) -> Reply:
    heading, _, body = req.last_user_text.partition("\n\n")
    title = heading.partition(": ")[2] or heading
    sentences = [" ".join(s.split()) for s in _SENTENCE.findall(body) if not s.lstrip().startswith("#")]
    sentences = [s for s in sentences if s]
    summary = " ".join(sentences[:2]) or f"The section {title} has no full sentences."
    with_numbers = [s for s in sentences if re.search(r"\d", s)]
    chosen = (with_numbers or sentences)[:FACTS]
    facts = [{"fact": f"{title}: {s}", "quote": s} for s in chosen]
    return Reply.tool_calls([(NOTES_TOOL, {"summary": summary, "facts": facts})])
