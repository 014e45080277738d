"""Shared code of the durable deep-agent backend: settings, agent profiles, tool
schemas, the file backends, the conversation and payload stores, the PostgreSQL
store, the embedded dev stack and the connections to every service.

Nothing here imports ``workflows/``, ``activities/``, ``worker.py`` or the CLI;
see docs/architecture.md for who owns what.

The names a tool module needs are importable from here (loaded on first use,
so importing any part of the package stays light)::

    from deepagents_temporal import tool, ToolContext, NonRetryableToolError
"""

from typing import Any

_TOOL_API = ("tool", "ToolContext", "NonRetryableToolError")
__all__ = list(_TOOL_API)


def __getattr__(name: str) -> Any:
    if name in _TOOL_API:
        from deepagents_temporal import custom_tools

        return getattr(custom_tools, name)
    raise AttributeError(f"module 'deepagents_temporal' has no attribute {name!r}")
