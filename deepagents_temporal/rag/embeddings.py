"""Chunk and query embeddings through langchain-openai's ``OpenAIEmbeddings``.

On when ``DEEPAGENT_EMBEDDINGS_MODEL`` is set, against the chat model's
OpenAI-compatible server (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``); only
workers call it, so the key never leaves them. Texts are sent as they are
(``check_embedding_ctx_length=False``): no tokenizer is downloaded at run time,
and chunks are small enough for any embeddings model. Chunks not yet
embedded by the configured model are embedded in batches before a search
(``embed_pending``), so indexing needs no model and a new model re-embeds.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from langchain_openai import OpenAIEmbeddings

from deepagents_temporal.rag.search import vector_column_type, vector_parameter
from deepagents_temporal.settings import Settings

BATCH = 64


def make_embeddings(settings: Settings, timeout_seconds: float = 60.0) -> OpenAIEmbeddings | None:
    """The embeddings client, or None when embeddings are off."""
    if not settings.deepagent_embeddings_model:
        return None
    key = settings.openai_api_key
    return OpenAIEmbeddings(
        model=settings.deepagent_embeddings_model,
        base_url=settings.openai_base_url,
        # As for the chat model: a local server (Ollama, vLLM) may need no key.
        api_key=key.get_secret_value() if key else "not-needed",
        check_embedding_ctx_length=False,
        # Temporal retries the activity; the client's own retries would hide an outage.
        max_retries=0,
        timeout=timeout_seconds,
        chunk_size=BATCH,
    )


async def embed_pending(
    pool: asyncpg.Pool,
    embeddings: OpenAIEmbeddings,
    collection: str,
    progress: Callable[[int], None] = lambda done: None,
) -> int:
    """Embed the collection's chunks that the configured model has not embedded; how many were."""
    model = embeddings.model
    column = await vector_column_type(pool)
    done = 0
    while True:
        rows = await pool.fetch(
            "SELECT c.document_id, c.position, c.content FROM rag_chunks c JOIN rag_documents d USING (document_id)"
            " WHERE d.collection = $1 AND (c.embedding IS NULL OR c.embedding_model IS DISTINCT FROM $2)"
            " ORDER BY c.document_id, c.position LIMIT $3",
            collection,
            model,
            BATCH,
        )
        if not rows:
            return done
        vectors = await embeddings.aembed_documents([row["content"] for row in rows])
        await pool.executemany(
            f"UPDATE rag_chunks SET embedding = {vector_parameter(column, 1)}, embedding_model = $2"
            # Only if the chunk still holds the text embedded: `index` may have rewritten it meanwhile.
            " WHERE document_id = $3 AND position = $4 AND content = $5",
            [
                (vector, model, row["document_id"], row["position"], row["content"])
                for vector, row in zip(vectors, rows, strict=True)
            ],
        )
        done += len(rows)
        progress(done)
