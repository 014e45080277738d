"""Example tool module: exact arithmetic and CSV tables for the "analyst" profile.

Use it with::

    PYTHONPATH=examples/tools DEEPAGENT_TOOL_MODULES=analyst_tools \
    DEEPAGENT_PROFILES=examples/profiles python starter.py run --profile analyst "..."

Each ``@tool`` function runs on the workers as an activity of its own
(``tool:calculate``, ``tool:save_table``); the model sees a schema built from
the type hints and the docstring.
"""

from __future__ import annotations

import ast
import csv
import io
import operator
import re
from decimal import Decimal, DivisionByZero, InvalidOperation

from pydantic import BaseModel, Field

from deepagents_temporal import NonRetryableToolError, ToolContext, tool

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_EXPONENT = 100


@tool(timeout_seconds=10, retries=0)
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly, in decimal: + - * / % **, parentheses.
    Use it for every figure you report instead of computing in your head.

    Args:
        expression: the arithmetic, e.g. "(1250.50 * 12) / 3"
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise NonRetryableToolError(f"not an arithmetic expression: {expression!r}") from None
    try:
        return str(_evaluate(tree.body).normalize())
    except (DivisionByZero, ZeroDivisionError):
        raise NonRetryableToolError("division by zero") from None
    except InvalidOperation as err:
        raise NonRetryableToolError(f"cannot compute {expression!r}: {err}") from None


def _evaluate(node: ast.AST) -> Decimal:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Decimal(str(node.value))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise NonRetryableToolError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise NonRetryableToolError(f"only numbers and + - * / % ** are allowed, not {ast.unparse(node)!r}")


class Row(BaseModel):
    label: str = Field(description="what the row is about, e.g. a month or a product")
    value: float = Field(description="its figure")


@tool(timeout_seconds=30, retries=2)
async def save_table(title: str, rows: list[Row], ctx: ToolContext) -> str:
    """Save a table of labelled figures as a CSV file in the run's files, under /tables/.
    Returns the file's path, which you can cite in your answer.

    Args:
        title: the table's title; the file is named after it
        rows: the rows, in the order to keep
    """
    if not rows:
        raise NonRetryableToolError("a table needs at least one row")
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "table"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "value"])
    writer.writerows([row.label, f"{row.value:g}"] for row in rows)
    return await ctx.write_file(f"/tables/{slug}.csv", buffer.getvalue())
