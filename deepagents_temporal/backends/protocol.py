"""What every file backend offers the agent: six tools and their typed results.

Shaped like deepagents' ``BackendProtocol``: the tools are ``ls``,
``read_file``, ``write_file``, ``edit_file``, ``glob`` and ``grep``, with the
argument names the model uses. Expected failures (a missing file, an
ambiguous edit, a bad path) come back in the result's ``error`` field, with
``output`` saying the same to the model; only storage outages raise, so that
Temporal retries the activity.

Writes take an ``operation_id`` that stays the same across retries of one
activity, so that a retry whose first attempt already wrote reports the same
success instead of failing or writing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

DEFAULT_READ_LIMIT = 2000  # lines per read_file call, as in deepagents


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
    key: str | None = None  # where it is stored: the S3 key, or memories/<namespace>/<path>
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


class ToolError(Exception):
    """An expected failure inside a backend; its message is written for the model."""


class PathError(ToolError):
    """A path the agent may not use."""


R = TypeVar("R", bound=ToolResult)


async def answer(result_type: type[R], work: Awaitable[R]) -> R:
    """The result of ``work``, or its :class:`ToolError` as a result of ``result_type``."""
    try:
        return await work
    except ToolError as err:
        return result_type(error=str(err), output=f"Error: {err}")


class FileBackend(Protocol):
    """The file tools on one kind of storage; paths are absolute agent paths."""

    async def ls(self, path: str = "/") -> LsResult:
        """Entries directly under ``path``; directories end with "/"."""
        ...

    async def read_file(self, file_path: str, offset: int = 0, limit: int = DEFAULT_READ_LIMIT) -> ReadResult:
        """Lines ``offset`` (0-based) to ``offset + limit``, numbered like ``cat -n``."""
        ...

    async def read_text(self, file_path: str) -> ReadResult:
        """The whole text of a file as ``output``, unnumbered (for custom tools, not the model)."""
        ...

    async def write_file(self, file_path: str, content: str, *, operation_id: str) -> WriteResult:
        """Create a file; an existing one with other content is an error (use edit_file)."""
        ...

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
        ...

    async def glob(self, pattern: str, path: str = "/") -> GlobResult:
        """Files under ``path`` whose path relative to it matches ``pattern``."""
        ...

    async def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> GrepResult:
        """Lines containing ``pattern`` literally (not a regex), as ``path:line_number:line``."""
        ...
