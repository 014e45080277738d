"""Agent profiles: which prompt, tools, sub-agents and models each agent has.

Profiles are YAML files (``file_format.py``), shipped in ``builtin/`` and
added with ``DEEPAGENT_PROFILES`` (``library.py``); a run keeps the resolved
:class:`Profile` it started with (``spec.py``). docs/profiles.md is the guide.
"""

from deepagents_temporal.profiles.file_format import ProfileFileError, parse_profile
from deepagents_temporal.profiles.library import (
    DEFAULT_PROFILE,
    LoadedProfiles,
    ProfilesInvalidError,
    builtin_profiles,
    get_builtin_profile,
    load_profiles,
)
from deepagents_temporal.profiles.spec import (
    ACTIVITY_TOOLS,
    APPROVAL_CHOICES,
    BUILTIN_TOOLS,
    FILE_TOOLS,
    GENERAL_PURPOSE,
    WORKFLOW_TOOLS,
    AgentSpec,
    ApprovalRule,
    CustomToolSpec,
    Profile,
    UnknownAgentError,
    UnknownProfileError,
    custom_tool_activity_name,
)

__all__ = [
    "ACTIVITY_TOOLS",
    "APPROVAL_CHOICES",
    "BUILTIN_TOOLS",
    "DEFAULT_PROFILE",
    "FILE_TOOLS",
    "GENERAL_PURPOSE",
    "WORKFLOW_TOOLS",
    "AgentSpec",
    "ApprovalRule",
    "CustomToolSpec",
    "LoadedProfiles",
    "Profile",
    "ProfileFileError",
    "ProfilesInvalidError",
    "UnknownAgentError",
    "UnknownProfileError",
    "builtin_profiles",
    "custom_tool_activity_name",
    "get_builtin_profile",
    "load_profiles",
    "parse_profile",
]
