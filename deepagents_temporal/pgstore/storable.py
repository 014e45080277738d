"""Text and JSON made storable in PostgreSQL: the one place that decides what a row may hold.

Anything a model or a tool produces can reach a row: NUL characters, lone
surrogates, megabyte strings, JSON nested ten thousand levels deep.
PostgreSQL's ``text`` refuses U+0000, its ``jsonb`` refuses ``\\u0000`` and
lone surrogates, and deep nesting overflows Python's and PostgreSQL's stacks.
A refused row must never fail (or stall) a run, so every text and JSON value
of the run tables goes through :func:`storable_text` / :func:`storable_json`:

* U+0000 and lone surrogates (U+D800..U+DFFF) become the visible six
  characters ``\\u0000`` / ``\\ud800``;
* strings are capped, per column (:data:`REQUEST_CHARS`, ...), and a cut
  string ends with ``… [truncated N chars]``, N counting what was left out;
* JSON (``jsonb`` columns) is capped in depth, items per container, string
  length and total size; each cut is marked where it happened
  (``… [N more items truncated]``, a ``"…"`` key for dropped keys,
  ``… [nested deeper than D levels, truncated]``). Non-finite floats become
  strings, since JSON has no NaN.

Both functions are deterministic, pure and idempotent (a storable value is
returned unchanged), so workflow code may call them and a value made storable
twice, by the workflow and again by the store, is stored as made once.

Memories are different: they are read back as written, so the memory store
refuses what it cannot store faithfully (:func:`unstorable_reason`) instead of
altering it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ERROR_CHARS",
    "JSON_CHARS",
    "JSON_DEPTH",
    "LABEL_CHARS",
    "NAME_CHARS",
    "REQUEST_CHARS",
    "SUMMARY_CHARS",
    "escape_text",
    "storable_json",
    "storable_text",
    "unstorable_reason",
]

# Per-column caps, in characters (after escaping).
REQUEST_CHARS = 10_000  # runs.request
SUMMARY_CHARS = 500  # decisions.summary
ERROR_CHARS = 2_000  # runs.error
NAME_CHARS = 200  # agent, model, profile, workflow name, content type, models_used items
LABEL_CHARS = 1_000  # identifiers: run ids, object keys (B-tree entries must stay under ~2.7 KB)

# jsonb columns (decisions.tool_calls, decisions.payload).
JSON_DEPTH = 16  # containers nested deeper than this are replaced by a marker
JSON_CHARS = 32_000  # about the most one value may weigh, as JSON text
JSON_KEY_CHARS = 200
# Tried in order until the value fits in JSON_CHARS: (characters per string, items per container).
_JSON_LADDER = ((2_000, 200), (500, 50), (100, 20), (20, 5))
# Integers wider than this are replaced by a marker (Python refuses to print
# ints over 4300 digits, and nobody needs them in a decision log).
_MAX_INT_BITS = 3_000

# Memories are read back verbatim: deeper values are refused, not cut.
MEMORY_DEPTH = 100

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ELLIPSIS = "…"
MORE_KEYS = _ELLIPSIS  # the key that marks dropped keys


def escape_text(text: str) -> str:
    """``text`` with U+0000 and lone surrogates written as visible ``\\uXXXX`` escapes."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _truncation_marker(dropped: int) -> str:
    return f"{_ELLIPSIS} [truncated {dropped} chars]"


def _cap(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marker included."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    while True:  # the marker's own length depends on the count it shows
        marker = _truncation_marker(dropped)
        keep = max(limit - len(marker), 0)
        if len(text) - keep == dropped:
            break
        dropped = len(text) - keep
    return (text[:keep] + marker)[:limit]


def storable_text(text: str | None, limit: int) -> str | None:
    """``text`` as a ``text`` column can hold it: escaped (see :func:`escape_text`) and
    at most ``limit`` characters, ending with ``… [truncated N chars]`` when cut."""
    if text is None:
        return None
    return _cap(escape_text(str(text)), limit)


def storable_json(value: Any, *, max_chars: int = JSON_CHARS, max_depth: int = JSON_DEPTH) -> Any:
    """``value`` as a ``jsonb`` column can hold it (plain dicts, lists, strings, numbers,
    booleans and None), at most about ``max_chars`` characters of JSON."""
    if value is None:
        return None
    for max_string, max_items in _JSON_LADDER:
        made = _Walk(max_string, max_items, max_depth).value(value, 0)
        text = json.dumps(made, ensure_ascii=False)
        if len(text) <= max_chars:
            return made
    # Even the tightest caps leave it too big (say, thousands of keys at every level).
    last = _JSON_LADDER[0][0]
    return {"truncated": True, "preview": _cap(text, min(last, max_chars // 2))}


class _Walk:
    def __init__(self, max_string: int, max_items: int, max_depth: int) -> None:
        self.max_string = max_string
        self.max_items = max_items
        self.max_depth = max_depth

    def value(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                return f"{_ELLIPSIS} [integer of {value.bit_length()} bits, truncated]"
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, str):
            return _cap(escape_text(value), self.max_string)
        if isinstance(value, Mapping | list | tuple):
            if depth >= self.max_depth:
                return f"{_ELLIPSIS} [nested deeper than {self.max_depth} levels, truncated]"
            if isinstance(value, Mapping):
                return self.mapping(value, depth + 1)
            return self.sequence(value, depth + 1)
        # Not JSON (a datetime, bytes, ...): its text.
        return _cap(escape_text(str(value)), self.max_string)

    def mapping(self, value: Mapping, depth: int) -> dict[str, Any]:
        made: dict[str, Any] = {}
        items = list(value.items())
        kept = items if len(items) <= self.max_items else items[: self.max_items - 1]
        for key, item in kept:
            made[_cap(escape_text(str(key)), JSON_KEY_CHARS)] = self.value(item, depth)
        if len(kept) < len(items):
            made[MORE_KEYS] = f"[{len(items) - len(kept)} more keys truncated]"
        return made

    def sequence(self, value: list | tuple, depth: int) -> list[Any]:
        if len(value) <= self.max_items:
            return [self.value(item, depth) for item in value]
        kept = value[: self.max_items - 1]
        dropped = len(value) - len(kept)
        return [*(self.value(item, depth) for item in kept), f"{_ELLIPSIS} [{dropped} more items truncated]"]


def unstorable_reason(value: Any, *, max_depth: int = MEMORY_DEPTH, where: str = "value") -> str | None:
    """Why ``value`` cannot be stored in ``jsonb`` as it is (None when it can), naming where.

    For data that must be read back exactly (memories), which is refused rather than altered.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            found = _UNSTORABLE.search(item)
            if found:
                return f"{path} contains {_describe_char(found.group())}, which PostgreSQL cannot store"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{path} is {item!r}, which JSON cannot hold"
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > _MAX_INT_BITS:
            return f"{path} is an integer of {item.bit_length()} bits, too large to store"
        elif isinstance(item, Mapping | list | tuple):
            if depth >= max_depth:
                return f"{path} nests deeper than {max_depth} levels"
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    label = str(key)
                    found = _UNSTORABLE.search(label)
                    if found:
                        char = _describe_char(found.group())
                        return f"a key in {path} contains {char}, which PostgreSQL cannot store"
                    stack.append((sub, f"{path}[{escape_text(label)[:40]!r}]", depth + 1))
            else:
                stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
    return None


def _describe_char(char: str) -> str:
    code = ord(char)
    return "a NUL character (U+0000)" if code == 0 else f"a lone surrogate (U+{code:04X})"
