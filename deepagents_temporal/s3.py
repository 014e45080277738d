"""The S3 (MinIO / SeaweedFS) client and the bucket's key prefixes every part of the app shares.

The bucket layout is written once, in ``docs/architecture.md`` ("The bucket");
the prefixes and key builders here follow it.

The functions here are blocking (the minio client is synchronous); async code,
such as activities, calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import time
import unicodedata

import urllib3
from minio import Minio
from minio.error import S3Error

TEMPLATES_PREFIX = "templates/"
UPLOADS_PREFIX = "uploads/"
RUNS_PREFIX = "runs/"
REPORTS_PREFIX = "reports/"
LOGS_PREFIX = "logs/"

# Limits of the S3 servers we run on: SeaweedFS refuses longer keys and segments
# (AWS allows 1,024 bytes per key too); checked before a request is ever sent.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255

# Error codes meaning "this object is not there". minio-py reports a 404 on HEAD
# (no body to parse) as NoSuchKey; some servers send NotFound or NoSuchObject in
# a GET body. NoSuchBucket is left out on purpose: a missing bucket is an outage
# of the deployment, not a missing file, so it raises and Temporal retries.
# Concurrent creators of one bucket can all be refused at once (SeaweedFS).
ENSURE_BUCKET_ATTEMPTS = 4
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})


def make_client(
    endpoint: str, access_key: str, secret_key: str, secure: bool = False, region: str | None = None
) -> Minio:
    """A minio client for ``host:port``.

    ``region`` (``S3_REGION``) saves a bucket-location request and is needed
    to sign for AWS regions; minio uses virtual-host style requests
    (``bucket.s3.<region>.amazonaws.com``) by itself for AWS endpoints.

    Bounded timeouts and few retries: an unreachable server should fail the
    activity quickly, and Temporal's retry policy decides what happens next.
    """
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=60.0),
        maxsize=16,  # activities share one client across threads
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
    )
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http)


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Create ``bucket`` unless it exists; another process creating it at the same time is fine."""
    for attempt in range(1, ENSURE_BUCKET_ATTEMPTS + 1):
        if client.bucket_exists(bucket):
            return
        try:
            client.make_bucket(bucket)
            return
        except S3Error:
            # Lost the race against another worker: "exists", or (SeaweedFS,
            # several creating at once) a conflict that can fail every one of
            # them. Fine if the bucket is there now; else try again.
            if client.bucket_exists(bucket):
                return
            if attempt == ENSURE_BUCKET_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)


def is_missing(err: S3Error) -> bool:
    """Whether ``err`` says the object does not exist (as opposed to an outage)."""
    return err.code in _MISSING_OBJECT_CODES


def check_segment(segment: str, what: str = "name") -> str:
    """``segment`` if it is usable as one component of a key, else ``ValueError``.

    Used for identifiers the application chooses (run ids, report names), not
    for agent paths: those go through :func:`deepagents_temporal.backends.paths.map_path`.
    """
    if not segment or segment in (".", ".."):
        raise ValueError(f"invalid {what} {segment!r}: empty, '.' and '..' are not allowed")
    if "/" in segment or "\\" in segment:
        raise ValueError(f"invalid {what} {segment!r}: no slashes or backslashes")
    if any(unicodedata.category(ch) == "Cc" for ch in segment):
        raise ValueError(f"invalid {what} {segment!r}: no control characters")
    try:
        size = len(segment.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"invalid {what} {segment!r}: not valid UTF-8") from None
    if size > MAX_SEGMENT_BYTES:
        raise ValueError(f"invalid {what}: longer than {MAX_SEGMENT_BYTES} bytes")
    return segment


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{check_segment(run_id, 'run id')}/"


def run_files_prefix(run_id: str) -> str:
    """Where the agent's file system of ``run_id`` lives: ``runs/<run_id>/files/``."""
    return f"{run_prefix(run_id)}files/"


def report_key(run_id: str, name: str) -> str:
    """``reports/<run_id>/<name>``; ``name`` may have sub-folders (``charts/a.png``)."""
    parts = name.split("/")
    for part in parts:
        check_segment(part, "report name")
    key = f"{REPORTS_PREFIX}{check_segment(run_id, 'run id')}/{'/'.join(parts)}"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"report key longer than {MAX_KEY_BYTES} bytes")
    return key


def log_key(run_id: str) -> str:
    """``logs/<run_id>/run.log``."""
    return f"{LOGS_PREFIX}{check_segment(run_id, 'run id')}/run.log"


def _named_key(prefix: str, name: str, what: str) -> str:
    """``<prefix><name>``; ``name`` may already start with ``prefix`` and may have sub-folders."""
    if name.startswith(prefix):
        name = name[len(prefix) :]
    parts = name.split("/")
    for part in parts:
        check_segment(part, what)
    key = prefix + "/".join(parts)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"invalid {what}: the key would be longer than {MAX_KEY_BYTES} bytes")
    return key


def template_key(name: str) -> str:
    """``templates/<name>`` (``name`` given with or without the prefix)."""
    return _named_key(TEMPLATES_PREFIX, name, "template name")


def upload_key(name: str) -> str:
    """``uploads/<name>`` (``name`` given with or without the prefix)."""
    return _named_key(UPLOADS_PREFIX, name, "upload name")


def report_work_key(run_id: str, name: str) -> str:
    """``runs/<run_id>/report/<name>``: what the reporting workflow's steps hand each other."""
    return f"{run_prefix(run_id)}report/{check_segment(name, 'name')}"
