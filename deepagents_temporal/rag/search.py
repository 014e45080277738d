"""Finding chunks: by keywords, by embedding, and both fused.

Keywords: the query's words (stemmed, any of them) against the chunks'
``tsvector``, ranked by ``ts_rank_cd``. Embeddings: cosine similarity to the
query's vector, with pgvector's ``<=>`` when the column is a ``vector``,
else ``rag_cosine`` over ``real[]`` (migration ``0004_documents``); only
chunks embedded by the same model and of the same length compare. Hybrid:
reciprocal-rank fusion of the two lists (each chunk scores the sum of
1 / (60 + its rank) in the lists it is in).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Candidates each ranking contributes to the fusion; RRF's usual constant.
CANDIDATES = 50
RRF_K = 60
EXCERPT_CHARS = 700


@dataclass(frozen=True)
class Hit:
    document_id: int
    position: int
    name: str
    title: str | None
    chunk_count: int
    content: str
    score: float

    @property
    def id(self) -> str:
        """What an answer cites: ``doc:chunk``."""
        return f"{self.document_id}:{self.position}"


_SELECT = (
    "SELECT c.document_id, c.position, d.name, d.title, d.chunk_count, c.content, {score} AS score"
    " FROM rag_chunks c JOIN rag_documents d USING (document_id)"
)


async def keyword_search(pool: asyncpg.Pool, query: str, collection: str, limit: int) -> list[Hit]:
    # plainto_tsquery ANDs the words; a question rarely has all of them, so any word counts.
    # The ORed text is cast back as it is: to_tsquery would stem the stems again (agre -> agr).
    rows = await pool.fetch(
        "WITH q AS (SELECT replace(plainto_tsquery('english', $1)::text, ' & ', ' | ') AS text) "
        + _SELECT.format(score="ts_rank_cd(c.tsv, q.text::tsquery)")
        + ", q WHERE q.text <> '' AND d.collection = $2 AND c.tsv @@ q.text::tsquery"
        " ORDER BY score DESC, c.document_id, c.position LIMIT $3",
        query,
        collection,
        limit,
    )
    return [_hit(row) for row in rows]


async def vector_column_type(pool: asyncpg.Pool) -> str:
    """``vector`` (pgvector) or ``real[]``: what migration 0004 could create on this server."""
    return await pool.fetchval(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'rag_chunks'::regclass AND attname = 'embedding'"
    )


def vector_parameter(column_type: str, n: int) -> str:
    """The SQL for parameter ``n`` (a list of floats) as the column's type."""
    return f"${n}::real[]::vector" if column_type == "vector" else f"${n}::real[]"


async def vector_search(pool: asyncpg.Pool, vector: list[float], model: str, collection: str, limit: int) -> list[Hit]:
    column = await vector_column_type(pool)
    param = vector_parameter(column, 1)
    if column == "vector":
        score, same_length = f"1 - (c.embedding <=> {param})", "vector_dims(c.embedding) = $4"
    else:
        score, same_length = f"rag_cosine(c.embedding, {param})", "cardinality(c.embedding) = $4"
    rows = await pool.fetch(
        _SELECT.format(score=score) + f" WHERE d.collection = $2 AND c.embedding_model = $3 AND {same_length}"
        " ORDER BY score DESC, c.document_id, c.position LIMIT $5",
        vector,
        collection,
        model,
        len(vector),
        limit,
    )
    return [_hit(row) for row in rows]


def fuse(rankings: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion: the ``k`` best chunks over all rankings, scored by fusion."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            hits.setdefault(hit.id, hit)
    best = sorted(scores, key=lambda key: (-scores[key], hits[key].document_id, hits[key].position))[:k]
    return [
        Hit(**{**hits[key].__dict__, "score": round(scores[key], 6)})  # type: ignore[arg-type]
        for key in best
    ]


def results_text(query: str, collection: str, hits: list[Hit], mode: str) -> str:
    """The tool message: each passage with its id, document and position."""
    if not hits:
        return (
            f"No passage in collection {collection!r} matches {query!r} ({mode} search). "
            "Try other words, or index documents with `starter.py index PATH...`."
        )
    parts = [f"{len(hits)} passages from collection {collection!r} ({mode} search); cite them as [doc:chunk]:"]
    for hit in hits:
        title = f" — {hit.title}" if hit.title else ""
        excerpt = hit.content if len(hit.content) <= EXCERPT_CHARS else hit.content[:EXCERPT_CHARS] + " …"
        parts.append(
            f"\n[{hit.id}] {hit.name}{title} (chunk {hit.position} of {hit.chunk_count}, score {hit.score:.4f})\n"
            f"{excerpt}"
        )
    return "\n".join(parts)


def _hit(row: asyncpg.Record) -> Hit:
    return Hit(
        document_id=row["document_id"],
        position=row["position"],
        name=row["name"],
        title=row["title"],
        chunk_count=row["chunk_count"],
        content=row["content"],
        score=float(row["score"]),
    )
