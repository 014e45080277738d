"""Where a fetched page lands in the run's files, and what the model is told.

One folder per host and content: ``/fetched/<host>/<sha256 first 12>/``
holding the file as served (``<name>``), its extracted text
(``<name>.txt``, for HTML, PDF, DOCX and text) and ``meta.json`` (URL,
redirects, status, content type, size, sha256, title). The same content
fetched twice lands on the same keys, so a retried fetch writes nothing new.
"""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from deepagents_temporal.fetch.client import Fetched

FETCHED_ROOT = "/fetched"
EXCERPT_CHARS = 1500
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FetchedFiles:
    folder: str
    raw: str
    text: str | None
    meta: str


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"


def file_name(url: str, content_type: str) -> str:
    """A safe file name for the fetched object: the URL's last path part, with an extension its type has."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    last = path.rstrip("/").rsplit("/", 1)[-1] if path.count("/") > 2 else ""
    name = _UNSAFE.sub("_", last).strip("._")[:80] or "index"
    if not PurePosixPath(name).suffix:
        name += mimetypes.guess_extension(media_type(content_type)) or ".bin"
    return name


def host_folder(host: str) -> str:
    return _UNSAFE.sub("_", host.lower()).strip("._")[:100] or "host"


def layout(host: str, fetched: Fetched, sha256: str, has_text: bool) -> FetchedFiles:
    folder = f"{FETCHED_ROOT}/{host_folder(host)}/{sha256[:12]}"
    name = file_name(fetched.final_url, fetched.content_type)
    return FetchedFiles(
        folder=folder,
        raw=f"{folder}/{name}",
        text=f"{folder}/{name}.txt" if has_text else None,
        meta=f"{folder}/meta.json",
    )


def meta_json(fetched: Fetched, sha256: str, title: str | None, text_note: str) -> str:
    return json.dumps(
        {
            "url": fetched.url,
            "final_url": fetched.final_url,
            "redirects": fetched.redirects,
            "status": fetched.status,
            "content_type": fetched.content_type,
            "size": len(fetched.data),
            "sha256": sha256,
            "title": title,
            "text": text_note,
        },
        indent=2,
        ensure_ascii=False,
    )


def tool_text(
    fetched: Fetched, files: FetchedFiles, sha256: str, title: str | None, text: str | None, text_note: str
) -> str:
    """The short message the model gets: where the files are and what they hold."""
    lines = [f"fetched {fetched.final_url}"]
    if fetched.redirects:
        lines.append(f"redirected from {fetched.url} ({len(fetched.redirects)} redirects)")
    lines += [
        f"saved as {files.raw}",
        f"type: {media_type(fetched.content_type)}; size: {len(fetched.data):,} bytes; sha256: {sha256}",
    ]
    if title:
        lines.append(f"title: {title}")
    if text is None:
        lines.append(f"text: none ({text_note})")
    else:
        shown = text[:EXCERPT_CHARS]
        more = f"; first {EXCERPT_CHARS:,} shown, read_file {files.text} for the rest" if len(text) > len(shown) else ""
        lines.append(f"text: {files.text} ({len(text):,} characters{more})")
        lines.append("")
        lines.append(shown)
    return "\n".join(lines)
