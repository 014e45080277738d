"""The Markdown the demo writes: scenario documents, delegations and the strategy.

A specialist's answer is a document of 3-5 Given/When/Then scenarios for
its test layer (end-to-end journeys, integration boundaries, functional
rules), worded for the request's domain. The supervisor's delegation asks
for such a document; its final answer is a test strategy that wraps the
specialists' answers in scope, priorities, risks, an execution plan and exit
criteria. Deterministic: the same request always gives the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from scripted_llm.demo_domains import domain_of
from scripted_llm.demo_text import (
    capitalize,
    components_of,
    core_of,
    human_list,
    one_line,
    truncate,
    with_article,
)

#: Heading of a specialist's document, per test layer.
KIND_TITLES = {
    "e2e": "End-to-end test scenarios",
    "integration": "Integration test scenarios",
    "functional": "Functional test scenarios",
    "general": "Test scenarios",
}
_KIND_PREFIX = {"e2e": "E2E", "integration": "INT", "functional": "FUN", "general": "TC"}


@dataclass(frozen=True)
class _Scenario:
    title: str
    priority: str
    given: str
    when: str
    then: str
    data: str


class SpecialistAnswer(NamedTuple):
    """What one specialist delivered, as the strategy shows it."""

    name: str
    title: str  # heading of its section, e.g. "End-to-end tests"
    text: str  # its final answer, an "Error..." tool result, or "" when it returned nothing


def delegation_text(kind: str, request_text: str, subject: str) -> str:
    """The ``task`` description asking the specialist for layer ``kind`` for scenarios."""
    focus = {
        "e2e": (
            f"Design end-to-end test scenarios for {subject}. Cover the critical user journeys through the "
            "whole deployed stack (user interface or public API down to persistence and back): the happy path, "
            "a failure-and-recovery journey and an interrupted session."
        ),
        "integration": (
            f"Design integration test scenarios for {subject}. Focus on the contracts between the components "
            "involved (service API, database, message broker, third-party providers): persistence round-trips, "
            "timeouts and retries with idempotency, published events and API contract compatibility."
        ),
        "functional": (
            f"Design functional test scenarios for {subject}. Verify each requirement in isolation: valid input, "
            "required fields and validation messages, boundary values, business rules and authorization."
        ),
    }.get(kind, f"Design test scenarios for {subject}.")
    return (
        f"{focus} Write 3-5 scenarios in Given/When/Then form, each with a priority (P0-P2) and the test data "
        f'it needs.\n\nOriginal request: "{one_line(request_text, 400)}"'
    )


def request_in_delegation(task_text: str) -> str:
    """The user's request quoted in a :func:`delegation_text`, or the task text itself."""
    match = re.search(r'Original request:\s*"(.+)"\s*$', task_text, re.S)
    return (match.group(1) if match else task_text).strip()


def scenarios_markdown(kind: str, subject: str, request_text: str) -> str:
    """A specialist's document: up to five scenarios for layer ``kind`` and what to automate first."""
    domain = domain_of(request_text)
    parts = components_of(subject)
    core = core_of(subject)
    builder = {
        "e2e": _e2e_scenarios,
        "integration": _integration_scenarios,
        "functional": _functional_scenarios,
    }.get(kind, _general_scenarios)
    scenarios = builder(subject, core, parts, domain)[:5]
    scope = {
        "e2e": f"the critical user journeys of {subject}, run on a production-like environment through the "
        "same entry points real users have.",
        "integration": f"the component boundaries of {subject}: service API, persistence, messaging and "
        f"{domain['dependency']}, with real infrastructure in containers.",
        "functional": f"each requirement of {subject} verified in isolation, with external I/O stubbed.",
        "general": f"the core behaviour of {subject}.",
    }[kind]
    lines = [f"# {KIND_TITLES[kind]}: {capitalize(subject)}", "", f"**Scope:** {capitalize(scope)}", ""]
    prefix = _KIND_PREFIX[kind]
    for number, s in enumerate(scenarios, start=1):
        lines += [
            f"### {prefix}-{number} ({s.priority}): {capitalize(s.title)}",
            f"- **Given** {s.given}",
            f"- **When** {s.when}",
            f"- **Then** {s.then}",
            f"- **Test data:** {s.data}",
            "",
        ]
    p0 = [f"{prefix}-{n}" for n, s in enumerate(scenarios, start=1) if s.priority == "P0"]
    lines.append(f"**Automate first:** {human_list(p0)}." if p0 else "")
    return "\n".join(lines).rstrip() + "\n"


