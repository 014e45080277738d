"""A document's text cut into sections: at its headings where it has any, else in size-bounded chunks.

Headings are Markdown ATX lines (``# Title``; DOCX headings arrive that way
from ``convert.py``) and setext underlines (``Title`` over ``====`` or
``----``). A section longer than the bound is cut again at paragraph, then
line, then word boundaries. The bound grows with the document so that even
a 200-page file gives at most ``MAX_SECTIONS`` sections (neighbouring small
sections are merged first), each a sensible amount for one model call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Characters per section unless the document is so long that MAX_SECTIONS would be exceeded.
SECTION_CHARS = 12_000
MIN_SECTION_CHARS = 500
MAX_SECTION_CHARS = 200_000
MAX_SECTIONS = 64
TITLE_CHARS = 120

_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


@dataclass(frozen=True)
class Section:
    title: str
    text: str


def split_sections(text: str, section_chars: int = SECTION_CHARS, max_sections: int = MAX_SECTIONS) -> list[Section]:
    """The sections of ``text`` in order; an empty text gives none."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    bound = max(section_chars, math.ceil(len(text) / max_sections) + 1)
    by_heading = _at_headings(text)
    if len(by_heading) > max_sections:
        by_heading = _merged(by_heading, bound)
    sections: list[Section] = []
    for section in by_heading:
        parts = _chunks(section.text, bound)
        for n, part in enumerate(parts, start=1):
            title = section.title if len(parts) == 1 else f"{section.title} (part {n})"
            sections.append(Section(title=_clip_title(title), text=part))
    # Pieces cut at boundaries are not full: merging with a growing bound keeps the promise.
    while len(sections) > max_sections:
        bound += max(bound // 4, 1)
        sections = _merged(sections, bound)
    return sections


def _clip_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


def _at_headings(text: str) -> list[Section]:
    lines = text.split("\n")
    starts: list[tuple[int, str]] = []  # (line index where the section starts, its title)
    for i, line in enumerate(lines):
        match = _ATX.match(line)
        if match:
            starts.append((i, match.group(2)))
        elif (
            i > 0
            and _SETEXT.match(line)
            and lines[i - 1].strip()
            and (i < 2 or not lines[i - 2].strip())
            and not _ATX.match(lines[i - 1])
        ):
            starts.append((i - 1, lines[i - 1].strip()))
    if not starts:
        return [Section(title="part", text=text)] if len(text) else []
    sections: list[Section] = []
    if starts[0][0] > 0:
        head = "\n".join(lines[: starts[0][0]]).strip()
        if head:
            sections.append(Section(title="introduction", text=head))
    for k, (start, title) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        body = "\n".join(lines[start:end]).strip()
        sections.append(Section(title=title.strip(), text=body))
    return sections


def _merged(sections: list[Section], bound: int) -> list[Section]:
    """Neighbours joined while they fit in ``bound``: fewer, fuller sections."""
    merged: list[Section] = []
    for section in sections:
        if merged and len(merged[-1].text) + 2 + len(section.text) <= bound:
            last = merged.pop()
            titles = last.title if last.title.endswith("…") else f"{last.title}; {section.title}"
            merged.append(Section(title=_clip_title(titles), text=f"{last.text}\n\n{section.text}"))
        else:
            merged.append(section)
    return merged


def _chunks(text: str, bound: int) -> list[str]:
    """``text`` in pieces of at most ``bound`` characters, cut at the largest boundary that fits."""
    if len(text) <= bound:
        return [text]
    pieces: list[str] = []
    current = ""
    for unit in _units(text, bound):
        if current and len(current) + len(unit) > bound:
            pieces.append(current.strip())
            current = ""
        current += unit
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]


def _units(text: str, bound: int) -> list[str]:
    """Paragraphs (with their separators), themselves cut at lines, words or hard limits when too long."""
    units: list[str] = []
    for paragraph in re.split(r"(?<=\n\n)", text):
        if len(paragraph) <= bound:
            units.append(paragraph)
            continue
        for line in re.split(r"(?<=\n)", paragraph):
            if len(line) <= bound:
                units.append(line)
                continue
            for word in re.split(r"(?<= )", line):
                units.extend(word[i : i + bound] for i in range(0, len(word), bound))
    return units
