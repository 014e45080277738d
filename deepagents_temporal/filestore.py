"""The agent's file system for one run, kept in S3.

The tools follow deepagents (``ls``, ``read_file``, ``write_file``,
``edit_file``, ``glob``, ``grep``): absolute POSIX paths, ``cat -n`` style
reads, exact-string edits, literal grep, and typed results whose ``error``
field carries expected failures (missing file, ambiguous edit, bad path)
instead of raising.  Only unexpected storage failures (server down, missing
bucket) raise, so that Temporal retries the activity.

Where agent paths live::

    /templates/...   -> templates/...            read-only
    /uploads/...     -> uploads/...              read-only
    /memories/...    -> reserved (PostgreSQL), refused here
    /anything/else   -> runs/<run_id>/files/anything/else

:func:`map_path` is the single gate from agent paths to keys: nothing outside
``runs/<run_id>/files/`` (and the read-only areas, for reads) is reachable.

The public methods are coroutines; each runs its blocking minio calls in one
worker thread (``asyncio.to_thread``), so an async activity can await them.

Retries: ``write_file`` and ``edit_file`` take an ``operation_id`` that stays
the same across retries of one activity (e.g. workflow run id + activity id).
It is stored in the object's user metadata with the content's sha256, so a
retry whose first attempt already wrote the object reports the same success
instead of failing ("already exists", "old_string not found") or editing twice.
Each write is a single ``put_object``: readers never see a partial object.
Known limit: without conditional puts, two *concurrent* edits of one file can
lose an update, and an operation retried after a later one changed the file is
no longer recognised. The agent loop therefore runs one agent's file tools one
after another, in the order the model asked for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, TypeVar, cast

from minio import Minio
from minio.error import S3Error
from pydantic import BaseModel, Field

from deepagents_temporal import s3

__all__ = [
    "EditResult",
    "FileEntry",
    "GlobResult",
    "GrepMatch",
    "GrepResult",
    "LsResult",
    "PathError",
    "ReadResult",
    "RunFileSystem",
    "Target",
    "ToolError",
    "ToolResult",
    "WriteResult",
    "check_edit_strings",
    "clip_line",
    "compile_glob",
    "encode_text",
    "fit_lines",
    "glob_listing",
    "grep_path_filter",
    "grep_texts",
    "ls_listing",
    "map_path",
    "parse_glob_pattern",
    "read_window",
    "replace_exact",
    "split_lines",
]

DEFAULT_READ_LIMIT = 2000  # lines per read_file call, as in deepagents
MAX_LINE_CHARS = 2000  # longer lines are cut in read_file and grep output
LINE_TRUNCATED = "... [line truncated]"
EMPTY_FILE_NOTE = "System reminder: File exists but has empty contents"
MAX_FILE_BYTES = 10 * 1024 * 1024  # files the tools read or write whole
MAX_ENTRIES = 1000  # ls and glob results
# What one tool result may put before the model (and into workflow history).
MAX_OUTPUT_CHARS = 100_000
MAX_GREP_MATCHES = 500
MAX_GLOB_ALTERNATIVES = 64  # after {a,b} expansion

Area = Literal["run", "templates", "uploads", "memories"]
READ_ONLY_AREAS: dict[str, str] = {"templates": s3.TEMPLATES_PREFIX, "uploads": s3.UPLOADS_PREFIX}
RESERVED_AREAS = frozenset({"memories"})

# Metadata names (sent as x-amz-meta-<name>) that make retries recognisable.
META_OPERATION = "operation-id"
META_SHA256 = "sha256"
META_REPLACEMENTS = "replacements"

_TEXT_CONTENT_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".xml": "application/xml",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".py": "text/x-python",
    ".js": "text/javascript",
}
_BINARY_CONTENT_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".zip": "application/zip",
}


# --------------------------------------------------------------------------- results


class ToolResult(BaseModel):
    """``error`` is None on success; ``output`` is the text the model sees either way."""

    error: str | None = None
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class FileEntry(BaseModel):
    path: str  # absolute agent path; directories end with "/"
    is_dir: bool = False
    size: int | None = None  # bytes; None for directories


class LsResult(ToolResult):
    entries: list[FileEntry] = Field(default_factory=list)
    truncated: bool = False


class ReadResult(ToolResult):
    path: str | None = None
    size: int = 0  # bytes of the whole file
    total_lines: int = 0
    start_line: int | None = None  # 1-based, first line shown
    end_line: int | None = None  # 1-based, last line shown
    next_offset: int | None = None  # offset to read on from; None at the end


class WriteResult(ToolResult):
    """What the artifact index needs about the object now stored."""

    path: str | None = None  # agent path (None for reports)
    key: str | None = None  # full S3 key
    size: int = 0
    sha256: str | None = None
    content_type: str | None = None


class EditResult(WriteResult):
    replacements: int = 0


class GlobResult(ToolResult):
    matches: list[FileEntry] = Field(default_factory=list)
    truncated: bool = False


class GrepMatch(BaseModel):
    path: str
    line: int  # 1-based
    text: str


class GrepResult(ToolResult):
    matches: list[GrepMatch] = Field(default_factory=list)
    truncated: bool = False


R = TypeVar("R", bound=ToolResult)
W = TypeVar("W", bound=WriteResult)


class ToolError(Exception):
    """An expected failure; its message is written for the model."""


class PathError(ToolError):
    """A path the agent may not use."""


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


def map_path(run_id: str, path: str) -> Target:
    """Map an agent path to its place in the bucket, or raise :class:`PathError`.

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


