"""The embedded dev stack: Temporal, S3 (weed mini) and PostgreSQL from pip wheels."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from deepagents_temporal.devstack import DevStack, delete_dev_stack_data, read_running_stack, start_dev_stack

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dev stack tests need Linux")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _live_members(pgids: set[int]) -> list[int]:
    """Live (non-zombie) processes in the given process groups."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = raw.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) in pgids and state != "Z":
            found.append(int(entry))
    return found


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def _minio(stack: DevStack, access: str | None = None, secret: str | None = None):
    from minio import Minio

    return Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key if access is None else access,
        secret_key=stack.s3_secret_key if secret is None else secret,
        secure=False,
    )


async def test_addresses_env_and_stack_file(stack: DevStack) -> None:
    assert stack.temporal_address.startswith("127.0.0.1:")
    assert stack.ui_url.startswith("http://127.0.0.1:")
    assert stack.s3_endpoint.startswith("127.0.0.1:")
    assert stack.database_url.startswith("postgresql://") and stack.database_url.endswith("/deepagents")
    env = stack.env()
    assert env == {
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "S3_ENDPOINT": stack.s3_endpoint,
        "S3_ACCESS_KEY": stack.s3_access_key,
        "S3_SECRET_KEY": stack.s3_secret_key,
        "S3_SECURE": "false",
        "DATABASE_URL": stack.database_url,
    }
    assert stack.s3_secret_key not in repr(stack)

    info_path = stack.data_dir / "stack.json"
    assert stat.S_IMODE(info_path.stat().st_mode) == 0o600
    info = json.loads(info_path.read_text())
    assert info["owner_pid"] == os.getpid()

    other = read_running_stack(stack.data_dir)
    assert other is not None
    assert (other.temporal_address, other.s3_endpoint, other.database_url) == (
        stack.temporal_address,
        stack.s3_endpoint,
        stack.database_url,
    )
    await other.stop()  # not the owner: must leave the servers alone
    assert _port_open(int(stack.temporal_address.rsplit(":", 1)[1]))
    assert read_running_stack(stack.data_dir / "nowhere") is None


async def test_temporal_client_connects_and_ui_answers(stack: DevStack) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    client = await Client.connect(stack.temporal_address, namespace="default")
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    assert described.namespace_info.name == "default"

    import urllib.request

    with urllib.request.urlopen(stack.ui_url, timeout=5) as response:  # noqa: S310 - loopback
        assert response.status == 200


async def test_s3_put_get_and_wrong_credentials_rejected(stack: DevStack) -> None:
    from minio.error import S3Error

    def roundtrip() -> None:
        client = _minio(stack)
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        client.make_bucket(bucket)
        client.put_object(bucket, "dir/hello.txt", io.BytesIO(b"hello"), 5)
        response = client.get_object(bucket, "dir/hello.txt")
        try:
            assert response.read() == b"hello"
        finally:
            response.close()
            response.release_conn()

        wrong_secret = _minio(stack, secret="not-the-secret-key-at-all")
        with pytest.raises(S3Error) as caught:
            wrong_secret.get_object(bucket, "dir/hello.txt")
        assert caught.value.code in ("SignatureDoesNotMatch", "AccessDenied")

        unknown_key = _minio(stack, access="unknown-access-key-0000", secret="whatever-secret")
        with pytest.raises(S3Error) as caught:
            unknown_key.put_object(bucket, "intruder.txt", io.BytesIO(b"x"), 1)
        assert caught.value.code in ("InvalidAccessKeyId", "AccessDenied")

        anonymous = _minio(stack, access="", secret="")
        with pytest.raises(S3Error):
            anonymous.get_object(bucket, "dir/hello.txt")

        # Not-empty buckets cannot be deleted (-s3.allowDeleteBucketNotEmpty=false).
        with pytest.raises(S3Error):
            client.remove_bucket(bucket)
        client.remove_object(bucket, "dir/hello.txt")
        client.remove_bucket(bucket)

    await asyncio.to_thread(roundtrip)


async def test_postgres_select_1_as_unprivileged_user(stack: DevStack) -> None:
    import asyncpg

    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == "deepagents"
    finally:
        await conn.close()

    user_part = stack.database_url.split("://", 1)[1].split("@", 1)[0]
    bad_url = stack.database_url.replace(user_part, user_part.split(":", 1)[0] + ":wrong-password")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(bad_url)

    if os.geteuid() == 0:
        assert _uid_of(stack.pids["postgres"]) != 0, "PostgreSQL must not run as root"


async def test_stop_leaves_no_processes_and_closes_ports() -> None:
    own_stack = await start_dev_stack(ephemeral=True)
    try:
        pgids = set(own_stack.pids.values())
        ports = set(own_stack.ports.values())
        main_ports = (own_stack.ports["temporal_frontend"], own_stack.ports["s3"], own_stack.ports["postgres"])
        assert all(_port_open(p) for p in main_ports)
        assert _live_members(pgids), "servers should be running before stop()"
        data_dir = own_stack.data_dir

        await own_stack.stop()

        assert _live_members(pgids) == []
        assert [p for p in ports if _port_open(p)] == []
        assert not data_dir.exists(), "ephemeral data dir must be removed"
        assert [p for p in ports if list(Path("/tmp").glob(f"seaweedfs-*-{p}.sock"))] == []
        assert read_running_stack(data_dir) is None
        await own_stack.stop()  # idempotent
    finally:
        await own_stack.stop()


