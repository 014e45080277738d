"""Custom tools: plain Python functions the agents call, each run as an activity.

``@tool`` (``definition.py``) turns a function into a tool, ``ToolContext``
(``context.py``) gives it the run's files, ``load_tool_modules``
(``modules.py``) finds the tools of ``DEEPAGENT_TOOL_MODULES``. The guide is
docs/profiles.md.
"""

from deepagents_temporal.custom_tools.context import ToolContext
from deepagents_temporal.custom_tools.definition import CustomTool, result_text, tool
from deepagents_temporal.custom_tools.errors import NonRetryableToolError, ToolDefinitionError, ToolFileError
from deepagents_temporal.custom_tools.modules import ToolModulesError, load_tool_modules

__all__ = [
    "CustomTool",
    "NonRetryableToolError",
    "ToolContext",
    "ToolDefinitionError",
    "ToolFileError",
    "ToolModulesError",
    "load_tool_modules",
    "result_text",
    "tool",
]
