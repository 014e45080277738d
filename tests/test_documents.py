"""The document workflow on the real stack: a multi-section document read by section sub-agents in
parallel (bounded), its summary.md and facts.json (every quote found in its section, a made-up one
dropped), a 200-page PDF whose sections never enter the parent's history, and clear errors for a file
it cannot read or cannot find."""

from __future__ import annotations

import io
import json
import re

import asyncpg
import pytest
from minio import Minio
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from deepagents_temporal.documents.notes import NOTES_TOOL, normalized
from deepagents_temporal.documents.sections import MAX_SECTIONS, split_sections
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.document_inputs import HANDBOOK, start_document, upload_document
from tests.helpers import failure_message, history_text, start_run
from tests.report_inputs import keys, read

# What the parent's history may hold per section, and apart from them (bytes).
PER_SECTION_BYTES = 2_500
FIXED_BYTES = 40_000
HANDBOOK_SECTIONS = ["Northwind Travel Policy", "Booking", "Flights", "Hotels", "Meals and expenses", "Safety"]


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


def _section_bodies(text: str) -> dict[str, str]:
    return {s.title: s.text for s in split_sections(text)}


async def test_a_document_is_read_by_section_sub_agents_in_parallel(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio, pool: asyncpg.Pool
) -> None:
    name = upload_document(s3, settings, HANDBOOK)
    # The hotels section's notes carry a quote the section does not have: dropped.
    made_up = {"fact": "Hotels are free", "quote": "Every hotel night is paid in full by the company."}
    real = {"fact": "London limit", "quote": "260 euros in London, Paris and New York"}
    llm.add_rule(
        lambda r: NOTES_TOOL in r.tool_names and r.last_user_text.startswith("Section 4: Hotels"),
        Reply.tool_calls([(NOTES_TOOL, {"summary": "Hotel limits by city.", "facts": [real, made_up]})]),
    )
    handle = await start_document(client, settings, name, fanout=2)
    result = await handle.result()
    run_id = handle.id

    assert (result.sections, result.kind, result.fanout) == (6, "markdown", 2)
    assert result.sections_failed == [] and result.facts_dropped == 1 and result.facts >= 6

    # Six children with readable ids, each COMPLETED; at most two ran at once, and two did.
    spans = []
    for n in range(1, 7):
        child = await client.get_workflow_handle(f"{run_id}/section-{n}").describe()
        assert child.workflow_type == "DocumentSectionWorkflow" and child.status.name == "COMPLETED"
        assert child.parent_id == run_id
        spans.append((child.start_time, child.close_time))
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == 2

    bucket = settings.s3_bucket
    assert {f"reports/{run_id}/summary.md", f"reports/{run_id}/facts.json", f"logs/{run_id}/run.log"} <= {
        a.key for a in result.artifacts
    }
    summary = read(s3, bucket, f"reports/{run_id}/summary.md").decode()
    for n, title in enumerate(HANDBOOK_SECTIONS, start=1):
        assert f"## {n}. {title}" in summary
    assert "Hotel limits by city." in summary

    facts = json.loads(read(s3, bucket, f"reports/{run_id}/facts.json"))
    bodies = _section_bodies(HANDBOOK.decode())
    assert len(facts["facts"]) == result.facts
    for fact in facts["facts"]:
        assert normalized(fact["quote"]) in normalized(bodies[fact["section_title"]]), fact
    assert {f["section"] for f in facts["facts"]} == set(range(1, 7))
    assert facts["dropped"] == [
        {"section": 4, "section_title": "Hotels", **made_up, "reason": "quote not found in the section"}
    ]
    assert {"section": 4, "section_title": "Hotels", **real} in facts["facts"]

    # The sections and notes stay in the run's prefix; the run and its sub-agents have rows.
    assert len(keys(s3, bucket, f"runs/{run_id}/document/sections/")) == 6
    assert len(keys(s3, bucket, f"runs/{run_id}/document/notes/")) == 6
    rows = await pool.fetch("SELECT run_id, parent_run_id, status FROM runs WHERE run_id LIKE $1 || '%'", run_id)
    assert {r["run_id"]: r["status"] for r in rows} == {
        run_id: "COMPLETED",
        **{f"{run_id}/section-{n}": "COMPLETED" for n in range(1, 7)},
    }
    log = read(s3, bucket, f"logs/{run_id}/run.log").decode()
    assert '"agent":"section-3"' in log.replace(" ", "")


