"""``POST /v1/embeddings`` of the scripted model: deterministic vectors, near for similar texts.

Each text becomes a hashed bag of words: every word of three letters or more
(lowercased, a trailing "s" dropped) adds 1 to the dimension its sha256
picks, and the vector is scaled to length 1. Texts sharing words have a
high cosine similarity, texts sharing none have 0, and the same text always
gets the same vector, so hybrid search can be tested without a real model.
Answers in the OpenAI shape, as floats or as base64 (the ``openai`` client
asks for base64 by default).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

DIMENSIONS = 256
_WORD = re.compile(r"[a-z0-9]{3,}")


def words(text: str) -> list[str]:
    return [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in _WORD.findall(text.lower())]


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for word in words(text):
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def embeddings_response(body: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for an embeddings request body."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return 400, {"error": {"message": "you must provide a model parameter", "type": "invalid_request_error"}}
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        return 400, {
            "error": {
                "message": "'input' must be a string or a non-empty array of strings",
                "type": "invalid_request_error",
            }
        }
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = embed(text, int(body.get("dimensions") or DIMENSIONS))
        encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(words(text)) for text in inputs)
    return 200, {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
