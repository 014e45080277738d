"""One model call of a workflow that is not an agent loop (a report's narrative,
a document section's notes, an onboarding's fields): the ``call_model``
activity with the model chain as its retry policy, scheduled the same way by
each, so their histories stay as they are."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.model import ModelActivities
    from deepagents_temporal.retries import ACTIVITY_HEARTBEAT_TIMEOUT, model_retry_policy
    from deepagents_temporal.schema import ModelCallInput, ModelCallResult


async def ask_model(call: ModelCallInput, what: str, *, on_model_queue: bool = True) -> ModelCallResult:
    """``call`` as one activity, named ``<what>: model call (<chain>)`` in the UI. On the
    model queue (``<task queue>-models``) unless ``on_model_queue`` is False (the
    reporting workflow, which predates that queue, keeps its own)."""
    chain = call.model_chain
    return await workflow.execute_activity_method(
        ModelActivities.call_model,
        call,
        task_queue=f"{workflow.info().task_queue}-models" if on_model_queue else None,
        start_to_close_timeout=timedelta(seconds=call.request_timeout_seconds + 30),
        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
        retry_policy=model_retry_policy(len(chain) or None, call.rounds),
        summary=f"{what}: model call ({' → '.join(chain) or 'worker models'})",
    )
