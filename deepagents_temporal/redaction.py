"""The one redaction step: secrets out of a text before it leaves the worker.

Error texts from model providers, S3 and PostgreSQL can carry secrets (a
provider that echoes the ``Authorization`` header in its 401, a connection
string with its password). Everything that can reach a workflow, a log line,
a bucket object or a row passes through :func:`redact` first; the hooks that
apply it automatically (activity failures, heartbeats, log records) are in
``deepagents_temporal/redaction_hooks.py``.

Two kinds of secrets are removed, each replaced by :data:`MARKER`:

* the configured ones, by value: ``OPENAI_API_KEY``, ``S3_ACCESS_KEY``,
  ``S3_SECRET_KEY``, the password in ``DATABASE_URL``,
  ``DEEPAGENT_PAYLOAD_KEY`` and ``TEMPORAL_API_KEY``, registered by the worker from its settings
  (:func:`register_secrets`);
* generic shapes, whatever their value: ``Bearer <token>``, ``sk-...`` keys,
  the value of an ``Authorization`` / ``api-key`` header or field, and the
  password in ``scheme://user:password@host``.

The registry is process wide because secrets are: a log line or an error
raised deep in a library has no settings at hand. Registering is additive.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, SecretStr

from deepagents_temporal.settings import Settings

MARKER = "[redacted]"
# Shorter configured values are not secrets anyone could protect, and blanking
# them would mangle ordinary words in every error text.
MIN_SECRET_CHARS = 4

_SEP = r"""(?P<sep>["']?\s*[:=]\s*["']?)"""
_TOKEN = r"""[^"'\s,;)}\[\]]+"""
_GENERIC: list[tuple[re.Pattern[str], str]] = [
    # The value of an Authorization header or field, its scheme word included.
    (
        re.compile(rf"(?P<name>\b(?:proxy-)?authorization){_SEP}(?:[A-Za-z]+[ \t]+)?{_TOKEN}", re.IGNORECASE),
        rf"\g<name>\g<sep>{MARKER}",
    ),
    # Other credentials given as name=value or "name": "value".
    (
        re.compile(
            rf"(?P<name>\b(?:x-)?api[-_]?key|\bpassword|\bpasswd|\bsecret[-_]?key){_SEP}{_TOKEN}", re.IGNORECASE
        ),
        rf"\g<name>\g<sep>{MARKER}",
    ),
    # Credentials of an HTTP auth scheme, wherever they are quoted.
    (re.compile(r"\b(?P<scheme>[Bb]earer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<scheme> {MARKER}"),
    # OpenAI-style keys (sk-..., sk-proj-..., sk-ant-...).
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), MARKER),
    # user:password@ in any URL.
    (re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\g<head>{MARKER}@"),
]


def _value(secret: SecretStr | str | None) -> str | None:
    if secret is None:
        return None
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def url_password(url: str | None, *, decoded: bool = True) -> str | None:
    """The password in ``scheme://user:password@host/...``, if any (percent-decoded
    unless ``decoded`` is False: then as written in the URL)."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    if not password:
        return None
    return unquote(password) if decoded else password


def secrets_of(settings: Settings) -> list[str]:
    """The configured secret values of ``settings`` (empty and tiny ones left out)."""
    values = [
        _value(settings.openai_api_key),
        _value(settings.s3_access_key),
        _value(settings.s3_secret_key),
        url_password(_value(settings.database_url)),
        url_password(_value(settings.database_url), decoded=False),
        _value(settings.deepagent_payload_key),
        _value(settings.temporal_api_key),
    ]
    return [v for v in values if v and len(v) >= MIN_SECRET_CHARS]


class Redactor:
    """Removes a set of secret values and the generic shapes from texts."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also remove these values (additive; tiny ones are ignored)."""
        with self._lock:
            merged = self._secrets | {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}
            if merged == self._secrets:
                return
            # Longest first, so a secret containing another is removed whole.
            forms = sorted({form for s in merged for form in _forms(s)}, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in forms))
            self._secrets = merged

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by :data:`MARKER`."""
        if not text:
            return text
        # Shapes first: "Bearer <key>" becomes "Bearer [redacted]" whole, and a
        # second pass over a redacted text changes nothing.
        for generic, replacement in _GENERIC:
            text = generic.sub(replacement, text)
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MARKER, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """``value`` with every string inside it redacted (dicts, lists, tuples,
        pydantic models); the same object when nothing needed redacting."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            items = {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
            return value if items == value else items
        if isinstance(value, (list, tuple)):
            items = [self.redact_value(v) for v in value]
            if items == list(value):
                return value
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, BaseModel):
            dumped = value.model_dump(mode="json")
            cleaned = self.redact_value(dumped)
            if cleaned is dumped or cleaned == dumped:
                return value
            try:
                return type(value).model_validate(cleaned)
            except ValueError:
                return cleaned
        return value


def _forms(secret: str) -> list[str]:
    """A secret as it may appear in a text: raw, JSON-escaped, URL-encoded."""
    forms = [secret, json.dumps(secret)[1:-1], quote(secret, safe="")]
    return [f for f in forms if f]


_process = Redactor()


def register_secrets(settings: Settings) -> None:
    """Remove ``settings``' configured secrets from every text this process redacts."""
    _process.add(secrets_of(settings))


def register_secret_values(values: Iterable[str]) -> None:
    """Also remove these values (secrets a worker reads for a tool, e.g. an MCP server's ${VAR})."""
    _process.add(values)


def redact(text: str) -> str:
    """``text`` without this process's registered secrets and the generic shapes."""
    return _process.redact(text)


def redact_value(value: Any) -> Any:
    """:func:`redact` applied to every string inside ``value``."""
    return _process.redact_value(value)
