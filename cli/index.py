"""`index`: documents into the RAG index (PostgreSQL) that ``search_documents`` reads.

    starter.py index docs/ notes.md [--collection NAME]     # files and folders (recursively)
    starter.py index --from-uploads [NAME...]               # objects under uploads/ (all of them without names)

Each document is read as text (``documents/convert.py``), split into chunks
and kept per collection (``deepagents_temporal/rag/index.py``): indexing the
same bytes again changes nothing, changed bytes replace the document's
chunks. A file that cannot be read (missing, unreadable, not a format
supported) is named with the reason and the others go on; the exit code is
then 2. Embeddings are not made here but by the workers, at the first search
with ``DEEPAGENT_EMBEDDINGS_MODEL`` set, so the model key stays with them.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.console import console, say
from cli.inputs import Bucket
from cli.services import open_database_only, open_services
from deepagents_temporal import s3
from deepagents_temporal.documents.convert import SUPPORTED, UnsupportedDocument, document_kind
from deepagents_temporal.rag.index import Indexed, check_collection, index_document
from deepagents_temporal.services import open_database
from deepagents_temporal.settings import Settings, load_settings

# Above this many documents, a progress bar instead of silence until the summary.
PROGRESS_FROM = 2


@dataclass(frozen=True)
class Source:
    """One document to index: its name in the collection and how to read its bytes."""

    name: str
    shown: str
    read: Callable[[], Awaitable[bytes]]


async def index(paths: list[str], *, collection: str, from_uploads: bool) -> int:
    try:
        check_collection(collection)
    except ValueError as err:
        say(f"error: {err}")
        return 2
    problems: list[str] = []
    settings = load_settings()
    if from_uploads:
        async with _uploads(settings, paths, problems) as (sources, pool):
            return await _index_all(pool, collection, sources, problems)
    sources = _local_sources(paths, problems)
    if not sources and problems:
        return _done([], problems)
    async with open_database_only(settings, "index") as pool:
        return await _index_all(pool, collection, sources, problems)


def _local_sources(paths: list[str], problems: list[str]) -> list[Source]:
    if not paths:
        problems.append("nothing to index: give files or folders (or --from-uploads)")
    sources: list[Source] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
            readable = [p for p in files if _supported(p.name)]
            if not readable:
                problems.append(f"{given}: no document in it ({SUPPORTED})")
            sources += [_file_source(p, p.relative_to(path).as_posix()) for p in readable]
        elif path.is_file():
            if _supported(path.name):
                sources.append(_file_source(path, path.name))
            else:
                problems.append(f"{given}: not a format this backend reads; use {SUPPORTED}")
        else:
            problems.append(f"{given}: no such file or folder")
    return sources


def _file_source(path: Path, name: str) -> Source:
    async def read() -> bytes:
        return path.read_bytes()

    return Source(name=name, shown=str(path), read=read)


@asynccontextmanager
async def _uploads(
    settings: Settings, names: list[str], problems: list[str]
) -> AsyncIterator[tuple[list[Source], asyncpg.Pool]]:
    async with open_services(settings, "index", needs_database=True) as services:
        bucket = Bucket(services.settings)
        if names:
            keys = []
            for name in names:
                try:
                    keys.append(s3.upload_key(name.removeprefix(s3.UPLOADS_PREFIX)))
                except ValueError as err:
                    problems.append(f"{name}: {err}")
        else:
            keys = [key for key in await bucket.keys(s3.UPLOADS_PREFIX) if _supported(key)]
            if not keys:
                problems.append(f"no document under {s3.UPLOADS_PREFIX} in bucket {services.settings.s3_bucket}")

        def source(key: str) -> Source:
            async def read() -> bytes:
                data = await bucket.get(key)
                if data is None:
                    raise FileNotFoundError(f"no object {key} in bucket {services.settings.s3_bucket}")
                return data

            return Source(name=key, shown=key, read=read)

        pool = await open_database(services.settings)
        try:
            yield [source(key) for key in keys], pool
        finally:
            await pool.close()


async def _index_all(pool: asyncpg.Pool, collection: str, sources: list[Source], problems: list[str]) -> int:
    results: list[Indexed] = []
    progress = Progress(
        TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"), console=console
    )
    with progress if len(sources) >= PROGRESS_FROM else _NoProgress():
        task = progress.add_task("", total=len(sources))
        for source in sources:
            progress.update(task, description=source.shown)
            try:
                data = await source.read()
                content_type = mimetypes.guess_type(source.name)[0]
                indexed = await index_document(pool, collection, source.name, data, content_type)
            except (OSError, UnsupportedDocument) as err:
                problems.append(f"{source.shown}: {_reason(err)}")
            else:
                results.append(indexed)
                chunks = f"{indexed.chunks} chunk{'' if indexed.chunks == 1 else 's'}"
                say(f"{indexed.outcome} {source.shown}: {chunks} (document {indexed.document_id})")
            progress.advance(task)
    return _done(results, problems, collection)


def _done(results: list[Indexed], problems: list[str], collection: str = "") -> int:
    for problem in problems:
        say(f"error: {problem}")
    if results:
        counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in ("added", "updated")}
        unchanged = len(results) - counts["added"] - counts["updated"]
        say(
            f"collection {collection}: {counts['added']} added, {counts['updated']} updated, {unchanged} unchanged, "
            f"{len(problems)} failed; {sum(r.chunks for r in results)} chunks in these documents"
        )
        say(f'ask: starter.py run --profile rag "your question"  (search_documents, collection {collection})')
    return 2 if problems else 0


def _reason(err: Exception) -> str:
    if isinstance(err, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(err, FileNotFoundError) and err.filename is None:
        return str(err)
    if isinstance(err, OSError):
        return f"cannot be read: {err.strerror or err}"
    return str(err)


def _supported(name: str) -> bool:
    try:
        document_kind(name)
    except UnsupportedDocument:
        return False
    return True


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
