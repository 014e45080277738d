"""Talking to an MCP server from a worker, with the ``mcp`` package's client.

Each listing and each call opens its own connection (a stdio server is
started for it and stopped after), so no connection state outlives an
activity attempt and a server restarted between two calls is simply reached
again. ``${VAR}`` references in ``env`` and ``headers`` are read from the
worker's environment here, and the values are registered with the redaction
step so an error text that echoes one never leaves the worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, TextContent

from deepagents_temporal.mcp.errors import McpConfigurationError, McpServerError, McpUnreachableError
from deepagents_temporal.mcp.spec import VARIABLE, McpServerSpec, McpToolSpec, model_tool_name
from deepagents_temporal.redaction import register_secret_values


def resolve(text: str, server: McpServerSpec, field: str) -> str:
    """``text`` with each ${VAR} replaced by the worker's environment value."""

    def value(match: Any) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise McpConfigurationError(
                f"{server.describe()}: {field} needs ${{{name}}}, which is not set in the worker's environment"
            )
        register_secret_values([found])
        return found

    return VARIABLE.sub(value, text)


@asynccontextmanager
async def connect(server: McpServerSpec) -> AsyncIterator[Client]:
    """An initialized client for ``server``; connection failures become :class:`McpUnreachableError`."""
    if server.command:
        params = StdioServerParameters(
            command=server.command,
            args=list(server.args),
            env={k: resolve(v, server, f"env.{k}") for k, v in server.env.items()} or None,
            cwd=server.cwd,
        )
        target: Any = params
    else:
        assert server.url is not None
        headers = {k: resolve(v, server, f"headers.{k}") for k, v in server.headers.items()}
        target = streamable_http_client(server.url, http_client=create_mcp_http_client(headers=headers))
    try:
        async with Client(target, read_timeout_seconds=server.timeout_seconds) as client:
            yield client
    except Exception as err:  # noqa: BLE001 - any transport failure: the server cannot be used now
        inner = _innermost(err)
        if isinstance(inner, McpServerError | McpConfigurationError):
            raise inner from None
        if isinstance(inner, MCPError):
            raise McpServerError(f"{server.describe()} answered with an error: {inner.message}") from None
        raise McpUnreachableError(f"{server.describe()} cannot be reached: {_reason(inner)}") from None


async def list_tools(server: McpServerSpec) -> list[McpToolSpec]:
    """Every tool the server offers (all pages), as the model will see them."""
    tools: list[McpToolSpec] = []
    with anyio.fail_after(server.timeout_seconds):
        async with connect(server) as client:
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor, cache_mode="refresh")
                for tool in page.tools:
                    tools.append(
                        McpToolSpec(
                            name=model_tool_name(server.name, tool.name),
                            server=server.name,
                            tool=tool.name,
                            description=tool.description or tool.title or tool.name,
                            parameters=tool.input_schema or {"type": "object", "properties": {}},
                        )
                    )
                cursor = page.next_cursor
                if not cursor:
                    break
    return tools


async def call_tool(server: McpServerSpec, tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
    """The tool's answer as text for the model, and whether the tool reported an error."""
    async with connect(server) as client:
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as err:
            raise McpServerError(f"{server.describe()} refused {tool}: {err.message}") from None
    return result_text(result), bool(result.is_error)


def result_text(result: CallToolResult) -> str:
    """Text parts as they are; other content named by kind; structured content as JSON when there is no text."""
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, TextContent):
            parts.append(item.text)
        else:
            kind = getattr(item, "type", type(item).__name__)
            mime = getattr(item, "mime_type", None)
            parts.append(f"[{kind}{' ' + mime if mime else ''} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _innermost(err: BaseException) -> BaseException:
    """The failure itself: anyio wraps transport failures in exception groups."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
