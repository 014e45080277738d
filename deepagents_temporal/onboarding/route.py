"""The onboarding workflow as the router offers it: a checklist and a client folder, and how its result reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from deepagents_temporal.onboarding.schema import (
    ONBOARDING_WORKFLOW_DESCRIPTION,
    ONBOARDING_WORKFLOW_NAME,
    OnboardingInput,
    OnboardingResult,
)
from deepagents_temporal.routable import RoutableWorkflow


class OnboardingArguments(BaseModel):
    checklist: str = Field(description="the checklist's name in templates/ (.yaml, .yml or .xlsx)")
    client: str = Field(description="the client's folder in uploads/ holding their documents")


def _input(args: BaseModel, run_id: str, model_chain: list[str], model_timeout_seconds: float) -> BaseModel:
    assert isinstance(args, OnboardingArguments)
    return OnboardingInput(
        checklist=args.checklist,
        client=args.client,
        run_id=run_id,
        model_chain=model_chain,
        model_timeout_seconds=model_timeout_seconds,
    )


def answer(result: BaseModel) -> str:
    assert isinstance(result, OnboardingResult)
    settled = sum(1 for f in result.fields if f.settled)
    head = "complete" if result.complete else "INCOMPLETE" + (" (the wait ran out)" if result.timed_out else "")
    lines = [f"onboarding of {result.client}: {head}; {settled} of {len(result.fields)} fields found or supplied"]
    for f in result.fields:
        where = (
            f" ({f.document})" if f.status == "found" else f" (supplied by {f.by})" if f.status == "supplied" else ""
        )
        why = f": {f.reason}" if f.reason and not f.settled else ""
        lines.append(f"- {f.field}: {f.status}{' ' + repr(f.value) if f.value and f.settled else ''}{where}{why}")
    lines += [f"- document {d.name}: missing" for d in result.documents if d.status == "missing" and d.required]
    if result.missing:
        lines.append("missing: " + ", ".join(result.missing))
    lines.append(f"report: reports/{result.run_id}/checklist.md, data: reports/{result.run_id}/onboarding.json")
    return "\n".join(lines)


ONBOARDING_ROUTE = RoutableWorkflow(
    name="onboarding",
    description=ONBOARDING_WORKFLOW_DESCRIPTION,
    workflow_type=ONBOARDING_WORKFLOW_NAME,
    arguments=OnboardingArguments,
    make_input=_input,
    result_type=OnboardingResult,
    answer=answer,
)
