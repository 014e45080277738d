"""Tools from MCP servers: the entries a profile names (``spec.py``, plain data a
run keeps) and the worker-side client that lists and calls them (``client.py``).
The activities are in ``activities/mcp_tools.py``; docs/profiles.md is the guide."""

from deepagents_temporal.mcp.spec import (
    TOOL_PREFIX,
    McpServerSpec,
    McpToolSpec,
    granted,
    model_tool_name,
    parse_tool_entry,
)

__all__ = ["TOOL_PREFIX", "McpServerSpec", "McpToolSpec", "granted", "model_tool_name", "parse_tool_entry"]
