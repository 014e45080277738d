"""A data file (CSV, XLSX or JSON) as a header and numbered rows of cells.

The format comes from the name's extension. What makes a file unusable as a
whole (an unknown extension, text that is not UTF-8, a broken workbook or
JSON, no header) raises ``DataFileError`` naming the problem; what is wrong in
a single row is left to validation. Row numbers are what a person sees: the
line of a CSV file (header = 1), the row of the sheet, the position of a JSON
record (first = 1).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from deepagents_temporal.reports.schema import DATA_FORMATS

# Keys of a row's cells that are not columns (validation reports them):
# cells beyond the header's columns, and a JSON record that is not an object.
EXTRA_CELLS = "\x00extra"
NOT_AN_OBJECT = "\x00not an object"


class DataFileError(ValueError):
    """The file cannot be read as data at all."""


@dataclass
class Table:
    format: str
    # Header cells as written in the file, in order.
    columns: list[str]
    # (row number, {header: cell}) for each non-empty row.
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def data_format(name: str) -> str:
    """``csv``, ``xlsx`` or ``json`` from the name; DataFileError for anything else."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if suffix not in DATA_FORMATS:
        shown = f"'.{suffix}'" if suffix else "no extension"
        raise DataFileError(f"unsupported format ({shown}): use a .csv, .xlsx or .json file")
    return suffix


def parse(name: str, data: bytes) -> Table:
    fmt = data_format(name)
    if fmt == "csv":
        return _csv(_text(data))
    if fmt == "json":
        return _json(_text(data))
    return _xlsx(data)


def _text(data: bytes) -> str:
    try:
        # utf-8-sig: spreadsheet programs often start a CSV with a byte order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFileError(
            f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); save it as UTF-8"
        ) from None


def _header(cells: list[Any], where: str) -> list[str]:
    header = [str(cell).strip() if cell is not None else "" for cell in cells]
    while header and not header[-1]:
        header.pop()
    if not any(header):
        raise DataFileError(f"no header row ({where})")
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataFileError(f"header cell {blank[0]} is empty ({where})")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataFileError(f"column {name!r} appears twice in the header")
        seen.add(name)
    return header


def _csv(text: str) -> Table:
    if "\x00" in text:
        raise DataFileError("not a CSV file (it contains NUL characters)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, None)
        if first is None:
            raise DataFileError("the file is empty")
        columns = _header(first, "the first line")
        table = Table("csv", columns)
        while True:
            line_before = reader.line_num
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            row = dict(zip(columns, cells, strict=False))
            if len(cells) > len(columns):
                row[EXTRA_CELLS] = cells[len(columns) :]
            table.rows.append((line_before + 1, row))
    except csv.Error as err:
        raise DataFileError(f"not a readable CSV file (line {reader.line_num}: {err})") from None
    return table


def _json(text: str) -> Table:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except RecursionError:
        raise DataFileError("not usable JSON (nested too deeply)") from None
    if isinstance(value, dict) and isinstance(value.get("rows"), list):
        value = value["rows"]
    if not isinstance(value, list):
        raise DataFileError('expected a JSON array of objects (or {"rows": [...]}), got a ' + type(value).__name__)
    columns: dict[str, None] = {}
    table = Table("json", [])
    for n, record in enumerate(value, start=1):
        if not isinstance(record, dict):
            # One broken record is a row error, not a broken file.
            table.rows.append((n, {NOT_AN_OBJECT: type(record).__name__}))
            continue
        columns.update((str(key), None) for key in record)
        table.rows.append((n, {str(key): cell for key, cell in record.items()}))
    if not columns:
        raise DataFileError("no records with fields (an empty array?)")
    table.columns = list(columns)
    return table


def _xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise DataFileError(f"not an XLSX workbook ({type(err).__name__}: {err})") from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise DataFileError("the workbook has no sheet")
        rows = sheet.iter_rows(values_only=True)
        number = 0
        columns: list[str] | None = None
        table = Table("xlsx", [])
        for cells in rows:
            number += 1
            if not any(cell is not None and str(cell).strip() for cell in cells):
                continue
            if columns is None:
                columns = _header(list(cells), f"sheet {sheet.title!r}, row {number}")
                table.columns = columns
                continue
            row = dict(zip(columns, cells, strict=False))
            extra = [cell for cell in cells[len(columns) :] if cell is not None]
            if extra:
                row[EXTRA_CELLS] = extra
            table.rows.append((number, row))
        if columns is None:
            raise DataFileError(f"sheet {sheet.title!r} is empty")
        return table
    finally:
        workbook.close()
