"""What a document run leaves in ``reports/<run id>/``: summary.md for people, facts.json for programs."""

from __future__ import annotations

import json
from typing import Any

from deepagents_temporal.documents.notes import CheckedNotes
from deepagents_temporal.documents.schema import SectionResult, SplitDocument


def summary_markdown(document: SplitDocument, results: list[SectionResult], notes: dict[int, CheckedNotes]) -> str:
    name = document.key.split("/", 1)[1]
    pages = f", {document.pages} pages" if document.pages else ""
    lines = [
        f"# {document.title or name}",
        "",
        f"Document `{document.key}` ({document.kind}{pages}, {document.chars:,} characters, sha256 "
        f"{document.sha256[:12]}), read in {len(results)} sections.",
        "",
    ]
    for result in results:
        lines.append(f"## {result.n}. {result.title}")
        lines.append("")
        note = notes.get(result.n)
        if note is None:
            lines.append(f"_No summary: {result.error or 'the section could not be read'}._")
        else:
            lines.append(note.summary or "_The model gave no summary._")
            if note.facts:
                lines.append("")
                lines.extend(f"- {fact.fact}" for fact in note.facts)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def facts_json(document: SplitDocument, results: list[SectionResult], notes: dict[int, CheckedNotes]) -> bytes:
    facts: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for result in results:
        note = notes.get(result.n)
        if note is None:
            continue
        for fact in note.facts:
            facts.append({"section": result.n, "section_title": result.title, "fact": fact.fact, "quote": fact.quote})
        for fact in note.dropped:
            dropped.append({"section": result.n, "section_title": result.title, **fact})
    value = {
        "document": {"key": document.key, "sha256": document.sha256, "kind": document.kind, "title": document.title},
        "sections": [
            {"n": r.n, "title": r.title, "status": r.status, "facts": r.facts, "error": r.error} for r in results
        ],
        "facts": facts,
        "dropped": dropped,
    }
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
