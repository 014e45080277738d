"""The ``search_documents`` tool as an activity (io role), on the worker's PostgreSQL.

Keyword search always; with ``DEEPAGENT_EMBEDDINGS_MODEL`` the collection's
new chunks are embedded first (batches, heartbeating) and the query too, and
the two rankings are fused (``deepagents_temporal/rag/search.py``). A bad
call or an unknown collection is the tool's answer; an outage (database,
embeddings endpoint) raises, so Temporal tries again and the workflow tells
the model once the attempts are spent.
"""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.rag.policy import DEFAULT_COLLECTION
from deepagents_temporal.rag.search import CANDIDATES, fuse, keyword_search, results_text, vector_search
from deepagents_temporal.schema import CustomToolInput, Message, ToolOutput
from deepagents_temporal.settings import Settings
from deepagents_temporal.tools import SearchDocumentsArgs, ToolArgumentError, parse_args

# Answers of the embeddings endpoint that another attempt would get again.
REFUSALS = (400, 401, 403, 404, 422)


class RagActivities:
    def __init__(self, pool: asyncpg.Pool, conversations: ConversationStore, settings: Settings) -> None:
        self._pool = pool
        self._conversations = conversations
        self._embeddings = None
        if settings.deepagent_embeddings_model:
            # langchain-openai (a second of a worker's start-up) only for a worker that embeds.
            from deepagents_temporal.rag.embeddings import make_embeddings

            self._embeddings = make_embeddings(settings)

    @activity.defn(name="search_documents")
    async def search_documents(self, request: CustomToolInput) -> ToolOutput:
        # Here, not at import: rag.index brings in langchain-text-splitters (and langchain-core).
        from deepagents_temporal.rag.index import check_collection

        call = request.call
        args = await asyncio.to_thread(self._conversations.call_arguments, request.run_id, call)
        try:
            parsed = parse_args("search_documents", args)
            assert isinstance(parsed, SearchDocumentsArgs)
            collection = check_collection(parsed.collection or DEFAULT_COLLECTION)
        except (ToolArgumentError, ValueError) as err:
            return _error(call.id, str(err))
        documents = await self._pool.fetchval("SELECT count(*) FROM rag_documents WHERE collection = $1", collection)
        if not documents:
            known = [r["collection"] for r in await self._pool.fetch("SELECT DISTINCT collection FROM rag_documents")]
            return _error(
                call.id,
                f"collection {collection!r} has no documents; indexed collections: {', '.join(sorted(known)) or 'none'}"
                " (index with `starter.py index PATH... --collection NAME`)",
            )
        rankings = [await keyword_search(self._pool, parsed.query, collection, CANDIDATES)]
        mode = "keyword"
        if self._embeddings is not None:
            import openai

            from deepagents_temporal.rag.embeddings import embed_pending

            try:
                embedded = await embed_pending(self._pool, self._embeddings, collection, activity.heartbeat)
                vector = await self._embeddings.aembed_query(parsed.query)
            except openai.APIStatusError as err:
                if err.status_code not in REFUSALS:
                    raise
                # A wrong model name or key heals with no retry: tried once, the model is told.
                raise ApplicationError(
                    f"the embeddings model {self._embeddings.model!r} refused the request "
                    f"(HTTP {err.status_code}: {err.message}); check DEEPAGENT_EMBEDDINGS_MODEL on the workers",
                    type="EmbeddingsRefused",
                    non_retryable=True,
                ) from None
            if embedded:
                activity.logger.info("embedded %d chunks of collection %s", embedded, collection)
            rankings.append(await vector_search(self._pool, vector, self._embeddings.model, collection, CANDIDATES))
            mode = "hybrid"
        # One ranking keeps its own scores (ts_rank_cd); two are fused.
        hits = fuse(rankings, parsed.k) if len(rankings) > 1 else rankings[0][: parsed.k]
        output = results_text(parsed.query, collection, hits, mode)
        message = await asyncio.to_thread(self._conversations.tool_message, request.run_id, call, output)
        summary = f"search_documents {parsed.query[:80]!r} in {collection} ({mode}): {', '.join(h.id for h in hits)}"
        activity.logger.info("%s %s", request.agent, summary)
        return ToolOutput(message=message, summary=summary)


def _error(call_id: str, problem: str) -> ToolOutput:
    return ToolOutput(
        message=Message(role="tool", content=f"Error: {problem}", tool_call_id=call_id, name="search_documents"),
        summary=f"search_documents: error: {problem[:200]}",
        error=problem,
    )
