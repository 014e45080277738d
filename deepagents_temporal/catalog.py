"""What agents and tools this installation has: the custom tools of
``DEEPAGENT_TOOL_MODULES`` and the profiles (built-in and ``DEEPAGENT_PROFILES``),
loaded together because a profile is checked against the tools that exist.

Workers load the catalog at start and refuse to start on a broken profile or
tool module (exit 2, every problem named); the CLI loads it for ``profiles``
and to check ``run --profile``. The graphs of graph sub-agents are imported
with them: a profile whose graph cannot be imported is broken like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepagents_temporal.custom_tools import CustomTool, ToolModulesError, load_tool_modules
from deepagents_temporal.graphs import load_graphs
from deepagents_temporal.profiles import LoadedProfiles, Profile, UnknownProfileError, load_profiles
from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.settings import Settings

PROFILE_HINT = "fix the file (or take it out of DEEPAGENT_PROFILES); `starter.py profiles check PATH` checks one"


@dataclass
class Catalog:
    tools: dict[str, CustomTool]
    profiles: LoadedProfiles
    # The compiled LangGraph graphs graph sub-agents name, by module.path:attribute.
    graphs: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Every problem of every profile file, as one :class:`ConfigurationError`."""
        if self.profiles.problems:
            count = len(self.profiles.problems)
            details = "\n".join(str(problem) for problem in self.profiles.problems)
            raise ConfigurationError(f"{count} profile file(s) are not valid:\n{details}", PROFILE_HINT)

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles.get(name)
        except UnknownProfileError as err:
            raise ConfigurationError(str(err), "`starter.py profiles list` shows the profiles") from None


def load_catalog(settings: Settings) -> Catalog:
    """The tools and profiles the settings name (profiles not yet checked: see ``Catalog.check``)."""
    try:
        tools = load_tool_modules(settings.deepagent_tool_modules)
    except ToolModulesError as err:
        raise ConfigurationError(str(err), "fix the module or DEEPAGENT_TOOL_MODULES") from None
    specs = {name: custom.spec for name, custom in tools.items()}
    profiles = load_profiles(settings.deepagent_profiles, specs)
    return Catalog(tools, profiles, load_graphs(profiles))
