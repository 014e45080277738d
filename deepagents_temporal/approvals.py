"""Human approval of tool calls: what a waiting call and a person's decision look like.

A profile's ``interrupt_on`` names tools whose calls wait for a person
(``profiles/spec.py`` ``ApprovalRule``). The workflow lists the waiting calls
through its ``pending_approvals`` query and takes decisions through its
``decide`` update; the CLI (``cli/approve.py``) speaks the same types. Edited
arguments are checked here, without I/O, so the update's validator can refuse
them before anything is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from deepagents_temporal.profiles import ApprovalRule, Profile
from deepagents_temporal.profiles.spec import ApprovalChoice
from deepagents_temporal.tools import ARG_MODELS, describe_validation_error

# The workflow's query and update names: a public contract, like its type name.
PENDING_APPROVALS_QUERY = "pending_approvals"
DECIDE_UPDATE = "decide"


class PendingApproval(BaseModel):
    """One tool call waiting for a decision."""

    workflow_id: str
    agent: str
    call_id: str
    tool: str
    args: dict[str, Any]
    # Large arguments stay in the bucket (the transcript segment with this hash).
    args_stored_in: str | None = None
    allow: list[ApprovalChoice]
    asked_at: datetime
    # When the profile's default decision applies; None: it waits until someone decides.
    decide_by: datetime | None = None
    on_timeout: str | None = None


class ApprovalDecision(BaseModel):
    """A person's answer to one waiting call."""

    call_id: str
    decision: ApprovalChoice
    # Told to the model with a rejection.
    reason: str | None = None
    # The arguments to run the tool with instead (``edit`` only).
    args: dict[str, Any] | None = None
    # Who or what decided (a person, or the profile's timeout default).
    by: str = "a person"


def decision_problem(
    decision: ApprovalDecision, pending: PendingApproval | None, waiting: list[str], profile: Profile | None
) -> str | None:
    """Why ``decision`` cannot be taken (None when it can)."""
    if pending is None:
        return (
            f"no tool call {decision.call_id!r} is waiting for a decision here; waiting: {', '.join(waiting) or 'none'}"
        )
    if decision.decision not in pending.allow:
        return f"{decision.decision} is not allowed for {pending.tool}; allowed: {', '.join(pending.allow)}"
    if decision.decision == "edit":
        if decision.args is None:
            return "edit needs the new arguments (a JSON object)"
        return edited_args_problem(pending.tool, decision.args, profile)
    if decision.args is not None:
        return f"arguments come only with edit, not with {decision.decision}"
    return None


def edited_args_problem(tool: str, args: dict[str, Any], profile: Profile | None) -> str | None:
    """Built-in tools check their argument model; custom tools the required and
    known fields of their schema (their activity checks the rest, as for the model)."""
    if tool in ARG_MODELS:
        try:
            ARG_MODELS[tool].model_validate(args)
        except ValidationError as err:
            return f"invalid arguments for {tool}: {describe_validation_error(err)}"
        return None
    custom = profile.custom_tools.get(tool) if profile is not None else None
    if custom is None:
        return None
    schema = custom.parameters
    missing = [name for name in schema.get("required", []) if name not in args]
    if missing:
        return f"invalid arguments for {tool}: missing {', '.join(missing)}"
    known = schema.get("properties", {})
    unknown = [name for name in args if name not in known]
    if unknown and schema.get("additionalProperties") is not True:
        return f"invalid arguments for {tool}: unknown {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
    return None


def timeout_decision(call_id: str, rule: ApprovalRule) -> ApprovalDecision:
    """What applies when nobody decided within the rule's timeout."""
    return ApprovalDecision(
        call_id=call_id,
        decision=rule.on_timeout,
        reason=f"no decision within {rule.timeout_seconds:g} s; the profile's default is to {rule.on_timeout}",
        by="timeout",
    )


def rejection_text(tool: str, decision: ApprovalDecision) -> str:
    """The tool message the model gets for a rejected call."""
    who = "the approval timed out" if decision.by == "timeout" else "a person rejected it"
    return f"Error: the {tool} call was not run: {who}. Reason: {decision.reason or 'none given'}"
