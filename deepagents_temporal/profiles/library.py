"""Where profiles come from: the built-in files shipped in this package, then
the files and folders named in ``DEEPAGENT_PROFILES``.

Files are read again each time (``load``), so a new run sees the current file
while runs in flight keep the profile they started with (see ``spec.py``).
A broken file does not hide the good ones: its problems are collected and
reported by whoever asks for it (worker start, ``profiles check``, a run).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml

from deepagents_temporal.profiles.file_format import ProfileFileError, parse_profile
from deepagents_temporal.profiles.spec import CustomToolSpec, Profile, UnknownProfileError

BUILTIN_FOLDER = Path(__file__).parent / "builtin"
PROFILE_SUFFIXES = (".yaml", ".yml")
DEFAULT_PROFILE = "qa"


@dataclass
class LoadedProfiles:
    profiles: dict[str, Profile] = field(default_factory=dict)
    problems: list[ProfileFileError] = field(default_factory=list)

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            hint = ""
            if self.problems:
                unreadable = "; ".join(map(str, self.problems))
                hint = f" ({len(self.problems)} profile file(s) could not be read: {unreadable})"
            raise UnknownProfileError(
                f"unknown profile {name!r}; available profiles: {', '.join(sorted(self.profiles)) or 'none'}{hint}"
            ) from None

    def check(self) -> None:
        """Raise the problems of every broken file, all at once."""
        if self.problems:
            raise ProfilesInvalidError(self.problems)


class ProfilesInvalidError(ValueError):
    def __init__(self, problems: list[ProfileFileError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def profile_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[ProfileFileError]]:
    """The YAML files named by ``paths`` (a folder gives its *.yaml and *.yml, sorted)."""
    files: list[Path] = []
    problems: list[ProfileFileError] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in PROFILE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(ProfileFileError(str(raw), [("", "no such file or folder")]))
    return files, problems


def load_profiles(
    extra_paths: Sequence[str | Path] = (), custom_tools: dict[str, CustomToolSpec] | None = None
) -> LoadedProfiles:
    """The built-in profiles, then those of ``extra_paths``; names must be unique."""
    builtin, _ = profile_files([BUILTIN_FOLDER])
    extra, problems = profile_files(extra_paths)
    loaded = LoadedProfiles(problems=problems)
    for path in [*builtin, *extra]:
        source = str(path)
        try:
            profile = parse_profile(_read_yaml(path), source, custom_tools)
        except ProfileFileError as err:
            loaded.problems.append(err)
            continue
        if profile.name in loaded.profiles:
            other = loaded.profiles[profile.name].source
            loaded.problems.append(
                ProfileFileError(source, [("name", f"profile {profile.name!r} is already defined in {other}")])
            )
            continue
        loaded.profiles[profile.name] = profile
    return loaded


def _read_yaml(path: Path) -> object:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileFileError(source, [("", f"cannot be read: {err}")]) from None
    try:
        # A copy: the parse is shared by every run that reads the same text.
        return copy.deepcopy(_parsed(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ProfileFileError(source, [(where, f"not valid YAML: {problem}")]) from None


# libyaml's parser when PyYAML was built with it (the wheels are): same documents, far less CPU.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=256)
def _parsed(text: str) -> object:
    """A profile file's YAML; every run resolves its profile, so an unchanged file is parsed once."""
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        # The pure-Python parser's message is the one users are shown (it names what it found).
        return yaml.safe_load(text)


@cache
def builtin_profiles() -> LoadedProfiles:
    """The profiles shipped with the package (no custom tools): the demo's, and
    what runs started before profiles were recorded in history replay with."""
    loaded = load_profiles()
    loaded.check()
    return loaded


def get_builtin_profile(name: str) -> Profile:
    return builtin_profiles().get(name)
