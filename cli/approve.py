"""`approve`: the tool calls of a run and its sub-agents waiting for a person, and the decisions on them.

The waiting calls come from each running agent's ``pending_approvals`` query;
a decision is the ``decide`` update of the agent that waits, whose validator
refuses an unknown call or invalid edited arguments with a reason (the run
goes on waiting). Without --approve/--reject/--edit each call is asked about
in turn (rich prompts); with one of them it applies to the one call waiting,
or to the call named with --call.
"""

from __future__ import annotations

import json
from typing import Any

from rich.prompt import Prompt
from temporalio.client import Client, WorkflowUpdateFailedError

from cli.console import console, say
from cli.run_tree import QUERY_TIMEOUT, running_workflows
from cli.services import open_services
from deepagents_temporal.approvals import (
    DECIDE_UPDATE,
    PENDING_APPROVALS_QUERY,
    ApprovalDecision,
    PendingApproval,
)
from deepagents_temporal.failures import failure_messages
from deepagents_temporal.settings import load_settings


async def pending_in_run(client: Client, run_id: str) -> list[PendingApproval]:
    """Every call waiting for a decision in the run and its running sub-agents."""
    waiting: list[PendingApproval] = []
    for workflow_id in await running_workflows(client, run_id):
        try:
            waiting += await client.get_workflow_handle(workflow_id).query(
                PENDING_APPROVALS_QUERY, result_type=list[PendingApproval], rpc_timeout=QUERY_TIMEOUT
            )
        except Exception as err:  # noqa: BLE001 - said, and the others still listed
            say(f"({workflow_id}: no answer to {PENDING_APPROVALS_QUERY}: {err})", style="yellow")
    return waiting


def _args_text(pending: PendingApproval) -> str:
    if pending.args_stored_in:
        return f"(large; stored in transcript {pending.args_stored_in[:12]}…)"
    return json.dumps(pending.args, ensure_ascii=False, indent=1)


def _list(waiting: list[PendingApproval]) -> None:
    say(f"{len(waiting)} tool call(s) waiting for approval:")
    for p in waiting:
        default = f"; {p.on_timeout} at {p.decide_by:%Y-%m-%d %H:%M:%S} UTC" if p.decide_by else ""
        say(f"  {p.call_id}  {p.tool}  by {p.agent} ({p.workflow_id})  allowed: {'/'.join(p.allow)}{default}")
        say("    " + _args_text(p).replace("\n", "\n    "))


async def send(client: Client, pending: PendingApproval, decision: ApprovalDecision) -> bool:
    """The decision to the agent that waits; False (after saying why) when refused."""
    try:
        await client.get_workflow_handle(pending.workflow_id).execute_update(DECIDE_UPDATE, decision, result_type=str)
    except WorkflowUpdateFailedError as err:
        say(f"error: decision refused: {failure_messages(err)[-1]}")
        return False
    say(f"{decision.decision}: {pending.tool} call {pending.call_id} ({pending.agent})")
    return True


def _ask(pending: PendingApproval) -> ApprovalDecision | None:
    choices = [*pending.allow, "skip"]
    say(f"\n{pending.agent} wants to call {pending.tool} ({pending.call_id}):\n{_args_text(pending)}")
    answer = Prompt.ask("decision", choices=choices, default="skip", console=console)
    if answer == "skip":
        return None
    if answer == "reject":
        reason = Prompt.ask("reason (told to the model)", default="", console=console)
        return ApprovalDecision(call_id=pending.call_id, decision="reject", reason=reason or None)
    if answer == "edit":
        while True:
            text = Prompt.ask("new arguments (a JSON object)", default=json.dumps(pending.args), console=console)
            args = _json_object(text)
            if isinstance(args, dict):
                return ApprovalDecision(call_id=pending.call_id, decision="edit", args=args)
            say(f"error: {args}")
    return ApprovalDecision(call_id=pending.call_id, decision="approve")


def _json_object(text: str) -> dict[str, Any] | str:
    """The parsed object, or what is wrong with ``text``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return f"not valid JSON: {err}"
    return value if isinstance(value, dict) else "the arguments must be a JSON object"


async def approve(
    run_id: str,
    *,
    call: str | None,
    approve: bool,
    reject: bool,
    edit: str | None,
    reason: str | None,
) -> int:
    chosen = [name for name, given in (("--approve", approve), ("--reject", reject), ("--edit", edit)) if given]
    if len(chosen) > 1:
        say(f"error: {' and '.join(chosen)} both decide: give one")
        return 2
    if reason and not reject:
        say("error: --reason goes with --reject (it is told to the model)")
        return 2
    edited = _json_object(edit) if edit is not None else None
    if isinstance(edited, str):
        say(f"error: --edit: {edited}")
        return 2
    async with open_services(load_settings(), "approve") as services:
        waiting = await pending_in_run(services.client, run_id)
        if not waiting:
            say(f"no tool call of run {run_id} is waiting for approval")
            return 0 if not chosen else 1
        _list(waiting)
        if not chosen:
            for pending in waiting:
                decision = _ask(pending)
                if decision is not None:
                    await send(services.client, pending, decision)
            return 0
        if call is None and len(waiting) > 1:
            ids = ", ".join(p.call_id for p in waiting)
            say(f"error: {len(waiting)} calls are waiting: name one with --call ({ids})")
            return 2
        target = next((p for p in waiting if call in (None, p.call_id)), None)
        if target is None:
            say(f"error: no call {call!r} is waiting; waiting: {', '.join(p.call_id for p in waiting)}")
            return 2
        kind = "approve" if approve else "reject" if reject else "edit"
        decision = ApprovalDecision(
            call_id=target.call_id,
            decision=kind,
            reason=reason,
            args=edited if isinstance(edited, dict) else None,
        )
        return 0 if await send(services.client, target, decision) else 1
