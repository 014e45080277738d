"""A run's token budget, as one agent workflow sees it.

The budget (``AgentInput.max_tokens``, else the profile's ``max_tokens``) is
counted in total tokens over the supervisor and every sub-agent. Each agent
knows what the run had spent when it was started (``tokens_used_before``,
from its parent), its own calls and its finished sub-agents; before each model
call it stops the run when that sum has reached the budget. A sub-agent that
stops for the budget makes its parent stop the same way, up to the
supervisor, whose message gives the run-wide total it knows.

Sub-agents running in parallel do not see each other's spending, so a run can
end over its budget by what they spend side by side (docs/architecture.md).
Workflow code: deterministic, no I/O.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.schema import TokenUsage

# A workflow.patched id: runs that started before budgets existed never get one.
TOKEN_BUDGET_PATCH = "token-budget"
BUDGET_EXCEEDED = "TokenBudgetExceeded"
# Set in a failed sub-agent's details (next to what it spent) when the budget stopped it.
EXCEEDED_DETAIL = "token_budget_exceeded"


class TokenBudget:
    def __init__(self, limit: int | None, used_before: int = 0) -> None:
        # Only new runs get one, so histories from before replay unchanged.
        self.limit = limit if limit and workflow.patched(TOKEN_BUDGET_PATCH) else None
        self.used_before = used_before

    def used(self, known: TokenUsage) -> int:
        """The run's tokens as this agent knows them: before it started plus its own and its sub-agents'."""
        return self.used_before + known.total_tokens

    def check(self, known: TokenUsage) -> None:
        """Before a model call: stop the run when it has used its budget."""
        if self.limit is not None and self.used(known) >= self.limit:
            raise self.exceeded(known)

    def exceeded(self, known: TokenUsage) -> ApplicationError:
        return ApplicationError(
            f"token budget exceeded: used {self.used(known)} of {self.limit}", type=BUDGET_EXCEEDED, non_retryable=True
        )

    def for_child(self, known: TokenUsage) -> dict[str, int]:
        """The AgentInput fields that hand the budget to a sub-agent started now."""
        if self.limit is None:
            return {}
        return {"max_tokens": self.limit, "tokens_used_before": self.used(known)}

    def stopped_child(self, err: ChildWorkflowError) -> bool:
        """Whether a failed sub-agent stopped for the budget (its parent must then stop too)."""
        cause = err.cause
        return (
            self.limit is not None
            and isinstance(cause, ApplicationError)
            and bool(cause.details)
            and isinstance(cause.details[0], dict)
            and bool(cause.details[0].get(EXCEEDED_DETAIL))
        )

    @staticmethod
    def is_exceeded(err: BaseException) -> bool:
        return isinstance(err, ApplicationError) and err.type == BUDGET_EXCEEDED
