"""Documents into the index: text, chunks and rows, once per content.

A document is known by its collection and name (a path relative to what was
indexed, or its bucket key); its sha256 says whether it changed. Indexing
the same bytes again touches nothing; changed bytes replace the document's
chunks (its id, and so the citations of other documents, stay); new ones are
added. Embeddings are made later, by the workers (``embeddings.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import asyncpg

from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.documents.convert import extract_text
from deepagents_temporal.rag.chunking import chunk_text

Outcome = Literal["added", "updated", "unchanged"]
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Indexed:
    name: str
    document_id: int
    outcome: Outcome
    chunks: int


def check_collection(name: str) -> str:
    if not _COLLECTION.match(name):
        raise ValueError(
            f"collection {name!r} is not a valid name: letters, digits, '.', '_' and '-', up to 100 characters"
        )
    return name


async def index_document(
    pool: asyncpg.Pool, collection: str, name: str, data: bytes, content_type: str | None = None
) -> Indexed:
    """Index one document's bytes. Raises UnsupportedDocument when it cannot be read as text."""
    check_collection(collection)
    digest = sha256_hex(data)
    async with pool.acquire() as conn:
        current = await conn.fetchrow(
            "SELECT document_id, sha256, chunk_count FROM rag_documents WHERE collection = $1 AND name = $2",
            collection,
            name,
        )
        if current is not None and current["sha256"] == digest:
            return Indexed(name, current["document_id"], "unchanged", current["chunk_count"])
    # Extracting and splitting can take a while: outside any transaction.
    extracted = extract_text(data, filename=name, content_type=content_type)
    # PostgreSQL text cannot hold NUL characters.
    chunks = chunk_text(extracted.text.replace("\x00", " "))
    async with pool.acquire() as conn, conn.transaction():
        document_id = await conn.fetchval(
            "INSERT INTO rag_documents (collection, name, sha256, kind, title, size, chunk_count)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (collection, name) DO UPDATE SET sha256 = excluded.sha256, kind = excluded.kind,"
            " title = excluded.title, size = excluded.size, chunk_count = excluded.chunk_count, indexed_at = now()"
            " RETURNING document_id",
            collection,
            name,
            digest,
            extracted.kind,
            extracted.title,
            len(data),
            len(chunks),
        )
        await conn.execute("DELETE FROM rag_chunks WHERE document_id = $1", document_id)
        await conn.executemany(
            "INSERT INTO rag_chunks (document_id, position, content) VALUES ($1, $2, $3)",
            [(document_id, position, text) for position, text in enumerate(chunks, start=1)],
        )
    return Indexed(name, document_id, "added" if current is None else "updated", len(chunks))
