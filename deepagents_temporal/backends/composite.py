"""One file system for the agent, made of several backends: each call goes by its path's folder.

As in deepagents' ``CompositeBackend``, a path under one of the routed
folders (``/memories/`` -> the store backend) goes to that folder's backend,
everything else to the default backend (the run's files on S3). Unlike
deepagents, the path is passed on whole, prefix included: our backends take
and answer with full agent paths, so results need no rewriting.

A call without a path (``grep`` with none) goes to the default backend, and
so does an invalid path: every backend refuses it with the same message.

A route may be given as a factory, called on the first call that goes there:
a call that never does neither pays for building that backend nor fails on
it (a bad memory namespace only matters to ``/memories/``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from deepagents_temporal.backends.paths import is_under
from deepagents_temporal.backends.protocol import (
    DEFAULT_READ_LIMIT,
    EditResult,
    FileBackend,
    GlobResult,
    GrepResult,
    LsResult,
    ReadResult,
    WriteResult,
)

Route = FileBackend | Callable[[], FileBackend]


class CompositeBackend:
    """``routes`` maps folders (``"/memories/"``, ending with "/") to the backends that hold them."""

    def __init__(self, default: FileBackend, routes: Mapping[str, Route]) -> None:
        for folder in routes:
            if not (folder.startswith("/") and folder.endswith("/") and folder != "/"):
                raise ValueError(f"route {folder!r} must be a folder such as /memories/")
        self.default = default
        # Longest folder first, so a nested route wins over the one around it.
        self._routes = dict(sorted(routes.items(), key=lambda route: len(route[0]), reverse=True))

    def route(self, path: str | None) -> FileBackend:
        """The backend that holds ``path``."""
        for folder, backend in self._routes.items():
            if path and is_under(path, folder):
                if callable(backend):
                    backend = self._routes[folder] = backend()
                return backend
        return self.default

    async def ls(self, path: str = "/") -> LsResult:
        return await self.route(path).ls(path)

    async def read_file(self, file_path: str, offset: int = 0, limit: int = DEFAULT_READ_LIMIT) -> ReadResult:
        return await self.route(file_path).read_file(file_path, offset, limit)

    async def read_text(self, file_path: str) -> ReadResult:
        return await self.route(file_path).read_text(file_path)

    async def write_file(self, file_path: str, content: str, *, operation_id: str) -> WriteResult:
        return await self.route(file_path).write_file(file_path, content, operation_id=operation_id)

    async def edit_file(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
        *,
        operation_id: str,
    ) -> EditResult:
        backend = self.route(file_path)
        return await backend.edit_file(file_path, old_string, new_string, replace_all, operation_id=operation_id)

    async def glob(self, pattern: str, path: str = "/") -> GlobResult:
        return await self.route(path).glob(pattern, path)

    async def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> GrepResult:
        return await self.route(path).grep(pattern, path, glob)
