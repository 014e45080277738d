"""The profile file: a YAML shape close to deepagents' ``create_deep_agent``
arguments, validated and resolved into a :class:`Profile`.

Validation reports every problem of a file at once, each with where it is
(``subagents[1].tools[0]``) and what is wrong, because a person fixes a file
in one go rather than one error per worker start. Names become parts of
workflow ids and object keys, so they are restricted to a safe alphabet.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from deepagents_temporal.mcp import McpServerSpec, parse_tool_entry
from deepagents_temporal.profiles.spec import (
    APPROVAL_CHOICES,
    BUILTIN_TOOLS,
    DEFAULT_SUMMARIZE_AFTER_TOKENS,
    GENERAL_PURPOSE,
    AgentSpec,
    ApprovalChoice,
    ApprovalRule,
    CustomToolSpec,
    Profile,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# module.path:attribute
GRAPH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
# Below this a summary would hardly be shorter than what it condenses.
MIN_SUMMARIZE_AFTER_TOKENS = 1_000

GENERAL_PURPOSE_DESCRIPTION = (
    "General-purpose agent with the same tools as you: give it a self-contained piece of work "
    "(research, a multi-step change, a long search through the files) to do in its own context, "
    "so that only its final answer comes back into yours"
)
GENERAL_PURPOSE_PROMPT = (
    "You are a general-purpose assistant working on one task handed to you by another agent. "
    "Use your tools to do the task completely, then reply with a final answer that contains "
    "everything the other agent needs: it sees only that answer, not your tool calls or files "
    "you did not mention."
)


class McpServerFile(BaseModel):
    """An ``mcp_servers`` entry: stdio (command, args, env, cwd) or streamable HTTP (url, headers)."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    # Values may hold ${VAR}: read from the worker's environment, never stored in a run.
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=60, gt=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerFile:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (a stdio server) or url (a streamable HTTP server)")
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(f"url {self.url!r} must start with http:// or https://")
            if self.args or self.env or self.cwd:
                raise ValueError("args, env and cwd are for stdio servers (command); a url server takes headers")
        elif self.headers:
            raise ValueError("headers are for url servers; a stdio server (command) takes env")
        return self


