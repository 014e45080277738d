"""The report's figures: totals of the type's ``totals`` fields, and the same sums per group.

Sums are exact (``Decimal`` and ``int``, never floats while adding); numbers
become JSON numbers (``plain``) only at the end, so the same rows always give
the same figures. Groups are sorted by their key.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from deepagents_temporal.reports.row import ReportRow


def plain(value: Any) -> Any:
    """A figure as JSON has it: ints stay ints, decimals become floats."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sums(rows: list[ReportRow], names: tuple[str, ...]) -> dict[str, Any]:
    sums: dict[str, Any] = dict.fromkeys(names, 0)
    for row in rows:
        for name in names:
            sums[name] += getattr(row, name)
    return {name: plain(value) for name, value in sums.items()}


def compute(rows: list[ReportRow], model: type[ReportRow]) -> dict[str, Any]:
    """``{"rows": n, "totals": {...}, "groups": {field: [{field: key, "rows": n, <totals>...}]}}``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for field in model.group_by:
        members: dict[Any, list[ReportRow]] = defaultdict(list)
        for row in rows:
            members[getattr(row, field)].append(row)
        groups[field] = [
            {field: plain(key), "rows": len(members[key]), **_sums(members[key], model.totals)}
            for key in sorted(members, key=str)
        ]
    return {"rows": len(rows), "totals": _sums(rows, model.totals), "groups": groups}
