"""One document's bytes to plain text, by format.

Every reader of documents (the fetch tool, the document workflow, the RAG
index, onboarding) goes through ``extract_text`` so a format is supported in one
place. Well-kept libraries do the work: ``trafilatura`` for HTML (the page's
main text, not its menus), ``pypdf`` for PDF, ``python-docx`` for DOCX. Plain
text and Markdown are decoded as they are. An unsupported or unreadable file
raises ``UnsupportedDocument`` naming the file and what would work.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

DocumentKind = Literal["text", "markdown", "html", "pdf", "docx"]

SUPPORTED = "text (.txt), Markdown (.md), HTML (.html), PDF (.pdf) or Word (.docx)"

# Bounds on the work one document may cause (a small crafted file can hold
# millions of paragraphs or pages): past them it is refused, saying so.
MAX_TEXT_CHARS = 10_000_000
MAX_PDF_PAGES = 3_000
MAX_DOCX_PARAGRAPHS = 100_000

_BY_SUFFIX: dict[str, DocumentKind] = {
    ".txt": "text",
    ".text": "text",
    ".csv": "text",
    ".json": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

_BY_CONTENT_TYPE: dict[str, DocumentKind] = {
    "text/plain": "text",
    "text/csv": "text",
    "application/json": "text",
    "text/markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


class UnsupportedDocument(ValueError):
    """A document that cannot be read as text; the message says why and what would work."""


@dataclass(frozen=True)
class ExtractedText:
    text: str
    kind: DocumentKind
    # The document's own title when the format has one (HTML <title>, PDF metadata, DOCX core properties).
    title: str | None = None
    # PDF pages; None for formats without pages.
    pages: int | None = None


def document_kind(filename: str, content_type: str | None = None) -> DocumentKind:
    """The format, from the content type when it names one we read, else from the file's suffix."""
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in _BY_CONTENT_TYPE:
            return _BY_CONTENT_TYPE[media_type]
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    described = f" ({content_type})" if content_type else ""
    raise UnsupportedDocument(f"{filename}{described}: not a format this backend reads; use {SUPPORTED}")


def extract_text(data: bytes, *, filename: str, content_type: str | None = None) -> ExtractedText:
    """The document's text. Raises UnsupportedDocument for an unknown or unreadable file."""
    kind = document_kind(filename, content_type)
    try:
        if kind == "html":
            extracted = _html(data)
        elif kind == "pdf":
            extracted = _pdf(data)
        elif kind == "docx":
            extracted = _docx(data)
        else:
            extracted = ExtractedText(text=_decode(data), kind=kind)
    except _TooLarge as error:
        raise UnsupportedDocument(f"{filename}: too large to read: {error}; split it into smaller files") from None
    except UnsupportedDocument:
        raise
    except Exception as error:  # a library's parse error: the file is damaged or not what it says
        raise UnsupportedDocument(
            f"{filename}: could not be read as {kind} ({type(error).__name__}: {error}); "
            f"check that the file is a complete {kind} document"
        ) from error
    if len(extracted.text) > MAX_TEXT_CHARS:
        raise UnsupportedDocument(
            f"{filename}: too large to read: {len(extracted.text):,} characters of text, over {MAX_TEXT_CHARS:,}; "
            "split it into smaller files"
        )
    return extracted


class _TooLarge(Exception):
    """A document past one of the bounds on work (its message says which)."""


def _decode(data: bytes) -> str:
    # utf-8 first (with or without BOM); latin-1 never fails, so a legacy file still reads.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _html(data: bytes) -> ExtractedText:
    import trafilatura

    html = _decode(data)
    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None else None
    if not text:
        # A page with no main content (a bare list, a tiny page): its visible text.
        from lxml import html as lxml_html

        text = " ".join(lxml_html.fromstring(html).text_content().split()) if html.strip() else ""
    return ExtractedText(text=text, kind="html", title=title)


def _pdf(data: bytes) -> ExtractedText:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if len(reader.pages) > MAX_PDF_PAGES:
        raise _TooLarge(f"{len(reader.pages):,} pages, over {MAX_PDF_PAGES:,}")
    pages = [page.extract_text() or "" for page in reader.pages]
    title = reader.metadata.title if reader.metadata is not None else None
    return ExtractedText(text="\n\n".join(pages).strip(), kind="pdf", title=title or None, pages=len(pages))


def _docx(data: bytes) -> ExtractedText:
    import docx

    document = docx.Document(io.BytesIO(data))
    paragraphs = document.paragraphs
    if len(paragraphs) > MAX_DOCX_PARAGRAPHS:
        raise _TooLarge(f"{len(paragraphs):,} paragraphs, over {MAX_DOCX_PARAGRAPHS:,}")
    # Style names by id, looked up once: python-docx's paragraph.style searches the styles every time.
    names = {style.style_id: (style.name or "").lower() for style in document.styles}
    lines: list[str] = []
    for paragraph in paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        properties = paragraph._p.pPr
        style_id = properties.style if properties is not None else None
        style = names.get(style_id, "") if style_id else ""
        # Headings keep their level as Markdown so section splitting sees them.
        if style.startswith("heading"):
            level = style.removeprefix("heading").strip()
            hashes = "#" * (int(level) if level.isdigit() and 0 < int(level) < 7 else 1)
            lines.append(f"{hashes} {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = document.core_properties.title or None
    return ExtractedText(text="\n\n".join(lines), kind="docx", title=title)
