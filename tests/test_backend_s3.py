"""The agent's file system on the real S3 server of the dev stack (one fresh bucket for this module)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import socket
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from minio import Minio

from deepagents_temporal import s3
from deepagents_temporal.backends import EditResult, S3Backend
from deepagents_temporal.backends.paths import PathError, compile_glob, map_path
from deepagents_temporal.backends.text import (
    EMPTY_FILE_NOTE,
    LINE_TRUNCATED,
    MAX_GREP_MATCHES,
    MAX_LINE_CHARS,
    MAX_OUTPUT_CHARS,
)
from deepagents_temporal.devstack import DevStack

TEMPLATES = {
    "templates/report/summary.md": b"# Summary\nTotal: {total}\n",
    "templates/report/data.csv": b"name,value\nalpha,1\n",
    "templates/sheet.xlsx": b"PK\x03\x04\xff\xfe not text",
    "uploads/user/request.txt": b"please test the search box\n",
}


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Minio:
    return s3.make_client(stack.s3_endpoint, stack.s3_access_key, stack.s3_secret_key)


@pytest.fixture(scope="module")
async def bucket(client: Minio) -> str:
    name = f"fs-test-{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(s3.ensure_bucket, client, name)

    def seed() -> None:
        for key, data in TEMPLATES.items():
            client.put_object(name, key, io.BytesIO(data), len(data))

    await asyncio.to_thread(seed)
    return name


@pytest.fixture
def fs(client: Minio, bucket: str) -> S3Backend:
    return S3Backend(client, bucket, f"run-{uuid.uuid4().hex[:10]}")


def op() -> str:
    return f"wf-run/{uuid.uuid4().hex[:8]}/activity-1"


async def snapshot(client: Minio, bucket: str) -> dict[str, str]:
    """Every object in the bucket with its etag: equal snapshots = nothing written."""

    def collect() -> dict[str, str]:
        return {o.object_name: o.etag for o in client.list_objects(bucket, recursive=True) if o.object_name}

    return await asyncio.to_thread(collect)


async def raw(client: Minio, bucket: str, key: str) -> bytes:
    def get() -> bytes:
        response = client.get_object(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    return await asyncio.to_thread(get)


# --------------------------------------------------------------------------- layout


def test_layout_keys() -> None:
    assert (s3.TEMPLATES_PREFIX, s3.UPLOADS_PREFIX) == ("templates/", "uploads/")
    assert s3.run_files_prefix("r1") == "runs/r1/files/"
    assert s3.report_key("r1", "report.xlsx") == "reports/r1/report.xlsx"
    assert s3.report_key("r1", "charts/a.png") == "reports/r1/charts/a.png"
    assert s3.log_key("r1") == "logs/r1/run.log"
    for bad_run in ["", ".", "..", "a/b", "a\\b", "a\x00", "x" * 256]:
        with pytest.raises(ValueError):
            s3.run_files_prefix(bad_run)
    for bad_name in ["../x", "a//b", "/abs", "a/./b", "a\x1b"]:
        with pytest.raises(ValueError):
            s3.report_key("r1", bad_name)


async def test_ensure_bucket_tolerates_races(client: Minio) -> None:
    name = f"fs-race-{uuid.uuid4().hex[:12]}"
    try:
        await asyncio.gather(*(asyncio.to_thread(s3.ensure_bucket, client, name) for _ in range(8)))
        await asyncio.to_thread(s3.ensure_bucket, client, name)
        assert await asyncio.to_thread(client.bucket_exists, name)
    finally:
        await asyncio.to_thread(client.remove_bucket, name)


async def test_write_lands_in_run_folder_with_metadata(fs: S3Backend, client: Minio, bucket: str) -> None:
    content = "# Plan\n- step one\n"
    result = await fs.write_file("/notes/plan.md", content, operation_id="wf-1/act-7")
    data = content.encode()
    assert result.ok, result.error
    assert result.key == f"runs/{fs.run_id}/files/notes/plan.md"
    assert result.path == "/notes/plan.md"
    assert (result.size, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert result.content_type == "text/markdown; charset=utf-8"
    assert await raw(client, bucket, result.key) == data
    stat = await asyncio.to_thread(client.stat_object, bucket, result.key)
    assert stat.metadata["x-amz-meta-sha256"] == result.sha256
    assert stat.metadata["x-amz-meta-operation-id"] == "wf-1%2Fact-7"


async def test_unicode_and_encoded_names_are_literal(fs: S3Backend, client: Minio, bucket: str) -> None:
    for path in ["/ünï/ç.md", "/%2e%2e/x.txt", "/..%2f..%2fetc/passwd", "/.../x", "/a b?#.txt"]:
        result = await fs.write_file(path, "x", operation_id=op())
        assert result.ok, (path, result.error)
        assert result.key == f"runs/{fs.run_id}/files{path}"
        assert await raw(client, bucket, result.key) == b"x"
        assert (await fs.read_file(path)).output == "     1\tx"


# --------------------------------------------------------------------------- read_file


async def test_read_file_numbering_offset_limit(fs: S3Backend) -> None:
    await fs.write_file("/f.txt", "".join(f"line {i}\n" for i in range(1, 8)), operation_id=op())
    full = await fs.read_file("/f.txt")
    assert full.output.split("\n")[0] == "     1\tline 1"
    assert full.output.split("\n")[-1] == "     7\tline 7"
    assert (full.total_lines, full.start_line, full.end_line, full.next_offset) == (7, 1, 7, None)

    window = await fs.read_file("/f.txt", offset=2, limit=3)
    assert window.output == (
        "     3\tline 3\n     4\tline 4\n     5\tline 5\n... [2 more lines; read_file with offset=5 to continue]"
    )
    assert (window.start_line, window.end_line, window.next_offset) == (3, 5, 5)

    past = await fs.read_file("/f.txt", offset=7)
    assert past.error and "offset 7" in past.error and "7 lines" in past.error
    assert past.output.startswith("Error: ")
    assert (await fs.read_file("/f.txt", limit=0)).error


async def test_read_file_long_lines_empty_missing_and_dirs(fs: S3Backend) -> None:
    await fs.write_file("/long.txt", "a" * 2500 + "\nshort\n", operation_id=op())
    lines = (await fs.read_file("/long.txt")).output.split("\n")
    assert lines[0] == "     1\t" + "a" * MAX_LINE_CHARS + LINE_TRUNCATED
    assert lines[1] == "     2\tshort"

    await fs.write_file("/empty.md", "", operation_id=op())
    empty = await fs.read_file("/empty.md")
    assert empty.ok and empty.output == EMPTY_FILE_NOTE and empty.size == 0

    missing = await fs.read_file("/x")
    assert missing.error == "file not found: /x"

    await fs.write_file("/dir/inner.md", "hi", operation_id=op())
    for directory in ["/dir", "/dir/", "/", "/templates"]:
        result = await fs.read_file(directory)
        assert result.error and "is a directory" in result.error, directory

    binary = await fs.read_file("/templates/sheet.xlsx")
    assert binary.error and "not a UTF-8 text file" in binary.error


async def test_large_results_are_cut_to_fit_history(fs: S3Backend) -> None:
    """Tool results land in workflow history: reads page on, grep stops at a bound."""
    await fs.write_file("/big.txt", "".join(f"{i:05} " + "x" * 94 + "\n" for i in range(3000)), operation_id=op())
    page = await fs.read_file("/big.txt")
    assert page.ok and page.start_line == 1 and page.end_line is not None and 900 < page.end_line < 2000
    assert len(page.output) <= MAX_OUTPUT_CHARS + 200
    assert page.output.endswith(f"read_file with offset={page.next_offset} to continue]")
    rest = await fs.read_file("/big.txt", offset=page.next_offset or 0)
    assert rest.start_line == (page.end_line or 0) + 1

    found = await fs.grep("xxx", path="/big.txt")
    assert found.truncated and len(found.matches) == MAX_GREP_MATCHES
    assert found.output.split("\n")[-1].startswith(f"... [only the first {MAX_GREP_MATCHES} matches")


# --------------------------------------------------------------------------- write_file


async def test_write_file_follows_deepagents(fs: S3Backend, client: Minio, bucket: str) -> None:
    first = await fs.write_file("/a.md", "one", operation_id=op())
    assert first.ok and first.output == "Updated file /a.md"

    other = await fs.write_file("/a.md", "two", operation_id=op())
    assert other.error and "already exists" in other.error and "edit_file" in other.error
    assert await raw(client, bucket, first.key or "") == b"one"

    # Identical content already present: a success, whoever wrote it.
    same = await fs.write_file("/a.md", "one", operation_id=op())
    assert same == first

    await fs.write_file("/d/f.md", "x", operation_id=op())
    for directory in ["/d", "/d/", "/"]:
        result = await fs.write_file(directory, "x", operation_id=op())
        assert result.error and "directory" in result.error, directory


async def test_retried_write_leaves_one_correct_object(fs: S3Backend, client: Minio, bucket: str) -> None:
    before = await snapshot(client, bucket)
    operation = op()
    first = await fs.write_file("/out/result.json", '{"ok": true}', operation_id=operation)
    retry = await fs.write_file("/out/result.json", '{"ok": true}', operation_id=operation)
    assert first.ok and retry == first
    after = await snapshot(client, bucket)
    assert set(after) - set(before) == {f"runs/{fs.run_id}/files/out/result.json"}
    assert await raw(client, bucket, first.key or "") == b'{"ok": true}'
    assert first.content_type == "application/json"


async def test_concurrent_writes_of_one_new_file_keep_the_first(fs: S3Backend, client: Minio, bucket: str) -> None:
    """Of several writers of one new file exactly one wins; the others are told it exists, nothing is clobbered."""
    results = await asyncio.gather(*(fs.write_file("/race.md", f"writer {i}\n", operation_id=op()) for i in range(8)))
    winners = [r for r in results if r.ok]
    assert len(winners) == 1, [r.error for r in results]
    assert all(r.error and "already exists" in r.error for r in results if not r.ok)
    assert await raw(client, bucket, winners[0].key or "") == f"writer {results.index(winners[0])}\n".encode()


async def test_write_file_on_a_folder_with_a_new_client(client: Minio, bucket: str, stack: DevStack) -> None:
    """The folder check holds on a client's first write (before it knows the server) and after."""
    fresh = s3.make_client(stack.s3_endpoint, stack.s3_access_key, stack.s3_secret_key)
    fs = S3Backend(fresh, bucket, f"run-{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(client.put_object, bucket, f"{fs.files_prefix}d/f.md", io.BytesIO(b"x"), 1)
    first = await fs.write_file("/d", "x", operation_id=op())
    assert first.error and "directory" in first.error
    assert (await fs.write_file("/e.md", "known server now", operation_id=op())).ok
    again = await fs.write_file("/d", "x", operation_id=op())
    assert again.error and "directory" in again.error
    assert [e.path for e in (await fs.ls("/d")).entries] == ["/d/f.md"]


async def test_write_file_over_a_file_put_by_something_else(fs: S3Backend, client: Minio, bucket: str) -> None:
    """A file without the backend's metadata: same bytes is a success, other bytes the "exists" error."""
    key = f"{fs.files_prefix}fetched.txt"
    await asyncio.to_thread(client.put_object, bucket, key, io.BytesIO(b"page"), 4)
    same = await fs.write_file("/fetched.txt", "page", operation_id=op())
    assert same.ok and same.sha256 == hashlib.sha256(b"page").hexdigest() and same.size == 4
    other = await fs.write_file("/fetched.txt", "mine", operation_id=op())
    assert other.error and "already exists" in other.error
    assert await raw(client, bucket, key) == b"page"


# --------------------------------------------------------------------------- edit_file


async def test_edit_file_semantics(fs: S3Backend, client: Minio, bucket: str) -> None:
    await fs.write_file("/e.md", "alpha beta\ngamma beta\ndelta beta\n", operation_id=op())

    one = await fs.edit_file("/e.md", "alpha", "ALPHA", operation_id=op())
    assert one.ok and one.replacements == 1
    assert one.output == "Successfully replaced 1 instance(s) of the string in '/e.md'"
    assert await raw(client, bucket, one.key or "") == b"ALPHA beta\ngamma beta\ndelta beta\n"
    assert one.sha256 == hashlib.sha256(b"ALPHA beta\ngamma beta\ndelta beta\n").hexdigest()

    ambiguous = await fs.edit_file("/e.md", "beta", "BETA", operation_id=op())
    assert ambiguous.error and "3 times" in ambiguous.error and "replace_all" in ambiguous.error

    missing = await fs.edit_file("/e.md", "omega", "x", operation_id=op())
    assert missing.error and "not found" in missing.error

    every = await fs.edit_file("/e.md", "beta", "BETA", replace_all=True, operation_id=op())
    assert every.ok and every.replacements == 3
    assert (await fs.read_file("/e.md")).output == "     1\tALPHA BETA\n     2\tgamma BETA\n     3\tdelta BETA"

    assert (await fs.edit_file("/e.md", "", "x", operation_id=op())).error
    assert (await fs.edit_file("/e.md", "BETA", "BETA", operation_id=op())).error
    nofile = await fs.edit_file("/nope.md", "a", "b", operation_id=op())
    assert nofile.error == "file not found: /nope.md"


async def test_retried_edit_applies_once(fs: S3Backend, client: Minio, bucket: str) -> None:
    await fs.write_file("/menu.md", "apple\nstatus: draft\n", operation_id=op())

    # new_string contains old_string: a second application would silently succeed.
    operation = op()
    first = await fs.edit_file("/menu.md", "apple", "apple pie", operation_id=operation)
    retry = await fs.edit_file("/menu.md", "apple", "apple pie", operation_id=operation)
    assert first.ok and retry == first
    assert await raw(client, bucket, first.key or "") == b"apple pie\nstatus: draft\n"

    # old_string gone after the edit: the retry must not report "not found".
    operation = op()
    first = await fs.edit_file("/menu.md", "draft", "final", operation_id=operation)
    retry = await fs.edit_file("/menu.md", "draft", "final", operation_id=operation)
    assert first.ok and retry == first and isinstance(retry, EditResult) and retry.replacements == 1
    # The same edit as a new operation reports the real state of the file.
    again = await fs.edit_file("/menu.md", "draft", "final", operation_id=op())
    assert again.error and "not found" in again.error
    assert await raw(client, bucket, first.key or "") == b"apple pie\nstatus: final\n"
    assert [k for k in await snapshot(client, bucket) if k.startswith(f"runs/{fs.run_id}/")] == [first.key]


async def test_concurrent_edits_of_one_file_lose_nothing(fs: S3Backend, client: Minio, bucket: str) -> None:
    await fs.write_file("/list.md", "".join(f"item {i}: todo\n" for i in range(6)), operation_id=op())
    results = await asyncio.gather(
        *(fs.edit_file("/list.md", f"item {i}: todo", f"item {i}: done", operation_id=op()) for i in range(6))
    )
    assert all(r.ok for r in results), [r.error for r in results]
    assert await raw(client, bucket, results[0].key or "") == "".join(f"item {i}: done\n" for i in range(6)).encode()


async def test_edit_of_a_large_multipart_object(fs: S3Backend, client: Minio, bucket: str) -> None:
    """An object uploaded in parts (an ETag of another form) is edited like any other."""
    data = b"head\n" + b"x" * (6 * 1024 * 1024) + b"\ntail\n"
    key = f"{fs.files_prefix}big.txt"
    await asyncio.to_thread(client.put_object, bucket, key, io.BytesIO(data), len(data), part_size=5 * 1024 * 1024)
    edited = await fs.edit_file("/big.txt", "tail", "end", operation_id=op())
    assert edited.ok, edited.error
    assert await raw(client, bucket, key) == data.replace(b"tail", b"end")


# --------------------------------------------------------------------------- ls, glob, grep


async def test_ls(fs: S3Backend) -> None:
    await fs.write_file("/b.md", "12345", operation_id=op())
    await fs.write_file("/a/one.md", "1", operation_id=op())
    await fs.write_file("/a/deep/two.md", "22", operation_id=op())

    root = await fs.ls()
    assert [(e.path, e.is_dir, e.size) for e in root.entries] == [
        ("/a/", True, None),
        ("/b.md", False, 5),
        ("/templates/", True, None),
        ("/uploads/", True, None),
    ]
    assert root.output == "/a/\n/b.md (5 bytes)\n/templates/\n/uploads/"

    sub = await fs.ls("/a")
    assert [e.path for e in sub.entries] == ["/a/deep/", "/a/one.md"]
    assert [e.path for e in (await fs.ls("/a/")).entries] == ["/a/deep/", "/a/one.md"]
    assert [e.path for e in (await fs.ls("/templates")).entries] == ["/templates/report/", "/templates/sheet.xlsx"]
    assert [(e.path, e.size) for e in (await fs.ls("/a/one.md")).entries] == [("/a/one.md", 1)]
    missing = await fs.ls("/nothing")
    assert missing.error == "no such file or directory: /nothing"

    empty_run = S3Backend(fs.client, fs.bucket, f"run-{uuid.uuid4().hex[:10]}")
    assert [e.path for e in (await empty_run.ls("/")).entries] == ["/templates/", "/uploads/"]


async def test_glob(fs: S3Backend) -> None:
    for path in [
        "/top.md",
        "/top.txt",
        "/docs/a.md",
        "/docs/b.txt",
        "/docs/x/y/c.md",
        "/ab1.txt",
        "/ab2.txt",
        "/ac3.txt",
    ]:
        await fs.write_file(path, "x", operation_id=op())

    async def paths(pattern: str, path: str = "/") -> list[str]:
        result = await fs.glob(pattern, path)
        assert result.ok, result.error
        return [m.path for m in result.matches]

    assert await paths("*.md") == ["/top.md"]
    assert await paths("**/*.md") == ["/docs/a.md", "/docs/x/y/c.md", "/templates/report/summary.md", "/top.md"]
    assert await paths("docs/**") == ["/docs/a.md", "/docs/b.txt", "/docs/x/y/c.md"]
    assert await paths("docs/**/*.md") == ["/docs/a.md", "/docs/x/y/c.md"]
    assert await paths("ab?.txt") == ["/ab1.txt", "/ab2.txt"]
    assert await paths("a[!b]?.txt") == ["/ac3.txt"]
    assert await paths("[at]*.{md,txt}") == ["/ab1.txt", "/ab2.txt", "/ac3.txt", "/top.md", "/top.txt"]
    assert await paths("*.md", "/docs") == ["/docs/a.md"]
    assert await paths("**/*.csv", "/templates") == ["/templates/report/data.csv"]
    none = await fs.glob("*.nothing")
    assert none.ok and none.matches == [] and none.output == "No files found"
    assert (await fs.glob("[z-a]")).error


def test_compile_glob_segments() -> None:
    assert compile_glob("*").match("a.md") and not compile_glob("*").match("d/a.md")
    assert compile_glob("**").match("d/e/a.md")
    assert not compile_glob("?").match("/")
    assert not compile_glob("a[/]b").match("a/b")
    assert compile_glob("[a").match("[a")


async def test_grep_is_literal(fs: S3Backend) -> None:
    await fs.write_file(
        "/src/re.py", "x = a.b*c(d)[e]\ny = aXbbbc(d)[e]\nz = 'a.b*c(d)[e]' # again\n", operation_id=op()
    )
    await fs.write_file("/src/other.md", "nothing here\na.b*c(d)[e]\n", operation_id=op())

    result = await fs.grep("a.b*c(d)[e]")
    assert result.ok
    assert [(m.path, m.line) for m in result.matches] == [("/src/other.md", 2), ("/src/re.py", 1), ("/src/re.py", 3)]
    assert result.output.split("\n") == [
        "/src/other.md:2:a.b*c(d)[e]",
        "/src/re.py:1:x = a.b*c(d)[e]",
        "/src/re.py:3:z = 'a.b*c(d)[e]' # again",
    ]
    assert [m.path for m in (await fs.grep("a.b*c", glob="*.py")).matches] == ["/src/re.py", "/src/re.py"]
    assert [m.line for m in (await fs.grep("a.b*c", path="/src/re.py")).matches] == [1, 3]
    assert [m.path for m in (await fs.grep("a.b*c", path="/src", glob="**/*.md")).matches] == ["/src/other.md"]
    assert [m.path for m in (await fs.grep("Total:")).matches] == ["/templates/report/summary.md"]
    assert [m.path for m in (await fs.grep("search box", path="/uploads")).matches] == ["/uploads/user/request.txt"]
    none = await fs.grep("^x")
    assert none.ok and none.matches == [] and none.output == "No matches found"
    assert (await fs.grep("")).error


# --------------------------------------------------------------------------- read-only areas, path attacks


async def test_templates_and_uploads_are_read_only(fs: S3Backend, client: Minio, bucket: str) -> None:
    template = await fs.read_file("/templates/report/summary.md")
    assert template.output == "     1\t# Summary\n     2\tTotal: {total}"
    before = await snapshot(client, bucket)
    for path in ["/templates/report/summary.md", "/templates/new.md", "/uploads/user/request.txt", "/uploads/x"]:
        written = await fs.write_file(path, "overwritten", operation_id=op())
        area = path.split("/")[1]
        assert written.error and f"/{area}/" in written.error and "read-only" in written.error, path
        edited = await fs.edit_file(path, "Summary", "Hacked", operation_id=op())
        assert edited.error and "read-only" in edited.error, path
    assert await snapshot(client, bucket) == before


async def test_memories_are_reserved(fs: S3Backend) -> None:
    for result in [
        await fs.read_file("/memories/prefs.md"),
        await fs.write_file("/memories/prefs.md", "x", operation_id=op()),
        await fs.edit_file("/memories/prefs.md", "a", "b", operation_id=op()),
        await fs.ls("/memories"),
        await fs.glob("*", "/memories"),
        await fs.grep("x", "/memories"),
    ]:
        assert result.error and "not supported here" in result.error


def _path_with_key_bytes(run_id: str, total: int) -> str:
    """An agent path whose key is exactly ``total`` bytes, in segments S3 accepts."""
    room = total - len(s3.run_files_prefix(run_id))
    segments = []
    while room > 0:
        size = min(200, room)
        if 0 < room - size < 2:  # leave room for at least "/x"
            size -= 2
        segments.append("k" * size)
        room -= size + 1
    return "/" + "/".join(segments)


ATTACKS = [
    "../x",
    "/../x",
    "/a/../../b",
    "/../../runs/other/files/x",
    "/a/..",
    "/a\x00b",
    "/a\x1bb",
    "/a\x7fb",
    "/a\x85b",
    "/a\\..\\b",
    "\\x",
    "a/b.md",
    "x",
    "",
    "/x\udc80",
    "/" + "n" * 256,
    "/templates/report/summary.md",
    "/templates/x",
    "//templates/x",
    "/./uploads/x",
    "/uploads/x",
    "/templates",
    "/",
    "/dir/",
    "/memories/x",
]


async def test_path_attacks_are_rejected_and_write_nothing(fs: S3Backend, client: Minio, bucket: str) -> None:
    await fs.write_file("/dir/file.md", "keep", operation_id=op())
    too_long = _path_with_key_bytes(fs.run_id, 1025)
    assert len(map_path(fs.run_id, _path_with_key_bytes(fs.run_id, 1024)).key.encode()) == 1024
    before = await snapshot(client, bucket)
    for path in [*ATTACKS, too_long]:
        written = await fs.write_file(path, "pwned", operation_id=op())
        assert written.error, repr(path)
        edited = await fs.edit_file(path, "keep", "pwned", operation_id=op())
        assert edited.error, repr(path)
    for path in [p for p in ATTACKS if not p.startswith(("/templates", "/uploads", "//templates", "/./uploads"))]:
        if path not in ("/", "/dir/"):
            results = [await fs.read_file(path), await fs.ls(path), await fs.glob("*", path)]
            if path:  # grep's path is optional: "" searches everything, like None
                results.append(await fs.grep("x", path))
            for result in results:
                assert result.error, repr(path)
    assert await snapshot(client, bucket) == before

    # The limits are exact: a 1,024-byte key is fine.
    at_limit = await fs.write_file(_path_with_key_bytes(fs.run_id, 1024), "ok", operation_id=op())
    assert at_limit.ok and len((at_limit.key or "").encode()) == 1024
    assert (await fs.write_file("/" + "n" * 255, "ok", operation_id=op())).ok


def test_map_path_is_the_only_gate() -> None:
    """Random paths built from hostile pieces map inside the allowed areas or are refused."""
    pieces = [
        "..",
        ".",
        "",
        "%2e%2e",
        "..%2f",
        "a",
        "templates",
        "uploads",
        "memories",
        "runs",
        "other",
        "~",
        " ",
        "...",
    ]
    rng = random.Random(1234)
    allowed = ("runs/r1/files/", "templates/", "uploads/")
    for _ in range(5000):
        path = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        try:
            target = map_path("r1", path)
        except PathError:
            assert not path.startswith("/") or ".." in path.split("/")
            continue
        assert path.startswith("/") and ".." not in path.split("/")
        if target.area == "memories":
            continue
        assert (target.key + "/").startswith(allowed), (path, target)
        assert ".." not in target.key.split("/") and "." not in target.key.split("/")
        assert (target.area == "run") == target.key.startswith("runs/r1/files/")


# --------------------------------------------------------------------------- reports, failures


async def test_write_report(fs: S3Backend, client: Minio, bucket: str) -> None:
    summary = await fs.write_report("summary.json", '{"passed": 3}', operation_id=op())
    assert summary.ok and summary.key == f"reports/{fs.run_id}/summary.json"
    assert summary.content_type == "application/json"
    sheet = await fs.write_report("report.xlsx", b"PK\x03\x04binary")
    assert sheet.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert await raw(client, bucket, sheet.key or "") == b"PK\x03\x04binary"
    # Deliverables are rebuilt whole: a new version replaces the old one.
    again = await fs.write_report("summary.json", '{"passed": 4}')
    assert again.ok and await raw(client, bucket, again.key or "") == b'{"passed": 4}'
    assert (await fs.write_report("../escape.json", "x")).error


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connections are refused


async def test_storage_failures_raise(dead_endpoint: str) -> None:
    """A server that is down is not the model's problem: the activity fails and Temporal retries it."""
    fs = S3Backend(s3.make_client(dead_endpoint, "key", "secret"), "fs-dead", "r1")
    with pytest.raises(urllib3.exceptions.HTTPError):
        await fs.read_file("/a.md")
    with pytest.raises(urllib3.exceptions.HTTPError):
        await fs.write_file("/a.md", "x", operation_id=op())
