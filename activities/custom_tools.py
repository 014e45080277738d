"""Custom tools as activities: one activity type per tool, ``tool:<name>``.

Each tool runs with its own timeout and retry policy (set by the workflow from
the tool's ``@tool`` arguments) and heartbeats like every activity, so the UI
names the tool and a lost worker is noticed at once. Arguments are validated
here, not in the workflow, because large ones never enter history; a bad call
is answered to the model without a retry. An exception is retried;
:class:`NonRetryableToolError` (a refused file operation included) is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.files import FileActivities, operation_id
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.custom_tools import CustomTool, NonRetryableToolError, ToolContext
from deepagents_temporal.schema import CustomToolInput, Message, ToolOutput
from deepagents_temporal.tools import ToolArgumentError

NON_RETRYABLE_TOOL_ERROR = "NonRetryableToolError"
SUMMARY_CHARS = 120


class CustomToolActivities:
    def __init__(self, tools: dict[str, CustomTool], files: FileActivities, conversations: ConversationStore) -> None:
        self._tools = tools
        self._files = files
        self._conversations = conversations

    def activities(self) -> list[Callable[..., object]]:
        """One activity per tool, named after it."""
        return [self._activity_for(custom) for custom in self._tools.values()]

    def _activity_for(self, custom: CustomTool) -> Callable[..., object]:
        async def run_custom_tool(request: CustomToolInput) -> ToolOutput:
            return await self._run(custom, request)

        return activity.defn(name=custom.spec.activity_name)(run_custom_tool)

    async def _run(self, custom: CustomTool, request: CustomToolInput) -> ToolOutput:
        call = request.call
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        try:
            parsed = custom.parse(args)
        except ToolArgumentError as err:
            return _error_output(call.id, custom.name, str(err))
        files = self._files.run_files(request)
        context = ToolContext(
            run_id=request.run_id,
            agent=request.agent,
            user_id=request.user_id,
            files=files,
            operation_id=operation_id(),
            is_artifact=lambda result: files.route(result.path) is files.default,
        )
        try:
            output = await custom.invoke(parsed, context)
        except NonRetryableToolError as err:
            raise ApplicationError(str(err), type=NON_RETRYABLE_TOOL_ERROR, non_retryable=True) from None
        message = await asyncio.to_thread(self._conversations.tool_message, request.run_id, call, output)
        written = "".join(f", wrote {a.key}" for a in context.artifacts)
        summary = f"{custom.name}: {len(output)} characters{written}"
        activity.logger.info("%s %s", request.agent, summary)
        return ToolOutput(message=message, summary=summary, artifacts=context.artifacts)


def _error_output(call_id: str, tool: str, problem: str) -> ToolOutput:
    return ToolOutput(
        message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call_id, name=tool),
        summary=f"{tool}: error: {problem[:SUMMARY_CHARS]}",
        error=problem,
    )
