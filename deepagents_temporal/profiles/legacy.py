"""The profiles of runs started before profiles were files, frozen as they were.

Runs whose history has no ``profile-from-activity`` patch never read their
profile: the workflow code of that version built it from this Python data. On
replay they must get exactly that again (no file read, no general-purpose
sub-agent, which such runs could not reach), whatever the YAML files say now.
Do not edit: new behaviour goes in the YAML profiles.
"""

from __future__ import annotations

from deepagents_temporal.profiles.spec import FILE_TOOLS, AgentSpec, Profile, UnknownProfileError

_SPECIALIST_RULES = """
Work only on your specialty. Write concrete scenarios in Given/When/Then form,
each with a short title, its priority (P0-P2) and the test data it needs.
Save them with write_file under /scenarios/ (one Markdown file for your
specialty), then finish with a plain-text answer that lists your scenarios;
the supervisor reads only that final answer."""

_LEGACY_QA = Profile(
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

LEGACY_PROFILES: dict[str, Profile] = {_LEGACY_QA.name: _LEGACY_QA}


def legacy_profile(name: str) -> Profile:
    try:
        return LEGACY_PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown profile {name!r}; available profiles: {', '.join(sorted(LEGACY_PROFILES))}"
        ) from None
