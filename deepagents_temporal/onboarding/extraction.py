"""What the model is asked for a client's fields, and how its answer is checked.

The prompt lists the checklist's fields and holds the client's documents as
text (bounded); the model answers with the ``record_fields`` tool: per field
its value, the document it came from and a quote copied from that document.
Each answer is checked: the document must be one of the client's, the quote
must occur in it (whitespace and typographic quotes evened out), and the
value must pass the field's validation (``fields.py``). A field without a
usable answer is missing; one whose answer fails a check is invalid, with
the reason.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from deepagents_temporal.documents.notes import normalized
from deepagents_temporal.onboarding import fields as field_rules
from deepagents_temporal.onboarding.schema import QUOTE_CHARS, Checklist, FieldStatus
from deepagents_temporal.schema import Message

RECORD_FIELDS_TOOL = "record_fields"
ONBOARDING_INSTRUCTION = (
    "You onboard a new client. Read the client's documents below and extract the listed fields. For each "
    "field you find, give its value as the document states it, the document's file name and a short quote "
    "copied verbatim from that document that contains the value. Leave out fields the documents do not "
    "state; never guess. Answer only by calling the record_fields tool."
)
# The documents' text in the prompt (characters): per document, and all together.
DOCUMENT_CHARS = 40_000
PROMPT_CHARS = 160_000

RECORD_FIELDS_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": RECORD_FIELDS_TOOL,
        "description": "Record the fields found in the client's documents, each with its source and a quote.",
        "parameters": {
            "type": "object",
            "properties": {
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "description": "the field's name as listed"},
                            "value": {"type": "string"},
                            "document": {"type": "string", "description": "the file name it was found in"},
                            "quote": {"type": "string", "description": "copied verbatim from that document"},
                        },
                        "required": ["field", "value", "document", "quote"],
                    },
                }
            },
            "required": ["fields"],
        },
    },
}


class Extracted(BaseModel):
    field: str
    value: str
    document: str
    quote: str


def prompt(checklist: Checklist, documents: list[tuple[str, str]]) -> list[Message]:
    """The request: the fields to find, then each document (name, text) clipped to the bounds."""
    lines = [f"Checklist: {checklist.title}", "", "Fields:"]
    for spec in checklist.fields:
        rules = [spec.type, "required" if spec.required else "optional"]
        if spec.choices:
            rules.append("one of " + ", ".join(spec.choices))
        if spec.pattern:
            rules.append(f"pattern {spec.pattern}")
        about = f". {spec.description}" if spec.description else ""
        lines.append(f"- {spec.name} ({'; '.join(rules)}): {spec.title}{about}")
    lines += ["", "Documents:"]
    budget = PROMPT_CHARS
    for name, text in documents:
        shown = text[: min(DOCUMENT_CHARS, max(budget, 0))]
        budget -= len(shown)
        clipped = "" if len(shown) == len(text) else f"\n[... {len(text) - len(shown):,} characters left out ...]"
        lines += ["", f"=== document: {name} ===", shown + clipped]
    return [Message(role="system", content=ONBOARDING_INSTRUCTION), Message(role="user", content="\n".join(lines))]


def answers(reply: Message) -> tuple[list[Extracted], str | None]:
    """The model's per-field answers, and what was wrong with its reply when it could not be read."""
    call = next((c for c in reply.tool_calls if c.name == RECORD_FIELDS_TOOL and c.raw_args is None), None)
    if call is None:
        return [], "the model did not call record_fields"
    items = call.args.get("fields")
    if not isinstance(items, list):
        return [], "record_fields without a list of fields"
    found: list[Extracted] = []
    for item in items:
        try:
            found.append(Extracted.model_validate(item))
        except ValidationError:
            continue
    return found, None


def statuses(
    checklist: Checklist, found: list[Extracted], texts: dict[str, str], no_answer: str | None
) -> list[FieldStatus]:
    """Each checklist field as found (with its source), missing or invalid (with why)."""
    result = []
    for spec in checklist.fields:
        base = {"field": spec.name, "label": spec.title, "required": spec.required}
        candidates = [e for e in found if e.field == spec.name and e.value.strip()]
        if not candidates:
            reason = no_answer or "not found in the client's documents"
            result.append(FieldStatus(**base, status="missing", reason=reason))
            continue
        problem = None
        for answer in candidates:
            text = texts.get(answer.document)
            quote = answer.quote.strip()[:QUOTE_CHARS]
            if text is None:
                problem = f"source {answer.document!r} is not one of the client's documents"
            elif not normalized(answer.quote) or normalized(answer.quote) not in normalized(text):
                problem = f"quote not found in {answer.document}"
            else:
                try:
                    value = field_rules.checked(spec, answer.value)
                except ValueError as err:
                    problem = str(err)
                else:
                    result.append(
                        FieldStatus(**base, status="found", value=value, document=answer.document, quote=quote)
                    )
                    break
            last = answer
        else:
            result.append(
                FieldStatus(
                    **base,
                    status="invalid",
                    value=last.value[: field_rules.VALUE_CHARS],
                    document=last.document,
                    quote=last.quote.strip()[:QUOTE_CHARS],
                    reason=problem,
                )
            )
    return result
