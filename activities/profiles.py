"""The profile a run starts with, and what the router may choose from, read by a
worker (workflow code reads no files).

``resolve_profile`` reads the profile files again each time, so a new run sees
the current file; the result is recorded in the run's history, so a run keeps
that version to its end, sub-agents included, and replays with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal.custom_tools import CustomTool
from deepagents_temporal.profiles import Profile, UnknownProfileError, load_profiles
from deepagents_temporal.routing import ROUTABLE_WORKFLOWS, RouteOption, RoutingOptions


class ProfileActivities:
    def __init__(self, profile_paths: Sequence[str], tools: dict[str, CustomTool], default_profile: str) -> None:
        self._paths = list(profile_paths)
        self._tools = {name: custom.spec for name, custom in tools.items()}
        self._default = default_profile

    @activity.defn(name="resolve_profile")
    async def resolve_profile(self, name: str) -> Profile:
        loaded = await asyncio.to_thread(load_profiles, self._paths, self._tools)
        try:
            return loaded.get(name)
        except UnknownProfileError as err:
            raise ApplicationError(str(err), type="UnknownProfile", non_retryable=True) from None

    @activity.defn(name="routing_options")
    async def routing_options(self) -> RoutingOptions:
        """What the router may choose from: every profile this worker can read, then the routable workflows."""
        loaded = await asyncio.to_thread(load_profiles, self._paths, self._tools)
        if self._default not in loaded.profiles:
            raise ApplicationError(
                f"DEEPAGENT_DEFAULT_PROFILE names {self._default!r}, which is not a profile; "
                f"available: {', '.join(sorted(loaded.profiles))}",
                type="UnknownProfile",
                non_retryable=True,
            )
        options = [
            RouteOption(kind="profile", name=p.name, description=p.description)
            for p in sorted(loaded.profiles.values(), key=lambda p: p.name)
        ]
        options += [
            RouteOption(kind="workflow", name=w.name, description=w.description)
            for w in sorted(ROUTABLE_WORKFLOWS.values(), key=lambda w: w.name)
        ]
        return RoutingOptions(options=options, default_profile=self._default)
