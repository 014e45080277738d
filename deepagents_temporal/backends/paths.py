"""What an agent path means: where it lives, which globs select it, what its name says about its content.

Both backends take agent paths through :func:`map_path`, the single gate
from what the model writes to storage keys, so that one set of rules (absolute
POSIX paths, no ``..``, no control characters, the S3 length limits) holds for
the run's files and for ``/memories/`` alike.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, cast

from wcmatch import glob as wcglob

from deepagents_temporal import s3
from deepagents_temporal.backends.protocol import PathError, ToolError

Area = Literal["run", "templates", "uploads", "memories"]
READ_ONLY_AREAS: dict[str, str] = {"templates": s3.TEMPLATES_PREFIX, "uploads": s3.UPLOADS_PREFIX}
RESERVED_AREAS = frozenset({"memories"})  # not in the bucket: another backend answers for them

MAX_GLOB_ALTERNATIVES = 64  # after {a,b} expansion


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class Target:
    """Where an agent path points."""

    path: str  # normalised agent path: "/" or "/a/b", no trailing slash
    area: Area
    base: str  # key prefix of the area, ends with "/" ("" for reserved areas)
    rel: str  # path inside the area, "" for the area itself

    @property
    def key(self) -> str:
        return self.base + self.rel

    @property
    def dir_prefix(self) -> str:
        """Key prefix of the children when the path is a directory."""
        return f"{self.key}/" if self.rel else self.base

    @property
    def dir_path(self) -> str:
        """Agent path of the children's parent, ending with "/"."""
        return self.path if self.path == "/" else self.path + "/"


