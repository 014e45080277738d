"""Where the redaction step is applied without each caller remembering it.

* :class:`RedactingFailureConverter`, the data converter's failure converter
  (``services.data_converter``): every error Temporal records (an activity's
  failure with its message, details and cause chain; a workflow's) goes
  through :func:`redaction.redact` first. So no S3, PostgreSQL or
  model-provider error text reaches a workflow, its history, or the rows and
  logs the workflow writes, unredacted.
* :class:`RedactingInterceptor`, an activity interceptor the worker installs
  (``worker.build_worker``): heartbeat details, redacted the same way.
* :func:`install_log_redaction`, a log record factory the worker installs:
  every log record of the process, whatever its logger or handler (the SDK's
  "Completing activity as failed" with its traceback, the libraries', ours),
  has its message and traceback redacted when it is created.

An error or record with nothing to redact is left exactly as it was.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError, CancelledError, FailureError
from temporalio.worker import ActivityInboundInterceptor, ActivityOutboundInterceptor, Interceptor

from deepagents_temporal.redaction import redact, redact_value

# Deeper cause chains are cut here (Temporal's own chains are a few links).
MAX_CAUSES = 20


def _recorded(err: BaseException) -> bool:
    """An error that carries the failure Temporal already recorded (an
    ActivityError, a ChildWorkflowError...): the failure converter copies it as it is."""
    return isinstance(err, FailureError) and err.failure is not None


def _causes(err: BaseException) -> tuple[list[BaseException], BaseException | None]:
    """``err`` and its causes, in the order Temporal's failure converter records
    them, up to (not including) the first one Temporal already recorded, which
    is returned second."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and len(chain) < MAX_CAUSES and all(current is not seen for seen in chain):
        if _recorded(current):
            return chain, current
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif isinstance(current, FailureError) and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return chain, None


def _message(err: BaseException) -> str:
    return err.message if isinstance(err, FailureError) else str(err)


def _details(err: BaseException) -> tuple[Any, ...]:
    return tuple(err.details) if isinstance(err, ApplicationError) else ()


def _clean(err: BaseException, cause: BaseException | None) -> ApplicationError:
    """``err`` as the ApplicationError Temporal would record, redacted."""
    if isinstance(err, ApplicationError):
        cleaned = ApplicationError(
            redact(err.message),
            *redact_value(list(err.details)),
            type=err.type,
            non_retryable=err.non_retryable,
            next_retry_delay=err.next_retry_delay,
            category=err.category,
        )
    else:
        cleaned = ApplicationError(redact(_message(err)), type=type(err).__name__)
    cleaned.__traceback__ = err.__traceback__
    cleaned.__cause__ = cause
    cleaned.__suppress_context__ = True
    return cleaned


def redacted_error(err: BaseException) -> BaseException:
    """``err`` with every message and detail down its cause chain redacted;
    ``err`` itself when there is nothing to redact (or it is a cancellation)."""
    if not isinstance(err, Exception) or isinstance(err, CancelledError):
        return err
    chain, recorded = _causes(err)
    if all(redact(_message(e)) == _message(e) and redact_value(_details(e)) == _details(e) for e in chain):
        return err
    cleaned: BaseException | None = recorded
    for link in reversed(chain):
        cleaned = _clean(link, cleaned)
    assert cleaned is not None
    return cleaned


class RedactingFailureConverter(DefaultFailureConverter):
    """Temporal's failure converter, recording every error redacted.

    The data converter of every process (``services.data_converter``) uses
    it, so an activity's failure (message, details, cause chain) is redacted
    when the worker records it, whatever raised it, and without a frame more
    in the tracebacks the SDK logs."""

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        super().to_failure(redacted_error(exception), payload_converter, failure)


class RedactingFailureConverterWithEncodedAttributes(RedactingFailureConverter):
    """The same, with message and stack trace moved into an encoded (encryptable) attribute."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


class _RedactingOutbound(ActivityOutboundInterceptor):
    def heartbeat(self, *details: Any) -> None:
        self.next.heartbeat(*redact_value(list(details)))


class _RedactingInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor) -> None:
        super().__init__(next)
        # Straight to the next one: no frame of ours in every traceback the SDK logs.
        self.execute_activity = next.execute_activity  # type: ignore[method-assign]

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self.next.init(_RedactingOutbound(outbound))


class RedactingInterceptor(Interceptor):
    """Redacts every activity's heartbeat details (installed by the worker)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RedactingInbound(next)


_install_lock = threading.Lock()
_installed = False


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format is logging's to report, at emit time
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        cleaned = redact(text)
        if cleaned != text:
            # Formatters print exc_text; the exception object itself is dropped.
            record.exc_text, record.exc_info = cleaned, None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_log_redaction() -> None:
    """Redact every log record this process creates from now on (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