def _pdf(pages: int) -> tuple[bytes, list[str]]:
    """A ``pages``-page PDF, each page with sentences of its own; the sentences, one per page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    marks = []
    for page in range(1, pages + 1):
        if page % 20 == 1:
            pdf.setFont("Helvetica-Bold", 14)
            pdf.drawString(72, 800, f"Chapter {page // 20 + 1}")
        pdf.setFont("Helvetica", 10)
        mark = f"On page {page} the gauge read {page * 7} units and the valve was set to {page % 9} turns."
        marks.append(mark)
        for line in range(30):
            text = mark if line == 0 else f"Line {line} of page {page} repeats the readings of day {page} in full."
            pdf.drawString(72, 770 - line * 22, text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue(), marks


async def test_a_200_page_pdf_keeps_its_sections_out_of_the_parents_history(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    data, marks = _pdf(200)
    name = upload_document(s3, settings, data, "pdf")
    handle = await start_document(client, settings, name)
    result = await handle.result()

    assert result.pages == 200 and result.fanout == settings.deepagent_document_fanout
    assert 5 <= result.sections <= MAX_SECTIONS and not result.sections_failed
    stored = keys(s3, settings.s3_bucket, f"runs/{handle.id}/document/sections/")
    assert len(stored) == result.sections

    # No page's text is in the parent's history (only keys, titles, counts): it grows with the
    # number of sections (a few events of a few hundred bytes each), not with the text.
    history = await history_text(client, handle.id)
    assert not [mark for mark in marks if mark in history]
    assert "repeats the readings" not in history
    events = (await handle.fetch_history()).events
    size = sum(event.ByteSize() for event in events)
    assert size < PER_SECTION_BYTES * result.sections + FIXED_BYTES < result.chars / 2
    facts = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/facts.json"))
    assert facts["facts"] and all(re.search(r"page \d+", f["quote"]) for f in facts["facts"])


@pytest.mark.parametrize(
    ("upload", "document", "problem"),
    [
        (b"PK\x03\x04 not really slides", "deck.pptx", "not a format this backend reads; use text (.txt)"),
        (b"%PDF-1.4 broken", "broken.pdf", "could not be read as pdf"),
        (None, "never-uploaded.pdf", "no document uploads/never-uploaded.pdf in bucket"),
    ],
)
async def test_a_document_it_cannot_read_fails_the_run_naming_it(
    client: Client, settings: Settings, worker: Worker, s3: Minio, upload: bytes | None, document: str, problem: str
) -> None:
    if upload is not None:
        document = upload_document(s3, settings, upload, document.rsplit(".", 1)[1])
    handle = await start_document(client, settings, document)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    message = failure_message(failed.value)
    assert problem in message and document.rsplit("/", 1)[-1] in message
    assert keys(s3, settings.s3_bucket, f"reports/{handle.id}/") == []


async def test_a_request_about_a_document_is_routed_to_the_document_workflow(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    """The offline demo router (the scripted model's default brain) picks the document workflow by its
    description and takes the document's name from the request."""
    name = upload_document(s3, settings, HANDBOOK)
    request = f"Summarise the uploaded document {name} section by section and extract its key facts"
    handle = await start_run(client, settings, request, profile=None)
    result: AgentResult = await handle.result()

    assert result.agent == "document" and result.children == [f"{handle.id}/document"]
    assert f"uploads/{name} (markdown): 6 sections summarised" in result.answer
    assert {f"reports/{handle.id}/summary.md", f"reports/{handle.id}/facts.json"} <= {a.key for a in result.artifacts}
    # Its sections are grandchildren, named after the document workflow.
    child = await client.get_workflow_handle(f"{handle.id}/document/section-1").describe()
    assert child.status.name == "COMPLETED"


async def test_a_section_whose_models_fail_is_listed_and_the_others_are_kept(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio, pool: asyncpg.Pool
) -> None:
    name = upload_document(s3, settings, HANDBOOK)
    llm.add_rule(
        lambda r: NOTES_TOOL in r.tool_names and r.last_user_text.startswith("Section 2: Booking"),
        Reply.error(400, "this request is refused"),
    )
    handle = await start_document(client, settings, name)
    result = await handle.result()

    [failed] = result.sections_failed
    assert failed.n == 2 and "this request is refused" in (failed.error or "")
    summary = read(s3, settings.s3_bucket, f"reports/{handle.id}/summary.md").decode()
    assert "## 2. Booking\n\n_No summary: " in summary and "## 3. Flights\n\nEconomy class" in summary
    facts = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/facts.json"))
    assert [s["status"] for s in facts["sections"]] == ["completed", "failed", *["completed"] * 4]
    assert 2 not in {f["section"] for f in facts["facts"]}
    row = await pool.fetchrow("SELECT status, error FROM runs WHERE run_id = $1", f"{handle.id}/section-2")
    assert row["status"] == "FAILED" and "this request is refused" in row["error"]

    # Every section failing fails the run, saying why.
    llm.add_rule(lambda r: NOTES_TOOL in r.tool_names, Reply.error(400, "nothing is accepted"))
    handle = await start_document(client, settings, upload_document(s3, settings, HANDBOOK))
    with pytest.raises(WorkflowFailureError) as every:
        await handle.result()
    assert "no section could be summarised; section 1:" in failure_message(every.value)
    assert "nothing is accepted" in failure_message(every.value)
