"""Reading the user's request, and the small wording helpers of the demo.

What is to be tested is pulled out of free text as a short noun phrase
("the checkout flow"), with its head ("the checkout flow" of "the checkout
flow with payments") and its parts; the rest are sentence helpers the demo's
documents share (articles, lists, truncation, heading case).
"""

from __future__ import annotations

import re

_SUBJECT_AFTER = re.compile(
    r"\b(?:tests?|testing|qa|strategy|plan|suite|scenarios?|cases?|coverage|checks?)\b"
    r"[^.?!\n]{0,40}?\b(?:for|of|covering|around|on)\s+(?P<subject>.+)",
    re.I | re.S,
)
_SUBJECT_VERB = re.compile(
    r"^(?:please\s+)?(?:how\s+(?:should|do|can|would|could)\s+(?:we|i)\s+|help\s+me\s+)?"
    r"(?:test|verify|validate)\s+(?P<subject>.+)",
    re.I | re.S,
)
_DETERMINERS = {
    "the",
    "a",
    "an",
    "our",
    "my",
    "your",
    "their",
    "its",
    "his",
    "her",
    "this",
    "that",
    "these",
    "those",
    "each",
    "every",
    "all",
    "any",
    "some",
    "both",
}
_SPLIT_PARTS = re.compile(r",\s*|;\s*|\s+and\s+|\s+with\s+|\s+including\s+|\s+plus\s+|\s+as well as\s+", re.I)


def subject_of(request_text: str) -> str:
    """A short noun phrase naming what is to be tested ("the checkout flow")."""
    text = one_line(request_text, 1000)
    first_sentence = re.split(r"(?<=[.?!])\s+", text, maxsplit=1)[0]
    subject = first_sentence
    match = _SUBJECT_AFTER.search(first_sentence)
    if match and match.start() < 80:
        subject = match.group("subject")
    else:
        match = _SUBJECT_VERB.match(first_sentence)
        if match:
            subject = match.group("subject")
    subject = subject.strip().rstrip(".?!:;,").strip().strip("\"'`").strip()
    if not subject:
        return "the system under test"
    first_word = subject.split(" ", 1)[0]
    if first_word.lower() in ("a", "an"):
        subject = "the " + subject.split(" ", 1)[1] if " " in subject else subject
    elif first_word.lower() not in _DETERMINERS and first_word[:1].islower():
        subject = "the " + subject
    return truncate_words(subject, 90)


def core_of(subject: str) -> str:
    """The head of the subject: "the checkout flow" for "the checkout flow with payments"."""
    head = _SPLIT_PARTS.split(subject, maxsplit=1)[0].strip()
    return head if len(head) >= 3 else subject


def components_of(subject: str) -> list[str]:
    """Up to three parts the subject lists ("checkout", "Stripe payments"), else the subject itself."""
    parts: list[str] = []
    for piece in _SPLIT_PARTS.split(subject):
        piece = re.sub(r"^(?:and|or|the|a|an)\s+", "", piece.strip(), flags=re.I).strip(" .…")
        if len(piece) >= 3 and piece.lower() not in (p.lower() for p in parts):
            parts.append(piece)
    return parts[:3] or [subject]


def with_article(noun: str) -> str:
    """``noun`` with "a" or "an" in front."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def one_line(text: str, limit: int) -> str:
    """``text`` with its whitespace runs collapsed to single spaces, cut to ``limit`` characters."""
    return truncate(re.sub(r"\s+", " ", text).strip(), limit)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def truncate_words(text: str, limit: int) -> str:
    """Like :func:`truncate`, but cut at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def human_list(items: list[str]) -> str:
    """Joined as "a, b and c"; empty items are skipped."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capitalize(text: str) -> str:
    """Sentence case for headings: drops a leading "the" and upper-cases the first letter."""
    text = re.sub(r"^the\s+", "", text, flags=re.I)
    return text[:1].upper() + text[1:]
