"""`profiles list`, `profiles show NAME`, `profiles check PATH...`: the agent
profiles this installation has, as the workers will load them.

They load the same catalog the workers do (built-in profiles, DEEPAGENT_PROFILES,
the tools of DEEPAGENT_TOOL_MODULES), so what passes here passes at worker
start. Invalid files exit 2 with every problem named, like a bad setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from cli.console import say
from deepagents_temporal.catalog import load_catalog
from deepagents_temporal.graphs import load_graphs
from deepagents_temporal.profiles import AgentSpec, Profile, ProfileFileError, load_profiles
from deepagents_temporal.profiles.library import BUILTIN_FOLDER
from deepagents_temporal.service_errors import SETTINGS_EXIT_CODE
from deepagents_temporal.settings import load_settings


async def list_profiles() -> int:
    catalog = load_catalog(load_settings())
    for profile in sorted(catalog.profiles.profiles.values(), key=lambda p: p.name):
        delegates = ", ".join(profile.supervisor.delegates(profile)) or "none"
        say(f"{profile.name}: {profile.description}", style="bold")
        say(f"  supervisor {profile.supervisor.name}, sub-agents: {delegates}")
        say(f"  tools: {', '.join(profile.supervisor.tools) or 'none'}")
        say(f"  from {profile.source}")
    return _report_problems(catalog.profiles.problems)


async def show_profile(name: str) -> int:
    profile = load_catalog(load_settings()).profile(name)
    text = yaml.dump(_as_document(profile), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100)
    say(text.rstrip())
    return 0


async def check_profiles(paths: Sequence[str]) -> int:
    """Check the files named (folders: their *.yaml, *.yml) against the built-in
    profiles and the tools of DEEPAGENT_TOOL_MODULES."""
    catalog = load_catalog(load_settings())
    tools = {name: custom.spec for name, custom in catalog.tools.items()}
    loaded = load_profiles(paths, tools)
    # Graph sub-agents' graphs are imported, as the workers do.
    load_graphs(loaded)
    for profile in loaded.profiles.values():
        if profile.source and Path(profile.source).parent == BUILTIN_FOLDER:
            continue
        agents = 1 + len(profile.subagents)
        say(f"ok: {profile.source}: profile {profile.name!r} ({agents} agents, tools: {_tools_of(profile)})")
    return _report_problems(loaded.problems)


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (prompts) as ``|`` blocks, as people write them."""


def _block_strings(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _block_strings)


def _tools_of(profile: Profile) -> str:
    agents = [profile.supervisor, *profile.subagents.values()]
    return ", ".join(dict.fromkeys(tool for agent in agents for tool in agent.tools)) or "none"


def _report_problems(problems: list[ProfileFileError]) -> int:
    if not problems:
        return 0
    say(f"error: {len(problems)} profile file(s) are not valid:")
    for problem in problems:
        for line in str(problem).splitlines():
            say(f"  {line}")
    say("  fix the file (or take it out of DEEPAGENT_PROFILES); docs/profiles.md describes the fields")
    return SETTINGS_EXIT_CODE


def _as_document(profile: Profile) -> dict[str, object]:
    """The resolved profile in the file's shape (general-purpose included)."""
    document: dict[str, object] = {
        "name": profile.name,
        "description": profile.description,
        "source": profile.source,
        "agent_name": profile.supervisor.name,
    }
    document |= _agent_fields(profile.supervisor, with_name=False)
    if profile.max_tokens is not None:
        document["max_tokens"] = profile.max_tokens
    document["subagents"] = [_agent_fields(agent, with_name=True) for agent in profile.subagents.values()]
    if profile.custom_tools:
        document["custom_tools"] = {
            name: {"description": spec.description, "timeout_seconds": spec.timeout_seconds, "retries": spec.retries}
            for name, spec in profile.custom_tools.items()
        }
    if profile.mcp_servers:
        # As written: ${VAR} references stay unresolved (the workers read them).
        document["mcp_servers"] = {
            name: server.model_dump(exclude={"name"}, exclude_defaults=True) | {"transport": server.transport}
            for name, server in profile.mcp_servers.items()
        }
    return document


def _agent_fields(agent: AgentSpec, *, with_name: bool) -> dict[str, object]:
    fields: dict[str, object] = {"name": agent.name, "description": agent.description} if with_name else {}
    if agent.graph:
        fields["graph"] = agent.graph
        if agent.timeout_seconds:
            fields["timeout_seconds"] = agent.timeout_seconds
        return fields
    fields["system_prompt"] = agent.system_prompt
    fields["tools"] = list(agent.tools)
    if agent.models:
        fields["model"] = list(agent.models)
    fields["max_steps"] = agent.max_steps
    if with_name and agent.subagents:
        fields["subagents"] = list(agent.subagents)
    return fields
