"""The agent's file tools on their storage, shaped like deepagents' backends.

``protocol`` says what every backend offers (six tools, typed results with an
``error`` field); ``s3`` holds the run's files, ``store`` the ``/memories/``
folder in a LangGraph store, and ``composite`` joins them by path prefix.
``paths`` and ``text`` are the rules and answers they share.
"""

from deepagents_temporal.backends.composite import CompositeBackend
from deepagents_temporal.backends.protocol import (
    EditResult,
    FileBackend,
    FileEntry,
    GlobResult,
    GrepMatch,
    GrepResult,
    LsResult,
    ReadResult,
    ToolResult,
    WriteResult,
)
from deepagents_temporal.backends.s3 import S3Backend
from deepagents_temporal.backends.store import MEMORIES_ROOT, StoreBackend, is_memory_path, memory_namespace

__all__ = [
    "MEMORIES_ROOT",
    "CompositeBackend",
    "EditResult",
    "FileBackend",
    "FileEntry",
    "GlobResult",
    "GrepMatch",
    "GrepResult",
    "LsResult",
    "ReadResult",
    "S3Backend",
    "StoreBackend",
    "ToolResult",
    "WriteResult",
    "is_memory_path",
    "memory_namespace",
]
