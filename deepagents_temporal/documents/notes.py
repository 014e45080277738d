"""A section sub-agent's notes: what the model is asked, the structured answer it gives, and the
check that each fact's quote really is in the section.

The model answers with the ``section_notes`` tool (a summary and facts, each
fact with a verbatim quote); a model that answers in text with the same JSON
is read too. A quote counts when it occurs in the section with whitespace,
typographic quotes and dashes evened out (PDF text breaks lines anywhere);
facts whose quote does not occur are dropped from facts.json and counted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from deepagents_temporal.schema import Message

NOTES_TOOL = "section_notes"
SECTION_INSTRUCTION = (
    "You read one section of a longer document. Summarise it in two to four plain sentences and extract "
    "its key facts (at most 8): each fact a short statement with a quote copied verbatim from the section "
    "that supports it. Answer only by calling the section_notes tool; use only what the section says."
)
SUMMARY_CHARS = 2_000
FACT_CHARS = 500
MAX_FACTS = 20

NOTES_TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": NOTES_TOOL,
        "description": "Record the section's summary and its key facts, each with a verbatim quote.",
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {"type": "string", "description": "two to four sentences"},
                "facts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "fact": {"type": "string"},
                            "quote": {"type": "string", "description": "copied verbatim from the section"},
                        },
                        "required": ["fact", "quote"],
                    },
                },
            },
            "required": ["summary", "facts"],
        },
    },
}


class Fact(BaseModel):
    fact: str = Field(min_length=1)
    quote: str = Field(min_length=1)


class SectionNotes(BaseModel):
    summary: str
    facts: list[Fact] = Field(default_factory=list)


class CheckedNotes(BaseModel):
    """As stored in ``runs/<run id>/document/notes/section-<n>.json``."""

    n: int
    title: str
    model: str
    summary: str
    facts: list[Fact]
    # Facts the model gave whose quote is not in the section, with why.
    dropped: list[dict[str, str]] = Field(default_factory=list)


def prompt(title: str, n: int, text: str) -> list[Message]:
    return [
        Message(role="system", content=SECTION_INSTRUCTION),
        Message(role="user", content=f"Section {n}: {title}\n\n{text}"),
    ]


def read_notes(reply: Message) -> SectionNotes:
    """The notes in the model's reply; ValueError says what is wrong with it."""
    call = next((c for c in reply.tool_calls if c.name == NOTES_TOOL and c.raw_args is None), None)
    raw: Any = call.args if call is not None else _json_in(reply.content)
    if raw is None:
        text = reply.content.strip()
        if not text:
            raise ValueError("the model answered without the section_notes tool and without text")
        # Prose only: a summary without facts.
        return SectionNotes(summary=text[:SUMMARY_CHARS])
    try:
        notes = SectionNotes.model_validate(raw)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"section_notes arguments: {where}: {first['msg']}") from None
    return SectionNotes(
        summary=notes.summary.strip()[:SUMMARY_CHARS],
        facts=[Fact(fact=f.fact.strip()[:FACT_CHARS], quote=f.quote.strip()) for f in notes.facts[:MAX_FACTS]],
    )


def _json_in(text: str) -> Any:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        return None
    try:
        return json.loads(match.group(0))
    except json.JSONDecodeError:
        return None


_SAME = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "\u00a0": " "})


def normalized(text: str) -> str:
    return " ".join(text.translate(_SAME).split())


def check(notes: SectionNotes, section_text: str) -> tuple[list[Fact], list[dict[str, str]]]:
    """(facts whose quote is in the section, the others with why they were dropped)."""
    haystack = normalized(section_text)
    kept: list[Fact] = []
    dropped: list[dict[str, str]] = []
    for fact in notes.facts:
        if normalized(fact.quote) and normalized(fact.quote) in haystack:
            kept.append(fact)
        else:
            dropped.append({"fact": fact.fact, "quote": fact.quote, "reason": "quote not found in the section"})
    return kept, dropped
