"""``ToolContext``: what a custom tool may use besides its arguments.

A tool that declares a parameter of this type gets the run's files (the same
ones the file tools see: the run's folder in the bucket, ``/memories/`` in
PostgreSQL), so it can read an input or produce an artifact. Writes follow the
file tools' rule, create-only with the same content accepted again, so a
retried tool attempt that writes the same file again does no harm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

from deepagents_temporal.backends import FileBackend, ToolResult, WriteResult
from deepagents_temporal.custom_tools.errors import ToolFileError
from deepagents_temporal.schema import ArtifactInfo

R = TypeVar("R", bound=ToolResult)


class ToolContext:
    def __init__(
        self,
        *,
        run_id: str,
        agent: str,
        user_id: str | None,
        files: FileBackend,
        operation_id: str,
        is_artifact: Callable[[WriteResult], bool],
    ) -> None:
        self.run_id = run_id
        self.agent = agent
        self.user_id = user_id
        self._files = files
        self._operation_id = operation_id
        self._is_artifact = is_artifact
        self._writes = 0
        #: The run's files this tool wrote, listed as the run's artifacts.
        self.artifacts: list[ArtifactInfo] = []

    async def read_file(self, path: str) -> str:
        """The whole text of a file of the run (absolute path, e.g. ``/uploads/data.csv``)."""
        return _checked(await self._files.read_text(path)).output

    async def write_file(self, path: str, content: str) -> str:
        """Create a file of the run; returns its path. Writing the same content again is fine."""
        result = _checked(await self._files.write_file(path, content, operation_id=self._next_operation()))
        self._note(result)
        return result.path or path

    async def edit_file(self, path: str, old_string: str, new_string: str, replace_all: bool = False) -> int:
        """Replace exact text in a file; returns how many places changed."""
        result = await self._files.edit_file(
            path, old_string, new_string, replace_all, operation_id=self._next_operation()
        )
        self._note(_checked(result))
        return result.replacements

    async def ls(self, path: str = "/") -> list[str]:
        """Paths directly under a folder; folders end with "/"."""
        return [entry.path for entry in _checked(await self._files.ls(path)).entries]

    def heartbeat(self, *details: object) -> None:
        """Report progress of a long tool (shown as the activity's heartbeat details)."""
        activity.heartbeat(*details)

    def _next_operation(self) -> str:
        # Stable across retries of the activity: the n-th write of each attempt gets the same id.
        self._writes += 1
        return f"{self._operation_id}/{self._writes}"

    def _note(self, result: WriteResult) -> None:
        if not self._is_artifact(result) or result.key is None:
            return
        artifact = ArtifactInfo(
            key=result.key, size=result.size, sha256=result.sha256 or "", content_type=result.content_type or ""
        )
        self.artifacts = [a for a in self.artifacts if a.key != artifact.key] + [artifact]


def _checked(result: R) -> R:
    if result.error:
        raise ToolFileError(result.error)
    return result
