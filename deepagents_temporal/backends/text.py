"""The storage-independent half of the file tools: what the model reads back, and how an edit is made.

Both backends build their answers here (numbered read windows, ls, glob and
grep listings, exact-string edits), so they give the same answers and
messages. Every answer is cut to fit a tool message, which lands in the
workflow's history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from deepagents_temporal.backends.protocol import (
    FileEntry,
    GlobResult,
    GrepMatch,
    GrepResult,
    LsResult,
    ReadResult,
    ToolError,
)

MAX_LINE_CHARS = 2000  # longer lines are cut in read_file and grep output
LINE_TRUNCATED = "... [line truncated]"
EMPTY_FILE_NOTE = "System reminder: File exists but has empty contents"
MAX_FILE_BYTES = 10 * 1024 * 1024  # files the tools read or write whole
MAX_ENTRIES = 1000  # ls and glob results
# What one tool result may put before the model (and into workflow history).
MAX_OUTPUT_CHARS = 100_000
MAX_GREP_MATCHES = 500


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


def glob_listing(matches: list[FileEntry]) -> GlobResult:
    """The glob answer for the files in ``matches``."""
    shown, lines, truncated = _shown(matches, lambda e: e.path)
    if truncated:
        lines.append(f"... [only the first {len(shown)} files are shown; use a narrower pattern]")
    return GlobResult(output="\n".join(lines) or "No files found", matches=shown, truncated=truncated)


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


# --------------------------------------------------------------------------- what both backends say


def write_message(path: str) -> str:
    """What the model reads after a successful write (or its retry)."""
    return f"Updated file {path}"


def edit_message(path: str, count: int) -> str:
    """What the model reads after a successful edit (or its retry)."""
    return f"Successfully replaced {count} instance(s) of the string in '{path}'"


def check_read_limit(limit: int) -> None:
    if limit < 1:
        raise ToolError("limit must be at least 1")


def check_grep_pattern(pattern: str) -> None:
    if not pattern:
        raise ToolError("pattern must not be empty")


def not_found_error(path: str, *, is_directory: bool) -> ToolError:
    """read_file or edit_file on a path that holds no file."""
    if is_directory:
        return ToolError(f"{path} is a directory; use ls to see its files")
    return ToolError(f"file not found: {path}")


def no_such_entry_error(path: str) -> ToolError:
    """ls on a path that is neither a file nor a folder."""
    return ToolError(f"no such file or directory: {path}")


def exists_error(path: str) -> ToolError:
    """write_file over a file with other content."""
    return ToolError(
        f"{path} already exists with different content; use edit_file to change it (read_file shows what is in it)"
    )


def directory_error(path: str) -> ToolError:
    """write_file on a path that is a folder."""
    return ToolError(f"{path} is a directory; give a file path inside it")
