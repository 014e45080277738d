"""The pure parts of the document and onboarding workflows, without servers: sections cut at headings
or by size and bounded in number, an XLSX checklist read like the YAML one, field values held to their
type, pattern and choices, and quotes matched despite line breaks and typographic quotes."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from deepagents_temporal.documents.notes import Fact, SectionNotes, check
from deepagents_temporal.documents.sections import MAX_SECTIONS, split_sections
from deepagents_temporal.onboarding.checklist import ChecklistError, parse
from deepagents_temporal.onboarding.fields import checked
from deepagents_temporal.onboarding.schema import FieldSpec
from tests.document_inputs import CHECKLIST


def test_sections_follow_headings_and_setext_underlines() -> None:
    text = "Preface line.\n\n# One\n\nfirst body\n\nTwo\n===\n\nsecond body\n\n## Three\nthird"
    sections = split_sections(text)
    assert [s.title for s in sections] == ["introduction", "One", "Two", "Three"]
    assert sections[2].text.startswith("Two\n===") and "second body" in sections[2].text


def test_long_text_without_headings_is_cut_at_paragraphs_within_the_bound() -> None:
    paragraphs = [f"Paragraph {n} " + "word " * 150 for n in range(40)]
    sections = split_sections("\n\n".join(paragraphs), section_chars=3_000)
    assert len(sections) > 5 and all(len(s.text) <= 3_000 for s in sections)
    assert all(s.text.startswith("Paragraph ") for s in sections)
    assert [s.title for s in sections[:2]] == ["part (part 1)", "part (part 2)"]
    # Nothing lost or repeated (the cuts only drop the whitespace at their ends).
    assert " ".join(" ".join(s.text for s in sections).split()) == " ".join(" ".join(paragraphs).split())


def test_a_huge_text_or_many_tiny_headings_never_give_more_than_the_bound() -> None:
    huge = "\n\n".join(f"Line {n} " + "x" * 500 for n in range(5_000))
    assert len(split_sections(huge)) <= MAX_SECTIONS
    tiny = "\n\n".join(f"# Heading {n}\n\nbody {n}" for n in range(500))
    sections = split_sections(tiny)
    assert len(sections) <= MAX_SECTIONS and "body 499" in sections[-1].text


def test_quotes_match_across_line_breaks_and_typographic_quotes_but_not_invented_text() -> None:
    section = "The limit is 180 euros\nin most cities. It is “fixed” for 2025."
    notes = SectionNotes(
        summary="s",
        facts=[
            Fact(fact="a", quote="180 euros in most cities"),
            Fact(fact="b", quote='It is "fixed" for 2025.'),
            Fact(fact="c", quote="The limit is 300 euros"),
        ],
    )
    kept, dropped = check(notes, section)
    assert [f.fact for f in kept] == ["a", "b"]
    assert dropped == [{"fact": "c", "quote": "The limit is 300 euros", "reason": "quote not found in the section"}]


def _xlsx_checklist() -> bytes:
    book = Workbook()
    fields = book.active
    fields.title = "fields"
    fields.append(["name", "label", "type", "required", "pattern", "choices"])
    fields.append(["legal_name", "Legal name", "string", "yes", None, None])
    fields.append(["country", "Country", "string", "yes", None, "DE, FR"])
    fields.append(["annual_revenue", "Annual revenue", "number", "no", None, None])
    documents = book.create_sheet("documents")
    documents.append(["name", "match"])
    documents.append(["proof of address", "*address*, *utility*"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_checklist_reads_like_the_yaml_one() -> None:
    checklist = parse("kyc.xlsx", _xlsx_checklist())
    assert [(f.name, f.required, f.choices) for f in checklist.fields] == [
        ("legal_name", True, None),
        ("country", True, ["DE", "FR"]),
        ("annual_revenue", False, None),
    ]
    assert checklist.documents[0].match == ["*address*", "*utility*"]
    assert len(parse("checklist.yaml", CHECKLIST).fields) == 6


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("c.yaml", b"fields: []", "fields: List should have at least 1 item"),
        ("c.yaml", b"fields:\n  - {name: a, type: colour}", "fields.0.type: Input should be 'string'"),
        ("c.yaml", b"fields:\n  - {name: a, pattern: '['}", "not a valid regular expression"),
        ("c.yaml", b"fields:\n  - {name: a}\n  - {name: a}", "fields named twice: a"),
        ("c.yaml", b"- just a list", "the YAML must be a mapping"),
        ("c.xlsx", b"not a workbook", "not a readable .xlsx workbook"),
        ("c.json", b"{}", "a checklist is a .yaml, .yml or .xlsx file"),
    ],
)
def test_a_checklist_that_does_not_validate_is_named(name: str, data: bytes, problem: str) -> None:
    with pytest.raises(ChecklistError) as refused:
        parse(name, data)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    ("spec", "raw", "stored"),
    [
        (FieldSpec(name="d", type="date"), " 2016-04-12 ", "2016-04-12"),
        (FieldSpec(name="n", type="number"), "4,250,000", "4250000"),
        (FieldSpec(name="n", type="number"), "1,234.56", "1234.56"),
        (FieldSpec(name="i", type="integer"), "42", "42"),
        (FieldSpec(name="e", type="email"), "Ops@Globex.example", "ops@globex.example"),
        (FieldSpec(name="b", type="boolean"), "yes", "true"),
        (FieldSpec(name="c", choices=["DE", "GB"]), "GB", "GB"),
        (FieldSpec(name="r", pattern="[A-Z]{2}[0-9]{6}"), "DE482913", "DE482913"),
    ],
)
def test_a_valid_value_is_stored_one_normal_way(spec: FieldSpec, raw: str, stored: str) -> None:
    assert checked(spec, raw) == stored


@pytest.mark.parametrize(
    ("spec", "raw", "reason"),
    [
        (FieldSpec(name="d", type="date"), "12 March 2011", "not a date as YYYY-MM-DD"),
        # Not a Unix timestamp, not a number with a decimal comma read as thousands.
        (FieldSpec(name="d", type="date"), "0", "not a date as YYYY-MM-DD"),
        (FieldSpec(name="n", type="number"), "4,25", "write decimals with a dot"),
        (FieldSpec(name="n", type="number"), "1.234,56", "write decimals with a dot"),
        (FieldSpec(name="n", type="number"), "a lot", "Input should be a valid decimal"),
        (FieldSpec(name="e", type="email"), "nobody", "is not an email address"),
        (FieldSpec(name="c", choices=["DE", "GB"]), "FR", "'FR' is not one of DE, GB"),
        (FieldSpec(name="r", pattern="[A-Z]{2}[0-9]{6}"), "09-77-1234", "does not match the pattern"),
        (FieldSpec(name="s"), "   ", "empty value"),
    ],
)
def test_an_invalid_value_is_refused_with_the_reason(spec: FieldSpec, raw: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        checked(spec, raw)
    assert reason in str(refused.value)
