"""The profile a run starts with, read by a worker (workflow code reads no files).

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


class ProfileActivities:
    def __init__(self, profile_paths: Sequence[str], tools: dict[str, CustomTool]) -> None:
        self._paths = list(profile_paths)
        self._tools = {name: custom.spec for name, custom in tools.items()}

    @activity.defn(name="resolve_profile")
    async def resolve_profile(self, name: str) -> Profile:
        loaded = await asyncio.to_thread(load_profiles, self._paths, self._tools)
        try:
            return loaded.get(name)
        except UnknownProfileError as err:
            raise ApplicationError(str(err), type="UnknownProfile", non_retryable=True) from None
