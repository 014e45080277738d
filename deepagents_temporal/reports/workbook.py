"""A report template filled with openpyxl: its styles, number formats and column widths kept.

What a template holds (docs/architecture.md, "Report templates"):

- an Excel table named ``data``: its header names fields of the row model
  (declared or computed, matched like data headers: "Unit price" is
  ``unit_price``); the row under the header is the style row, whose fonts,
  fills, borders and number formats every filled row gets. The table grows to
  the valid rows, so nothing else may sit below it in its columns;
- optionally a table ``by_<field>`` per grouping field (``by_region``): the
  field, ``rows`` and the totals fields, one row per group, filled the same way;
- optionally named cells: ``total_<field>`` (``total_revenue``), ``rows``,
  ``valid_rows``, ``invalid_rows``, ``narrative``, ``report_type``,
  ``data_file``, ``data_sha256``, ``template_file``; each gets its value;
- an ``Errors`` sheet lists the invalid rows (row, column, value, reason); the
  template may bring its own (header in row 1, style row 2), else one is added.

``TemplateError`` names what a template lacks; it is checked when the run
loads the template, before anything is computed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from copy import copy
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.worksheet.table import Table
from openpyxl.worksheet.worksheet import Worksheet

from deepagents_temporal.reports.row import ReportRow, column_key
from deepagents_temporal.reports.schema import RowError

DATA_TABLE = "data"
GROUP_TABLE_PREFIX = "by_"
ERRORS_SHEET = "Errors"
ERRORS_COLUMNS = ("row", "column", "value", "reason")
# Rows a sheet can hold (Excel's limit), header included.
MAX_SHEET_ROWS = 1_048_576


class TemplateError(ValueError):
    """The template cannot be used for this report type."""


def open_template(data: bytes) -> Workbook:
    try:
        return load_workbook(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as err:
        raise TemplateError(f"not an XLSX workbook ({type(err).__name__}: {err})") from None


def _tables(workbook: Workbook) -> dict[str, tuple[Worksheet, Table]]:
    found = {}
    for sheet in workbook.worksheets:
        for table in sheet.tables.values():
            found[table.displayName.lower()] = (sheet, table)
    return found


def _header(sheet: Worksheet, table: Table) -> list[str]:
    min_col, min_row, max_col, _ = range_boundaries(table.ref)
    return [column_key(sheet.cell(min_row, col).value or "") for col in range(min_col, max_col + 1)]


def named_cells(workbook: Workbook) -> list[str]:
    names = [name.lower() for name in workbook.defined_names]
    for sheet in workbook.worksheets:
        names.extend(name.lower() for name in sheet.defined_names)
    return sorted(set(names))


def check_template(workbook: Workbook, model: type[ReportRow]) -> list[str]:
    """The template's table names; TemplateError when it does not fit ``model``."""
    tables = _tables(workbook)
    if DATA_TABLE not in tables:
        found = ", ".join(sorted(tables)) or "none"
        raise TemplateError(f"no Excel table named {DATA_TABLE!r} to fill (tables found: {found})")
    fields = model.all_fields()
    for name, (sheet, table) in sorted(tables.items()):
        if name == DATA_TABLE:
            allowed = fields
        elif name.startswith(GROUP_TABLE_PREFIX):
            group = name[len(GROUP_TABLE_PREFIX) :]
            if group not in model.group_by:
                raise TemplateError(
                    f"table {table.displayName!r}: {model.report_type} rows are grouped by "
                    f"{', '.join(model.group_by) or 'nothing'}, not {group!r}"
                )
            allowed = [group, "rows", *model.totals]
        else:
            continue  # a table of the template's own
        unknown = [h for h in _header(sheet, table) if h not in allowed]
        if unknown:
            raise TemplateError(
                f"table {table.displayName!r} on sheet {sheet.title!r}: column {unknown[0]!r} is none of "
                f"{', '.join(allowed)}"
            )
    return sorted(tables)


