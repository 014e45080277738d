"""Optional payload encryption: AES-GCM with the key in ``DEEPAGENT_PAYLOAD_KEY``.

With the key set, the data converter (``services.data_converter``) encrypts
every payload before it leaves the process: workflow and activity inputs and
results, heartbeat details, queries, failure messages and stack traces (they
move into an encoded attribute). Temporal's data converter runs the codec
before ``ExternalStorage``, so payloads offloaded to the bucket's
``payloads/`` are stored encrypted too; only their references (bucket, key,
hash) stay readable in the history. Payloads that are not encrypted (written
before the key was set) are read unchanged.

Every process that reads or writes runs (workers, ``starter.py``, a codec
server) needs the same key; ``starter.py codec-server`` lets the Temporal UI
and CLI decode for a person who holds it.

The key is 32 random bytes (AES-256), written as 64 hex digits or in base64
(standard or URL-safe, padding optional); make one with
``python -c "import secrets; print(secrets.token_hex(32))"``. Each encrypted
payload names the key by a fingerprint (``encryption-key-id``), so a wrong
key is reported as such instead of as corrupt data. The wire format is the
Temporal samples' (``binary/encrypted``: a 12-byte nonce, then the AES-GCM
ciphertext of the serialized payload).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_HELP = (
    'DEEPAGENT_PAYLOAD_KEY must be 32 random bytes as 64 hex digits or base64; make one with: python -c "import '
    'secrets; print(secrets.token_hex(32))"'
)


class PayloadKeyError(ValueError):
    """The configured key is malformed, or a payload was encrypted with another key."""


def parse_key(text: str) -> bytes:
    """The 32 key bytes written in ``text`` (hex or base64); PayloadKeyError otherwise."""
    value = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return bytes.fromhex(value)
    try:
        padded = value + "=" * (-len(value) % 4)
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == KEY_BYTES:
        return raw
    raise PayloadKeyError(f"{KEY_HELP} (got {len(value)} characters)")


def key_fingerprint(key: bytes) -> str:
    """A public name for the key: it identifies it without revealing it."""
    return hashlib.sha256(b"deepagents-temporal payload key\0" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """AES-GCM payload codec (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(f"{KEY_HELP} (got {len(key)} bytes)")
        self._aead = AESGCM(key)
        self.key_id = key_fingerprint(key)

    @classmethod
    def from_text(cls, text: str) -> EncryptionCodec:
        return cls(parse_key(text))

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one that is not encrypted is returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        if key_id != self.key_id:
            raise PayloadKeyError(
                f"payload was encrypted with key {key_id or '(unnamed)'}, but DEEPAGENT_PAYLOAD_KEY is key "
                f"{self.key_id}: set the key the payloads were written with"
            )
        try:
            plain = self._aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
        except InvalidTag:
            raise PayloadKeyError(
                f"payload encrypted with key {key_id} does not decrypt: it was altered or is truncated"
            ) from None
        return Payload.FromString(plain)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]
