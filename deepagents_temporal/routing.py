"""The router's choice: which registered profile or workflow a request goes to.

A request started without ``--profile`` (``AgentInput.profile`` None) is routed
by one model call: the model is shown every registered profile and routable
workflow by name and description and answers with the ``route`` tool (a
target and a one-line reason). ``choose_route`` reads that answer; it is pure,
so workflow code calls it. An answer that names nothing registered goes to the
default profile (``DEEPAGENT_DEFAULT_PROFILE``) with the reason recorded.

Registering a profile (a file) or a workflow (an entry of ``ROUTABLE_WORKFLOWS``,
described by a ``routable.RoutableWorkflow``) makes it routable: the router
itself never changes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from deepagents_temporal.documents.route import DOCUMENT_ROUTE
from deepagents_temporal.onboarding.route import ONBOARDING_ROUTE
from deepagents_temporal.reports.route import REPORT_ROUTE
from deepagents_temporal.routable import RoutableWorkflow
from deepagents_temporal.schema import Message, ToolCall

ROUTE_TOOL = "route"
REASON_CHARS = 300
ANSWER_EXCERPT_CHARS = 200


class RouteOption(BaseModel):
    kind: Literal["profile", "workflow"]
    name: str
    description: str


class RoutingOptions(BaseModel):
    """What a worker offers the router (recorded in the run's history)."""

    options: list[RouteOption]
    default_profile: str


class RouteChoice(BaseModel):
    kind: Literal["profile", "workflow"]
    name: str
    reason: str
    # True when the model's answer named nothing registered (or not usably).
    fallback: bool = False
    # The arguments the model gave for a workflow (validated by its input model).
    arguments: dict[str, Any] = {}


# Every workflow the router may choose, by the name the model sees. Registering
# one is adding its entry here; the router itself does not change.
ROUTABLE_WORKFLOWS: dict[str, RoutableWorkflow] = {
    route.name: route for route in (REPORT_ROUTE, DOCUMENT_ROUTE, ONBOARDING_ROUTE)
}


def route_tool(options: list[RouteOption]) -> dict[str, Any]:
    """The route tool's schema: the target is one of the registered names."""
    return {
        "type": "function",
        "function": {
            "name": ROUTE_TOOL,
            "description": "Send the request to the one registered profile or workflow that fits it best.",
            "parameters": {
                "type": "object",
                "properties": {
                    "target": {"type": "string", "enum": [option.name for option in options]},
                    "reason": {"type": "string", "description": "one line: why this target fits the request"},
                    "arguments": {
                        "type": "object",
                        "description": "for a workflow target: the inputs it needs, taken from the request",
                    },
                },
                "required": ["target", "reason"],
            },
        },
    }


def router_prompt(options: list[RouteOption]) -> str:
    lines = [
        "You route requests. Choose the one target below that fits the user's request best and call the "
        "route tool with its name and a one-line reason. Do not answer the request yourself.",
        "",
        "Targets:",
    ]
    for option in options:
        lines.append(f"- {option.name} ({option.kind}): {option.description}")
        workflow = ROUTABLE_WORKFLOWS.get(option.name) if option.kind == "workflow" else None
        if workflow is not None:
            fields = ", ".join(
                f"{name} ({'required' if field.is_required() else 'optional'}: {field.description or name})"
                for name, field in workflow.arguments.model_fields.items()
            )
            lines.append(f"  arguments: {fields}")
    return "\n".join(lines)


def choose_route(reply: Message, options: RoutingOptions) -> RouteChoice:
    """The target the model's reply names; the default profile, with why, when it names none."""
    by_name = {option.name: option for option in options.options}
    call = next((c for c in reply.tool_calls if c.name == ROUTE_TOOL and c.raw_args is None), None)
    if call is not None:
        chosen = _from_call(call, by_name)
        if isinstance(chosen, RouteChoice):
            return chosen
        problem = chosen
    else:
        named = _named_in(reply.content, by_name)
        if named is not None:
            return RouteChoice(
                kind=named.kind, name=named.name, reason=_one_line(reply.content) or "named in the router's answer"
            )
        excerpt = _one_line(reply.content)[:ANSWER_EXCERPT_CHARS] or "no text and no route call"
        problem = f"the router's answer named nothing registered ({excerpt!r})"
    return RouteChoice(
        kind="profile",
        name=options.default_profile,
        reason=f"{problem}; using the default profile {options.default_profile}",
        fallback=True,
    )


def workflow_arguments(workflow: RoutableWorkflow, arguments: dict[str, Any]) -> BaseModel:
    """The router's arguments for ``workflow``, validated; ValueError names what is wrong."""
    try:
        return workflow.arguments.model_validate(arguments)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ValueError(f"arguments for workflow {workflow.name}: {problems}") from None


def _from_call(call: ToolCall, by_name: dict[str, RouteOption]) -> RouteChoice | str:
    target = call.args.get("target")
    reason = _one_line(str(call.args.get("reason") or ""))[:REASON_CHARS]
    option = by_name.get(target) if isinstance(target, str) else None
    if option is None:
        return f"the router named {target!r}, which is not registered"
    arguments = call.args.get("arguments")
    if option.kind == "workflow":
        workflow = ROUTABLE_WORKFLOWS.get(option.name)
        try:
            if workflow is None:
                raise ValueError(f"workflow {option.name} is not known to this worker")
            workflow_arguments(workflow, arguments if isinstance(arguments, dict) else {})
        except ValueError as err:
            return f"the router chose workflow {option.name} but {err}"
    return RouteChoice(
        kind=option.kind,
        name=option.name,
        reason=reason or "no reason given",
        arguments=arguments if isinstance(arguments, dict) and option.kind == "workflow" else {},
    )


def _named_in(text: str, by_name: dict[str, RouteOption]) -> RouteOption | None:
    """The one registered name a text answer mentions (None if none or several)."""
    found = [o for name, o in by_name.items() if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    return found[0] if len(found) == 1 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def workflow_arguments_from(request: str) -> dict[str, str]:
    """``key=value`` words of a request (``run --workflow NAME "template=a.xlsx data=b.csv"``)."""
    return dict(re.findall(r"(?<!\S)(\w+)=(\S+)", request))


def check_workflow(name: str, arguments: dict[str, Any]) -> str | None:
    """What is wrong with sending a request to workflow ``name`` with ``arguments``, if anything."""
    workflow = ROUTABLE_WORKFLOWS.get(name)
    if workflow is None:
        known = ", ".join(sorted(ROUTABLE_WORKFLOWS)) or "none"
        return f"unknown workflow {name!r}; routable workflows: {known}"
    try:
        workflow_arguments(workflow, arguments)
    except ValueError as err:
        return f"{err} (give them as key=value words of the request)"
    return None
