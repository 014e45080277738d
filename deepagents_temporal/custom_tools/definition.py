"""``@tool``: a plain Python function becomes a tool the agents can call.

The model sees a JSON schema built from the function's type hints and
docstring by langchain-core (pydantic models as arguments work); the same
pydantic model validates the model's arguments before the function runs, so a
bad call comes back to the model naming the field. Each tool runs on the
workers as an activity of its own (``activities/custom_tools.py``) with the
timeout and retries given here. A parameter annotated :class:`ToolContext`
is not shown to the model: the worker passes the run's files there.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from deepagents_temporal.custom_tools.context import ToolContext
from deepagents_temporal.custom_tools.errors import ToolDefinitionError
from deepagents_temporal.profiles import BUILTIN_TOOLS, CustomToolSpec
from deepagents_temporal.tools import ToolArgumentError, describe_validation_error

TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_RETRIES = 2
# Docstring sections that are not the tool's description.
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):\s*$", re.MULTILINE)


class CustomTool:
    """A decorated function; still callable as the plain function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        description: str | None,
        timeout_seconds: float,
        retries: int,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        where = f"{fn.__module__}.{fn.__qualname__}"
        if not TOOL_NAME.match(self.name):
            raise ToolDefinitionError(
                f"tool {where}: name {self.name!r} must be letters, digits, '_' or '-' (at most 64)"
            )
        if self.name in BUILTIN_TOOLS:
            raise ToolDefinitionError(f"tool {where}: {self.name!r} is a built-in tool's name; choose another")
        if not timeout_seconds > 0:
            raise ToolDefinitionError(f"tool {where}: timeout_seconds must be positive, got {timeout_seconds}")
        if retries < 0:
            raise ToolDefinitionError(f"tool {where}: retries must be 0 or more, got {retries}")
        self.timeout_seconds = float(timeout_seconds)
        self.retries = retries
        self.description = description or _description_of(fn, where)
        self.context_parameter = _context_parameter(fn, where)
        hidden = [self.context_parameter] if self.context_parameter else []
        # Imported here, when a tool is defined: langchain-core's tools module costs a
        # worker a second of start-up, and most workers define no tool.
        from langchain_core.tools import StructuredTool
        from langchain_core.tools.base import create_schema_from_function
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.args_schema: type[BaseModel] = create_schema_from_function(
            self.name, fn, filter_args=hidden, parse_docstring=True
        )
        schema_tool = StructuredTool(
            name=self.name, description=self.description, args_schema=self.args_schema, func=fn
        )
        self.parameters: dict[str, Any] = convert_to_openai_tool(schema_tool)["function"]["parameters"]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def spec(self) -> CustomToolSpec:
        return CustomToolSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            timeout_seconds=self.timeout_seconds,
            retries=self.retries,
        )

    def parse(self, args: dict[str, Any]) -> BaseModel:
        """The model's arguments validated; :class:`ToolArgumentError` names the fields."""
        try:
            return self.args_schema.model_validate(args)
        except ValidationError as err:
            raise ToolArgumentError(f"invalid arguments for {self.name}: {describe_validation_error(err)}") from None

    async def invoke(self, args: BaseModel, context: ToolContext) -> str:
        """Run the function (a sync one in a thread) and give its result as text."""
        kwargs = {field: getattr(args, field) for field in type(args).model_fields}
        if self.context_parameter:
            kwargs[self.context_parameter] = context
        if inspect.iscoroutinefunction(self.fn):
            result = await self.fn(**kwargs)
        else:
            result = await asyncio.to_thread(self.fn, **kwargs)
        return result_text(result)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    retries: int = DEFAULT_RETRIES,
) -> Any:
    """Make ``fn`` a tool: ``@tool`` or ``@tool(timeout_seconds=30, retries=3)``.

    ``timeout_seconds`` bounds one attempt; ``retries`` is how many more
    attempts follow an exception (:class:`NonRetryableToolError` gets none).
    """

    def wrap(function: Callable[..., Any]) -> CustomTool:
        return CustomTool(
            function, name=name, description=description, timeout_seconds=timeout_seconds, retries=retries
        )

    return wrap(fn) if fn is not None else wrap


def result_text(result: Any) -> str:
    """What the model reads: text as it is, anything else as JSON."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def _description_of(fn: Callable[..., Any], where: str) -> str:
    doc = inspect.getdoc(fn) or ""
    description = _SECTION.split(doc, maxsplit=1)[0].strip()
    if not description:
        raise ToolDefinitionError(
            f"tool {where} has no docstring: its first paragraphs are the description the model reads"
        )
    return description


def _context_parameter(fn: Callable[..., Any], where: str) -> str | None:
    try:
        hints = typing.get_type_hints(fn)
    except Exception as err:  # noqa: BLE001 - any unresolvable hint
        raise ToolDefinitionError(f"tool {where}: its type hints cannot be resolved ({err})") from None
    found = [name for name, hint in hints.items() if hint is ToolContext]
    if len(found) > 1:
        raise ToolDefinitionError(f"tool {where}: only one parameter may be a ToolContext, got {found}")
    return found[0] if found else None
