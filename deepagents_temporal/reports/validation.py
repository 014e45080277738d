"""Rows of a data file checked against a report type's row model.

Every row either becomes a row model instance or gives one ``RowError`` per
problem (row number, column as the file names it, reason, the value). Only
what makes the whole file unusable raises ``DataFileError``: a required column
missing from the header, or two headers meaning the same field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from deepagents_temporal.reports.parsing import EXTRA_CELLS, NOT_AN_OBJECT, DataFileError, Table
from deepagents_temporal.reports.row import ReportRow, column_key
from deepagents_temporal.reports.schema import RowError

# A value shown in an error is cut to this many characters.
VALUE_CHARS = 100


@dataclass
class Checked:
    valid: list[ReportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    invalid_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)


def column_map(table: Table, model: type[ReportRow]) -> tuple[dict[str, str], list[str]]:
    """{field: header as written} and the headers no field takes; DataFileError when the header cannot work."""
    fields = set(model.columns())
    mapped: dict[str, str] = {}
    ignored: list[str] = []
    for header in table.columns:
        key = column_key(header)
        if key not in fields:
            ignored.append(header)
            continue
        if key in mapped:
            raise DataFileError(f"columns {mapped[key]!r} and {header!r} both mean {key!r}")
        mapped[key] = header
    missing = [name for name in model.required_columns() if name not in mapped]
    if missing:
        raise DataFileError(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header has: {', '.join(table.columns) or 'nothing'}; a {model.report_type} file needs "
            f"{', '.join(model.columns())})"
        )
    return mapped, ignored


def check(table: Table, model: type[ReportRow]) -> Checked:
    mapped, ignored = column_map(table, model)
    checked = Checked(ignored_columns=ignored)
    for number, cells in table.rows:
        errors = _row_errors(number, cells, mapped, model, checked)
        if errors:
            checked.errors.extend(errors)
            checked.invalid_rows += 1
    return checked


def _row_errors(
    number: int, cells: dict[str, Any], mapped: dict[str, str], model: type[ReportRow], checked: Checked
) -> list[RowError]:
    if NOT_AN_OBJECT in cells:
        return [RowError(row=number, column="(record)", reason=f"not a JSON object but {cells[NOT_AN_OBJECT]}")]
    errors = []
    if EXTRA_CELLS in cells:
        extra = cells[EXTRA_CELLS]
        errors.append(
            RowError(
                row=number,
                column="(row)",
                reason=f"{len(extra)} more cell{'s' if len(extra) > 1 else ''} than the header has columns",
                value=_shown(extra),
            )
        )
    values = {}
    for name, header in mapped.items():
        cell = cells.get(header)
        if isinstance(cell, str):
            cell = cell.strip()
        if cell is None or cell == "":
            continue  # missing: the model says whether that is allowed
        values[name] = cell
    try:
        row = model.model_validate(values)
    except ValidationError as err:
        for problem in err.errors(include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            reason = "missing value" if problem["type"] == "missing" else problem["msg"]
            errors.append(
                RowError(
                    row=number,
                    column=mapped.get(name, name or "(row)"),
                    reason=reason,
                    value=_shown(values.get(name, "")),
                )
            )
        return errors
    if not errors:
        checked.valid.append(row)
    return errors


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
