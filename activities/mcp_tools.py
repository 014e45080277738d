"""MCP tools as activities: ``list_mcp_tools`` once when a run starts, and
``mcp_tool`` for every call (one activity type for all servers; its summary
names the server and the tool).

The listing asks each server the profile uses and never fails for one that is
down: that server is reported as a problem and its tools are left out of the
run, which goes on. A call that cannot reach its server is retried as the
server entry says and then comes back to the model as a tool error naming the
server; a JSON-RPC error (the server refused the call) is not retried; a tool
that reports an error (``isError``) is answered to the model as it is.
"""

from __future__ import annotations

import asyncio

import anyio
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.mcp.activity_io import McpListInput, McpListOutput, McpToolInput
from deepagents_temporal.mcp.errors import McpConfigurationError, McpServerError, McpUnreachableError
from deepagents_temporal.redaction import redact
from deepagents_temporal.schema import Message, ToolOutput

MCP_UNREACHABLE = "McpUnreachable"
MCP_REFUSED = "McpRefused"
SUMMARY_CHARS = 120


class McpActivities:
    def __init__(self, conversations: ConversationStore) -> None:
        self._conversations = conversations

    @activity.defn(name="list_mcp_tools")
    async def list_mcp_tools(self, request: McpListInput) -> McpListOutput:
        from deepagents_temporal.mcp.client import list_tools  # the mcp package only where MCP is used

        output = McpListOutput()
        taken = set(request.reserved)
        for server in request.servers:
            try:
                tools = await list_tools(server)
            except TimeoutError:
                output.problems.append(
                    f"{server.describe()} did not list its tools within {server.timeout_seconds:g} s"
                )
                continue
            except (McpUnreachableError, McpServerError, McpConfigurationError) as err:
                output.problems.append(redact(str(err)))
                continue
            for tool in tools:
                if tool.name in taken:
                    output.problems.append(
                        f"{server.describe()}: tool {tool.tool!r} left out: its name {tool.name!r} is already taken"
                    )
                    continue
                taken.add(tool.name)
                output.tools.append(tool)
        activity.logger.info("listed %d MCP tools, %d problems", len(output.tools), len(output.problems))
        return output

    @activity.defn(name="mcp_tool")
    async def mcp_tool(self, request: McpToolInput) -> ToolOutput:
        from deepagents_temporal.mcp.client import call_tool  # the mcp package only where MCP is used

        call, server = request.call, request.server
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        try:
            with anyio.fail_after(server.timeout_seconds):
                text, is_error = await call_tool(server, request.tool, args)
            # A server that echoes a header or env value must not put it in the history.
            text = redact(text)
        except TimeoutError:
            raise ApplicationError(
                f"{server.describe()} did not answer {request.tool} within {server.timeout_seconds:g} s",
                type=MCP_UNREACHABLE,
            ) from None
        except McpUnreachableError as err:
            raise ApplicationError(str(err), type=MCP_UNREACHABLE) from None
        except (McpServerError, McpConfigurationError) as err:
            raise ApplicationError(str(err), type=MCP_REFUSED, non_retryable=True) from None
        if is_error:
            problem = f"tool {call.name} (MCP server {server.name}) reported an error: {text}"
            return ToolOutput(
                message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call.id, name=call.name),
                summary=f"{call.name}: error: {text[:SUMMARY_CHARS]}",
                error=problem,
            )
        message = await asyncio.to_thread(self._conversations.tool_message, request.run_id, call, text)
        summary = f"{call.name} (MCP server {server.name}): {len(text)} characters"
        activity.logger.info("%s %s", request.agent, summary)
        return ToolOutput(message=message, summary=summary)
