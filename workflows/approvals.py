"""The approval wait of one agent workflow: calls waiting for a person, and the decisions taken.

A call of a tool in the agent's ``interrupt_on`` waits on a workflow
condition, so no worker slot is held while a person thinks; the wait is
rebuilt from history after a worker or server restart (the decision is an
update in that history). A timeout, when the profile sets one, applies its
default decision. Validation happens in the update's validator, so a bad
decision is refused with a reason and leaves no trace in history (a call the
validator cannot see yet, while a model call is out, is checked again by the
handler once that call has ended, which then fails the update with the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.approvals import (
        ApprovalDecision,
        PendingApproval,
        decision_problem,
        timeout_decision,
    )
    from deepagents_temporal.profiles import ApprovalRule, Profile
    from deepagents_temporal.schema import ToolCall


class ApprovalGate:
    def __init__(self) -> None:
        self._pending: dict[str, PendingApproval] = {}
        self._decided: dict[str, ApprovalDecision] = {}
        self.profile: Profile | None = None
        # Model calls in flight (AgentWorkflow._call_model counts them).
        self.model_calls = 0

    def pending(self) -> list[PendingApproval]:
        return list(self._pending.values())

    def problem(self, decision: ApprovalDecision) -> str | None:
        """Why ``decision`` cannot be taken now (None when it can)."""
        pending = self._pending.get(decision.call_id)
        if pending is not None and decision.call_id in self._decided:
            pending = None
        return decision_problem(decision, pending, list(self._pending), self.profile)

    def check(self, decision: ApprovalDecision) -> None:
        """The update's validator: refuses a decision that cannot be taken.
        While a model call is out, a call it does not know passes: the model's
        answer can come in the same activation as the update and be applied
        after the validator ran (job order), so the handler looks again once
        the answer's calls are waiting (``take``)."""
        if decision.call_id in self._pending or not self.model_calls:
            problem = self.problem(decision)
            if problem:
                raise ValueError(problem)

    async def take(self, decision: ApprovalDecision) -> str:
        await workflow.wait_condition(lambda: decision.call_id in self._pending or not self.model_calls)
        problem = self.problem(decision)
        if problem:
            raise ApplicationError(problem, type="InvalidDecision", non_retryable=True)
        self._decided[decision.call_id] = decision
        return f"{decision.decision}: {decision.call_id}"

    async def wait(
        self, call: ToolCall, rule: ApprovalRule, agent: str, on_change: Callable[[], None]
    ) -> ApprovalDecision:
        """Wait for a decision on ``call`` (or the rule's timeout); ``on_change``
        runs when the list of waiting calls changes (the UI's current details)."""
        self._decided.pop(call.id, None)
        now = workflow.now()
        timeout = timedelta(seconds=rule.timeout_seconds) if rule.timeout_seconds else None
        self._pending[call.id] = PendingApproval(
            workflow_id=workflow.info().workflow_id,
            agent=agent,
            call_id=call.id,
            tool=call.name,
            args=call.args,
            args_stored_in=call.args_stored_in,
            allow=list(rule.allow),
            asked_at=now,
            decide_by=now + timeout if timeout else None,
            on_timeout=rule.on_timeout if timeout else None,
        )
        on_change()
        try:
            await workflow.wait_condition(lambda: call.id in self._decided, timeout=timeout)
            return self._decided[call.id]
        except TimeoutError:
            decision = timeout_decision(call.id, rule)
            self._decided[call.id] = decision
            return decision
        finally:
            del self._pending[call.id]
            on_change()
