"""The run's search attributes as the workflow keeps them (deepagents_temporal/search_attributes.py):
its sub-agents start with the run's own, marked ``WorkflowKind=sub-agent``,
and its last act sets ``RunStatus`` (and ``Profile``, known only after
routing). Only a run started with them (so they are registered) touches them;
the update is behind a ``workflow.patched`` id, as a new command."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.search_attributes import PROFILE, RUN_STATUS, SUB_AGENT, WORKFLOW_KIND

RUN_STATUS_PATCH = "run-status-search-attribute"


def _carries_them() -> bool:
    return workflow.info().typed_search_attributes.get(RUN_STATUS) is not None


def child_attributes() -> TypedSearchAttributes | None:
    if not _carries_them():
        return None
    own = workflow.info().typed_search_attributes
    kept = [pair for pair in own if pair.key.name not in (WORKFLOW_KIND.name, RUN_STATUS.name)]
    return TypedSearchAttributes(
        [*kept, SearchAttributePair(WORKFLOW_KIND, SUB_AGENT), SearchAttributePair(RUN_STATUS, "RUNNING")]
    )


def record_end(status: str, profile: str | None) -> None:
    if not _carries_them() or not workflow.patched(RUN_STATUS_PATCH):
        return
    updates = [RUN_STATUS.value_set(status)]
    if profile:
        updates.append(PROFILE.value_set(profile))
    workflow.upsert_search_attributes(updates)
