"""The offline demo's report narrative: a few sentences read off the figures it is sent.

The reporting workflow asks for its narrative with a fixed instruction and
the figures as text (``deepagents_temporal/reports/narrative.py``); this
answers from those figures alone, so the same figures get the same words.
"""

from __future__ import annotations

import re

from deepagents_temporal.reports.narrative import NARRATIVE_INSTRUCTION
from scripted_llm.chat_request import ChatRequest, text_of
from scripted_llm.script import Reply

_GROUP_LINE = re.compile(r"^- (?P<name>.+?): (?P<sums>.+) \((?P<rows>\d+) rows?\)$")


def is_narrative_request(req: ChatRequest) -> bool:
    return req.system_prompt.strip() == NARRATIVE_INSTRUCTION


def demo_narrative(req: ChatRequest) -> Reply:
    facts = next((text_of(m.get("content")) for m in reversed(req.messages) if m.get("role") == "user"), "")
    lines = facts.splitlines()
    totals = next((line.removeprefix("Totals: ").rstrip(".") for line in lines if line.startswith("Totals: ")), "")
    counts = next((line for line in lines if line.startswith("Valid rows: ")), "")
    valid = re.search(r"Valid rows: ([\d,]+)", counts)
    invalid = re.search(r"invalid rows left out: ([\d,]+)", counts)
    sentences = [f"Across {valid.group(1) if valid else 'the'} valid rows, the totals are {totals.replace(';', ',')}."]
    field = None
    groups: list[re.Match[str]] = []
    for line in [*lines, "By end:"]:
        if line.startswith("By "):
            if field and groups:
                first, last = groups[0], groups[-1]
                sentence = f"By {field}, {first['name']} leads ({first['sums']})"
                if len(groups) > 1:
                    sentence += f" and {last['name']} is the smallest ({last['sums']})"
                sentences.append(sentence + ".")
            field, groups = line[3:].split(" (")[0].rstrip(":"), []
        elif (match := _GROUP_LINE.match(line)) is not None:
            groups.append(match)
    if invalid and invalid.group(1) != "0":
        sentences.append(f"{invalid.group(1)} invalid rows were left out; the Errors sheet lists them.")
    else:
        sentences.append("Every row was valid.")
    return Reply.text(" ".join(sentences))