class InterruptOnFile(BaseModel):
    """One tool's approval settings in ``interrupt_on`` (``true`` means all defaults)."""

    model_config = ConfigDict(extra="forbid")

    allow: list[ApprovalChoice] = Field(default_factory=lambda: list(APPROVAL_CHOICES), min_length=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    on_timeout: Literal["approve", "reject"] = "reject"

    @model_validator(mode="after")
    def _default_is_allowed(self) -> InterruptOnFile:
        if self.on_timeout not in self.allow:
            raise ValueError(f"on_timeout {self.on_timeout!r} is not one of allow ({', '.join(self.allow)})")
        return self

    def rule(self) -> ApprovalRule:
        return ApprovalRule(
            allow=tuple(dict.fromkeys(self.allow)), timeout_seconds=self.timeout_seconds, on_timeout=self.on_timeout
        )


class _AgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    # Required of the supervisor; a sub-agent has it or a graph.
    system_prompt: str | None = None
    tools: list[str] = Field(default_factory=list)
    # One model or a chain, primary first; unset = the run's chain.
    model: str | list[str] | None = None
    max_steps: int = Field(default=25, ge=1)
    # Tools whose calls wait for a person's decision (deepagents' shape).
    interrupt_on: dict[str, bool | InterruptOnFile] = Field(default_factory=dict)

    @field_validator("system_prompt", "description")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @property
    def models(self) -> tuple[str, ...]:
        if self.model is None:
            return ()
        return (self.model,) if isinstance(self.model, str) else tuple(self.model)

    @property
    def approval_rules(self) -> dict[str, ApprovalRule]:
        return {
            tool: ApprovalRule() if setting is True else setting.rule()
            for tool, setting in self.interrupt_on.items()
            if setting is not False
        }


class SubAgentFile(_AgentFields):
    # Siblings this sub-agent may hand work to (it then needs the task tool).
    subagents: list[str] = Field(default_factory=list)
    # A compiled LangGraph graph instead of a prompt: module.path:attribute, imported by the workers.
    graph: str | None = Field(default=None, pattern=GRAPH_PATTERN)
    # How long one run of the graph may take (graph sub-agents only).
    timeout_seconds: float | None = Field(default=None, gt=0, le=86400)

    @model_validator(mode="after")
    def _prompt_or_graph(self) -> SubAgentFile:
        if self.graph is None:
            if self.system_prompt is None:
                raise ValueError("give system_prompt (an agent of this project) or graph (a compiled LangGraph graph)")
            if self.timeout_seconds is not None:
                raise ValueError("timeout_seconds is for graph sub-agents")
            return self
        extra = [f for f in ("system_prompt", "tools", "model", "subagents", "interrupt_on") if getattr(self, f)]
        if extra:
            raise ValueError(
                f"a graph sub-agent has its own prompt, tools and model: remove {', '.join(extra)} "
                "(it takes name, description, graph and timeout_seconds)"
            )
        return self


class ProfileFile(_AgentFields):
    system_prompt: str
    # The supervisor's own name, as runs and rows show it; default: the profile's name.
    agent_name: str | None = Field(default=None, pattern=NAME_PATTERN)
    subagents: list[SubAgentFile] = Field(default_factory=list)
    # Tokens one run may use, supervisor and sub-agents together; unset = no limit.
    max_tokens: int | None = Field(default=None, gt=0)
    # An agent's conversation past this many tokens has its older messages summarized.
    summarize_after_tokens: int = Field(default=DEFAULT_SUMMARIZE_AFTER_TOKENS, ge=MIN_SUMMARIZE_AFTER_TOKENS)
    # MCP servers by name; agents are granted their tools as mcp:<server>/<tool> or mcp:<server>/*.
    mcp_servers: dict[str, McpServerFile] = Field(default_factory=dict)


class ProfileFileError(ValueError):
    """Every problem of one profile file, each as (where, what)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = (f"{source}: {where}: {what}" if where else f"{source}: {what}" for where, what in problems)
        super().__init__("\n".join(lines))


def parse_profile(data: Any, source: str, custom_tools: dict[str, CustomToolSpec] | None = None) -> Profile:
    """Validate one file's parsed YAML and resolve it; :class:`ProfileFileError` lists what is wrong."""
    custom_tools = custom_tools or {}
    if not isinstance(data, dict):
        problem = f"a profile is a mapping of fields (name, description, ...), not {_kind(data)}"
        raise ProfileFileError(source, [("", problem)])
    problems: list[tuple[str, str]] = []
    parsed = None
    try:
        parsed = ProfileFile.model_validate(data)
    except ValidationError as err:
        problems = [(_where(e["loc"]), _what(e)) for e in err.errors(include_url=False)]
    problems += _cross_check(data, set(custom_tools))
    if problems or parsed is None:
        raise ProfileFileError(source, problems)
    return _resolve(parsed, custom_tools, source)


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _cross_check(data: dict[str, Any], custom: Collection[str]) -> list[tuple[str, str]]:
    """What the schema alone cannot see: unknown tools, names and references.
    Works on the raw data, so a file with a typo in one field hears about the rest too."""
    problems: list[tuple[str, str]] = []
    known_tools = [*BUILTIN_TOOLS, *sorted(custom)]
    servers = data.get("mcp_servers") if isinstance(data.get("mcp_servers"), dict) else {}
    for server in servers:
        if not isinstance(server, str) or not re.match(NAME_PATTERN, server):
            problems.append(
                (f"mcp_servers.{server}", "not a valid server name: use letters, digits, '_', '.' and '-' (at most 64)")
            )

    def check_tools(where: str, tools: list[str]) -> None:
        for i, tool in enumerate(tools):
            if tool.startswith("mcp:"):
                entry = parse_tool_entry(tool)
                if entry is None:
                    problems.append(
                        (f"{where}tools[{i}]", f"{tool!r}: write MCP tools as mcp:<server>/<tool> or mcp:<server>/*")
                    )
                elif entry[0] not in servers:
                    known = ", ".join(str(name) for name in servers) or "none"
                    problems.append(
                        (f"{where}tools[{i}]", f"unknown MCP server {entry[0]!r}; this profile's mcp_servers: {known}")
                    )
            elif tool not in known_tools:
                problems.append((f"{where}tools[{i}]", f"unknown tool {tool!r}; known tools: {', '.join(known_tools)}"))

    def check_interrupts(where: str, agent: dict[str, Any], tools: list[str]) -> None:
        interrupt_on = agent.get("interrupt_on")
        for tool in interrupt_on if isinstance(interrupt_on, dict) else ():
            if tool not in known_tools:
                known = ", ".join(known_tools)
                problems.append((f"{where}interrupt_on.{tool}", f"unknown tool {tool!r}; known tools: {known}"))
            elif tool not in tools:
                mine = ", ".join(tools) or "none"
                problems.append((f"{where}interrupt_on.{tool}", f"{tool!r} is not one of this agent's tools: {mine}"))

    tools = _strings(data.get("tools"))
    check_tools("", tools)
    check_interrupts("", data, tools)
    supervisor = data.get("agent_name") or data.get("name")
    subagents = [sub for sub in data.get("subagents") or [] if isinstance(sub, dict)]
    names = [sub.get("name") for sub in subagents]
    if subagents and "task" not in tools:
        problems.append(("subagents", "the supervisor has sub-agents but not the task tool to reach them"))
    for i, sub in enumerate(subagents):
        where = f"subagents[{i}]."
        sub_tools = _strings(sub.get("tools"))
        check_tools(where, sub_tools)
        check_interrupts(where, sub, sub_tools)
        name = sub.get("name")
        if name is not None and name == supervisor:
            problems.append((f"{where}name", f"{name!r} is the supervisor's own name"))
        elif name is not None and names.index(name) != i:
            problems.append((f"{where}name", f"duplicate sub-agent name {name!r}"))
        references = _strings(sub.get("subagents"))
        if references and "task" not in sub_tools:
            problems.append((f"{where}subagents", "lists sub-agents but not the task tool to reach them"))
        for j, ref in enumerate(references):
            if ref == name:
                problems.append((f"{where}subagents[{j}]", "a sub-agent cannot hand work to itself"))
            elif ref not in names and ref != GENERAL_PURPOSE:
                known = ", ".join(dict.fromkeys(str(n) for n in names)) or "none"
                problems.append(
                    (f"{where}subagents[{j}]", f"unknown sub-agent {ref!r}; this profile's sub-agents: {known}")
                )
    return problems


def _resolve(profile: ProfileFile, custom_tools: dict[str, CustomToolSpec], source: str) -> Profile:
    supervisor = AgentSpec(
        name=profile.agent_name or profile.name,
        description=profile.description,
        system_prompt=profile.system_prompt,
        tools=tuple(profile.tools),
        subagents=tuple(sub.name for sub in profile.subagents),
        models=profile.models,
        max_steps=profile.max_steps,
        interrupt_on=profile.approval_rules,
    )
    subagents = {
        sub.name: AgentSpec(
            name=sub.name,
            description=sub.description,
            system_prompt=sub.system_prompt or "",
            tools=tuple(sub.tools),
            subagents=tuple(sub.subagents),
            models=sub.models,
            max_steps=sub.max_steps,
            graph=sub.graph,
            timeout_seconds=sub.timeout_seconds,
            interrupt_on=sub.approval_rules,
        )
        for sub in profile.subagents
    }
    delegating = [agent for agent in (supervisor, *subagents.values()) if "task" in agent.tools]
    if delegating and GENERAL_PURPOSE not in subagents:
        subagents[GENERAL_PURPOSE] = AgentSpec(
            name=GENERAL_PURPOSE,
            description=GENERAL_PURPOSE_DESCRIPTION,
            system_prompt=GENERAL_PURPOSE_PROMPT,
            # The supervisor's tools, without task: its work stays one level deep.
            tools=tuple(tool for tool in supervisor.tools if tool != "task"),
            models=supervisor.models,
            max_steps=supervisor.max_steps,
            # The supervisor's approvals hold for the work it hands on (as in deepagents).
            interrupt_on={tool: rule for tool, rule in supervisor.interrupt_on.items() if tool != "task"},
        )
    used = {tool for agent in (supervisor, *subagents.values()) for tool in agent.tools}
    return Profile(
        name=profile.name,
        description=profile.description,
        supervisor=supervisor,
        subagents=subagents,
        custom_tools={name: spec for name, spec in sorted(custom_tools.items()) if name in used},
        max_tokens=profile.max_tokens,
        summarize_after_tokens=profile.summarize_after_tokens,
        mcp_servers={
            name: McpServerSpec(name=name, **server.model_dump(exclude={"args"}), args=tuple(server.args))
            for name, server in profile.mcp_servers.items()
        },
        source=source,
    )


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _what(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (see docs/profiles.md for the fields a profile has)"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "graph":
        return f"{error['input']!r} is not a graph reference: write module.path:attribute (e.g. my_pkg.graphs:graph)"
    if error["type"] == "string_pattern_mismatch":
        return f"{error['input']!r} is not a valid name: use letters, digits, '_', '.' and '-' (at most 64)"
    return str(error["msg"]).removeprefix("Value error, ")


def _kind(data: Any) -> str:
    return "an empty file" if data is None else f"a {type(data).__name__}"
