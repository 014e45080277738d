"""MCP tools from workflow code: listing the servers' tools once when a run
starts (the ``list_mcp_tools`` activity; its result is recorded, so the run
and its sub-agents see one stable tool list even if a server changes) and
calling one (the ``mcp_tool`` activity, retried as its server entry says).
``workflows/agent.py`` calls these and turns failures into tool errors.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mcp_tools import McpActivities
    from deepagents_temporal.mcp import McpToolSpec, parse_tool_entry
    from deepagents_temporal.mcp.activity_io import McpListInput, McpListOutput, McpToolInput
    from deepagents_temporal.profiles import BUILTIN_TOOLS, Profile
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT, STORAGE_RETRY_POLICY, mcp_tool_retry_policy
    from deepagents_temporal.schema import ToolCall, ToolOutput
    from workflows import summaries

# Time for a worker to start beyond the servers' own timeouts.
LISTING_SLACK = timedelta(seconds=30)


def needs_listing(profile: Profile) -> bool:
    return bool(profile.mcp_servers) and profile.mcp_tools is None


async def list_tools(profile: Profile, run_id: str) -> tuple[Profile, list[str]]:
    """The profile with the tools of the MCP servers its agents use, and the problems met."""
    agents = [profile.supervisor, *profile.subagents.values()]
    used = {entry[0] for agent in agents for entry in map(parse_tool_entry, agent.tools) if entry is not None}
    servers = [server for name, server in profile.mcp_servers.items() if name in used]
    if not servers:
        return profile.model_copy(update={"mcp_tools": []}), []
    output: McpListOutput = await workflow.execute_activity_method(
        McpActivities.list_mcp_tools,
        McpListInput(run_id=run_id, servers=servers, reserved=[*BUILTIN_TOOLS, *profile.custom_tools]),
        start_to_close_timeout=timedelta(seconds=sum(s.timeout_seconds for s in servers)) + LISTING_SLACK,
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=STORAGE_RETRY_POLICY,
        summary=f"list MCP tools: {', '.join(s.name for s in servers)}",
    )
    return profile.model_copy(update={"mcp_tools": output.tools}), output.problems


async def call_tool(run_id: str, agent: str, call: ToolCall, tool: McpToolSpec, profile: Profile) -> ToolOutput:
    """One call, as the ``mcp_tool`` activity; raises ActivityError when it failed for good."""
    server = profile.mcp_servers[tool.server]
    return await workflow.execute_activity_method(
        McpActivities.mcp_tool,
        McpToolInput(run_id=run_id, agent=agent, call=call, server=server, tool=tool.tool),
        start_to_close_timeout=timedelta(seconds=server.timeout_seconds) + timedelta(seconds=10),
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=mcp_tool_retry_policy(server.retries),
        summary=summaries.tool_call(f"mcp {tool.server}/{tool.tool}", call),
    )