async def test_persistent_restart_reuses_credentials_and_recovers_stale_pid(tmp_path: Path) -> None:
    """Persistent mode: same URL and data after a restart, even after a crash left postmaster.pid behind."""
    import asyncpg

    data_dir = tmp_path / "stack"
    first = await start_dev_stack(data_dir, temporal=False, s3=False)
    try:
        assert first.temporal_address == "" and first.s3_endpoint == ""
        assert set(first.env()) == {"DATABASE_URL"}
        config = data_dir / "devstack-config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        conn = await asyncpg.connect(first.database_url)
        await conn.execute("create table kept (v text); insert into kept values ('survives')")
        await conn.close()
        # Simulate a crash: the postmaster dies without cleaning up.
        os.kill(first.pids["postgres"], signal.SIGKILL)
        pgdata = Path(json.loads(config.read_text())["pgdata"])
        pidfile = pgdata / "postmaster.pid"
        assert pidfile.exists()
    finally:
        await first.stop()
    # And the pid in it now belongs to some other live process (pid reuse).
    lines = pidfile.read_text().splitlines()
    lines[0] = "1"
    pidfile.write_text("\n".join(lines) + "\n")

    try:
        second = await start_dev_stack(data_dir, temporal=False, s3=False)
        try:
            assert second.database_url == first.database_url
            conn = await asyncpg.connect(second.database_url)
            assert await conn.fetchval("select v from kept") == "survives"
            await conn.close()
            with pytest.raises(RuntimeError, match="already running"):
                await start_dev_stack(data_dir, temporal=False, s3=False)
        finally:
            await second.stop()

        # Credentials gone but the cluster kept: a clear error, not a password failure.
        saved = config.read_text()
        config.unlink()
        with pytest.raises(RuntimeError, match="credentials"):
            await start_dev_stack(data_dir, temporal=False, s3=False)
        assert not config.exists()
        config.write_text(saved)
    finally:
        removed = delete_dev_stack_data(data_dir)
    assert data_dir in removed
    assert not data_dir.exists() and not pgdata.exists()


async def test_servers_die_with_their_parent(tmp_path: Path) -> None:
    """An abruptly killed owner (SIGKILL) takes its servers with it."""
    script = textwrap.dedent(
        """
        import asyncio, json, sys, time
        from deepagents_temporal.devstack import start_dev_stack

        async def main():
            stack = await start_dev_stack(ephemeral=True)
            print(json.dumps({"pids": stack.pids, "ports": stack.ports, "dir": str(stack.data_dir)}), flush=True)
            await asyncio.sleep(120)

        asyncio.run(main())
        """
    )
    stderr_path = tmp_path / "owner.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=90)
    finally:
        proc.kill()  # SIGKILL: no atexit, no finally, nothing but the kernel's parent-death signal
        proc.wait()
    assert line, f"owner process failed:\n{stderr_path.read_text()[-3000:]}"
    info = json.loads(line)
    pgids = set(info["pids"].values())
    try:
        deadline = time.monotonic() + 15
        while _live_members(pgids) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _live_members(pgids) == []
        deadline = time.monotonic() + 5
        while any(_port_open(p) for p in info["ports"].values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert [p for p in info["ports"].values() if _port_open(p)] == []
    finally:
        shutil.rmtree(info["dir"], ignore_errors=True)
        # weed's unix sockets in /tmp: the owner that removes them on stop() was SIGKILLed.
        for port in info["ports"].values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


async def test_restart_one_server_keeps_its_data_and_address(tmp_path: Path) -> None:
    """DevStack.restart: the S3 server and the Temporal dev server come back on their data and ports."""
    from temporalio.client import Client, WorkflowExecutionStatus

    data_dir = tmp_path / "stack"
    own_stack = await start_dev_stack(data_dir, postgres=False)
    try:
        s3 = _minio(own_stack)
        s3.make_bucket("restart-test")
        s3.put_object("restart-test", "kept.txt", io.BytesIO(b"survives"), 8)
        temporal = await Client.connect(own_stack.temporal_address)
        # No worker polls this queue: the run stays open, kept in the dev server's database.
        handle = await temporal.start_workflow("Nobody", id=f"restart-{uuid.uuid4().hex[:8]}", task_queue="nobody")
        addresses = (own_stack.temporal_address, own_stack.s3_endpoint)
        before = dict(own_stack.pids)

        await own_stack.restart("s3")
        await own_stack.restart("temporal", down_for=0.5)

        assert (own_stack.temporal_address, own_stack.s3_endpoint) == addresses
        assert own_stack.pids["s3"] != before["s3"] and own_stack.pids["temporal"] != before["temporal"]
        assert _live_members({before["s3"], before["temporal"]}) == []
        response = s3.get_object("restart-test", "kept.txt")
        try:
            assert response.read() == b"survives"
        finally:
            response.close()
            response.release_conn()
        # The client from before the restart reconnects by itself.
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        assert read_running_stack(data_dir).pids == own_stack.pids

        with pytest.raises(ValueError, match="unknown server"):
            await own_stack.restart("mysql")
        with pytest.raises(ValueError, match="without postgres"):
            await own_stack.restart("postgres")
    finally:
        await own_stack.stop()
        delete_dev_stack_data(data_dir)
    with pytest.raises(RuntimeError, match="running stack"):
        await own_stack.restart("s3")
