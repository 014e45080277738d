"""A new worker's first model call, made cheaper while the worker waits for work.

Building the first ``ChatOpenAI`` of a process imports its HTTP transport and
creates TLS contexts: 0.3-0.4 s that a restarted worker would otherwise spend
inside the first model call it takes over. A worker that serves model calls
builds one (no request is sent) in a thread right after it starts polling,
while Temporal is still waiting for the lost worker's heartbeat timeout.
Started by ``worker.serve``.
"""

from __future__ import annotations

import logging

from deepagents_temporal.settings import Settings

logger = logging.getLogger(__name__)


def warm_up_model_client(settings: Settings) -> None:
    """Build (and drop) one chat model on ``OPENAI_BASE_URL``; a failure only costs the head start."""
    try:
        from langchain_openai import ChatOpenAI

        ChatOpenAI(model="warm-up", api_key="not-sent", base_url=settings.openai_base_url, max_retries=0)
    except Exception as err:  # noqa: BLE001 - the first model call will say what is wrong
        logger.debug("model client warm-up failed: %s", err)
