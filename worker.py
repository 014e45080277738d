"""Run a worker for AgentWorkflow and its activities against the configured services.

    python worker.py            # uses TEMPORAL_ADDRESS, OPENAI_* ... from the environment

Stops cleanly on SIGINT/SIGTERM: running activities get a few seconds to finish,
the rest are retried by another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from deepagents_temporal.runtime import build_worker, connect, hard_exit, open_database
from deepagents_temporal.settings import load_settings


async def serve() -> int:
    settings = load_settings()
    if not settings.temporal_address:
        print("worker.py: TEMPORAL_ADDRESS is not set (use `python starter.py dev` for the embedded stack)", flush=True)
        return 2
    client = await connect(settings)
    pool = await open_database(settings)
    worker = await build_worker(client, settings, pool)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"worker polling task queue {settings.temporal_task_queue!r} on {settings.temporal_address} "
        f"(namespace {settings.temporal_namespace}, models {' -> '.join(settings.model_chain)})",
        flush=True,
    )
    try:
        async with worker:
            await stop.wait()
            print("worker: shutting down", flush=True)
    finally:
        await pool.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hard_exit(asyncio.run(serve()))


if __name__ == "__main__":
    main()