def _e2e_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    out = [
        _Scenario(
            f"happy path through {core}",
            "P0",
            f"{d['actor']} on a production-like environment",
            f"they {d['journey'].replace('{subject}', core)} through the user interface",
            f"{d['outcome']}, and no service logs an error",
            d["fixtures"],
        )
    ]
    for part in parts[1:3]:
        out.append(
            _Scenario(
                f"journey covering {part}",
                "P1",
                f"{d['actor']} part-way through {core}",
                f"they complete the {part} step",
                f"the result of the {part} step is visible to the user and in every downstream system "
                "within the agreed SLA",
                d["fixtures"],
            )
        )
    out += [
        _Scenario(
            "failure and recovery",
            "P0",
            f"{d['actor']} in the middle of {core}",
            d["failure"],
            d["failure_then"],
            f"{d['fixtures']}; a fault-injection switch for {d['dependency']}",
        ),
        _Scenario(
            "interrupted session",
            "P2",
            f"{d['actor']} whose session expires, or whose browser is refreshed, during {core}",
            "they sign in again and resume",
            d["resume"],
            "a test account with a short session lifetime",
        ),
    ]
    return out


def _integration_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    return [
        _Scenario(
            f"persistence round-trip for {core}",
            "P0",
            f"the service behind {core} connected to a real database in a container",
            f"{with_article(d['record'])} is created, updated and read back through the service API",
            "every field round-trips unchanged and unique and foreign-key constraints are enforced",
            "an empty schema migrated to the current version",
        ),
        _Scenario(
            f"timeout and retry against {d['dependency']}",
            "P0",
            f"{d['dependency']} stubbed to answer only after the client timeout",
            f"{core} calls it",
            "the call times out, is retried with backoff, and the idempotency key prevents a duplicate side effect",
            f"a programmable stub of {d['dependency']} with configurable latency",
        ),
        _Scenario(
            f"{d['event']} is published exactly once",
            "P1",
            f"a consumer subscribed to {d['event']}",
            f"{core} completes successfully",
            "exactly one message with the documented schema is published, and a redelivered message "
            "is de-duplicated by the consumer",
            "a broker in a container and a recording test consumer",
        ),
        _Scenario(
            "API contract compatibility",
            "P1",
            f"the consumer-driven contracts for {core}",
            "the provider is built and verified against them",
            "the contract tests pass, and removing or renaming a field fails the build",
            "the published consumer contracts",
        ),
        _Scenario(
            "rollback on partial failure",
            "P1",
            f"a failure injected in the second write of {core}",
            "the operation aborts",
            f"no partial {d['record']} is committed and the caller receives a clear error",
            "a fault-injecting repository wrapper",
        ),
    ]


def _functional_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    rule_target = parts[1] if len(parts) > 1 else core
    return [
        _Scenario(
            f"valid input for {core}",
            "P0",
            f"{d['actor']} and complete, valid input for {core}",
            "it is submitted",
            d["valid_then"],
            d["fixtures"],
        ),
        _Scenario(
            "required fields and validation messages",
            "P0",
            f"input for {core} with a required field missing or malformed",
            "it is submitted",
            "it is rejected with a field-specific validation message and nothing is saved",
            "one invalid variant per required field",
        ),
        _Scenario(
            "boundary values",
            "P1",
            f"values at the minimum, at the maximum and just outside the allowed range: {d['boundaries']}",
            "each value is submitted",
            "in-range values are accepted and out-of-range values are rejected with the same message every time",
            "a table of boundary values per field",
        ),
        _Scenario(
            f"business rules of {rule_target}",
            "P1",
            f"the documented business rules for {rule_target}",
            "each rule is exercised with one case that satisfies it and one that violates it",
            "the satisfying case succeeds and the violating case is refused with the documented reason",
            "one example pair per rule",
        ),
        _Scenario(
            "authorization",
            "P0",
            "a user without the required permission",
            f"they attempt to use {core}",
            "access is denied (HTTP 403 or a disabled action) and the attempt is audited",
            "test accounts with and without the permission",
        ),
    ]


