"""The inputs and results of the two MCP activities (``list_mcp_tools``,
``mcp_tool``): what crosses between workflow and worker, so what history holds.
Server entries carry their ``${VAR}`` references, never the values."""

from __future__ import annotations

from pydantic import BaseModel, Field

from deepagents_temporal.mcp.spec import McpServerSpec, McpToolSpec
from deepagents_temporal.schema import ToolCall


class McpListInput(BaseModel):
    run_id: str
    servers: list[McpServerSpec]
    # Names the model already knows (built-in and custom tools): an MCP tool may not take one.
    reserved: list[str] = Field(default_factory=list)


class McpListOutput(BaseModel):
    tools: list[McpToolSpec] = Field(default_factory=list)
    # A server that could not be listed, or a tool left out, each as one sentence.
    problems: list[str] = Field(default_factory=list)


class McpToolInput(BaseModel):
    run_id: str
    agent: str
    call: ToolCall
    server: McpServerSpec
    # The server's own name for the tool (call.name is the model's).
    tool: str
