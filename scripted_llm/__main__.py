"""Serve the scripted demo model standalone: ``python -m scripted_llm --port 8000``.

Point an OpenAI client (``OPENAI_BASE_URL``) at it to play the offline demo
without the starter.
"""

from __future__ import annotations

import argparse
import signal
import threading

from scripted_llm.server import ScriptedLLM


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the scripted demo model (OpenAI-compatible) on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    llm = ScriptedLLM(host=args.host, port=args.port)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"scripted demo model at {llm.start()} (Ctrl-C to stop)", flush=True)
    try:
        while not done.wait(1.0):
            pass
    finally:
        llm.stop()


if __name__ == "__main__":
    main()
