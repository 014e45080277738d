"""A field's value checked against its checklist entry (pydantic), and written one normal way.

Pure: the workflow's ``supply_fields`` validator calls it as the extraction
check does, so a value a person types is held to the same rules as one the
model found. ``checked`` returns the value as stored (a date as ISO
``YYYY-MM-DD``, a number without grouping, an email in lower case) or raises
ValueError with the reason.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from deepagents_temporal.onboarding.schema import FieldSpec

VALUE_CHARS = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "integer": TypeAdapter(int),
    "number": TypeAdapter(Decimal),
    "date": TypeAdapter(date),
    "boolean": TypeAdapter(bool),
}


_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")


def checked(spec: FieldSpec, raw: object) -> str:
    """``raw`` as ``spec`` stores it; ValueError says why it is not valid."""
    text = " ".join(str(raw).split()) if raw is not None else ""
    if not text:
        raise ValueError("empty value")
    if len(text) > VALUE_CHARS:
        raise ValueError(f"longer than {VALUE_CHARS} characters")
    value = text
    if spec.type == "email":
        if not _EMAIL.match(text):
            raise ValueError(f"{text!r} is not an email address")
        value = text.lower()
    elif spec.type == "number":
        text = text.replace(" ", "")
        if "," in text:
            # Commas only between thousands: "4,25" is not silently 425.
            if not _THOUSANDS.fullmatch(text):
                raise ValueError(f"{raw!r}: write decimals with a dot, commas only between thousands (1,234.56)")
            text = text.replace(",", "")
    elif spec.type == "date":
        # ISO only: pydantic would read "0" as a Unix timestamp (1970-01-01).
        try:
            value = date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{raw!r}: not a date as YYYY-MM-DD") from None
    if spec.type in _ADAPTERS and spec.type != "date":
        try:
            parsed = _ADAPTERS[spec.type].validate_python(text)
        except ValidationError as err:
            raise ValueError(f"{raw!r}: {err.errors(include_url=False)[0]['msg']}") from None
        if isinstance(parsed, Decimal) and not parsed.is_finite():
            raise ValueError(f"{raw!r} is not a finite number")
        value = (
            parsed.isoformat()
            if isinstance(parsed, date)
            else str(parsed).lower()
            if isinstance(parsed, bool)
            else str(parsed)
        )
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(spec.choices)}")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise ValueError(f"{value!r} does not match the pattern {spec.pattern}")
    return value
