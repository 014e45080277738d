"""Timeouts and retry policies of the activities (imported by workflow code).

Model calls: fallback along the model chain is the retry policy. Storage
(S3 objects, PostgreSQL rows): outages heal, so those retry without limit; a
bad key or a missing stored object never does.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Every activity has this heartbeat timeout and heartbeats while it runs
# (activities/keepalive.py): one lost with its worker is retried after this,
# not after its whole start-to-close timeout. 2.5 s with a heartbeat every
# 0.5 s: a 2 s stall of a worker or a restart of the Temporal dev server
# (about 1.5 s) passes, and a run whose worker died goes on within 3 s of a
# new worker's start (docs/benchmarks.md, P5). Each running activity costs the
# server two heartbeat writes a second.
# (Timeouts are not part of what replay compares: changing them is safe for
# runs in flight, as tests/test_replay.py shows with the committed histories.)
ACTIVITY_HEARTBEAT_TIMEOUT = timedelta(seconds=2.5)
# Workers send a running activity's heartbeat at least this often (the SDK
# throttles to 80% of the heartbeat timeout otherwise, too close to it).
HEARTBEAT_THROTTLE = timedelta(seconds=0.5)
# A workflow task lost with its worker is retried after this (Temporal's
# default: 10 s). Set by whoever starts a run (cli/run.py) and for sub-agents;
# a workflow task takes well under 0.5 s even with 12 runs on 2 CPUs.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)
# Attempts lost without a model error (a lost worker, a bucket outage longer
# than the activity waits, a Temporal restart) do not move along the chain;
# the policy leaves room for this many. A lost attempt costs no model call:
# the answer it may have received is kept (activities/model.py).
CRASH_ALLOWANCE = 10
# When the workers pick the chain, its length is unknown here; the activity
# still stops after chain length x rounds model errors.
UNKNOWN_CHAIN_ATTEMPTS = 30

# How many times the whole chain is tried before a model call fails for good.
MODEL_CHAIN_ROUNDS = 2

ALL_MODELS_FAILED = "AllModelsFailed"
MALFORMED_REQUEST = "MalformedModelRequest"


def model_retry_policy(chain_length: int | None, rounds: int) -> RetryPolicy:
    """Fallback as a retry policy: attempt k uses the model after the k-1 that failed.

    The activity itself gives up, non-retryably and naming every model's
    error, after ``chain_length * rounds`` model errors.
    """
    return RetryPolicy(
        # The next attempt usually asks another model, or retries one whose
        # worker was lost (already 3 s late): no reason to wait longer.
        initial_interval=timedelta(milliseconds=50),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=chain_length * rounds + CRASH_ALLOWANCE if chain_length else UNKNOWN_CHAIN_ATTEMPTS,
        non_retryable_error_types=[ALL_MODELS_FAILED, MALFORMED_REQUEST],
    )


STORAGE_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["ValueError", "LookupError"],
)

# Steps that convert user documents: a file that defeats the converter (a crafted
# DOCX, a step timing out) must end the run, not be tried for ever.
CONVERSION_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=["ValueError", "LookupError"],
)


def custom_tool_retry_policy(retries: int) -> RetryPolicy:
    """A custom tool's ``@tool(retries=N)``: N more attempts after an exception,
    none after a NonRetryableToolError (activities/custom_tools.py)."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=retries + 1,
        non_retryable_error_types=["NonRetryableToolError"],
    )


def mcp_tool_retry_policy(retries: int) -> RetryPolicy:
    """An MCP server entry's ``retries``: more attempts while the server cannot be
    reached, none once it answered (activities/mcp_tools.py)."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=retries + 1,
        non_retryable_error_types=["McpRefused"],
    )
