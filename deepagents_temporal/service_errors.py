"""What a person reads when a service cannot be used: the error type and its text.

Every entry point (``python worker.py`` and each ``starter.py`` command) needs
some of Temporal, S3 and PostgreSQL. When one is down, refuses our
credentials, or is not configured, the user gets :class:`ServiceError`: one
line naming the service, its address and what went wrong, one line saying what
to do; never a client library's traceback or a raw transport error. The
functions here turn the exceptions of the Temporal SDK (its Rust core's
``tonic::transport::Error`` texts, ``RPCError``), minio/urllib3 and asyncpg into
that; :mod:`deepagents_temporal.services` raises them when it connects, and
the entry points print them (see :func:`report`). Which settings each entry
point needs is checked by :func:`require_settings`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import socket
import ssl
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import urllib3.exceptions
from minio.error import S3Error
from temporalio.service import RPCError, RPCStatusCode

if TYPE_CHECKING:
    from deepagents_temporal.settings import Settings

# Exit code of an entry point that could not use a service (down, refusing,
# not configured the way it needs): distinct from a run that failed (1) and
# from a bad command line (2).
SERVICE_EXIT_CODE = 3
# Exit code of a missing or invalid setting, like a bad command-line option.
SETTINGS_EXIT_CODE = 2

DEBUG_HINT = "--debug or DEEPAGENT_DEBUG=1 shows the traceback"

_S3_SETTINGS = ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY")
_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurity", "InvalidToken"})


class ServiceError(Exception):
    """A service the command needs is down, refuses us, or answers wrongly.

    ``problem`` is the first line (it names the service and its address),
    ``hint`` the second (what to do).
    """

    exit_code = SERVICE_EXIT_CODE

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def lines(self) -> list[str]:
        return [f"error: {self.problem}", f"  {self.hint}"]

    def __str__(self) -> str:
        return f"{self.problem} ({self.hint})"


class ConfigurationError(ServiceError):
    """A setting the command needs is missing or invalid."""

    exit_code = SETTINGS_EXIT_CODE


class ServiceErrors(ServiceError):
    """Several services failed at once (checked together): each keeps its two lines."""

    def __init__(self, errors: list[ServiceError]) -> None:
        super().__init__("; ".join(e.problem for e in errors), errors[0].hint)
        self.errors = errors
        self.exit_code = max(e.exit_code for e in errors)

    def lines(self) -> list[str]:
        return [line for error in self.errors for line in error.lines()]


async def gather_checked(*steps: Awaitable[Any]) -> list[Any]:
    """Run ``steps`` (connections to different services) at once; their results in order.

    When some fail, what the others opened is closed (anything with an async
    ``close``) and the failures are raised together, so one start names every
    service that is wrong, not only the first.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if not errors:
        return list(results)
    for result in results:
        close = getattr(result, "close", None)
        if not isinstance(result, BaseException) and close is not None and inspect.iscoroutinefunction(close):
            await close()
    service_errors = [e for e in errors if isinstance(e, ServiceError)]
    if len(service_errors) == len(errors) and len(errors) > 1:
        raise ServiceErrors(service_errors)
    raise next((e for e in errors if not isinstance(e, ServiceError)), errors[0])


