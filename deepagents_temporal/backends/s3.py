"""The run's files in S3: the file tools on ``runs/<run_id>/files/``, plus the run's reports.

Agent paths map to keys as ``docs/architecture.md`` ("The bucket") lays out:
``/`` is the run's files, ``/templates/`` and ``/uploads/`` are read-only;
:func:`~deepagents_temporal.backends.paths.map_path` is the single gate, so
nothing else in the bucket is reachable. ``/memories/`` is not in the bucket:
it is refused here, and :class:`~deepagents_temporal.backends.composite.CompositeBackend`
sends it to the store backend.

The tools are coroutines; each runs its blocking minio calls in one worker
thread (``asyncio.to_thread``), so an async activity can await them. Requests
that do not wait on each other (the three areas ``ls``/``glob`` of "/" list,
the files ``grep`` reads) go out together from a small shared pool.

Retries: ``write_file`` and ``edit_file`` store their ``operation_id`` in the
object's user metadata with the content's sha256, so a retry whose first
attempt already wrote the object reports the same success instead of failing
("already exists", "old_string not found") or editing twice. Each write is a
single PUT: readers never see a partial object.

Few requests, no lost writes: ``write_file`` creates with a conditional PUT
(``If-None-Match: *``), so of two writers of one new file exactly one wins
and the other is told the file exists; only a refused create costs a HEAD (is
it this very write, retried?). ``edit_file`` puts with ``If-Match`` on the
ETag it read, so a concurrent change is read again rather than overwritten.
On SeaweedFS (recognised by its ``Server`` header, see :data:`FOLDER_AWARE_SERVERS`)
a new file costs that one PUT: it also refuses to create a file where a folder
is. Elsewhere a LIST checks for the folder first, and on a server not known
to honour ``If-None-Match`` a HEAD too, as before. Known limit: an operation
retried after a later one changed the file is no longer recognised; the agent
loop runs one agent's file tools one after another, in the order the model
asked for them.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.parse
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from minio import Minio
from minio.error import S3Error
from minio.helpers import genheaders

from deepagents_temporal import s3
from deepagents_temporal.backends.paths import (
    READ_ONLY_AREAS,
    RESERVED_AREAS,
    Target,
    check_file_path,
    content_type_for,
    grep_path_filter,
    map_path,
    parse_glob_pattern,
)
from deepagents_temporal.backends.protocol import (
    DEFAULT_READ_LIMIT,
    EditResult,
    FileEntry,
    GlobResult,
    GrepResult,
    LsResult,
    PathError,
    ReadResult,
    ToolError,
    WriteResult,
    answer,
)
from deepagents_temporal.backends.text import (
    MAX_FILE_BYTES,
    check_edit_strings,
    check_grep_pattern,
    check_read_limit,
    directory_error,
    edit_message,
    encode_text,
    exists_error,
    glob_listing,
    grep_texts,
    ls_listing,
    no_such_entry_error,
    not_found_error,
    read_window,
    replace_exact,
    split_lines,
    write_message,
)
from deepagents_temporal.digest import sha256_hex

# Metadata names (sent as x-amz-meta-<name>) that make retries recognisable.
META_OPERATION = "operation-id"
META_SHA256 = "sha256"
META_REPLACEMENTS = "replacements"

W = TypeVar("W", bound=WriteResult)
T = TypeVar("T")
R = TypeVar("R")

# Servers (the start of their ``Server`` header) whose conditional create of a
# key that is a folder ("d" while "d/x" exists, or once existed) fails like one
# of an existing file: tested on the dev stack's weed by tests/test_backend_s3.py.
FOLDER_AWARE_SERVERS = ("SeaweedFS",)
# Servers known to honour If-None-Match on PUT (AWS S3 since 2024-08): no HEAD
# is needed before a create. Any other server also gets a HEAD first.
CONDITIONAL_CREATE_SERVERS = (*FOLDER_AWARE_SERVERS, "AmazonS3")
# The server behind each client, from its last PUT's answer (one backend is
# made per tool call; the client lives as long as the worker).
_servers: weakref.WeakKeyDictionary[Minio, str] = weakref.WeakKeyDictionary()
# Reads of a file edit_file makes before giving up on one that keeps changing
# (only concurrent edits of one file get there; the agent loop makes none).
EDIT_ATTEMPTS = 10
# Requests one tool call has in flight at once (ls and glob of "/" list three
# areas, grep reads files ahead of its search); the minio client's pool holds 16.
IN_FLIGHT = 6
# Shared by every backend: its threads only send requests, they never wait on each other.
_requests = ThreadPoolExecutor(max_workers=2 * IN_FLIGHT, thread_name_prefix="s3-files")


class _Refused(Exception):
    """A conditional PUT whose condition did not hold (412)."""


@dataclass
class _Stored:
    """An object as stored, with the metadata that identifies its writer."""

    key: str
    size: int
    content_type: str
    sha256: str | None
    operation_id: str | None
    replacements: int | None
    data: bytes | None = None
    etag: str | None = None  # as the server quotes it, for If-Match


def _quote_operation(operation_id: str) -> str:
    # Header values must be ASCII; ids may not be.
    if not operation_id:
        raise ValueError("operation_id must not be empty")
    return urllib.parse.quote(operation_id, safe="")


def _meta(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(f"x-amz-meta-{name}")  # a case-insensitive dict from urllib3
    return value if value else None


def _from_headers(key: str, headers: Mapping[str, str], data: bytes | None = None) -> _Stored:
    replacements = _meta(headers, META_REPLACEMENTS)
    return _Stored(
        key=key,
        size=int(headers.get("Content-Length") or (len(data) if data is not None else 0)),
        content_type=headers.get("Content-Type") or "application/octet-stream",
        sha256=_meta(headers, META_SHA256),
        operation_id=_meta(headers, META_OPERATION),
        replacements=int(replacements) if replacements and replacements.isdigit() else None,
        data=data,
        etag=headers.get("ETag"),
    )


def _decode_text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not a UTF-8 text file ({len(data)} bytes); it cannot be shown as text") from None


class S3Backend:
    """deepagents-style file tools on the files of one run.

    ``client`` is a minio client (see :func:`deepagents_temporal.s3.make_client`),
    ``bucket`` must exist (:func:`deepagents_temporal.s3.ensure_bucket`).
    """

    def __init__(self, client: Minio, bucket: str, run_id: str) -> None:
        self.client = client
        self.bucket = bucket
        self.run_id = run_id
        self.files_prefix = s3.run_files_prefix(run_id)  # validates run_id

    # ---- the tools

    async def ls(self, path: str = "/") -> LsResult:
        """Entries directly under ``path``; directories end with "/"."""
        return await answer(LsResult, asyncio.to_thread(self._ls, path))

    async def read_file(self, file_path: str, offset: int = 0, limit: int = DEFAULT_READ_LIMIT) -> ReadResult:
        """Lines ``offset`` (0-based) to ``offset + limit``, numbered like ``cat -n``."""
        return await answer(ReadResult, asyncio.to_thread(self._read_file, file_path, offset, limit))

    async def read_text(self, file_path: str) -> ReadResult:
        return await answer(ReadResult, asyncio.to_thread(self._read_text, file_path))

    async def write_file(self, file_path: str, content: str, *, operation_id: str) -> WriteResult:
        """Create a file. An existing file with other content is an error (use edit_file);
        with the same content it is a success, so a retried write is harmless."""
        return await answer(WriteResult, asyncio.to_thread(self._write_file, file_path, content, operation_id))

    async def edit_file(
        self,
        file_path: str,
        old_string: str,
        new_string: str,
        replace_all: bool = False,
        *,
        operation_id: str,
    ) -> EditResult:
        """Replace an exact string; it must occur once unless ``replace_all``."""
        return await answer(
            EditResult,
            asyncio.to_thread(self._edit_file, file_path, old_string, new_string, replace_all, operation_id),
        )

    async def glob(self, pattern: str, path: str = "/") -> GlobResult:
        """Files under ``path`` whose path relative to it matches ``pattern``."""
        return await answer(GlobResult, asyncio.to_thread(self._glob, pattern, path))

    async def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> GrepResult:
        """Lines containing ``pattern`` literally (not a regex), as ``path:line_number:line``."""
        return await answer(GrepResult, asyncio.to_thread(self._grep, pattern, path, glob))

    async def write_report(
        self,
        name: str,
        content: str | bytes,
        *,
        content_type: str | None = None,
        operation_id: str | None = None,
    ) -> WriteResult:
        """Store a deliverable at ``reports/<run_id>/<name>``, replacing an older one.

        Unlike write_file this overwrites: reports are rebuilt whole, and the
        same input gives the same object, so a retry is harmless.
        """
        return await answer(
            WriteResult, asyncio.to_thread(self._write_report, name, content, content_type, operation_id)
        )

    # ---- plumbing

    def _target(self, path: str, *, write: bool = False) -> Target:
        target = map_path(self.run_id, path)
        if target.area in RESERVED_AREAS:
            raise PathError(f"{target.path}: /{target.area}/ is not supported here (long-term memory lives elsewhere)")
        if write:
            if target.area != "run":
                raise PathError(
                    f"{target.path} is in /{target.area}/, which is read-only; write your own files "
                    f"elsewhere, e.g. /{target.rel or 'notes.md'}"
                )
            check_file_path(target, path)
        return target

    def _agent_path(self, target: Target, key: str) -> str:
        """Agent path of a key listed under ``target``'s area."""
        root = "/" if target.area == "run" else f"/{target.area}/"
        return root + key[len(target.base) :]

    def _stat(self, key: str) -> _Stored | None:
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as err:
            if s3.is_missing(err):
                return None
            raise
        return _from_headers(key, stat.metadata or {})

    def _get(self, key: str, path: str) -> _Stored | None:
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as err:
            if s3.is_missing(err):
                return None
            raise
        try:
            length = int(response.headers.get("Content-Length") or 0)
            if length > MAX_FILE_BYTES:
                raise ToolError(f"{path} is too large for this tool ({length} bytes, limit {MAX_FILE_BYTES})")
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        return _from_headers(key, response.headers, data)

    def _has_children(self, prefix: str) -> bool:
        return next(iter(self.client.list_objects(self.bucket, prefix=prefix)), None) is not None

    def _not_found(self, target: Target) -> ToolError:
        return not_found_error(target.path, is_directory=not target.rel or self._has_children(target.dir_prefix))

    def _walk(self, target: Target) -> Iterator[tuple[Target, str, int]]:
        """Every file under a directory target as (area target, key, size); "/" includes the read-only areas."""
        roots = [target]
        if target.path == "/":
            roots += [map_path(self.run_id, f"/{area}") for area in READ_ONLY_AREAS]
        listings = _ahead(lambda root: list(self._list(root.dir_prefix, recursive=True)), roots)
        for root, objects in zip(roots, listings, strict=True):
            for obj in objects:
                name = obj.object_name or ""
                if not obj.is_dir and not name.endswith("/"):  # skip folder markers
                    yield root, name, obj.size or 0

    def _list(self, prefix: str, *, recursive: bool = False) -> Iterator:
        return self.client.list_objects(self.bucket, prefix=prefix, recursive=recursive)

    def _put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> None:
        """One PUT of the whole object, so it appears whole or not at all; :class:`_Refused`
        if a condition (create only, or replace only the version with ETag ``if_match``) failed."""
        headers = genheaders({**metadata}, None, None, None, False)
        headers["Content-Type"] = content_type
        if if_none_match:
            headers["If-None-Match"] = "*"
        if if_match:
            headers["If-Match"] = if_match
        # put_object would turn the conditional headers into user metadata (and
        # split files over 5 MiB into parts): the single PutObject below it.
        try:
            result = self.client._put_object(self.bucket, key, data, headers)
        except S3Error as err:
            if err.code == "PreconditionFailed":
                raise _Refused(key) from None
            raise
        _servers[self.client] = result.http_headers.get("Server") or ""

    def _server_is(self, kinds: tuple[str, ...]) -> bool:
        return _servers.get(self.client, "").startswith(kinds)

    # ---- tool bodies (run in a worker thread)

    def _ls(self, path: str) -> LsResult:
        target = self._target(path)
        entries: list[FileEntry] = []
        # "/" also shows the read-only areas that have files: asked together with the listing.
        areas = list(READ_ONLY_AREAS.items()) if target.path == "/" else []
        found = _ahead(self._has_children, [prefix for _, prefix in areas])
        for obj in self.client.list_objects(self.bucket, prefix=target.dir_prefix):
            name = obj.object_name or ""
            if name == target.dir_prefix:
                continue
            if obj.is_dir or name.endswith("/"):
                entries.append(FileEntry(path=self._agent_path(target, name.rstrip("/")) + "/", is_dir=True))
            else:
                entries.append(FileEntry(path=self._agent_path(target, name), size=obj.size or 0))
        if target.path == "/":
            shown = [area for (area, _), there in zip(areas, found, strict=True) if there]
            entries += [FileEntry(path=f"/{area}/", is_dir=True) for area in shown]
        elif not entries and target.rel:
            stored = self._stat(target.key)
            if stored is None:
                raise no_such_entry_error(target.path)
            entries.append(FileEntry(path=target.path, size=stored.size))
        return ls_listing(entries, target.dir_path)

    def _read_file(self, file_path: str, offset: int, limit: int) -> ReadResult:
        target = self._target(file_path)
        check_read_limit(limit)
        stored = self._get(target.key, target.path) if target.rel else None
        if stored is None:
            raise self._not_found(target)
        assert stored.data is not None
        text = _decode_text(stored.data, target.path)
        return read_window(target.path, text, len(stored.data), offset, limit)

    def _read_text(self, file_path: str) -> ReadResult:
        target = self._target(file_path)
        stored = self._get(target.key, target.path) if target.rel else None
        if stored is None:
            raise self._not_found(target)
        assert stored.data is not None
        text = _decode_text(stored.data, target.path)
        return ReadResult(output=text, path=target.path, size=len(stored.data), total_lines=len(split_lines(text)))

    def _written(self, target: Target, stored: _Stored, result_type: type[W], output: str) -> W:
        return result_type(
            output=output,
            path=target.path,
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
        )

    def _write_file(self, file_path: str, content: str, operation_id: str) -> WriteResult:
        target = self._target(file_path, write=True)
        data = encode_text(content)
        digest = sha256_hex(data)
        content_type = content_type_for(target.path, text=True)
        metadata = {META_OPERATION: _quote_operation(operation_id), META_SHA256: digest}
        created = _Stored(target.key, len(data), content_type, digest, None, None)
        # Checks the conditional PUT does not make by itself on this server (see the module docstring).
        if not self._server_is(CONDITIONAL_CREATE_SERVERS):
            existing = self._stat(target.key)
            if existing is not None:
                return self._rewritten(target, existing, digest)
        if not self._server_is(FOLDER_AWARE_SERVERS) and self._has_children(target.dir_prefix):
            raise directory_error(target.path)
        try:
            self._put(target.key, data, content_type, metadata, if_none_match=True)
            return self._written(target, created, WriteResult, write_message(target.path))
        except _Refused:
            pass
        # Something is there: this write's first attempt, another write, or a folder.
        existing = self._stat(target.key)
        if existing is not None:
            return self._rewritten(target, existing, digest)
        if self._has_children(target.dir_prefix):
            raise directory_error(target.path)
        # Neither any more (removed meanwhile): nothing is there to overwrite.
        self._put(target.key, data, content_type, metadata)
        return self._written(target, created, WriteResult, write_message(target.path))

    def _rewritten(self, target: Target, existing: _Stored, digest: str) -> WriteResult:
        """write_file over an existing file: a success if it holds these very bytes (whoever
        wrote them, e.g. this write's first attempt), else the "already exists" error."""
        current = existing.sha256
        if current is None:  # put there by something else: hash what is stored
            fetched = self._get(target.key, target.path)
            current = sha256_hex(fetched.data) if fetched and fetched.data is not None else None
        if current != digest:
            raise exists_error(target.path)
        existing.sha256 = digest
        return self._written(target, existing, WriteResult, write_message(target.path))

    def _edit_file(
        self, file_path: str, old_string: str, new_string: str, replace_all: bool, operation_id: str
    ) -> EditResult:
        target = self._target(file_path, write=True)
        operation = _quote_operation(operation_id)
        for attempt in range(EDIT_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.01 * attempt))  # let the other editor finish
            stored = self._get(target.key, target.path)
            if stored is None:
                raise self._not_found(target)
            assert stored.data is not None
            replayed = stored.operation_id == operation and stored.replacements is not None
            if replayed and stored.sha256 == sha256_hex(stored.data):
                # This very operation produced the current object: a retry after a lost result.
                return self._edited(target, stored)
            check_edit_strings(old_string, new_string)
            text = _decode_text(stored.data, target.path)
            new_text, count = replace_exact(text, old_string, new_string, replace_all, target.path)
            data = encode_text(new_text)
            digest = sha256_hex(data)
            content_type = stored.content_type or content_type_for(target.path, text=True)
            metadata = {META_OPERATION: operation, META_SHA256: digest, META_REPLACEMENTS: str(count)}
            try:
                # Only over the version just read: a change made meanwhile is read again, not lost.
                self._put(target.key, data, content_type, metadata, if_match=stored.etag)
            except _Refused:
                continue
            return self._edited(target, _Stored(target.key, len(data), content_type, digest, operation, count))
        raise ToolError(f"{target.path} kept changing while it was edited; read_file it and try again")

    def _edited(self, target: Target, stored: _Stored) -> EditResult:
        count = stored.replacements or 0
        result = self._written(target, stored, EditResult, edit_message(target.path, count))
        result.replacements = count
        return result

    def _glob(self, pattern: str, path: str) -> GlobResult:
        target = self._target(path)
        matcher = parse_glob_pattern(pattern)
        matches = []
        for root, key, size in self._walk(target):
            agent = self._agent_path(root, key)
            if matcher.match(agent[len(target.dir_path) :]):
                matches.append(FileEntry(path=agent, size=size))
        return glob_listing(matches)

    def _grep(self, pattern: str, path: str | None, glob: str | None) -> GrepResult:
        target = self._target(path or "/")
        check_grep_pattern(pattern)
        admits = grep_path_filter(glob, target.dir_path)
        # Is the path one file? Asked while its folder is listed, in case it is not.
        asked = _requests.submit(self._stat, target.key) if target.rel else None
        listed = sorted((self._agent_path(root, key), key, size) for root, key, size in self._walk(target))
        single = asked.result() if asked else None
        candidates = [(target.path, target.key, single.size)] if single is not None else listed
        return grep_texts(pattern, self._texts(candidates, admits))

    def _texts(
        self, candidates: list[tuple[str, str, int]], admits: Callable[[str], bool]
    ) -> Iterator[tuple[str, str]]:
        """(agent path, text) of the admitted UTF-8 candidates, in order, a few fetched ahead of grep."""
        wanted = [(agent, key) for agent, key, size in candidates if admits(agent) and size <= MAX_FILE_BYTES]
        for (agent, _), stored in zip(wanted, _ahead(lambda c: self._get(c[1], c[0]), wanted), strict=True):
            if stored is None or stored.data is None:
                continue  # removed while we searched
            try:
                text = stored.data.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary files have no lines to search
            yield agent, text

    def _write_report(
        self, name: str, content: str | bytes, content_type: str | None, operation_id: str | None
    ) -> WriteResult:
        try:
            key = s3.report_key(self.run_id, name)
        except ValueError as err:
            raise ToolError(str(err)) from None
        is_text = isinstance(content, str)
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        digest = sha256_hex(data)
        kind = content_type or content_type_for(name, text=is_text)
        metadata = {META_SHA256: digest}
        if operation_id:
            metadata[META_OPERATION] = _quote_operation(operation_id)
        self._put(key, data, kind, metadata)
        return WriteResult(output=f"Wrote report {name}", key=key, size=len(data), sha256=digest, content_type=kind)


def _ahead(fetch: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fetch`` of each item, in order, with up to :data:`IN_FLIGHT` requests in flight from
    this call on; the consumer may stop early (what is in flight then finishes unread)."""
    rest = iter(items)
    pending = deque(_requests.submit(fetch, item) for item in islice(rest, IN_FLIGHT))
    return _results(pending, fetch, rest)


def _results(pending: deque[Future[R]], fetch: Callable[[T], R], rest: Iterator[T]) -> Iterator[R]:
    while pending:
        done = pending.popleft()
        for item in islice(rest, 1):
            pending.append(_requests.submit(fetch, item))
        yield done.result()
