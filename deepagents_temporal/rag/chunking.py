"""A document's text as overlapping chunks of a few paragraphs, split where the text
has breaks (paragraphs, then lines, then sentences) by langchain's recursive splitter."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

CHUNK_CHARS = 1200
OVERLAP_CHARS = 150

_SPLITTER = RecursiveCharacterTextSplitter(
    chunk_size=CHUNK_CHARS,
    chunk_overlap=OVERLAP_CHARS,
    separators=["\n\n", "\n", ". ", " ", ""],
    keep_separator="end",
)


def chunk_text(text: str) -> list[str]:
    """The chunks, in order, each stripped and non-empty."""
    return [chunk.strip() for chunk in _SPLITTER.split_text(text) if chunk.strip()]