def fill(
    template: bytes,
    model: type[ReportRow],
    rows: Sequence[ReportRow],
    figures: dict[str, Any],
    errors: Sequence[RowError],
    values: dict[str, Any],
) -> bytes:
    """The filled workbook's bytes. ``values``: named cells besides the totals (``narrative``, ``data_file``...)."""
    workbook = open_template(template)
    check_template(workbook, model)
    tables = _tables(workbook)
    sheet, table = tables[DATA_TABLE]
    _fill_table(sheet, table, ([getattr(row, name) for name in _header(sheet, table)] for row in rows), len(rows))
    for field, groups in figures["groups"].items():
        found = tables.get(f"{GROUP_TABLE_PREFIX}{field}")
        if found is not None:
            sheet, table = found
            header = _header(sheet, table)
            _fill_table(sheet, table, ([group.get(name) for name in header] for group in groups), len(groups))
    named = {f"total_{name}": value for name, value in figures["totals"].items()}
    named.update(values)
    _set_named_cells(workbook, named)
    _errors_sheet(workbook, errors)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _fill_table(sheet: Worksheet, table: Table, rows: Iterable[list[Any]], count: int) -> None:
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    if min_row + count >= MAX_SHEET_ROWS:
        raise TemplateError(f"{count:,} rows do not fit in sheet {sheet.title!r} below row {min_row}")
    first = min_row + 1
    style = [copy(sheet.cell(first, col)._style) for col in range(min_col, max_col + 1)]
    height = sheet.row_dimensions[first].height
    number = first - 1
    for number, values in enumerate(rows, start=first):
        for offset, value in enumerate(values):
            cell = sheet.cell(number, min_col + offset)
            cell.value = value
            cell._style = copy(style[offset])
        if height is not None:
            sheet.row_dimensions[number].height = height
    # What the template had below its style row goes (its sample rows, say).
    for leftover in range(number + 1, max_row + 1):
        for col in range(min_col, max_col + 1):
            sheet.cell(leftover, col).value = None
    # A table needs at least one row under its header.
    end = max(number, first)
    table.ref = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{end}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref


def _destinations(workbook: Workbook) -> Iterable[tuple[str, Any]]:
    for name, defined in workbook.defined_names.items():
        yield name.lower(), defined
    for sheet in workbook.worksheets:
        for name, defined in sheet.defined_names.items():
            yield name.lower(), defined


def _set_named_cells(workbook: Workbook, values: dict[str, Any]) -> None:
    for name, defined in list(_destinations(workbook)):
        if name not in values:
            continue
        for title, ref in defined.destinations:
            if title not in workbook.sheetnames:
                continue
            # A named range (a merged area, say) gets the value in its first cell.
            min_col, min_row, _, _ = range_boundaries(ref.replace("$", ""))
            workbook[title].cell(min_row, min_col).value = values[name]


def _errors_sheet(workbook: Workbook, errors: Sequence[RowError]) -> None:
    if ERRORS_SHEET in workbook.sheetnames:
        sheet = workbook[ERRORS_SHEET]
        header = [column_key(cell.value or "") for cell in sheet[1]]
        style = [copy(cell._style) for cell in sheet[2]] if sheet.max_row >= 2 else []
    else:
        sheet = workbook.create_sheet(ERRORS_SHEET)
        header = list(ERRORS_COLUMNS)
        style = []
        titles = zip(("Row", "Column", "Value", "Reason"), (8, 18, 30, 70), strict=True)
        for col, (title, width) in enumerate(titles, 1):
            cell = sheet.cell(1, col, title)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDDDDD")
            sheet.column_dimensions[get_column_letter(col)].width = width
        sheet.freeze_panes = "A2"
    if len(errors) + 1 >= MAX_SHEET_ROWS:
        raise TemplateError(f"{len(errors):,} invalid rows do not fit in the {ERRORS_SHEET} sheet")
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, error in enumerate(errors, start=2):
        for col, name in enumerate(header, start=1):
            if name not in ERRORS_COLUMNS:
                continue
            cell = sheet.cell(number, col, getattr(error, name))
            if col <= len(style):
                cell._style = copy(style[col - 1])
            elif name == "reason":
                cell.alignment = wrap