def _general_scenarios(subject: str, core: str, parts: list[str], d: dict[str, str]) -> list[_Scenario]:
    return [
        _Scenario(
            f"main flow of {core}",
            "P0",
            f"{d['actor']} and valid input",
            f"they use {core}",
            f"the expected result is shown and the {d['record']} is stored correctly",
            d["fixtures"],
        ),
        _Scenario(
            "invalid input",
            "P0",
            "missing or malformed input",
            "it is submitted",
            "a clear validation error is shown and no data changes",
            "one invalid variant per field",
        ),
        _Scenario(
            "dependency failure",
            "P1",
            d["failure"],
            f"{core} is used",
            "the user gets a helpful error, nothing is half-written, and the operation can be retried safely",
            f"a fault-injection switch for {d['dependency']}",
        ),
    ]


def strategy_markdown(request_text: str, subject: str, answers: list[SpecialistAnswer]) -> str:
    """The supervisor's final answer: the strategy around each specialist's answer."""
    domain = domain_of(request_text)
    sections: list[str] = []
    layers: list[str] = []
    files: list[str] = []
    problems: list[str] = []
    for name, title, content in answers:
        if not content:
            body = f"_{name} returned no result._"
            problems.append(name)
        elif content.startswith("Error"):
            body = f"_{name} could not deliver its scenarios:_\n\n> {one_line(content, 600)}"
            problems.append(name)
        else:
            files += re.findall(r"/scenarios/[\w.-]+\.md", content)
            body = _as_section_body(truncate(content, 8000))
        layers.append(title.lower())
        sections.append(f"## {title} (`{name}`)\n\n{body}")

    risks = [
        f"- **{capitalize(domain['risk'])}.** Covered by the failure-path and idempotency scenarios below.",
        f"- **Environment drift:** end-to-end results are only meaningful on a staging stack that mirrors "
        f"production versions of {domain['dependency']} and the database.",
        "- **Flaky tests eroding trust:** quarantine a flaky test with an owner and a fix date instead of "
        "retrying it silently.",
    ]
    if problems:
        risks.insert(
            0,
            f"- **Coverage gap:** no scenarios from {', '.join(problems)}; rerun that specialist "
            "before relying on this strategy.",
        )
    parts = [
        f"# Test strategy: {capitalize(subject)}",
        f"> {one_line(request_text, 500)}",
        "## Scope and approach\n\n"
        f"The strategy follows the test pyramid for {subject}: many fast functional checks, a focused set of "
        "integration tests at component boundaries, and a few end-to-end journeys that prove the deployed system "
        f"works for real users. It combines {human_list(layers) or 'the delegated test layers'}, each prepared "
        "by a dedicated specialist; their scenarios follow, grouped by layer.",
        *sections,
        "## Priorities and what to automate first\n\n"
        "1. **P0 functional scenarios** (valid input, validation, authorization): cheap, fast and they catch "
        "most regressions. Run on every commit.\n"
        "2. **P0 integration scenarios** (persistence round-trip, timeout and retry): run on every pull request "
        "with real infrastructure in containers.\n"
        "3. **The end-to-end happy path and failure-recovery journeys** as the release smoke test on staging.\n"
        "4. The P1/P2 scenarios as the regular nightly suite.",
        "## Risks\n\n" + "\n".join(risks),
        "## Execution plan\n\n"
        "| Layer | Runs | Environment | Gate |\n"
        "|---|---|---|---|\n"
        "| Functional | every commit | in-process, external I/O stubbed | blocks merge |\n"
        "| Integration | every pull request | real database and broker in containers, third parties stubbed | blocks merge |\n"
        "| End-to-end | nightly and before each release | production-like staging with seeded data | blocks release |",
        "## Exit criteria\n\n"
        "- All P0 and P1 scenarios pass; no open severity-1 or severity-2 defects.\n"
        "- The end-to-end happy path and failure-recovery journeys pass on staging.\n"
        "- Every defect found gets a regression test at the lowest layer that can catch it.",
    ]
    if files:
        parts.append("Scenario files: " + ", ".join(f"`{f}`" for f in dict.fromkeys(files)) + ".")
    return "\n\n".join(parts) + "\n"


def _as_section_body(markdown: str) -> str:
    """A specialist's answer placed under a ``##`` heading: its own title line
    is dropped and its headings start at level 3."""
    lines = markdown.splitlines()
    if lines and re.match(r"#\s", lines[0]):
        lines = lines[1:]
    body = "\n".join(lines).strip()
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", body, re.M)]
    shift = 3 - min(levels) if levels and min(levels) < 3 else 0
    if shift:
        body = re.sub(r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m.group(1)) + shift), body, flags=re.M)
    return body
