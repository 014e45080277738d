"""A resolved agent profile: what one run's agents are, as plain data.

A profile file (``file_format.py``) resolves into a :class:`Profile`. The
resolved profile is what a run keeps: it is fixed when the run starts, recorded
in the run's history and handed to every sub-agent, so workflow code never
reads a file and editing a profile never changes a run in flight. Custom tools
travel as :class:`CustomToolSpec` (their schema and retry settings); their code
stays on the workers; MCP servers as :class:`McpServerSpec` (their ``${VAR}``
references unresolved) and, once listed at run start, their tools.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deepagents_temporal.mcp.spec import McpServerSpec, McpToolSpec

FILE_TOOLS = ("ls", "read_file", "write_file", "edit_file", "glob", "grep")
# Handled by the workflow itself rather than by an activity.
WORKFLOW_TOOLS = ("write_todos", "task")
# Built-in tools that are each an activity of their own (activities/fetch.py, activities/rag.py).
ACTIVITY_TOOLS = ("fetch_url", "search_documents")
BUILTIN_TOOLS = (*WORKFLOW_TOOLS, *FILE_TOOLS, *ACTIVITY_TOOLS)

GENERAL_PURPOSE = "general-purpose"


class CustomToolSpec(BaseModel):
    """A worker-side Python tool as the model and the workflow see it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    # The JSON schema of its arguments, as the model is shown it.
    parameters: dict[str, Any]
    timeout_seconds: float
    # Attempts after the first one when the tool raises.
    retries: int

    @property
    def activity_name(self) -> str:
        return custom_tool_activity_name(self.name)


def custom_tool_activity_name(tool: str) -> str:
    """The activity type a custom tool runs as (a public name, like every activity's)."""
    return f"tool:{tool}"


ApprovalChoice = Literal["approve", "edit", "reject"]
APPROVAL_CHOICES: tuple[ApprovalChoice, ...] = ("approve", "edit", "reject")


class ApprovalRule(BaseModel):
    """A tool whose calls wait for a person's decision (a profile's ``interrupt_on``)."""

    model_config = ConfigDict(frozen=True)

    # What the person may answer (deepagents' allowed_decisions).
    allow: tuple[ApprovalChoice, ...] = APPROVAL_CHOICES
    # Unset: the call waits until someone decides (or the run is cancelled).
    timeout_seconds: float | None = None
    # What applies when the timeout passes without a decision.
    on_timeout: Literal["approve", "reject"] = "reject"


# Under the default model's window (gpt-4o-mini: 128,000 tokens) with room for
# the answer and the summary call itself; a profile on a larger model may raise it.
DEFAULT_SUMMARIZE_AFTER_TOKENS = 100_000


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    system_prompt: str
    tools: tuple[str, ...]
    # The sub-agents this agent may hand work to with task(), as declared.
    subagents: tuple[str, ...] = ()
    # Overrides the run's model chain for this agent when set.
    models: tuple[str, ...] = ()
    max_steps: int = 25
    # A compiled LangGraph graph (module.path:attribute) run instead of this
    # project's agent loop; its prompt, tools and model are its own.
    graph: str | None = None
    # How long one run of the graph may take (None: GRAPH_TIMEOUT_SECONDS).
    timeout_seconds: float | None = None
    # Tools whose calls wait for a person's approval, by tool name.
    interrupt_on: dict[str, ApprovalRule] = Field(default_factory=dict)

    def delegates(self, profile: Profile) -> tuple[str, ...]:
        """Who task() can reach: the declared sub-agents, then general-purpose."""
        if "task" not in self.tools:
            return ()
        extra = (GENERAL_PURPOSE,) if GENERAL_PURPOSE in profile.subagents else ()
        return tuple(dict.fromkeys((*self.subagents, *extra)))


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    supervisor: AgentSpec
    subagents: dict[str, AgentSpec] = Field(default_factory=dict)
    custom_tools: dict[str, CustomToolSpec] = Field(default_factory=dict)
    # Tokens one run may use, supervisor and sub-agents together; None = no limit.
    max_tokens: int | None = None
    # An agent's conversation past this many tokens has its older messages
    # summarized (deepagents' figure for a model whose window is unknown).
    summarize_after_tokens: int = DEFAULT_SUMMARIZE_AFTER_TOKENS
    # MCP servers whose tools agents are granted as mcp:<server>/<tool>.
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    # The tools those servers offered when the run started (the list_mcp_tools
    # activity); None until listed. Sub-agents get them with the snapshot.
    mcp_tools: list[McpToolSpec] | None = None
    # The file it was read from (shown by `profiles list`; not used by runs).
    source: str | None = None

    def agent(self, name: str | None) -> AgentSpec:
        if name is None or name == self.supervisor.name:
            return self.supervisor
        try:
            return self.subagents[name]
        except KeyError:
            raise UnknownAgentError(
                f"profile {self.name!r} has no agent {name!r}; "
                f"known: {', '.join([self.supervisor.name, *self.subagents])}"
            ) from None


class UnknownProfileError(ValueError):
    pass


class UnknownAgentError(ValueError):
    pass
