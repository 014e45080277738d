"""Agent profiles: which system prompt, tools and sub-agents each agent has.

Profiles are plain data, imported by workflow code, so they must stay
deterministic (no I/O, no environment reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FILE_TOOLS = ("ls", "read_file", "write_file", "edit_file", "glob", "grep")


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    system_prompt: str
    tools: tuple[str, ...]
    subagents: tuple[str, ...] = ()
    # Overrides the run's model chain for this agent when set.
    models: tuple[str, ...] = ()
    max_steps: int = 25


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    supervisor: AgentSpec
    subagents: dict[str, AgentSpec] = field(default_factory=dict)
    # Tokens a run may spend, supervisor and sub-agents together (`run --max-tokens` wins).
    max_tokens: int | None = None

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


_SPECIALIST_RULES = """
Work only on your specialty. Write concrete scenarios in Given/When/Then form,
each with a short title, its priority (P0-P2) and the test data it needs.
Save them with write_file under /scenarios/ (one Markdown file for your
specialty), then finish with a plain-text answer that lists your scenarios;
the supervisor reads only that final answer."""

QA_PROFILE = Profile(
    name="qa",
    description=(
        "QA orchestrator that plans with todos and delegates to E2E, integration and functional test specialists"
    ),
    supervisor=AgentSpec(
        name="qa_orchestrator",
        description="Plans the test strategy and delegates to specialists",
        system_prompt=(
            "You are a QA lead orchestrating a team of test specialists.\n"
            "1. First plan with write_todos: one todo per specialist and one to synthesize.\n"
            "2. Delegate with the task tool. Call it for e2e_test_specialist, "
            "integration_test_specialist and functional_test_specialist in the same turn "
            "so they work in parallel; give each a precise description of the feature under test.\n"
            "3. Keep the todo list current with write_todos as work completes.\n"
            "4. When every specialist has answered, reply with one consolidated test strategy: "
            "scope, the scenarios per layer, priorities, risks and what to automate first."
        ),
        tools=("write_todos", "task", *FILE_TOOLS),
        subagents=("e2e_test_specialist", "integration_test_specialist", "functional_test_specialist"),
        max_steps=12,
    ),
    subagents={
        "e2e_test_specialist": AgentSpec(
            name="e2e_test_specialist",
            description="Designs end-to-end (E2E) user-journey tests through the UI and the whole stack",
            system_prompt=(
                "You are an end-to-end (E2E) test specialist. You design user-journey tests "
                "that run through the real UI and the whole stack: navigation, critical paths, "
                "cross-browser and device coverage, and recovery from failures." + _SPECIALIST_RULES
            ),
            tools=FILE_TOOLS,
            max_steps=8,
        ),
        "integration_test_specialist": AgentSpec(
            name="integration_test_specialist",
            description="Designs integration tests for APIs, services, data stores and third-party contracts",
            system_prompt=(
                "You are an integration test specialist. You design tests of the contracts "
                "between components: service APIs, databases, search indexes, caches, queues "
                "and third-party services, including timeouts, retries and data consistency." + _SPECIALIST_RULES
            ),
            tools=FILE_TOOLS,
            max_steps=8,
        ),
        "functional_test_specialist": AgentSpec(
            name="functional_test_specialist",
            description="Designs functional tests of business rules, inputs, edge cases and error handling",
            system_prompt=(
                "You are a functional test specialist. You design tests of the feature's "
                "business rules: valid and invalid inputs, boundaries, edge cases, error "
                "messages, permissions and localisation." + _SPECIALIST_RULES
            ),
            tools=FILE_TOOLS,
            max_steps=8,
        ),
    },
)

PROFILES: dict[str, Profile] = {QA_PROFILE.name: QA_PROFILE}
DEFAULT_PROFILE = QA_PROFILE.name


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown profile {name!r}; available profiles: {', '.join(sorted(PROFILES))}"
        ) from None
