"""Long-term memory: the agent's ``/memories/`` folder, kept in a LangGraph store.

Files under ``/memories/`` outlive the run: they are items of a
:class:`~langgraph.store.base.BaseStore` (in production
:class:`~deepagents_temporal.pgstore.PostgresStore`, i.e. PostgreSQL), not
objects under the run's S3 prefix. :class:`StoreBackend` offers the same
tools, arguments, messages and results as the S3 backend, for paths under
``/memories/`` only (it takes and answers with whole agent paths); anything
else is a typed error, never an exception.

Layout: one namespace per profile and user (:func:`memory_namespace`), one
item per file::

    namespace = ("memories", <profile>, <user id or "shared">)
    key       = path relative to /memories/, e.g. "project/notes.md"
    value     = {"content": str, "sha256": hex of the UTF-8 content,
                 "operation_id": str, "replacements": int | None}

Folders are not stored: they are the key prefixes of their files.

Paths go through :func:`~deepagents_temporal.backends.paths.map_path`, the
same gate as the run's files: absolute paths only, no ``..``, no control
characters, at most 255 bytes per name and 1024 bytes in all.

Retries work as on S3: ``write_file`` with the content already stored is a
success, and ``edit_file`` stores its ``operation_id`` and the sha256 of the
new content with the item, so a retry of an edit that was applied returns the
same success instead of "old_string not found". The same known limit applies:
a store has no conditional put, so two *concurrent* edits of one file can lose
an update. The agent loop runs one file tool per file at a time.

Listing (``ls``, ``glob``, ``grep``, the folder checks) pages through every
item of the namespace with ``asearch``. Memories of one profile and user are
expected to be few (hundreds, not millions).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from typing import TypeVar

from langgraph.store.base import BaseStore, GetOp, Item

from deepagents_temporal.backends.paths import (
    Target,
    check_file_path,
    content_type_for,
    grep_path_filter,
    is_under,
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

MEMORIES_ROOT = "/memories/"
SHARED_USER = "shared"  # the user part of the namespace when no user id is given
_AREA = "memories"
_RUN_ID = "memory"  # map_path wants a run id; /memories/ paths never use it
_PAGE = 500  # items per asearch call when listing a namespace

W = TypeVar("W", bound=WriteResult)


# --------------------------------------------------------------------------- namespaces


def _check_label(label: object, what: str) -> str:
    if not isinstance(label, str) or not label:
        raise ValueError(f"invalid {what} {label!r}: a non-empty string is required")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in label):
        raise ValueError(f"invalid {what} {label!r}: control characters are not allowed")
    try:
        label.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"invalid {what} {label!r}: not valid UTF-8") from None
    return label


def _escape_label(label: str) -> str:
    # LangGraph stores refuse "." in namespace labels; user ids are often
    # e-mail addresses. Percent-escaping "%" and "." keeps labels distinct.
    return label.replace("%", "%25").replace(".", "%2E")


def memory_namespace(profile: str, user_id: str | None) -> tuple[str, ...]:
    """``("memories", profile, user_id or "shared")``, the namespace of one profile's (and user's) memories.

    Parts must be non-empty strings without control characters (``ValueError``
    otherwise). "." and "%" are percent-escaped (``"a.b"`` -> ``"a%2Eb"``),
    because LangGraph namespace labels may not contain periods.
    """
    parts = [_check_label(profile, "profile")]
    parts.append(SHARED_USER if user_id is None else _check_label(user_id, "user id"))
    return (_AREA, *(_escape_label(part) for part in parts))


def is_memory_path(path: str) -> bool:
    """Whether an agent path is under ``/memories/`` (``/memories`` itself included).

    For routing a tool call: invalid paths give False, and the backend
    they go to reports why they are invalid.
    """
    return is_under(path, MEMORIES_ROOT)


# --------------------------------------------------------------------------- items


def _content(item: Item | None) -> str | None:
    """The text of a memory file; None for items that are not (put there by something else)."""
    if item is None or not isinstance(item.value, dict):
        return None
    content = item.value.get("content")
    return content if isinstance(content, str) else None


def _size(item: Item) -> int:
    content = _content(item)
    if content is None:
        return len(json.dumps(item.value, ensure_ascii=False).encode("utf-8", "replace"))
    return len(content.encode("utf-8", "replace"))


def _check_operation(operation_id: str) -> str:
    # A programming error, not the model's: raise like the S3 backend does.
    if not isinstance(operation_id, str) or not operation_id:
        raise ValueError("operation_id must not be empty")
    if "\x00" in operation_id:
        raise ValueError("operation_id must not contain NUL characters")
    return operation_id


def _encode_memory(content: str) -> bytes:
    data = encode_text(content)  # UTF-8 and size checks
    if "\x00" in content:
        # PostgreSQL's jsonb cannot hold U+0000 in a string.
        raise ToolError("content contains NUL characters (\\x00), which memory files cannot hold")
    return data


# --------------------------------------------------------------------------- the backend


class StoreBackend:
    """deepagents-style file tools on ``/memories/``, backed by ``store`` items in ``namespace``.

    ``namespace`` is usually :func:`memory_namespace` ``(profile, user_id)``;
    only items of exactly that namespace are files (deeper namespaces are not
    folders). Give ``store`` an async-capable store (``PostgresStore``);
    only its async methods are used.
    """

    def __init__(self, store: BaseStore, namespace: tuple[str, ...]) -> None:
        if not isinstance(namespace, tuple) or not namespace:
            raise ValueError("namespace must be a non-empty tuple of strings")
        for label in namespace:
            if "." in _check_label(label, "namespace label"):
                raise ValueError(f"invalid namespace label {label!r}: periods are not allowed")
        self.store = store
        self.namespace = namespace
        # Informational key in results: memories/<profile>/<user>/<rel path>.
        labels = namespace if namespace[0] == _AREA else (_AREA, *namespace)
        self.key_prefix = "/".join(labels) + "/"

    # ---- the tools

    async def ls(self, path: str = MEMORIES_ROOT) -> LsResult:
        """Entries directly under ``path``; directories end with "/"."""
        return await answer(LsResult, self._ls(path))

    async def read_file(self, file_path: str, offset: int = 0, limit: int = DEFAULT_READ_LIMIT) -> ReadResult:
        """Lines ``offset`` (0-based) to ``offset + limit``, numbered like ``cat -n``."""
        return await answer(ReadResult, self._read_file(file_path, offset, limit))

    async def read_text(self, file_path: str) -> ReadResult:
        return await answer(ReadResult, self._read_text(file_path))

    async def write_file(self, file_path: str, content: str, *, operation_id: str) -> WriteResult:
        """Create a file. An existing file with other content is an error (use edit_file);
        with the same content it is a success, so a retried write is harmless."""
        _check_operation(operation_id)
        return await answer(WriteResult, self._write_file(file_path, content, operation_id))

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
        _check_operation(operation_id)
        return await answer(EditResult, self._edit_file(file_path, old_string, new_string, replace_all, operation_id))

    async def glob(self, pattern: str, path: str = MEMORIES_ROOT) -> GlobResult:
        """Files under ``path`` whose path relative to it matches ``pattern``."""
        return await answer(GlobResult, self._glob(pattern, path))

    async def grep(self, pattern: str, path: str | None = None, glob: str | None = None) -> GrepResult:
        """Lines containing ``pattern`` literally (not a regex), as ``path:line_number:line``."""
        return await answer(GrepResult, self._grep(pattern, path, glob))

    # ---- plumbing

    def _target(self, path: str, *, write: bool = False) -> Target:
        target = map_path(_RUN_ID, path)
        if target.area != _AREA:
            raise PathError(
                f"{target.path} is not in {MEMORIES_ROOT}; long-term memory only holds paths such as "
                f"{MEMORIES_ROOT}notes.md"
            )
        if write:
            check_file_path(target, path)
        return target

    @staticmethod
    def _agent_path(key: str) -> str:
        return MEMORIES_ROOT + key

    async def _get(self, key: str) -> Item | None:
        return await self.store.aget(self.namespace, key)

    async def _items(self, prefix: str = "") -> list[Item]:
        """Every item of the namespace whose key starts with ``prefix``, sorted by key."""
        found: dict[str, Item] = {}
        offset = 0
        while True:
            page = await self.store.asearch(self.namespace, limit=_PAGE, offset=offset)
            for item in page:
                # The prefix search also returns deeper namespaces: not ours.
                if tuple(item.namespace) == self.namespace and item.key.startswith(prefix):
                    found.setdefault(item.key, item)  # pages may overlap if items change meanwhile
            if len(page) < _PAGE:
                break
            offset += len(page)
        return [found[key] for key in sorted(found)]

    async def _has_children(self, target: Target) -> bool:
        prefix = f"{target.rel}/" if target.rel else ""
        return bool(await self._items(prefix))

    async def _not_found(self, target: Target) -> ToolError:
        return not_found_error(target.path, is_directory=not target.rel or await self._has_children(target))

    def _text(self, target: Target, item: Item) -> str:
        content = _content(item)
        if content is None:
            raise ToolError(f"{target.path} is not a text file; it cannot be shown as text")
        size = len(content.encode("utf-8", "replace"))
        if size > MAX_FILE_BYTES:
            raise ToolError(f"{target.path} is too large for this tool ({size} bytes, limit {MAX_FILE_BYTES})")
        return content

    def _written(self, target: Target, content: str, result_type: type[W], output: str) -> W:
        data = content.encode("utf-8")
        return result_type(
            output=output,
            path=target.path,
            key=self.key_prefix + target.rel,
            size=len(data),
            sha256=sha256_hex(data),
            content_type=content_type_for(target.path, text=True),
        )

    def _edited(self, target: Target, content: str, count: int) -> EditResult:
        result = self._written(target, content, EditResult, edit_message(target.path, count))
        result.replacements = count
        return result

    # ---- tool bodies

    async def _ls(self, path: str) -> LsResult:
        target = self._target(path)
        prefix = f"{target.rel}/" if target.rel else ""
        files: dict[str, FileEntry] = {}
        folders: dict[str, FileEntry] = {}
        for item in await self._items(prefix):
            name, sep, _ = item.key[len(prefix) :].partition("/")
            if sep:
                folder = self._agent_path(prefix + name) + "/"
                folders.setdefault(folder, FileEntry(path=folder, is_dir=True))
            else:
                files[item.key] = FileEntry(path=self._agent_path(item.key), size=_size(item))
        entries = [*files.values(), *folders.values()]
        if not entries and target.rel:
            item = await self._get(target.rel)
            if item is None:
                raise no_such_entry_error(target.path)
            entries.append(FileEntry(path=target.path, size=_size(item)))
        return ls_listing(entries, target.dir_path)

    async def _read_file(self, file_path: str, offset: int, limit: int) -> ReadResult:
        target = self._target(file_path)
        check_read_limit(limit)
        item = await self._get(target.rel) if target.rel else None
        if item is None:
            raise await self._not_found(target)
        text = self._text(target, item)
        return read_window(target.path, text, len(text.encode("utf-8", "replace")), offset, limit)

    async def _read_text(self, file_path: str) -> ReadResult:
        target = self._target(file_path)
        item = await self._get(target.rel) if target.rel else None
        if item is None:
            raise await self._not_found(target)
        text = self._text(target, item)
        return ReadResult(
            output=text, path=target.path, size=len(text.encode("utf-8", "replace")), total_lines=len(split_lines(text))
        )

    async def _write_file(self, file_path: str, content: str, operation_id: str) -> WriteResult:
        target = self._target(file_path, write=True)
        data = _encode_memory(content)
        digest = sha256_hex(data)
        # The file itself and every folder above it, in one round trip.
        parts = target.rel.split("/")
        ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
        found = await self.store.abatch([GetOp(self.namespace, key) for key in [target.rel, *ancestors]])
        existing, above = found[0], found[1:]
        if existing is not None:
            current = _content(existing)
            if current is None or sha256_hex(current.encode("utf-8", "replace")) != digest:
                raise exists_error(target.path)
            # Same bytes: the write (or its retry) already happened.
        else:
            for key, item in zip(ancestors, above, strict=True):
                if item is not None:
                    raise ToolError(f"{self._agent_path(key)} is a file, so {target.path} cannot be created inside it")
            if await self._has_children(target):
                raise directory_error(target.path)
            value = {"content": content, "sha256": digest, "operation_id": operation_id, "replacements": None}
            await self.store.aput(self.namespace, target.rel, value)
        return self._written(target, content, WriteResult, write_message(target.path))

    async def _edit_file(
        self, file_path: str, old_string: str, new_string: str, replace_all: bool, operation_id: str
    ) -> EditResult:
        target = self._target(file_path, write=True)
        item = await self._get(target.rel)
        if item is None:
            raise await self._not_found(target)
        text = self._text(target, item)
        value = item.value
        replacements = value.get("replacements")
        if (
            value.get("operation_id") == operation_id
            and isinstance(replacements, int)
            and value.get("sha256") == sha256_hex(text.encode("utf-8", "replace"))
        ):
            # This very operation produced the current content: a retry after a lost result.
            return self._edited(target, text, replacements)
        check_edit_strings(old_string, new_string)
        new_text, count = replace_exact(text, old_string, new_string, replace_all, target.path)
        data = _encode_memory(new_text)
        new_value = {
            "content": new_text,
            "sha256": sha256_hex(data),
            "operation_id": operation_id,
            "replacements": count,
        }
        await self.store.aput(self.namespace, target.rel, new_value)
        return self._edited(target, new_text, count)

    async def _glob(self, pattern: str, path: str) -> GlobResult:
        target = self._target(path)
        matcher = parse_glob_pattern(pattern)
        prefix = f"{target.rel}/" if target.rel else ""
        matches = [
            FileEntry(path=self._agent_path(item.key), size=_size(item))
            for item in await self._items(prefix)
            if matcher.match(item.key[len(prefix) :])
        ]
        return glob_listing(matches)

    async def _grep(self, pattern: str, path: str | None, glob: str | None) -> GrepResult:
        target = self._target(path or MEMORIES_ROOT)
        check_grep_pattern(pattern)
        admits = grep_path_filter(glob, target.dir_path)
        single = await self._get(target.rel) if target.rel else None
        prefix = f"{target.rel}/" if target.rel else ""
        candidates = [single] if single is not None else await self._items(prefix)
        return grep_texts(pattern, self._texts(candidates, admits))

    def _texts(self, candidates: list[Item], admits: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
        """(agent path, text) of the admitted memory files, in order."""
        for item in candidates:
            agent = self._agent_path(item.key)
            if not admits(agent):
                continue
            text = _content(item)
            if text is None or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
                continue  # not a text file, or too large to search whole
            yield agent, text
