"""What can go wrong talking to an MCP server, without the ``mcp`` package.

Kept apart from ``client.py`` so the activities can catch these while the
``mcp`` client itself (about a second and a half of imports) is loaded only
by a worker whose profiles use MCP tools, at their first listing or call.
"""

from __future__ import annotations


class McpConfigurationError(ValueError):
    """The worker cannot connect as the entry says (a ${VAR} that is not set)."""


class McpUnreachableError(RuntimeError):
    """The server could not be started, reached or asked (its connection failed)."""


class McpServerError(RuntimeError):
    """The server answered with a JSON-RPC error: asking again will not help."""
