"""Documents to text: every format the backend reads gives back its words, and a
file it cannot read gets an error naming the file and what would work."""

from __future__ import annotations

import io

import docx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from deepagents_temporal.documents.convert import UnsupportedDocument, document_kind, extract_text


def _pdf(pages: list[str], title: str = "Quarterly notes") -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(title)
    for text in pages:
        pdf.drawString(72, 760, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_html_gives_the_main_text_and_title_not_the_menu() -> None:
    html = (
        "<html><head><title>Refund policy</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/shop'>Shop</a></nav>"
        "<article><h1>Refund policy</h1><p>Customers may return any item within thirty days of delivery "
        "for a full refund, provided the item is unused and in its original packaging.</p>"
        "<p>Refunds are paid to the original payment method within five business days.</p></article>"
        "</body></html>"
    )
    result = extract_text(html.encode(), filename="policy.html")
    assert result.kind == "html"
    assert result.title == "Refund policy"
    assert "within thirty days of delivery" in result.text
    assert "five business days" in result.text


def test_pdf_pages_and_title() -> None:
    result = extract_text(_pdf(["Page one says hello.", "Page two says goodbye."]), filename="notes.pdf")
    assert result.kind == "pdf"
    assert result.pages == 2
    assert result.title == "Quarterly notes"
    assert "Page one says hello." in result.text and "Page two says goodbye." in result.text


def test_docx_keeps_headings_as_markdown() -> None:
    document = docx.Document()
    document.add_heading("Client details", level=1)
    document.add_paragraph("The company is registered in Lyon.")
    buffer = io.BytesIO()
    document.save(buffer)
    result = extract_text(buffer.getvalue(), filename="client.docx")
    assert result.kind == "docx"
    assert result.text.splitlines()[0] == "# Client details"
    assert "registered in Lyon" in result.text


def test_text_and_markdown_decode_as_they_are() -> None:
    assert extract_text("café\n".encode(), filename="a.txt").text == "café\n"
    assert extract_text("\ufeff# Title".encode(), filename="a.md").text == "# Title"
    assert extract_text("caf\xe9".encode("latin-1"), filename="old.txt").text == "café"


def test_content_type_wins_over_the_suffix() -> None:
    assert document_kind("download", "text/html; charset=utf-8") == "html"
    assert document_kind("report.bin", "application/pdf") == "pdf"


def test_unknown_format_names_the_file_and_what_would_work() -> None:
    with pytest.raises(UnsupportedDocument, match=r"photo\.png.*use text \(\.txt\), Markdown"):
        extract_text(b"\x89PNG", filename="photo.png")


def test_a_damaged_pdf_says_so() -> None:
    with pytest.raises(UnsupportedDocument, match=r"broken\.pdf: could not be read as pdf"):
        extract_text(b"%PDF-1.4 this is not really a pdf", filename="broken.pdf")


def test_a_document_past_the_bounds_on_work_is_refused_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepagents_temporal.documents import convert

    document = docx.Document()
    for n in range(12):
        document.add_paragraph(f"paragraph {n}")
    buffer = io.BytesIO()
    document.save(buffer)
    monkeypatch.setattr(convert, "MAX_DOCX_PARAGRAPHS", 10)
    with pytest.raises(UnsupportedDocument, match=r"many\.docx: too large to read: 12 paragraphs, over 10; split it"):
        extract_text(buffer.getvalue(), filename="many.docx")
    monkeypatch.setattr(convert, "MAX_PDF_PAGES", 1)
    with pytest.raises(UnsupportedDocument, match=r"long\.pdf: too large to read: 2 pages, over 1"):
        extract_text(_pdf(["one", "two"]), filename="long.pdf")
    monkeypatch.setattr(convert, "MAX_TEXT_CHARS", 5)
    with pytest.raises(UnsupportedDocument, match=r"big\.txt: too large to read: 6 characters of text, over 5"):
        extract_text(b"123456", filename="big.txt")
