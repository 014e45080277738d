"""What workflow code needs to call ``search_documents``: its timeout and retries."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

DEFAULT_COLLECTION = "default"
# The first search of a collection also embeds its new chunks (with embeddings on).
SEARCH_ACTIVITY_TIMEOUT = timedelta(minutes=10)
# A database or embeddings endpoint that is down gets a few more attempts, then
# the model is told.
SEARCH_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=15),
    maximum_attempts=4,
)
