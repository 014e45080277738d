"""The worker's build ID: a hash of the project's own source, not of every loaded module.

Temporal records a worker's build ID with each workflow task it completes. Left
unset, the SDK computes one at start-up by reading (and at times compiling) the
code of every module loaded, langchain and all: 0.3-0.6 s of a worker's start,
spent again by each restarted worker before it can take over runs. The
project does not use worker versioning, so the ID only needs to change when
the code does: the project's own files and the SDK's version are enough.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path


def source_build_id(paths: Iterable[Path]) -> str:
    """A hex digest of the ``*.py`` files at ``paths`` (files, or folders searched recursively) and the SDK version."""
    digest = hashlib.sha256(f"temporalio {version('temporalio')}\n".encode())
    for path in paths:
        if not path.exists():
            continue  # an install without that folder: the rest still names the code
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(f"{file.relative_to(path.parent)}\n".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:32]
