"""Reading Temporal failures: what actually went wrong, down the cause chain.

An activity or child failure reaches the workflow (and a client) wrapped in
``ActivityError`` / ``ChildWorkflowError`` / ``WorkflowFailureError``; the
message a person needs is the innermost one. Workflow code, the CLI and the
tests read it the same way through these helpers.
"""

from __future__ import annotations

from temporalio.exceptions import FailureError


def failure_messages(err: BaseException) -> list[str]:
    """Every message down the failure's cause chain, outermost first."""
    messages = []
    current: BaseException | None = err
    while current is not None:
        messages.append(getattr(current, "message", None) or str(current))
        current = current.cause if isinstance(current, FailureError) else getattr(current, "cause", None)
    return messages


def innermost_failure_message(err: BaseException) -> str:
    """The innermost failure's message: what actually went wrong (without the error type
    ``str()`` puts before a lone failure's message, so rows read as the CLI prints)."""
    messages = failure_messages(err)
    return messages[-1] if len(messages) > 1 or isinstance(err, FailureError) else str(err)
