"""`dev`: the embedded stack and a worker in the foreground, until Ctrl-C.

Other commands find this stack (through its stack file) and reuse it.
"""

from __future__ import annotations

import asyncio
import signal

from cli.console import say
from cli.services import WorkerPolicy, open_services
from deepagents_temporal.devstack import read_running_stack
from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.settings import load_settings


async def dev() -> int:
    settings = load_settings()
    if settings.temporal_address:
        raise ConfigurationError(
            f"TEMPORAL_ADDRESS is set ({settings.temporal_address}), but `dev` starts the embedded stack of its own",
            "unset TEMPORAL_ADDRESS for `dev`; with your own Temporal, run `python worker.py` instead",
        )
    if read_running_stack() is not None:
        say("error: an embedded stack is already running (another `starter.py dev`)")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_services(settings, "dev", worker=WorkerPolicy.ALWAYS) as services:
        s = services.settings
        say(f"Temporal:    {s.temporal_address} (namespace {s.temporal_namespace}, task queue {s.temporal_task_queue})")
        say(f"Temporal UI: {services.ui_url}")
        say(f"S3:          http://{s.s3_endpoint} (bucket {s.s3_bucket})")
        say("PostgreSQL:  on loopback (DATABASE_URL in the stack file)")
        say(f"worker:      in this process, models {services.models_text()}")
        say('Ctrl-C stops everything; run `python starter.py run "..."` in another terminal.')
        await stop.wait()
        say("stopping...")
    return 0
