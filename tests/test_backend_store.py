"""Long-term memory (/memories/) on the real PostgreSQL of the dev stack (one fresh database for this module)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from langgraph.store.memory import InMemoryStore

from deepagents_temporal.backends import (
    CompositeBackend,
    EditResult,
    StoreBackend,
    WriteResult,
    is_memory_path,
    memory_namespace,
)
from deepagents_temporal.backends import store as store_backend
from deepagents_temporal.backends.text import EMPTY_FILE_NOTE
from deepagents_temporal.devstack import DevStack
from deepagents_temporal.pgstore import PostgresStore, create_pool, migrate


@pytest.fixture(scope="module")
async def dsn(stack: DevStack) -> AsyncIterator[str]:
    name = f"test_store_backend_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(stack.database_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn)
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def store(pool: asyncpg.Pool) -> PostgresStore:
    await pool.execute("TRUNCATE memories")
    return PostgresStore(pool)


@pytest.fixture
def profile() -> str:
    return f"qa-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fs(store: PostgresStore, profile: str) -> StoreBackend:
    return StoreBackend(store, memory_namespace(profile, None))


def op() -> str:
    return f"wf-run/{uuid.uuid4().hex[:8]}/activity-1"


async def rows(pool: asyncpg.Pool) -> list[tuple[list[str], str, str]]:
    """Every stored memory, to show that failed tool calls write nothing."""
    records = await pool.fetch("SELECT namespace, key, value::text AS value FROM memories ORDER BY namespace, key")
    return [(list(r["namespace"]), r["key"], r["value"]) for r in records]


# --------------------------------------------------------------------------- namespaces


def test_memory_namespace() -> None:
    assert memory_namespace("qa", None) == ("memories", "qa", "shared")
    assert memory_namespace("qa", "u-1") == ("memories", "qa", "u-1")
    # LangGraph refuses "." in labels; e-mail user ids are escaped, distinctly.
    assert memory_namespace("qa", "jane.doe@example.com") == ("memories", "qa", "jane%2Edoe@example%2Ecom")
    assert memory_namespace("qa", "a%2Eb") != memory_namespace("qa", "a.b")
    for profile, user in [("", None), ("qa", ""), ("q\x00a", None), ("qa", "u\n1"), ("qa", "u\x7f")]:
        with pytest.raises(ValueError):
            memory_namespace(profile, user)


def test_bad_namespaces_are_refused() -> None:
    any_store = InMemoryStore()
    for namespace in [(), ("memories", ""), ("memories", "a.b"), ("memories", "a\x00"), ["memories", "x"]]:
        with pytest.raises(ValueError):
            StoreBackend(any_store, namespace)  # type: ignore[arg-type]


def test_is_memory_path() -> None:
    assert is_memory_path("/memories/notes.md")
    assert is_memory_path("/memories")
    assert is_memory_path("//memories/./a/b")
    assert not is_memory_path("/notes.md")
    assert not is_memory_path("/memoriesx/a")
    assert not is_memory_path("memories/a")
    assert not is_memory_path("/memories/../etc")


# --------------------------------------------------------------------------- read and write


async def test_write_then_read_numbered(fs: StoreBackend, profile: str, pool: asyncpg.Pool) -> None:
    content = "# Notes\nuse staging\n\tindented é\n"
    written = await fs.write_file("/memories/project/notes.md", content, operation_id=op())
    data = content.encode()
    assert written.ok, written.error
    assert written.output == "Updated file /memories/project/notes.md"
    assert written.path == "/memories/project/notes.md"
    assert written.key == f"memories/{profile}/shared/project/notes.md"
    assert written.size == len(data)
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.content_type == "text/markdown; charset=utf-8"

    read = await fs.read_file("/memories/project/notes.md")
    assert read.ok, read.error
    assert read.output == "     1\t# Notes\n     2\tuse staging\n     3\t\tindented é"
    assert (read.path, read.size, read.total_lines) == ("/memories/project/notes.md", len(data), 3)
    assert (read.start_line, read.end_line, read.next_offset) == (1, 3, None)

    # The item layout in PostgreSQL.
    [(namespace, key, _)] = await rows(pool)
    assert (namespace, key) == (["memories", profile, "shared"], "project/notes.md")
    item = await fs.store.aget(fs.namespace, "project/notes.md")
    assert item is not None
    assert item.value["content"] == content
    assert item.value["sha256"] == written.sha256
    assert item.value["operation_id"]
    assert item.value["replacements"] is None


async def test_read_window_empty_and_missing(fs: StoreBackend) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 11))
    assert (await fs.write_file("/memories/long.txt", text, operation_id=op())).ok
    window = await fs.read_file("/memories/long.txt", offset=3, limit=4)
    assert window.output.splitlines() == [
        "     4\tline 4",
        "     5\tline 5",
        "     6\tline 6",
        "     7\tline 7",
        "... [3 more lines; read_file with offset=7 to continue]",
    ]
    assert (window.start_line, window.end_line, window.next_offset, window.total_lines) == (4, 7, 7, 10)
    past = await fs.read_file("/memories/long.txt", offset=10)
    assert past.error == "line offset 10 is past the end of /memories/long.txt (10 lines)"
    assert (await fs.read_file("/memories/long.txt", limit=0)).error == "limit must be at least 1"

    assert (await fs.write_file("/memories/empty.md", "", operation_id=op())).ok
    empty = await fs.read_file("/memories/empty.md")
    assert empty.ok and empty.output == EMPTY_FILE_NOTE and empty.total_lines == 0

    missing = await fs.read_file("/memories/nope.md")
    assert missing.error == "file not found: /memories/nope.md"
    assert missing.output == "Error: file not found: /memories/nope.md"
    for folder in ["/memories/", "/memories"]:
        assert (await fs.read_file(folder)).error == "/memories is a directory; use ls to see its files"
    assert (await fs.write_file("/memories/a/b.md", "x", operation_id=op())).ok
    assert (await fs.read_file("/memories/a")).error == "/memories/a is a directory; use ls to see its files"


async def test_persists_across_runs(pool: asyncpg.Pool, dsn: str, profile: str) -> None:
    await pool.execute("TRUNCATE memories")
    first = StoreBackend(PostgresStore(pool), memory_namespace(profile, "u1"))
    assert (await first.write_file("/memories/prefs.md", "likes: short reports\n", operation_id=op())).ok

    # The next run: a new pool, a new store, a new file system.
    next_pool = await create_pool(dsn)
    try:
        later = StoreBackend(PostgresStore(next_pool), memory_namespace(profile, "u1"))
        read = await later.read_file("/memories/prefs.md")
        assert read.ok and read.output == "     1\tlikes: short reports"
        edited = await later.edit_file("/memories/prefs.md", "short", "long", operation_id=op())
        assert edited.ok, edited.error
    finally:
        await next_pool.close()
    assert (await first.read_file("/memories/prefs.md")).output == "     1\tlikes: long reports"


async def test_namespaces_isolate_profiles_and_users(store: PostgresStore, profile: str) -> None:
    other_profile = profile + "-other"
    spaces = {
        "shared": StoreBackend(store, memory_namespace(profile, None)),
        "u1": StoreBackend(store, memory_namespace(profile, "u1")),
        "u": StoreBackend(store, memory_namespace(profile, "u")),
        "other": StoreBackend(store, memory_namespace(other_profile, "u1")),
    }
    for name, fs in spaces.items():
        assert (await fs.write_file("/memories/who.md", f"I am {name}\n", operation_id=op())).ok
    # A deeper namespace (not a folder of ours) must not show up either.
    await store.aput((*memory_namespace(profile, "u"), "deeper"), "who.md", {"content": "deeper\n"})
    for name, fs in spaces.items():
        assert (await fs.read_file("/memories/who.md")).output == f"     1\tI am {name}"
        assert [e.path for e in (await fs.ls("/memories/")).entries] == ["/memories/who.md"]
        grep = await fs.grep("I am")
        assert [m.text for m in grep.matches] == [f"I am {name}"]
        assert [m.path for m in (await fs.glob("**/*.md")).matches] == ["/memories/who.md"]
    assert (await spaces["u1"].read_file("/memories/only-shared.md")).error
    assert (await spaces["shared"].write_file("/memories/only-shared.md", "s", operation_id=op())).ok
    assert (await spaces["u1"].read_file("/memories/only-shared.md")).error == (
        "file not found: /memories/only-shared.md"
    )


# --------------------------------------------------------------------------- write and edit rules, retries


async def test_write_rules_and_idempotent_retries(fs: StoreBackend, pool: asyncpg.Pool) -> None:
    first_op = op()
    first = await fs.write_file("/memories/plan.md", "step 1\n", operation_id=first_op)
    assert first.ok
    before = await rows(pool)

    # The activity is retried after its first attempt wrote the item.
    retried = await fs.write_file("/memories/plan.md", "step 1\n", operation_id=first_op)
    assert retried.ok and retried.model_dump() == first.model_dump()
    # Identical content from another operation is a success too, and writes nothing.
    assert (await fs.write_file("/memories/plan.md", "step 1\n", operation_id=op())).ok
    assert await rows(pool) == before

    # Other content from another operation gets the real error.
    clash = await fs.write_file("/memories/plan.md", "step 2\n", operation_id=op())
    assert clash.error == (
        "/memories/plan.md already exists with different content; use edit_file to change it "
        "(read_file shows what is in it)"
    )
    assert isinstance(clash, WriteResult) and clash.output == f"Error: {clash.error}"
    assert await rows(pool) == before

    # Folders and files do not overlap.
    assert (await fs.write_file("/memories/dir/inner.md", "x", operation_id=op())).ok
    assert (await fs.write_file("/memories/dir", "x", operation_id=op())).error == (
        "/memories/dir is a directory; give a file path inside it"
    )
    assert (await fs.write_file("/memories/plan.md/sub.md", "x", operation_id=op())).error == (
        "/memories/plan.md is a file, so /memories/plan.md/sub.md cannot be created inside it"
    )
    assert (await fs.write_file("/memories/dir/", "x", operation_id=op())).error == (
        "/memories/dir names a directory; give a file path such as /memories/dir/notes.md"
    )
    # PostgreSQL's jsonb cannot hold NUL: a typed error, not an exception.
    nul = await fs.write_file("/memories/nul.md", "a\x00b", operation_id=op())
    assert nul.error and "NUL" in nul.error
    with pytest.raises(ValueError):
        await fs.write_file("/memories/x.md", "x", operation_id="")


async def test_edit_semantics(fs: StoreBackend) -> None:
    path = "/memories/conf.md"
    assert (await fs.write_file(path, "a = 1\nb = 1\nc = 2\n", operation_id=op())).ok

    ambiguous = await fs.edit_file(path, "= 1", "= 3", operation_id=op())
    assert ambiguous.error == (
        f"old_string appears 2 times in {path}; pass replace_all=true to replace every "
        "occurrence, or include more surrounding context to make it unique"
    )
    one = await fs.edit_file(path, "c = 2", "c = 20", operation_id=op())
    assert isinstance(one, EditResult) and one.ok
    assert one.replacements == 1
    assert one.output == f"Successfully replaced 1 instance(s) of the string in '{path}'"
    every = await fs.edit_file(path, "= 1", "= 3", replace_all=True, operation_id=op())
    assert every.ok and every.replacements == 2
    content = "a = 3\nb = 3\nc = 20\n"
    assert every.sha256 == hashlib.sha256(content.encode()).hexdigest() and every.size == len(content)
    assert (await fs.read_file(path)).output == "     1\ta = 3\n     2\tb = 3\n     3\tc = 20"

    assert (await fs.edit_file(path, "zzz", "y", operation_id=op())).error == (
        f"old_string not found in {path}; read_file shows the current text"
    )
    assert (await fs.edit_file(path, "", "y", operation_id=op())).error == (
        "old_string must not be empty; use write_file to create a file"
    )
    assert (await fs.edit_file(path, "a", "a", operation_id=op())).error == (
        "old_string and new_string are identical; there is nothing to change"
    )
    assert (await fs.edit_file("/memories/none.md", "a", "b", operation_id=op())).error == (
        "file not found: /memories/none.md"
    )
    assert (await fs.edit_file(path, "a = 3", "a\x00", operation_id=op())).error is not None
    assert (await fs.read_file(path)).output == "     1\ta = 3\n     2\tb = 3\n     3\tc = 20"


async def test_retried_edit_is_idempotent(fs: StoreBackend, pool: asyncpg.Pool) -> None:
    path = "/memories/count.md"
    assert (await fs.write_file(path, "x x x\n", operation_id=op())).ok
    edit_op = op()
    first = await fs.edit_file(path, "x", "y", replace_all=True, operation_id=edit_op)
    assert first.ok and first.replacements == 3
    after = await rows(pool)

    # The result was lost and the activity retried: same success, nothing applied twice.
    retried = await fs.edit_file(path, "x", "y", replace_all=True, operation_id=edit_op)
    assert retried.ok, retried.error
    assert retried.model_dump() == first.model_dump()
    assert await rows(pool) == after

    # Another operation with the same arguments gets the real answer.
    again = await fs.edit_file(path, "x", "y", replace_all=True, operation_id=op())
    assert again.error == f"old_string not found in {path}; read_file shows the current text"

    # Once the file changed after it, the old operation is no longer recognised.
    assert (await fs.edit_file(path, "y y y", "z", operation_id=op())).ok
    stale = await fs.edit_file(path, "x", "y", replace_all=True, operation_id=edit_op)
    assert stale.error == f"old_string not found in {path}; read_file shows the current text"
    assert (await fs.read_file(path)).output == "     1\tz"


# --------------------------------------------------------------------------- ls, glob, grep


async def seed(fs: StoreBackend) -> None:
    files = {
        "/memories/prefs.md": "tone: short\nformat: markdown\n",
        "/memories/project/notes.md": "staging url: https://staging\nTODO: ask about staging\n",
        "/memories/project/data.csv": "name,value\nstaging,1\n",
        "/memories/project/deep/more.md": "nothing here\n",
    }
    for path, content in files.items():
        assert (await fs.write_file(path, content, operation_id=op())).ok


async def test_ls(fs: StoreBackend) -> None:
    empty = await fs.ls()
    assert empty.ok and empty.entries == [] and empty.output == "No files in /memories/"
    await seed(fs)
    top = await fs.ls("/memories/")
    assert [(e.path, e.is_dir, e.size) for e in top.entries] == [
        ("/memories/prefs.md", False, 29),
        ("/memories/project/", True, None),
    ]
    assert top.output == "/memories/prefs.md (29 bytes)\n/memories/project/"
    assert (await fs.ls("/memories")).entries == top.entries
    project = await fs.ls("/memories/project")
    assert [e.path for e in project.entries] == [
        "/memories/project/data.csv",
        "/memories/project/deep/",
        "/memories/project/notes.md",
    ]
    single = await fs.ls("/memories/prefs.md")
    assert [(e.path, e.size) for e in single.entries] == [("/memories/prefs.md", 29)]
    assert (await fs.ls("/memories/nothing")).error == "no such file or directory: /memories/nothing"
    assert (await fs.ls("/memories/pro")).error == "no such file or directory: /memories/pro"


async def test_glob(fs: StoreBackend) -> None:
    await seed(fs)

    async def paths(pattern: str, path: str = "/memories/") -> list[str]:
        result = await fs.glob(pattern, path)
        assert result.ok, result.error
        return [m.path for m in result.matches]

    assert await paths("**/*.md") == [
        "/memories/prefs.md",
        "/memories/project/deep/more.md",
        "/memories/project/notes.md",
    ]
    assert await paths("*.md") == ["/memories/prefs.md"]
    assert await paths("*.{md,csv}", "/memories/project") == [
        "/memories/project/data.csv",
        "/memories/project/notes.md",
    ]
    assert await paths("/project/*.csv") == ["/memories/project/data.csv"]
    assert (await fs.glob("*.txt")).output == "No files found"
    assert (await fs.glob("")).error == "pattern must not be empty, e.g. **/*.md"
    assert (await fs.glob("*.md", "/project")).error is not None


async def test_grep(fs: StoreBackend) -> None:
    await seed(fs)
    everywhere = await fs.grep("staging")
    assert everywhere.output.splitlines() == [
        "/memories/project/data.csv:2:staging,1",
        "/memories/project/notes.md:1:staging url: https://staging",
        "/memories/project/notes.md:2:TODO: ask about staging",
    ]
    assert [(m.path, m.line) for m in (await fs.grep("staging", glob="*.md")).matches] == [
        ("/memories/project/notes.md", 1),
        ("/memories/project/notes.md", 2),
    ]
    one_file = await fs.grep("TODO", path="/memories/project/notes.md")
    assert one_file.output == "/memories/project/notes.md:2:TODO: ask about staging"
    assert (await fs.grep("tone", path="/memories/project")).output == "No matches found"
    # Literal, not a regex.
    assert (await fs.grep("staging.*")).matches == []
    assert [m.line for m in (await fs.grep("https://", glob="project/*.md")).matches] == [1]
    assert (await fs.grep("")).error == "pattern must not be empty"
    assert (await fs.grep("x", path="/elsewhere")).error is not None


async def test_listing_pages_through_every_item(fs: StoreBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_backend, "_PAGE", 3)
    names = [f"/memories/n{i:02}.md" for i in range(10)]
    for name in names:
        assert (await fs.write_file(name, f"needle {name}\n", operation_id=op())).ok
    assert [e.path for e in (await fs.ls()).entries] == names
    assert [m.path for m in (await fs.glob("n*.md")).matches] == names
    assert [m.path for m in (await fs.grep("needle")).matches] == names


# --------------------------------------------------------------------------- path safety


async def test_bad_paths_are_rejected(fs: StoreBackend, pool: asyncpg.Pool) -> None:
    bad = {
        "/notes.md": "/notes.md is not in /memories/",
        "/": "/ is not in /memories/",
        "/templates/x.md": "/templates/x.md is not in /memories/",
        "memories/notes.md": "relative paths are not allowed",
        "/memories/../notes.md": "'..' is not allowed",
        "/memories/a\x00b.md": "control characters are not allowed",
        "/memories/a\nb.md": "control characters are not allowed",
        "/memories/a\\b.md": "backslashes are not allowed",
        "/memories/" + "x" * 256: "longer than 255 bytes",
        "/memories/" + "/".join(["y" * 200] * 6): "too long",
        "": "a path is required",
    }
    for path, message in bad.items():
        results = [
            await fs.write_file(path, "x", operation_id=op()),
            await fs.edit_file(path, "x", "y", operation_id=op()),
            await fs.read_file(path),
            await fs.ls(path),
            await fs.glob("*", path),
        ]
        if path:
            results.append(await fs.grep("x", path=path))
        for result in results:
            assert result.error is not None and message in result.error, (path, result)
            assert result.output == f"Error: {result.error}"
    assert (await fs.write_file("/memories/", "x", operation_id=op())).error == (
        "/memories names a directory; give a file path such as /memories/notes.md"
    )
    assert await rows(pool) == []

    # Harmless spellings are normalised, as for the run's files.
    assert (await fs.write_file("//memories/./a//b.md", "ok\n", operation_id=op())).path == "/memories/a/b.md"
    assert (await fs.read_file("/memories/a/b.md")).output == "     1\tok"


# --------------------------------------------------------------------------- any BaseStore


async def test_works_on_any_base_store() -> None:
    fs = StoreBackend(InMemoryStore(), memory_namespace("qa", "jane.doe@example.com"))
    assert (await fs.write_file("/memories/a.md", "hello\n", operation_id="op-1")).ok
    edited = await fs.edit_file("/memories/a.md", "hello", "bye", operation_id="op-2")
    assert edited.ok and edited.key == "memories/qa/jane%2Edoe@example%2Ecom/a.md"
    assert (await fs.edit_file("/memories/a.md", "hello", "bye", operation_id="op-2")).ok
    assert (await fs.grep("bye")).output == "/memories/a.md:1:bye"


# --------------------------------------------------------------------------- routing


async def test_composite_routes_memories_to_the_store() -> None:
    memories = StoreBackend(InMemoryStore(), memory_namespace("qa", None))
    built: list[str] = []

    def store_route() -> StoreBackend:
        built.append("store")
        return memories

    # The default backend here is a second store: what matters is which backend answers.
    elsewhere = StoreBackend(InMemoryStore(), memory_namespace("other", None))
    assert (await elsewhere.write_file("/memories/b.md", "x\n", operation_id="op-0")).ok
    files = CompositeBackend(elsewhere, {"/memories/": store_route})
    assert (await files.ls("/")).error == (
        "/ is not in /memories/; long-term memory only holds paths such as /memories/notes.md"
    )
    assert (await files.grep("x")).output == "/memories/b.md:1:x"  # no path: the default backend
    assert built == []  # a route is built only when a call goes there

    assert (await files.write_file("//memories/./a.md", "hello\n", operation_id="op-1")).path == "/memories/a.md"
    assert built == ["store"]
    assert (await files.read_file("/memories/a.md")).output == "     1\thello"
    assert (await files.grep("hello", path="/memories")).output == "/memories/a.md:1:hello"
    assert [m.path for m in (await files.glob("*.md", "/memories/")).matches] == ["/memories/a.md"]
    assert (await files.edit_file("/memories/a.md", "hello", "bye", operation_id="op-2")).replacements == 1
    assert built == ["store"]
    assert files.route("/memories/../a.md") is elsewhere  # invalid: the default backend explains
    assert files.route("/memoriesx/a.md") is elsewhere
    with pytest.raises(ValueError):
        CompositeBackend(elsewhere, {"/memories": memories})
