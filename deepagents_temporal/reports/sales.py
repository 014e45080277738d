"""The sales report type: one row per sale (date, region, product, units, unit price).

The example of ``examples/reports/`` (template and data) uses it.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import Field, computed_field

from deepagents_temporal.reports.row import ReportRow


class SalesRow(ReportRow):
    """Sales: units and revenue per region and product, from rows of date, region, product, units, unit price."""

    report_type: ClassVar[str] = "sales"
    totals: ClassVar[tuple[str, ...]] = ("units", "revenue")
    group_by: ClassVar[tuple[str, ...]] = ("region", "product")

    date: datetime.date
    region: str = Field(min_length=1, max_length=100)
    product: str = Field(min_length=1, max_length=100)
    units: int = Field(ge=0, le=1_000_000_000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def revenue(self) -> Decimal:
        return self.units * self.unit_price
