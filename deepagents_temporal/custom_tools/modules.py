"""Finding the custom tools: the modules named in ``DEEPAGENT_TOOL_MODULES``.

Workers import them to run the tools; the CLI imports them so that
``profiles check`` knows every tool name. A module's tools are its top-level
``@tool`` functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from deepagents_temporal.custom_tools.definition import CustomTool
from deepagents_temporal.custom_tools.errors import ToolDefinitionError


class ToolModulesError(ValueError):
    """A module that cannot be imported or whose tools clash, with what to do."""


def load_tool_modules(names: Sequence[str]) -> dict[str, CustomTool]:
    """Every ``@tool`` of the named modules, by tool name (unique across modules)."""
    tools: dict[str, CustomTool] = {}
    where: dict[str, str] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            raise ToolModulesError(
                f"DEEPAGENT_TOOL_MODULES: cannot import {name!r} ({err}); is its folder on PYTHONPATH?"
            ) from None
        except ToolDefinitionError as err:
            raise ToolModulesError(f"DEEPAGENT_TOOL_MODULES: module {name!r}: {err}") from None
        except Exception as err:  # noqa: BLE001 - the module's own import error, named
            raise ToolModulesError(
                f"DEEPAGENT_TOOL_MODULES: importing {name!r} failed: {type(err).__name__}: {err}"
            ) from None
        found = [value for value in vars(module).values() if isinstance(value, CustomTool)]
        if not found:
            raise ToolModulesError(f"DEEPAGENT_TOOL_MODULES: module {name!r} has no @tool functions")
        for custom in found:
            if custom.name in tools and tools[custom.name] is not custom:
                raise ToolModulesError(
                    f"DEEPAGENT_TOOL_MODULES: tool {custom.name!r} is defined in both {where[custom.name]} and {name}"
                )
            tools[custom.name] = custom
            where[custom.name] = name
    return tools
