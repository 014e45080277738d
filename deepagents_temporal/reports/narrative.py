"""What the model is asked for a report's narrative: a fixed instruction and the figures as text.

The prompt holds only figures (no rows), bounded, so the call stays small and
the same figures always make the same request (the scripted model's offline
demo answers it too: ``scripted_llm/demo_narrative.py``).
"""

from __future__ import annotations

from typing import Any

NARRATIVE_INSTRUCTION = (
    "You write the narrative of a business report. In three to five plain sentences, without headings or "
    "lists, say what the figures show: the totals, the largest and smallest groups, and how many rows were "
    "left out as invalid. Use only the figures given; never invent numbers."
)
# Groups listed per grouping field in the prompt, largest first.
GROUPS_IN_PROMPT = 10
# The narrative kept in the report (characters).
NARRATIVE_CHARS = 2_000


def _number(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def facts(report_type: str, figures: dict[str, Any], invalid_rows: int) -> str:
    """The figures as the model reads them."""
    totals = figures["totals"]
    first = next(iter(totals), None)
    lines = [
        f"Report type: {report_type}.",
        f"Valid rows: {figures['rows']:,}; invalid rows left out: {invalid_rows:,}.",
        "Totals: " + "; ".join(f"{name} {_number(value)}" for name, value in totals.items()) + ".",
    ]
    for field, groups in figures["groups"].items():
        ranked = sorted(groups, key=lambda g: g.get(first, 0) if first else 0, reverse=True)
        shown = ranked[:GROUPS_IN_PROMPT]
        more = f" (the {len(shown)} largest of {len(groups)})" if len(groups) > len(shown) else ""
        lines.append(f"By {field}{more}:")
        for group in shown:
            sums = ", ".join(f"{name} {_number(group[name])}" for name in totals)
            count = group["rows"]
            lines.append(f"- {group[field]}: {sums} ({count} row{'s' if count != 1 else ''})")
    return "\n".join(lines)


def clipped(text: str) -> str:
    text = text.strip()
    return text if len(text) <= NARRATIVE_CHARS else text[: NARRATIVE_CHARS - 1] + "…"