def reserved_area_error(target: Target) -> ToolError:
    """The one place that answers for reserved areas; route /memories here later."""
    return PathError(f"{target.path}: /{target.area}/ is not supported here (long-term memory lives elsewhere)")


# --------------------------------------------------------------------------- glob patterns


def _expand_braces(pattern: str) -> list[str]:
    """``a{b,c}d`` -> ``[abd, acd]``, nested braces included; no comma = literal braces."""
    depth, start = 0, -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                options, level, last = [], 0, start + 1
                for j in range(start + 1, i):
                    if pattern[j] == "{":
                        level += 1
                    elif pattern[j] == "}":
                        level -= 1
                    elif pattern[j] == "," and level == 0:
                        options.append(pattern[last:j])
                        last = j + 1
                if not options:
                    continue
                options.append(pattern[last:i])
                expanded: list[str] = []
                for option in options:
                    expanded += _expand_braces(pattern[:start] + option + pattern[i + 1 :])
                    if len(expanded) > MAX_GLOB_ALTERNATIVES:
                        raise ToolError(f"glob pattern {pattern!r} expands to too many alternatives")
                return expanded
    return [pattern]


def _segment_regex(segment: str) -> str:
    """One path segment: ``*`` and ``?`` never cross "/", ``[...]`` is a class (``[!...]`` negated)."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        i += 1
        if ch == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1 if i < n and segment[i] == "!" else i
            if j < n and segment[j] == "]":
                j += 1  # a "]" right after "[" or "[!" is a literal
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(ch))  # no closing bracket: a literal "["
                continue
            body, i = segment[i:j], j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = re.sub(r"([\\\[&~|^])", r"\\\1", body)
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _glob_regex(pattern: str) -> str:
    segments = [seg for seg in pattern.split("/") if seg]
    out = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")  # any number of folders, zero included
        else:
            out.append(_segment_regex(seg) + ("" if last else "/"))
    return "".join(out)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A regex that full-matches the relative paths a glob selects.

    ``*``, ``?`` and ``[...]`` stay within one segment, a ``**`` segment spans
    any number of folders (``**/*.md`` also matches ``a.md``), ``{a,b}`` alternates.
    """
    try:
        return re.compile("|".join(f"(?:{_glob_regex(p)})" for p in _expand_braces(pattern)))
    except re.error as err:
        raise ToolError(f"invalid glob pattern {pattern!r}: {err}") from None


# --------------------------------------------------------------------------- helpers


