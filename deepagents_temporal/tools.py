"""Tool schemas the model sees and the argument models that validate its calls.

Names and arguments follow deepagents so prompts written for it work here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepagents_temporal.profiles import AgentSpec, Profile
from deepagents_temporal.schema import Todo


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WriteTodosArgs(_Args):
    todos: list[Todo]


class TaskArgs(_Args):
    description: str = Field(min_length=1)
    subagent_type: str = Field(min_length=1)


ARG_MODELS: dict[str, type[_Args]] = {
    "write_todos": WriteTodosArgs,
    "task": TaskArgs,
}


class ToolArgumentError(ValueError):
    pass


def parse_args(tool: str, args: dict[str, Any]) -> _Args:
    """Validate a tool call's arguments; the error text is meant for the model."""
    try:
        return ARG_MODELS[tool].model_validate(args)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in err.errors()
        )
        raise ToolArgumentError(f"invalid arguments for {tool}: {problems}") from None


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def tool_schemas(profile: Profile, agent: AgentSpec) -> list[dict[str, Any]]:
    """OpenAI function-tool schemas for the tools this agent may call."""
    schemas = []
    for name in agent.tools:
        if name == "write_todos":
            schemas.append(
                _function(
                    "write_todos",
                    "Replace your todo list. Use it to plan multi-step work and to mark progress; "
                    "keep exactly one item in_progress while you work on it.",
                    {
                        "type": "object",
                        "properties": {
                            "todos": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "content": {"type": "string"},
                                        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                                    },
                                    "required": ["content", "status"],
                                },
                            }
                        },
                        "required": ["todos"],
                    },
                )
            )
        elif name == "task":
            roster = "\n".join(
                f"- {sub}: {profile.subagents[sub].description}" for sub in agent.subagents if sub in profile.subagents
            )
            schemas.append(
                _function(
                    "task",
                    "Delegate a self-contained piece of work to a specialist sub-agent, which works in "
                    "its own context and returns only its final answer. Call task several times in one "
                    "turn to run specialists in parallel. Available sub-agents:\n" + roster,
                    {
                        "type": "object",
                        "properties": {
                            "description": {"type": "string", "description": "Everything the sub-agent needs to know to do the work"},
                            "subagent_type": {"type": "string", "enum": list(agent.subagents)},
                        },
                        "required": ["description", "subagent_type"],
                    },
                )
            )
        else:
            raise ValueError(f"agent {agent.name!r} lists unknown tool {name!r}")
    return schemas
