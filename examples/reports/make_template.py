"""Writes examples/reports/sales_template.xlsx, the example sales report template (run once; the file is committed).

    python examples/reports/make_template.py

The template shows what a report template holds (docs/architecture.md,
"Report templates"): header styles and number formats on a sheet "Sales" with
an Excel table ``data`` (header row, then the style row every filled row
copies), named cells for the totals, the row counts and the narrative, and a
sheet "Summary" with one table per grouping field (``by_region``,
``by_product``).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.table import Table, TableStyleInfo

OUT = Path(__file__).with_name("sales_template.xlsx")

HEADER_FONT = Font(name="Calibri", bold=True, color="FFFFFF", size=11)
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
TITLE_FONT = Font(name="Calibri", bold=True, size=16, color="1F4E78")
LABEL_FONT = Font(name="Calibri", bold=True, size=11)
TOTAL_FILL = PatternFill("solid", fgColor="DDEBF7")
ROW_FONT = Font(name="Calibri", size=11, color="222222")
THIN = Border(bottom=Side(style="thin", color="BFBFBF"))

UNITS = "#,##0"
MONEY = '"$"#,##0.00'
DATE = "yyyy-mm-dd"


def _table(sheet, name: str, top_left_row: int, first_col: int, columns: list[tuple[str, str | None, float]]) -> None:
    """A header row with the house style, a style row under it, and the Excel table over both."""
    for offset, (title, number_format, width) in enumerate(columns):
        col = first_col + offset
        header = sheet.cell(top_left_row, col, title)
        header.font, header.fill = HEADER_FONT, HEADER_FILL
        header.alignment = Alignment(horizontal="center")
        style = sheet.cell(top_left_row + 1, col)
        style.font, style.border = ROW_FONT, THIN
        if number_format:
            style.number_format = number_format
        sheet.column_dimensions[style.column_letter].width = width
    last = sheet.cell(top_left_row + 1, first_col + len(columns) - 1).coordinate
    table = Table(displayName=name, ref=f"{sheet.cell(top_left_row, first_col).coordinate}:{last}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
    sheet.add_table(table)


def _named(workbook: Workbook, name: str, sheet: str, ref: str) -> None:
    workbook.defined_names[name] = DefinedName(name, attr_text=f"'{sheet}'!{ref}")


def build() -> Workbook:
    workbook = Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales["A1"] = "Sales report"
    sales["A1"].font = TITLE_FONT
    labels = [
        ("A2", "Total units", "B2", "total_units", UNITS),
        ("A3", "Total revenue", "B3", "total_revenue", MONEY),
        ("D2", "Valid rows", "E2", "valid_rows", UNITS),
        ("D3", "Invalid rows", "E3", "invalid_rows", UNITS),
    ]
    for label_ref, label, value_ref, name, number_format in labels:
        sales[label_ref] = label
        sales[label_ref].font = LABEL_FONT
        sales[value_ref].number_format = number_format
        sales[value_ref].fill = TOTAL_FILL
        sales[value_ref].font = LABEL_FONT
        _named(workbook, name, "Sales", f"${value_ref[0]}${value_ref[1:]}")
    sales["A4"] = "Summary"
    sales["A4"].font = LABEL_FONT
    sales.merge_cells("B4:F4")
    sales["B4"].alignment = Alignment(wrap_text=True, vertical="top")
    sales.row_dimensions[4].height = 75
    _named(workbook, "narrative", "Sales", "$B$4:$F$4")
    sales["A5"] = "Data file"
    sales["A5"].font = LABEL_FONT
    sales["B5"].font = Font(name="Calibri", size=9, color="7F7F7F")
    _named(workbook, "data_file", "Sales", "$B$5")
    _table(
        sales,
        "data",
        7,
        1,
        [
            ("Date", DATE, 12),
            ("Region", None, 14),
            ("Product", None, 18),
            ("Units", UNITS, 10),
            ("Unit price", MONEY, 12),
            ("Revenue", MONEY, 14),
        ],
    )
    sales.freeze_panes = "A8"

    summary = workbook.create_sheet("Summary")
    sums = [("Rows", UNITS, 8), ("Units", UNITS, 10), ("Revenue", MONEY, 14)]
    _table(summary, "by_region", 1, 1, [("Region", None, 14), *sums])
    _table(summary, "by_product", 1, 6, [("Product", None, 18), *sums])
    return workbook


if __name__ == "__main__":
    build().save(OUT)
    print(f"wrote {OUT}")