@dataclass
class _Stored:
    """An object as stored, with the metadata that identifies its writer."""

    key: str
    size: int
    content_type: str
    sha256: str | None
    operation_id: str | None
    replacements: int | None
    data: bytes | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_lines(text: str) -> list[str]:
    """One splitting rule for read_file and grep, so their line numbers agree."""
    return text.splitlines()


def clip_line(line: str) -> str:
    """``line`` cut to :data:`MAX_LINE_CHARS`, marked with :data:`LINE_TRUNCATED` when cut."""
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + LINE_TRUNCATED


def fit_lines(lines: list[str], budget: int = MAX_OUTPUT_CHARS) -> int:
    """How many of ``lines`` fit in ``budget`` characters (at least one)."""
    used = 0
    for i, line in enumerate(lines):
        used += len(line) + 1
        if used > budget and i > 0:
            return i
    return len(lines)


def encode_text(content: str) -> bytes:
    """``content`` as UTF-8, or :class:`ToolError` if it cannot be encoded or exceeds :data:`MAX_FILE_BYTES`."""
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError("content is not valid UTF-8 text") from None
    if len(data) > MAX_FILE_BYTES:
        raise ToolError(f"content is too large ({len(data)} bytes, limit {MAX_FILE_BYTES})")
    return data


def _decode_text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not a UTF-8 text file ({len(data)} bytes); it cannot be shown as text") from None


def content_type_for(name: str, *, text: bool) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if text:
        kind = _TEXT_CONTENT_TYPES.get(suffix, "text/plain")
        return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind
    return _BINARY_CONTENT_TYPES.get(suffix) or _TEXT_CONTENT_TYPES.get(suffix) or "application/octet-stream"


def _quote_operation(operation_id: str) -> str:
    # Header values must be ASCII; ids may not be.
    if not operation_id:
        raise ValueError("operation_id must not be empty")
    return urllib.parse.quote(operation_id, safe="")


