"""What every report type's row model is: a frozen pydantic model with three class variables.

``types.py`` registers the subclasses; ``sales.py`` is the example.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class ReportRow(BaseModel):
    """One valid row of a data file. Subclasses set the three class variables."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore", frozen=True)

    # The registry key, given to `starter.py report --type`.
    report_type: ClassVar[str]
    # Fields (declared or computed) whose sums are the report's totals, in display order.
    totals: ClassVar[tuple[str, ...]]
    # Fields by which the totals are also summed per group (one table each).
    group_by: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def columns(cls) -> list[str]:
        """The data file's columns: the declared fields, in order."""
        return list(cls.model_fields)

    @classmethod
    def required_columns(cls) -> list[str]:
        return [name for name, field in cls.model_fields.items() if field.is_required()]

    @classmethod
    def all_fields(cls) -> list[str]:
        """Declared and computed fields: what a template's table may show."""
        return [*cls.model_fields, *cls.model_computed_fields]

    @classmethod
    def description(cls) -> str:
        return " ".join((cls.__doc__ or cls.report_type).split())


def column_key(header: object) -> str:
    """A header as a field name: "Unit price", "unit_price" and "UNIT-PRICE" are all ``unit_price``."""
    return re.sub(r"[^0-9a-z]+", "_", str(header).strip().lower()).strip("_")