def debug_requested() -> bool:
    """Whether ``DEEPAGENT_DEBUG`` asks for tracebacks (the entry points' ``--debug`` does too)."""
    return os.environ.get("DEEPAGENT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def report(err: BaseException, say: Callable[[str], None], *, debug: bool) -> int:
    """Print ``err`` for a person (a traceback only when ``debug``); the exit code to leave with."""
    if debug:
        traceback.print_exception(err)
    if isinstance(err, ServiceError):
        for line in err.lines():
            say(line)
        return err.exit_code
    say(f"error: {type(err).__name__}: {err}")
    if not debug:
        say(f"  ({DEBUG_HINT})")
    return 1


# --------------------------------------------------------------------------- settings


def require_settings(settings: Settings, needs: Iterable[str], who: str) -> None:
    """Raise :class:`ConfigurationError` naming every setting ``needs`` asks for that is unset.

    ``needs``: any of "temporal", "s3", "postgres". ``who`` names the entry
    point in the message ("worker.py", "run", ...).
    """
    temporal_address = settings.temporal_address
    s3_values = {
        "S3_ENDPOINT": settings.s3_endpoint,
        "S3_ACCESS_KEY": settings.s3_access_key,
        "S3_SECRET_KEY": settings.s3_secret_key,
    }
    database_url = settings.database_url
    needs = set(needs)
    missing: list[str] = []
    if "temporal" in needs and not temporal_address:
        missing.append("TEMPORAL_ADDRESS")
    if "s3" in needs:
        missing += [name for name in _S3_SETTINGS if not s3_values.get(name)]
    if "postgres" in needs and not database_url:
        missing.append("DATABASE_URL")
    if not missing:
        return
    names = ", ".join(missing)
    if temporal_address:
        raise ConfigurationError(
            f"TEMPORAL_ADDRESS is set ({temporal_address}), which turns the embedded stack off, "
            f"so {who} needs your own services too: {names} {'is' if len(missing) == 1 else 'are'} not set",
            f"set {names} (README, Configuration), or unset TEMPORAL_ADDRESS to use the embedded stack",
        )
    raise ConfigurationError(
        f"{who} needs {names}, which {'is' if len(missing) == 1 else 'are'} not set",
        "set them (README, Configuration), or use `python starter.py dev`, "
        "which starts the embedded stack with a worker of its own",
    )


def invalid_setting(name: str, value: object, why: str, hint: str) -> ConfigurationError:
    return ConfigurationError(f"{name}={value!s} is not valid: {why}", hint)


# --------------------------------------------------------------------------- Temporal


def _core_reason(text: str) -> str:
    """The human part of a Rust core error text (no ``tonic::transport::Error(...)``)."""
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "tcp connect error" in lowered:
        return "cannot connect"
    if "dns error" in lowered or "failed to lookup address" in lowered:
        return "unknown host"
    if "timed out" in lowered or "deadline" in lowered:
        return "no answer (timed out)"
    if "h2 protocol error" in lowered or "transport error" in lowered or "connection reset" in lowered:
        return "it does not speak Temporal's gRPC protocol (is this the right port?)"
    match = re.search(r'message: "([^"]+)"', text)
    return match.group(1) if match else "could not connect"


def temporal_error(err: BaseException, address: str, namespace: str, *, tls: bool = False) -> ServiceError | None:
    """``err`` from connecting to or calling Temporal, as a ServiceError; None if it is not one of those."""
    down_hint = "start the Temporal server, or fix TEMPORAL_ADDRESS (unset it to use the embedded stack)"
    if tls:
        down_hint = (
            "check TEMPORAL_ADDRESS and that the server speaks TLS; TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_NAME "
            "must match its certificate (unset TEMPORAL_TLS* and TEMPORAL_API_KEY for a plain server)"
        )
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND and "namespace" in err.message.lower():
            return ServiceError(
                f"Temporal at {address} has no namespace {namespace!r}",
                f"set TEMPORAL_NAMESPACE to a namespace that exists there, or create it: "
                f"temporal operator namespace create --namespace {namespace} --address {address}",
            )
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return ServiceError(f"cannot reach Temporal at {address} ({_core_reason(err.message)})", down_hint)
        if err.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            return ServiceError(
                f"Temporal at {address} refused the request: {err.message}",
                "check TEMPORAL_API_KEY, or TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, and the namespace they are for"
                if tls
                else "the server wants credentials: set TEMPORAL_API_KEY, or TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY",
            )
        return None
    if isinstance(err, RuntimeError) and str(err).startswith("Failed client connect"):
        return ServiceError(f"cannot reach Temporal at {address} ({_core_reason(str(err))})", down_hint)
    return None


def temporal_unreachable(err: BaseException) -> str | None:
    """Why the Temporal server cannot be reached right now (worth retrying), or None for other errors."""
    if isinstance(err, RPCError) and err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return _core_reason(err.message)
    if isinstance(err, RuntimeError) and str(err).startswith("Failed client connect"):
        return _core_reason(str(err))
    return None


# --------------------------------------------------------------------------- S3


def _s3_down_reason(err: urllib3.exceptions.MaxRetryError) -> str:
    reason = err.reason
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "unknown host"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "cannot connect"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "no answer (timed out)"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLS failed; is S3_SECURE right for this server?"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return "the connection was dropped; is this an S3 server?"
    return type(reason).__name__ if reason is not None else "cannot connect"


def s3_error(err: BaseException, endpoint: str, bucket: str) -> ServiceError | None:
    """``err`` from an S3 request, as a ServiceError; None if it is not a connection or credential error."""
    if isinstance(err, urllib3.exceptions.MaxRetryError):
        return ServiceError(
            f"cannot reach S3 at {endpoint} ({_s3_down_reason(err)})",
            "start the S3 server, or fix S3_ENDPOINT (host:port; S3_SECURE=true for https)",
        )
    if isinstance(err, (urllib3.exceptions.HTTPError, ConnectionError, socket.timeout, ssl.SSLError)):
        return ServiceError(
            f"cannot reach S3 at {endpoint} ({type(err).__name__}: {err})",
            "start the S3 server, or fix S3_ENDPOINT (host:port; S3_SECURE=true for https)",
        )
    if isinstance(err, S3Error):
        if err.code in _CREDENTIAL_CODES:
            return ServiceError(
                f"S3 at {endpoint} refused the credentials ({err.code})", "check S3_ACCESS_KEY and S3_SECRET_KEY"
            )
        if err.code == "AccessDenied":
            return ServiceError(
                f"S3 at {endpoint} denied access to bucket {bucket!r} (AccessDenied)",
                "give the S3_ACCESS_KEY user access to S3_BUCKET, or set S3_BUCKET to a bucket it may use",
            )
        if err.code == "InvalidBucketName":
            return ConfigurationError(
                f"S3 at {endpoint} refuses the bucket name {bucket!r} (InvalidBucketName)",
                "set S3_BUCKET to a valid name: 3-63 lowercase letters, digits, dots and hyphens",
            )
        return ServiceError(f"S3 at {endpoint} answered {err.code}: {err.message}", "check the S3 server's logs")
    if isinstance(err, ValueError) and str(err).startswith("invalid region"):
        return invalid_setting("S3_REGION", str(err).removeprefix("invalid region "), str(err), "e.g. eu-west-1")
    if isinstance(err, ValueError) and str(err) in ("path in endpoint is not allowed", "invalid hostname"):
        return invalid_setting("S3_ENDPOINT", endpoint, str(err), "give host:port, e.g. 127.0.0.1:9000")
    return None


# --------------------------------------------------------------------------- PostgreSQL


def database_address(dsn: str) -> str:
    """host:port of a PostgreSQL URL, never its password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "DATABASE_URL"
    return f"{host}:{port}"


def _database_user_and_name(dsn: str) -> tuple[str, str]:
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "?", "?"
    return parts.username or "?", parts.path.lstrip("/") or parts.username or "?"


def _sslmode(dsn: str) -> str:
    try:
        return parse_qs(urlsplit(dsn).query).get("sslmode", ["prefer (default)"])[-1]
    except ValueError:
        return "?"


def _postgres_tls_problem(err: BaseException) -> str | None:
    """What went wrong with TLS to PostgreSQL (asyncpg honours ``sslmode`` in the URL), or None."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"the server's certificate was refused: {err.verify_message}"
    if isinstance(err, ssl.SSLError):
        return f"{err.reason or err}"
    text = str(err)
    if isinstance(err, ConnectionError) and "rejected SSL upgrade" in text:
        return "the server does not offer TLS"
    if isinstance(err, asyncpg.InvalidAuthorizationSpecificationError) and "no encryption" in text:
        return "the server requires TLS"
    return None


def postgres_error(err: BaseException, dsn: str) -> ServiceError | None:
    """``err`` from connecting to PostgreSQL, as a ServiceError; None if it is not a connection error."""
    address = database_address(dsn)
    user, database = _database_user_and_name(dsn)
    down_hint = "start PostgreSQL, or fix DATABASE_URL (unset it, and TEMPORAL_ADDRESS, to use the embedded stack)"
    tls_problem = _postgres_tls_problem(err)
    if tls_problem is not None:
        hint = (
            "enable TLS on the server, or set sslmode=prefer (or disable) in DATABASE_URL"
            if "does not offer TLS" in tls_problem
            else "in DATABASE_URL use sslmode=require (encrypts, checks no certificate), "
            "or verify-full with sslrootcert=<the server's CA file>"
        )
        return ServiceError(f"PostgreSQL at {address}: TLS failed ({tls_problem}; sslmode={_sslmode(dsn)})", hint)
    if isinstance(err, asyncpg.InvalidPasswordError):
        return ServiceError(
            f"PostgreSQL at {address} refused the login of user {user!r} (wrong password)",
            "check the user and password in DATABASE_URL",
        )
    if isinstance(err, asyncpg.InvalidAuthorizationSpecificationError):
        return ServiceError(
            f"PostgreSQL at {address} refused the login of user {user!r}: {err}",
            "check the user in DATABASE_URL",
        )
    if isinstance(err, asyncpg.InvalidCatalogNameError):
        return ServiceError(
            f"PostgreSQL at {address} has no database {database!r}",
            f"create it (createdb {database}) or fix the database name in DATABASE_URL",
        )
    if isinstance(err, asyncpg.ClientConfigurationError):
        return invalid_setting("DATABASE_URL", "...", str(err), "give postgresql://user:password@host:port/database")
    if isinstance(err, asyncpg.CannotConnectNowError):
        return ServiceError(f"PostgreSQL at {address} is not accepting connections yet: {err}", "try again shortly")
    if isinstance(err, socket.gaierror):
        return ServiceError(f"cannot reach PostgreSQL at {address} (unknown host)", down_hint)
    if isinstance(err, ConnectionRefusedError) or (isinstance(err, OSError) and "refused" in str(err).lower()):
        return ServiceError(f"cannot reach PostgreSQL at {address} (connection refused)", down_hint)
    if isinstance(err, TimeoutError):
        return ServiceError(f"cannot reach PostgreSQL at {address} (no answer, timed out)", down_hint)
    if isinstance(err, (OSError, asyncpg.InterfaceError)):
        return ServiceError(f"cannot use PostgreSQL at {address} ({err}); is this a PostgreSQL server?", down_hint)
    return None
