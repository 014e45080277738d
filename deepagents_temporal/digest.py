"""The project's one content digest: hex SHA-256.

Object metadata, run records, transcript keys and the scripted model's
request keys all name content by its sha256; one function keeps them all
computing it the same way (text is hashed as its UTF-8 bytes).
"""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256 of ``data``; text is encoded as UTF-8 first.

    ``surrogatepass`` lets text decoded from JSON with lone surrogate escapes
    (``"\\ud800"``) be hashed instead of raising.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()
