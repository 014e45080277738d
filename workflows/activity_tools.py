"""Built-in tools that are activities of their own, from workflow code:
``fetch_url`` (``activities/fetch.py``) and ``search_documents``
(``activities/rag.py``), each with its timeout and bounded retries.
``workflows/agent.py`` calls :func:`call_tool` and turns a failure into a
tool error for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.fetch import FETCH_ACTIVITY_TIMEOUT, FETCH_RETRY_POLICY
    from deepagents_temporal.rag.policy import SEARCH_ACTIVITY_TIMEOUT, SEARCH_RETRY_POLICY
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT
    from deepagents_temporal.schema import CustomToolInput, ToolOutput


@dataclass(frozen=True)
class ActivityTool:
    activity: str
    timeout: timedelta
    retry_policy: RetryPolicy

    @property
    def attempts(self) -> int:
        return self.retry_policy.maximum_attempts


ACTIVITY_TOOLS: dict[str, ActivityTool] = {
    "fetch_url": ActivityTool("fetch_url", FETCH_ACTIVITY_TIMEOUT, FETCH_RETRY_POLICY),
    "search_documents": ActivityTool("search_documents", SEARCH_ACTIVITY_TIMEOUT, SEARCH_RETRY_POLICY),
}


async def call_tool(request: CustomToolInput, summary: str) -> ToolOutput:
    """One call; raises ActivityError when it failed for good."""
    tool = ACTIVITY_TOOLS[request.call.name]
    return await workflow.execute_activity(
        tool.activity,
        request,
        result_type=ToolOutput,
        start_to_close_timeout=tool.timeout,
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=tool.retry_policy,
        summary=summary,
    )
