"""An onboarding checklist template, read from YAML or XLSX and checked with pydantic.

YAML: ``title``, ``fields`` (each ``name``, ``label``, ``type``, ``required``,
``pattern``, ``choices``, ``description``) and ``documents`` (each ``name``,
``match`` (file-name patterns), ``required``, ``description``). XLSX: a sheet
``fields`` and optionally a sheet ``documents``, first row the same headers
(``choices`` and ``match`` comma-separated); an optional ``title`` cell is
not needed. ``examples/onboarding/`` has one of each shape.
"""

from __future__ import annotations

import io
from typing import Any

import yaml
from pydantic import ValidationError

from deepagents_temporal.onboarding.schema import Checklist

FORMATS = (".yaml", ".yml", ".xlsx")


class ChecklistError(ValueError):
    """A template that is not a usable checklist; the message says what to change."""


def parse(name: str, data: bytes) -> Checklist:
    lower = name.lower()
    if lower.endswith((".yaml", ".yml")):
        raw = _yaml(data)
    elif lower.endswith(".xlsx"):
        raw = _xlsx(data)
    else:
        raise ChecklistError(f"a checklist is a .yaml, .yml or .xlsx file; {name!r} is neither")
    try:
        checklist = Checklist.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(checklist)'}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ChecklistError(problems) from None
    names = [f.name for f in checklist.fields]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ChecklistError(f"fields named twice: {', '.join(doubled)}")
    return checklist


def _yaml(data: bytes) -> Any:
    try:
        raw = yaml.safe_load(data.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ChecklistError(f"not readable YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ChecklistError("the YAML must be a mapping with fields (and documents)")
    return raw


def _xlsx(data: bytes) -> Any:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - whatever openpyxl says, the file is not a workbook we read
        raise ChecklistError(f"not a readable .xlsx workbook ({type(err).__name__}: {err})") from None
    sheets = {sheet.title.lower(): sheet for sheet in book.worksheets}
    if "fields" not in sheets:
        raise ChecklistError(f"no sheet named fields (sheets: {', '.join(s.title for s in book.worksheets)})")
    raw: dict[str, Any] = {"fields": _rows(sheets["fields"], lists=("choices",))}
    if "documents" in sheets:
        raw["documents"] = _rows(sheets["documents"], lists=("match",))
    title = book.properties.title if book.properties is not None else None
    if title:
        raw["title"] = title
    return raw


def _rows(sheet: Any, lists: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = [r for r in sheet.iter_rows(values_only=True) if any(v not in (None, "") for v in r)]
    if not rows:
        return []
    header = [str(h or "").strip().lower() for h in rows[0]]
    found = []
    for row in rows[1:]:
        entry: dict[str, Any] = {}
        for name, value in zip(header, row, strict=False):
            if not name or value in (None, ""):
                continue
            if name in lists:
                value = [part.strip() for part in str(value).split(",") if part.strip()]
            elif name == "required":
                value = str(value).strip().lower() in ("true", "yes", "1", "x")
            elif not isinstance(value, bool):
                value = str(value).strip()
            entry[name] = value
        found.append(entry)
    return found
