"""The report types, registered by name.

Adding a type is one ``ReportRow`` subclass (``row.py``: its fields are the
data file's columns, its ``computed_field`` properties are derived figures)
listed in ``REPORT_TYPES``, plus one template uploaded to ``templates/``. The
class says which fields are summed (``totals``) and by which fields rows are
grouped (``group_by``); everything else (parsing, validation, the workbook,
the summary) is the same for every type.
"""

from __future__ import annotations

from deepagents_temporal.reports.row import ReportRow
from deepagents_temporal.reports.sales import SalesRow


class UnknownReportTypeError(LookupError):
    pass


def _registry(*models: type[ReportRow]) -> dict[str, type[ReportRow]]:
    return {model.report_type: model for model in models}


# One line per report type.
REPORT_TYPES: dict[str, type[ReportRow]] = _registry(SalesRow)


def report_type(name: str) -> type[ReportRow]:
    """The row model of report type ``name``; UnknownReportTypeError naming the known ones."""
    try:
        return REPORT_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(REPORT_TYPES))
        raise UnknownReportTypeError(f"unknown report type {name!r}; known types: {known}") from None
