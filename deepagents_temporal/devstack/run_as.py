"""The unprivileged user a server runs as when we are root, and what it can reach.

PostgreSQL refuses to run as root, so as root it runs as ``nobody``; that user
must be able to traverse every folder down to its data and binaries.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunAs:
    uid: int
    gid: int
    name: str


def unprivileged_user() -> RunAs:
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError("PostgreSQL refuses to run as root and there is no `nobody` user to run it as") from None
    # nobody's primary group: `nogroup` on Debian/Ubuntu, `nobody` on Fedora/Arch.
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name="nobody")


def _can_search(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def reachable_by(path: Path, run_as: RunAs) -> bool:
    """Whether every existing directory from / down to `path` is searchable by run_as."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return True  # the rest will be created by us, mode 0755
        if not _can_search(st, run_as.uid, run_as.gid):
            return False
    return True
