"""``fetch_url``: a web page or file brought into the run's files, safely.

``guard.py`` decides what may be reached (http/https, public addresses
unless allowed, checked on every redirect); ``client.py`` does one bounded
GET to the checked address; ``files.py`` lays the result out under
``/fetched/`` and writes the model's short message. The activity is
``activities/fetch.py``; the retry policy its calls get is here, because the
workflow imports it.
"""

from datetime import timedelta

from temporalio.common import RetryPolicy

from deepagents_temporal.fetch.client import Fetched, FetchLimits, fetch
from deepagents_temporal.fetch.guard import FetchRefused, FetchUnavailable

# Network trouble gets two more attempts; a refusal never reaches the policy
# (it is the tool's answer).
FETCH_ATTEMPTS = 3
FETCH_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=FETCH_ATTEMPTS,
)
# Above the largest DEEPAGENT_FETCH_TIMEOUT (600 s) plus storing the files.
FETCH_ACTIVITY_TIMEOUT = timedelta(seconds=660)

__all__ = [
    "FETCH_ACTIVITY_TIMEOUT",
    "FETCH_ATTEMPTS",
    "FETCH_RETRY_POLICY",
    "FetchLimits",
    "FetchRefused",
    "FetchUnavailable",
    "Fetched",
    "fetch",
]