def _meta(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(f"x-amz-meta-{name}")  # a case-insensitive dict from urllib3
    return value if value else None


def _from_headers(key: str, headers: Mapping[str, str], data: bytes | None = None) -> _Stored:
    replacements = _meta(headers, META_REPLACEMENTS)
    return _Stored(
        key=key,
        size=int(headers.get("Content-Length") or (len(data) if data is not None else 0)),
        content_type=headers.get("Content-Type") or "application/octet-stream",
        sha256=_meta(headers, META_SHA256),
        operation_id=_meta(headers, META_OPERATION),
        replacements=int(replacements) if replacements and replacements.isdigit() else None,
        data=data,
    )


def _missing(err: S3Error) -> bool:
    return err.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


# --------------------------------------------------------------------------- shared tool logic
#
# The storage-independent parts of the tools, shared by RunFileSystem and
# memoryfs.MemoryFileSystem so that both give the same answers and messages.


def read_window(path: str, text: str, size: int, offset: int, limit: int) -> ReadResult:
    """The read_file answer for ``text``, the whole content (``size`` bytes) of the file at ``path``.

    Lines ``offset`` (0-based, negative means 0) to ``offset + limit`` numbered like ``cat -n``,
    long lines clipped, cut to the output budget, with a hint where to read on; a blank file
    gives :data:`EMPTY_FILE_NOTE`, an offset past the end raises :class:`ToolError`.
    """
    lines = split_lines(text)
    result = ReadResult(path=path, size=size, total_lines=len(lines))
    if not text.strip():
        result.output = EMPTY_FILE_NOTE
        return result
    offset = max(offset, 0)
    if offset >= len(lines):
        raise ToolError(f"line offset {offset} is past the end of {path} ({len(lines)} lines)")
    numbered = [f"{offset + i + 1:6}\t{clip_line(line)}" for i, line in enumerate(lines[offset : offset + limit])]
    numbered = numbered[: fit_lines(numbered)]
    result.start_line, result.end_line = offset + 1, offset + len(numbered)
    if result.end_line < len(lines):
        result.next_offset = result.end_line
        rest = len(lines) - result.end_line
        numbered.append(f"... [{rest} more lines; read_file with offset={result.next_offset} to continue]")
    result.output = "\n".join(numbered)
    return result


def _shown(entries: list[FileEntry], render: Callable[[FileEntry], str]) -> tuple[list[FileEntry], list[str], bool]:
    """``entries`` sorted by path and cut to :data:`MAX_ENTRIES` and the output budget:
    (entries shown, their lines, whether any were left out)."""
    ordered = sorted(entries, key=lambda e: e.path)
    lines = [render(e) for e in ordered[:MAX_ENTRIES]]
    lines = lines[: fit_lines(lines)]
    return ordered[: len(lines)], lines, len(lines) < len(ordered)


def ls_listing(entries: list[FileEntry], dir_path: str) -> LsResult:
    """The ls answer for ``entries``, the contents of the directory ``dir_path`` (ending with "/")."""
    shown, lines, truncated = _shown(entries, lambda e: e.path if e.is_dir else f"{e.path} ({e.size} bytes)")
    if truncated:
        lines.append(f"... [only the first {len(shown)} entries are shown]")
    return LsResult(output="\n".join(lines) or f"No files in {dir_path}", entries=shown, truncated=truncated)


def parse_glob_pattern(pattern: str) -> re.Pattern[str]:
    """The glob tool's ``pattern`` argument compiled (see :func:`compile_glob`); empty is a :class:`ToolError`."""
    if not pattern.strip("/"):
        raise ToolError("pattern must not be empty, e.g. **/*.md")
    return compile_glob(pattern.lstrip("/"))


def glob_listing(matches: list[FileEntry]) -> GlobResult:
    """The glob answer for the files in ``matches``."""
    shown, lines, truncated = _shown(matches, lambda e: e.path)
    if truncated:
        lines.append(f"... [only the first {len(shown)} files are shown; use a narrower pattern]")
    return GlobResult(output="\n".join(lines) or "No files found", matches=shown, truncated=truncated)


def grep_path_filter(glob: str | None, dir_path: str) -> Callable[[str], bool]:
    """Which agent paths under ``dir_path`` (ending with "/") grep's ``glob`` argument admits.

    No glob admits every path. A glob without "/" matches file names at any depth, like
    ripgrep's --glob; otherwise it matches the path relative to ``dir_path``.
    An invalid glob raises :class:`ToolError` here, before any file is read.
    """
    if not glob:
        return lambda path: True
    regex = compile_glob(glob.lstrip("/"))
    if "/" not in glob.strip("/"):
        return lambda path: regex.fullmatch(path.rsplit("/", 1)[-1]) is not None
    return lambda path: regex.fullmatch(path[len(dir_path) :]) is not None


def grep_texts(pattern: str, files: Iterable[tuple[str, str]]) -> GrepResult:
    """The grep answer: lines of ``files`` ((agent path, text) pairs) containing ``pattern`` literally.

    ``files`` is consumed lazily and in order; it is left unfinished once
    :data:`MAX_GREP_MATCHES` matches or the output budget are reached.
    """
    matches: list[GrepMatch] = []
    truncated = False
    budget = MAX_OUTPUT_CHARS
    for path, text in files:
        for number, line in enumerate(split_lines(text), 1):
            if pattern in line:
                match = GrepMatch(path=path, line=number, text=clip_line(line))
                budget -= len(path) + len(match.text) + 12
                if len(matches) == MAX_GREP_MATCHES or (budget < 0 and matches):
                    truncated = True
                    break
                matches.append(match)
        if truncated:
            break
    lines = [f"{m.path}:{m.line}:{m.text}" for m in matches]
    if truncated:
        lines.append(f"... [only the first {len(matches)} matches are shown; narrow the search with path or glob]")
    return GrepResult(output="\n".join(lines) or "No matches found", matches=matches, truncated=truncated)


def check_edit_strings(old_string: str, new_string: str) -> None:
    """The edit_file arguments checked before the file's text is needed."""
    if not old_string:
        raise ToolError("old_string must not be empty; use write_file to create a file")
    if old_string == new_string:
        raise ToolError("old_string and new_string are identical; there is nothing to change")


def replace_exact(text: str, old_string: str, new_string: str, replace_all: bool, path: str) -> tuple[str, int]:
    """``text`` with ``old_string`` replaced, and the number of replacements.

    ``old_string`` must occur (once, unless ``replace_all``), else :class:`ToolError`.
    """
    count = text.count(old_string)
    if count == 0:
        raise ToolError(f"old_string not found in {path}; read_file shows the current text")
    if count > 1 and not replace_all:
        raise ToolError(
            f"old_string appears {count} times in {path}; pass replace_all=true to replace every "
            "occurrence, or include more surrounding context to make it unique"
        )
    return text.replace(old_string, new_string), count  # count == 1 unless replace_all


# --------------------------------------------------------------------------- the file system


class RunFileSystem:
    """deepagents-style file tools on the files of one run.

    ``client`` is a minio client (see :func:`deepagents_temporal.s3.make_client`),
    ``bucket`` must exist (:func:`deepagents_temporal.s3.ensure_bucket`).
    """

    def __init__(self, client: Minio, bucket: str, run_id: str) -> None:
        self.client = client
        self.bucket = bucket
        self.run_id = run_id
        self.files_prefix = s3.run_files_prefix(run_id)  # validates run_id

    # ---- public tools

    async def ls(self, path: str = "/") -> LsResult:
        """Entries directly under ``path``; directories end with "/"."""
        return await self._run(LsResult, self._ls, path)

    async def read_file(self, file_path: str, offset: int = 0, limit: int = DEFAULT_READ_LIMIT) -> ReadResult:
        """Lines ``offset`` (0-based) to ``offset + limit``, numbered like ``cat -n``."""
        return await self._run(ReadResult, self._read_file, file_path, offset, limit)

    async def write_file(self, file_path: str, content: str, *, operation_id: str) -> WriteResult:
        """Create a file. An existing file with other content is an error (use edit_file);
        with the same content it is a success, so a retried write is harmless."""
        return await self._run(WriteResult, self._write_file, file_path, content, operation_id)

    async def edit_file(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
        *,
        operation_id: str,
    ) -> EditResult:
        """Replace an exact string; it must occur once unless ``replace_all``."""
        return await self._run(
            EditResult, self._edit_file, file_path, old_string, new_string, replace_all, operation_id
        )

    async def glob(self, pattern: str, path: str = "/") -> GlobResult:
        """Files under ``path`` whose path relative to it matches ``pattern``."""
        return await self._run(GlobResult, self._glob, pattern, path)

    async def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> GrepResult:
        """Lines containing ``pattern`` literally (not a regex), as ``path:line_number:line``."""
        return await self._run(GrepResult, self._grep, pattern, path, glob)

    async def write_report(
        self,
        name: str,
        content: str | bytes,
        *,
        content_type: str | None = None,
        operation_id: str | None = None,
    ) -> WriteResult:
        """Store a deliverable at ``reports/<run_id>/<name>``, replacing an older one.

        Unlike write_file this overwrites: reports are rebuilt whole, and the
        same input gives the same object, so a retry is harmless.
        """
        return await self._run(WriteResult, self._write_report, name, content, content_type, operation_id)

    # ---- plumbing

    async def _run(self, result_type: type[R], fn: Callable[..., R], *args: object) -> R:
        try:
            return await asyncio.to_thread(fn, *args)
        except ToolError as err:
            return result_type(error=str(err), output=f"Error: {err}")

    def _target(self, path: str, *, write: bool = False) -> Target:
        target = map_path(self.run_id, path)
        if target.area in RESERVED_AREAS:
            raise reserved_area_error(target)
        if write:
            if target.area != "run":
                raise PathError(
                    f"{target.path} is in /{target.area}/, which is read-only; write your own files "
                    f"elsewhere, e.g. /{target.rel or 'notes.md'}"
                )
            if not target.rel or path.endswith("/"):
                raise PathError(f"{target.path} names a directory; give a file path such as {target.dir_path}notes.md")
        return target

    def _agent_path(self, target: Target, key: str) -> str:
        """Agent path of a key listed under ``target``'s area."""
        root = "/" if target.area == "run" else f"/{target.area}/"
        return root + key[len(target.base) :]

    def _stat(self, key: str) -> _Stored | None:
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as err:
            if _missing(err):
                return None
            raise
        return _from_headers(key, stat.metadata or {})

    def _get(self, key: str, path: str) -> _Stored | None:
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as err:
            if _missing(err):
                return None
            raise
        try:
            length = int(response.headers.get("Content-Length") or 0)
            if length > MAX_FILE_BYTES:
                raise ToolError(f"{path} is too large for this tool ({length} bytes, limit {MAX_FILE_BYTES})")
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        return _from_headers(key, response.headers, data)

    def _has_children(self, prefix: str) -> bool:
        return next(iter(self.client.list_objects(self.bucket, prefix=prefix)), None) is not None

    def _not_found(self, target: Target) -> ToolError:
        if not target.rel or self._has_children(target.dir_prefix):
            return ToolError(f"{target.path} is a directory; use ls to see its files")
        return ToolError(f"file not found: {target.path}")

    def _walk(self, target: Target) -> Iterator[tuple[Target, str, int]]:
        """Every file under a directory target as (area target, key, size); "/" includes the read-only areas."""
        roots = [target]
        if target.path == "/":
            roots += [map_path(self.run_id, f"/{area}") for area in READ_ONLY_AREAS]
        for root in roots:
            for obj in self.client.list_objects(self.bucket, prefix=root.dir_prefix, recursive=True):
                name = obj.object_name or ""
                if not obj.is_dir and not name.endswith("/"):  # skip folder markers
                    yield root, name, obj.size or 0

    def _put(self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]) -> None:
        # One put_object per write: the object appears whole or not at all.
        self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type, metadata={**metadata}
        )

    # ---- tool bodies (run in a worker thread)

    def _ls(self, path: str) -> LsResult:
        target = self._target(path)
        entries: list[FileEntry] = []
        for obj in self.client.list_objects(self.bucket, prefix=target.dir_prefix):
            name = obj.object_name or ""
            if name == target.dir_prefix:
                continue
            if obj.is_dir or name.endswith("/"):
                entries.append(FileEntry(path=self._agent_path(target, name.rstrip("/")) + "/", is_dir=True))
            else:
                entries.append(FileEntry(path=self._agent_path(target, name), size=obj.size or 0))
        if target.path == "/":
            entries += [
                FileEntry(path=f"/{area}/", is_dir=True)
                for area, prefix in READ_ONLY_AREAS.items()
                if self._has_children(prefix)
            ]
        elif not entries and target.rel:
            stored = self._stat(target.key)
            if stored is None:
                raise ToolError(f"no such file or directory: {target.path}")
            entries.append(FileEntry(path=target.path, size=stored.size))
        return ls_listing(entries, target.dir_path)

    def _read_file(self, file_path: str, offset: int, limit: int) -> ReadResult:
        target = self._target(file_path)
        if limit < 1:
            raise ToolError("limit must be at least 1")
        stored = self._get(target.key, target.path) if target.rel else None
        if stored is None:
            raise self._not_found(target)
        assert stored.data is not None
        text = _decode_text(stored.data, target.path)
        return read_window(target.path, text, len(stored.data), offset, limit)

    def _written(self, target: Target, stored: _Stored, result_type: type[W], output: str) -> W:
        return result_type(
            output=output,
            path=target.path,
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
        )

    def _write_file(self, file_path: str, content: str, operation_id: str) -> WriteResult:
        target = self._target(file_path, write=True)
        data = encode_text(content)
        digest = _sha256(data)
        existing = self._stat(target.key)
        if existing is not None:
            current = existing.sha256
            if current is None:  # put there by something else: hash what is stored
                fetched = self._get(target.key, target.path)
                current = _sha256(fetched.data) if fetched and fetched.data is not None else None
            if current != digest:
                raise ToolError(
                    f"{target.path} already exists with different content; use edit_file to change it "
                    "(read_file shows what is in it)"
                )
            existing.sha256 = digest  # same bytes: the write (or its retry) already happened
        elif self._has_children(target.dir_prefix):
            raise ToolError(f"{target.path} is a directory; give a file path inside it")
        else:
            content_type = content_type_for(target.path, text=True)
            self._put(
                target.key,
                data,
                content_type,
                {META_OPERATION: _quote_operation(operation_id), META_SHA256: digest},
            )
            existing = _Stored(target.key, len(data), content_type, digest, None, None)
        return self._written(target, existing, WriteResult, f"Updated file {target.path}")

    def _edit_file(
        self, file_path: str, old_string: str, new_string: str, replace_all: bool, operation_id: str
    ) -> EditResult:
        target = self._target(file_path, write=True)
        operation = _quote_operation(operation_id)
        stored = self._get(target.key, target.path)
        if stored is None:
            raise self._not_found(target)
        assert stored.data is not None
        replayed = stored.operation_id == operation and stored.replacements is not None
        if replayed and stored.sha256 == _sha256(stored.data):
            # This very operation produced the current object: a retry after a lost result.
            return self._edited(target, stored)
        check_edit_strings(old_string, new_string)
        text = _decode_text(stored.data, target.path)
        new_text, count = replace_exact(text, old_string, new_string, replace_all, target.path)
        data = encode_text(new_text)
        digest = _sha256(data)
        content_type = stored.content_type or content_type_for(target.path, text=True)
        self._put(
            target.key,
            data,
            content_type,
            {META_OPERATION: operation, META_SHA256: digest, META_REPLACEMENTS: str(count)},
        )
        return self._edited(target, _Stored(target.key, len(data), content_type, digest, operation, count))

    def _edited(self, target: Target, stored: _Stored) -> EditResult:
        count = stored.replacements or 0
        message = f"Successfully replaced {count} instance(s) of the string in '{target.path}'"
        result = self._written(target, stored, EditResult, message)
        result.replacements = count
        return result

    def _glob(self, pattern: str, path: str) -> GlobResult:
        target = self._target(path)
        regex = parse_glob_pattern(pattern)
        matches = []
        for root, key, size in self._walk(target):
            agent = self._agent_path(root, key)
            if regex.fullmatch(agent[len(target.dir_path) :]):
                matches.append(FileEntry(path=agent, size=size))
        return glob_listing(matches)

    def _grep(self, pattern: str, path: str | None, glob: str | None) -> GrepResult:
        target = self._target(path or "/")
        if not pattern:
            raise ToolError("pattern must not be empty")
        admits = grep_path_filter(glob, target.dir_path)
        single = self._stat(target.key) if target.rel else None
        if single is not None:
            candidates = [(target.path, target.key, single.size)]
        else:
            candidates = sorted((self._agent_path(root, key), key, size) for root, key, size in self._walk(target))
        return grep_texts(pattern, self._texts(candidates, admits))

    def _texts(
        self, candidates: list[tuple[str, str, int]], admits: Callable[[str], bool]
    ) -> Iterator[tuple[str, str]]:
        """(agent path, text) of the admitted UTF-8 candidates, fetched one at a time as grep asks."""
        for agent, key, size in candidates:
            if not admits(agent) or size > MAX_FILE_BYTES:
                continue
            stored = self._get(key, agent)
            if stored is None or stored.data is None:
                continue  # removed while we searched
            try:
                text = stored.data.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary files have no lines to search
            yield agent, text

    def _write_report(
        self, name: str, content: str | bytes, content_type: str | None, operation_id: str | None
    ) -> WriteResult:
        try:
            key = s3.report_key(self.run_id, name)
        except ValueError as err:
            raise ToolError(str(err)) from None
        is_text = isinstance(content, str)
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        digest = _sha256(data)
        kind = content_type or content_type_for(name, text=is_text)
        metadata = {META_SHA256: digest}
        if operation_id:
            metadata[META_OPERATION] = _quote_operation(operation_id)
        self._put(key, data, kind, metadata)
        return WriteResult(output=f"Wrote report {name}", key=key, size=len(data), sha256=digest, content_type=kind)
