"""The offline demo model: a scripted OpenAI-compatible server on loopback.

Used by the in-process worker when neither OPENAI_API_KEY nor OPENAI_BASE_URL
is set, so the first command works without an API key. Its replies are paced
like a real model's, so a run's progress can be followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cli.console import say
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from scripted_llm.demo_brain import demo_brain

DEMO_MODEL = "offline-demo"
DEMO_REPLY_SECONDS = 0.6


def wants_demo_model(settings: Settings) -> bool:
    return settings.openai_api_key is None and not settings.openai_base_url


@contextmanager
def demo_model(settings: Settings) -> Iterator[Settings]:
    """``settings`` pointed at a running demo model server, stopped on exit."""
    llm = ScriptedLLM(brain=demo_brain)
    llm.add_rule(None, Reply.hold(DEMO_REPLY_SECONDS))
    base_url = llm.start()
    try:
        say("=" * 72)
        say("OFFLINE DEMO MODEL: no OPENAI_API_KEY / OPENAI_BASE_URL set, so a scripted")
        say(f"OpenAI-compatible server on {base_url} plays the model. Set them to use a real one.")
        say("=" * 72)
        settings = settings.model_copy(update={"openai_base_url": base_url})
        if "DEEPAGENT_MODEL" not in os.environ:
            settings = settings.model_copy(update={"deepagent_model": DEMO_MODEL})
        yield settings
    finally:
        llm.stop()
