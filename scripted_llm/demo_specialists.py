"""Who the demo's specialists are, read from the "qa" profile.

The offline demo plays the supervisor of the "qa" profile and the
sub-agents it delegates to. Their names come from the profile (the
supervisor's ``subagents``), and the test layer each one covers ("e2e",
"integration", "functional") is the first layer its description names, so
the demo follows the profile instead of keeping a copy of it. The layer also
names the file a specialist writes (``/scenarios/<kind>.md``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from deepagents_temporal.profiles import Profile, get_builtin_profile

#: The profile the demo brain plays.
DEMO_PROFILE = "qa"

#: Words that name a test layer, per layer ("kind").
_LAYER_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("e2e", ("end-to-end", "end to end", "e2e")),
    ("integration", ("integration",)),
    ("functional", ("functional",)),
)

_LAYER_TITLES = {"e2e": "End-to-end tests", "integration": "Integration tests", "functional": "Functional tests"}


class Specialist(NamedTuple):
    kind: str  # the test layer: names /scenarios/<kind>.md; "general" if the description names none
    title: str  # human title of the layer, e.g. "End-to-end tests"


def layer_named_in(text: str) -> str | None:
    """The test layer named first in ``text``, if any."""
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for kind, words in _LAYER_WORDS:
        for word in words:
            match = re.search(r"(?<![a-z])" + re.escape(word) + r"(?![a-z])", lowered)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), kind)
    return best[1] if best else None


def specialists_of(profile: Profile) -> dict[str, Specialist]:
    """The supervisor's sub-agents, in the profile's order, with their test layer."""
    roster: dict[str, Specialist] = {}
    for name in profile.supervisor.subagents:
        kind = layer_named_in(profile.agent(name).description) or "general"
        roster[name] = Specialist(kind, _LAYER_TITLES.get(kind, name.replace("_", " ").capitalize()))
    return roster


#: subagent_type -> Specialist(kind, title), for the demo profile.
DEMO_SPECIALISTS: dict[str, Specialist] = specialists_of(get_builtin_profile(DEMO_PROFILE))


def specialty_of(text: str) -> str | None:
    """The test layer ``text`` is about: a specialist's name in it, else the first layer it names."""
    lowered = text.lower()
    for name, specialist in DEMO_SPECIALISTS.items():
        if name in lowered:
            return specialist.kind
    return layer_named_in(text)
