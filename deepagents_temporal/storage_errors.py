"""Which storage errors heal by retrying (outages) and which never do (content).

An activity that writes to PostgreSQL or S3 meets two kinds of errors. An
outage (connection refused, a timeout, too many connections, a server
restarting) heals: Temporal retries it with backoff. A content error (a value
PostgreSQL refuses, a key S3 rejects, text that is not UTF-8) fails the same
way on every attempt: retrying it would hold the run forever, so the
activities turn it into an error the model or the person can act on. Errors
that fit neither are :attr:`Cause.UNKNOWN`; the activities retry those a few
times (:data:`UNKNOWN_ATTEMPTS`), then treat them as content errors.
"""

from __future__ import annotations

from enum import Enum

import asyncpg
import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from deepagents_temporal.pgstore.storable import storable_text

__all__ = ["UNKNOWN_ATTEMPTS", "Cause", "classify", "describe"]

# An error neither an outage nor content: how many attempts before it is taken as content.
UNKNOWN_ATTEMPTS = 10

# SQLSTATE classes caused by the values sent: data exceptions (22), integrity
# constraint violations (23: not-null, check, unique), program limits (54: a
# value too large to index, nesting too deep).
_CONTENT_SQLSTATE_CLASSES = {"22", "23", "54"}

# S3 error codes that reject the request's content (its key, size or body).
_CONTENT_S3_CODES = {
    "BadDigest",
    "EntityTooLarge",
    "EntityTooSmall",
    "InvalidArgument",
    "InvalidDigest",
    "InvalidObjectName",
    "InvalidRequest",
    "KeyTooLongError",
    "MalformedXML",
    "MetadataTooLarge",
}

_MESSAGE_CHARS = 500


class Cause(Enum):
    OUTAGE = "outage"
    CONTENT = "content"
    UNKNOWN = "unknown"


def classify(err: BaseException) -> Cause:
    """Whether ``err`` is an outage (retry), caused by the content (never retry), or unknown."""
    if isinstance(err, asyncpg.PostgresError):
        # Everything else PostgreSQL says (connection lost, shutting down, too
        # many connections, serialization failures, a missing table before
        # migrations ran) can heal.
        return Cause.CONTENT if (err.sqlstate or "")[:2] in _CONTENT_SQLSTATE_CLASSES else Cause.OUTAGE
    if isinstance(err, asyncpg.InterfaceError):
        # asyncpg's client-side DataError ("invalid input for query argument
        # $2") is both an InterfaceError and a ValueError.
        return Cause.CONTENT if isinstance(err, ValueError) else Cause.OUTAGE
    if isinstance(err, S3Error):
        return Cause.CONTENT if err.code in _CONTENT_S3_CODES else Cause.OUTAGE
    if isinstance(err, OSError | urllib3.exceptions.HTTPError | ServerError | InvalidResponseError):
        return Cause.OUTAGE  # refused, reset, timed out, a 5xx, a proxy's HTML page
    if isinstance(err, ValueError | TypeError | RecursionError | OverflowError):
        # Unencodable text (UnicodeError), a value a validator or encoder refuses.
        return Cause.CONTENT
    return Cause.UNKNOWN


def describe(err: BaseException) -> str:
    """One line about ``err`` for a person: its kind and message, without the row's contents.

    PostgreSQL errors name their SQLSTATE and, when the server says so, the
    table and column. The text is escaped and capped, so it is itself storable.
    """
    if isinstance(err, asyncpg.PostgresError):
        where = ", ".join(
            f"{label} {value}" for label, value in (("table", err.table_name), ("column", err.column_name)) if value
        )
        text = f"{type(err).__name__} (SQLSTATE {err.sqlstate}): {err.message}" + (f" [{where}]" if where else "")
    elif isinstance(err, S3Error):
        text = f"S3 {err.code}: {err.message}"
    else:
        text = f"{type(err).__name__}: {err}"
    return storable_text(" ".join(text.split()), _MESSAGE_CHARS) or type(err).__name__