def _bad_char(ch: str) -> bool:
    # Control characters (C0, DEL, C1) and the Unicode line/paragraph separators,
    # which would split lines in tool output.
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def _segments(path: str) -> list[str]:
    """The segments of a valid agent path, or :class:`PathError`.

    Segments are taken literally (no URL decoding); empty and "." segments are
    dropped, ".." is refused outright rather than resolved.
    """
    if not isinstance(path, str) or not path:
        raise PathError("a path is required, e.g. /notes.md")
    if any(_bad_char(ch) for ch in path):
        raise PathError(f"invalid path {path!r}: control characters are not allowed")
    if "\\" in path:
        raise PathError(f"invalid path {path!r}: backslashes are not allowed; use '/' between folders")
    if not path.startswith("/"):
        raise PathError(f"invalid path {path!r}: relative paths are not allowed; use an absolute path such as /{path}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise PathError(f"invalid path {path!r}: not valid UTF-8") from None
    segments = [seg for seg in path.split("/") if seg not in ("", ".")]
    if ".." in segments:
        raise PathError(f"invalid path {path!r}: '..' is not allowed; write the absolute path without it")
    for seg in segments:
        if len(seg.encode("utf-8")) > s3.MAX_SEGMENT_BYTES:
            raise PathError(f"invalid path: a file or folder name is longer than {s3.MAX_SEGMENT_BYTES} bytes")
    return segments


def map_path(run_id: str, path: str) -> Target:
    """Map an agent path to its place in the bucket, or raise :class:`PathError`.

    Nothing outside ``runs/<run_id>/files/`` and the read-only areas is
    reachable; reserved areas map to their own path, with no bucket prefix.
    """
    segments = _segments(path)
    area: Area = "run"
    base = s3.run_files_prefix(run_id)
    inner = segments
    if segments and segments[0] in READ_ONLY_AREAS:
        area, base, inner = cast(Area, segments[0]), READ_ONLY_AREAS[segments[0]], segments[1:]
    elif segments and segments[0] in RESERVED_AREAS:
        area, base, inner = cast(Area, segments[0]), "", segments[1:]
    target = Target(path="/" + "/".join(segments), area=area, base=base, rel="/".join(inner))
    if len(target.key.encode("utf-8")) > s3.MAX_KEY_BYTES:
        raise PathError(f"invalid path: too long (the storage key would exceed {s3.MAX_KEY_BYTES} bytes)")
    return target


def check_file_path(target: Target, path: str) -> None:
    """Refuse to write to ``target`` (from the agent's ``path``) when it names a directory."""
    if not target.rel or path.endswith("/"):
        raise PathError(f"{target.path} names a directory; give a file path such as {target.dir_path}notes.md")


def is_under(path: str, folder: str) -> bool:
    """Whether the agent path ``path`` is ``folder`` (ending with "/") or inside it.

    ``path`` is read as :func:`map_path` reads it (``//memories/./a`` is in
    ``/memories/``); an invalid path is in no folder.
    """
    try:
        normalised = "/" + "/".join(_segments(path))
    except PathError:
        return False
    return normalised == folder.rstrip("/") or normalised.startswith(folder)


# --------------------------------------------------------------------------- glob patterns

# "*", "?" and "[...]" stay within one segment, a "**" segment spans any number
# of folders (zero included), "{a,b}" alternates; dot files are not special.
_GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | wcglob.FORCEUNIX | wcglob.CASE
_BRACKET = re.compile(r"\[[!^]?(\]?[^\]/]*)\]")
_RANGE = re.compile(r"(.)-(.)")


def _reversed_range(pattern: str) -> str | None:
    # wcmatch silently drops a range like [z-a]; the model should hear that its
    # pattern is wrong rather than see "No files found".
    for bracket in _BRACKET.finditer(pattern):
        for low, high in _RANGE.findall(bracket.group(1)):
            if low > high:
                return f"{low}-{high}"
    return None


def compile_glob(pattern: str, *, match_base: bool = False) -> wcglob.WcMatcher[str]:
    """A matcher whose ``match`` selects the relative paths ``pattern`` names.

    Empty segments mean nothing (``/a//b/`` is ``a/b``). ``match_base``: a
    pattern without "/" matches file names at any depth.
    """
    relative = "/".join(segment for segment in pattern.split("/") if segment)
    shown = pattern.lstrip("/")
    bad = _reversed_range(relative)
    if bad:
        raise ToolError(f"invalid glob pattern {shown!r}: bad character range {bad}")
    flags = _GLOB_FLAGS | (wcglob.MATCHBASE if match_base and "/" not in relative else 0)
    try:
        return wcglob.compile(relative, flags=flags, limit=MAX_GLOB_ALTERNATIVES)
    except wcglob.PatternLimitException:
        raise ToolError(f"glob pattern {shown!r} expands to too many alternatives") from None


def parse_glob_pattern(pattern: str) -> wcglob.WcMatcher[str]:
    """The glob tool's ``pattern`` argument compiled; empty is a :class:`ToolError`."""
    if not pattern.strip("/"):
        raise ToolError("pattern must not be empty, e.g. **/*.md")
    return compile_glob(pattern)


def grep_path_filter(glob: str | None, dir_path: str) -> Callable[[str], bool]:
    """Which agent paths under ``dir_path`` (ending with "/") grep's ``glob`` argument admits.

    No glob admits every path. A glob without "/" matches file names at any depth, like
    ripgrep's --glob; otherwise it matches the path relative to ``dir_path``.
    An invalid glob raises :class:`ToolError` here, before any file is read.
    """
    if not glob:
        return lambda path: True
    matcher = compile_glob(glob, match_base=True)
    return lambda path: matcher.match(path[len(dir_path) :])


# --------------------------------------------------------------------------- content types

# Pinned where Python's table (3.11) lacks a type or later versions changed it.
_PINNED_TYPES = {
    "text/markdown": (".md", ".markdown"),
    "text/plain": (".log",),
    "text/javascript": (".js",),
    "application/xml": (".xml",),
    "application/yaml": (".yaml", ".yml"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
}


def _mime_table() -> mimetypes.MimeTypes:
    # Python's own table only, not the host's /etc/mime.types, so every worker
    # labels a file the same way.
    table = mimetypes.MimeTypes()
    for kind, suffixes in _PINNED_TYPES.items():
        for suffix in suffixes:
            table.add_type(kind, suffix)
    return table


_MIME = _mime_table()
# Text the tools write is stored under these as they are; other non-text types become text/plain.
_TEXTUAL_APPLICATION_TYPES = frozenset({"application/json", "application/xml", "application/yaml"})


def content_type_for(name: str, *, text: bool) -> str:
    """The Content-Type for a file called ``name``; ``text`` content is UTF-8 and says so."""
    # By the last suffix alone: "a.tar.gz" is not a tar archive to a reader.
    kind = _MIME.types_map[True].get(PurePosixPath(name).suffix.lower())
    if not text:
        return kind or "application/octet-stream"
    if kind and kind.startswith("text/"):
        return f"{kind}; charset=utf-8"
    return kind if kind in _TEXTUAL_APPLICATION_TYPES else "text/plain; charset=utf-8"
