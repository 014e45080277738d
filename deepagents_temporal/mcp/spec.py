"""MCP servers and their tools as a run keeps them: plain data, no I/O.

A profile names MCP servers (``mcp_servers``) and grants their tools as
``mcp:<server>/<tool>`` or ``mcp:<server>/*``. The server entries travel in
the resolved profile with their ``${VAR}`` references as written: the values
are read from the worker's environment when a worker connects
(``deepagents_temporal/mcp/client.py``), so no secret enters a workflow input
or the history. The tools a server offered when the run started
(:class:`McpToolSpec`) are listed once, recorded, and kept by every agent of
the run.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

TOOL_PREFIX = "mcp:"
# ${NAME}: a value read from the worker's environment when it connects.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What OpenAI-compatible models accept as a function name.
_MODEL_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_MODEL_NAME = 64
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_RETRIES = 2


class McpServerSpec(BaseModel):
    """One MCP server: stdio (``command``) or streamable HTTP (``url``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    # Values may hold ${VAR}, resolved on the worker.
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    # One attempt of a call; attempts after the first when the server cannot be reached.
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retries: int = DEFAULT_RETRIES

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "streamable HTTP"

    def describe(self) -> str:
        """The server as error texts name it (no header or env values)."""
        where = " ".join([self.command or "", *self.args]).strip() if self.command else (self.url or "")
        return f"MCP server {self.name} ({self.transport}: {where})"

    def variables(self) -> list[str]:
        """The ${VAR} names this entry reads from the worker's environment."""
        texts = [*self.env.values(), *self.headers.values()]
        return sorted({m.group(1) for text in texts for m in VARIABLE.finditer(text)})


class McpToolSpec(BaseModel):
    """A tool one server offered when the run started."""

    model_config = ConfigDict(frozen=True)

    # The name the model calls it by: <server>_<tool>, in the model's alphabet.
    name: str
    server: str
    # The server's own name for it.
    tool: str
    description: str
    parameters: dict[str, Any]


def parse_tool_entry(entry: str) -> tuple[str, str] | None:
    """``mcp:server/pattern`` as (server, pattern); None when not an MCP entry or malformed."""
    if not entry.startswith(TOOL_PREFIX):
        return None
    server, sep, pattern = entry[len(TOOL_PREFIX) :].partition("/")
    if not server or not sep or not pattern:
        return None
    return server, pattern


def model_tool_name(server: str, tool: str) -> str:
    return _MODEL_NAME_CHARS.sub("_", f"{server}_{tool}")[:MAX_MODEL_NAME]


def granted(entries: tuple[str, ...], listed: list[McpToolSpec] | None) -> dict[str, McpToolSpec]:
    """The listed tools an agent's ``mcp:`` entries grant, by the name the model calls, in listing order."""
    patterns = [p for p in (parse_tool_entry(e) for e in entries) if p is not None]
    if not patterns or not listed:
        return {}
    return {
        tool.name: tool
        for tool in listed
        if any(server == tool.server and fnmatch.fnmatchcase(tool.tool, pattern) for server, pattern in patterns)
    }
