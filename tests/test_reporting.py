"""The reporting workflow end to end on the real stack: the example sales template and data become
report.xlsx (read back with openpyxl), summary.json and run.log, with the run's rows in PostgreSQL.

Also: CSV, XLSX and JSON data give the same figures; summary.json is the same byte for byte across
runs of the same inputs (apart from its ``run`` section); files that cannot be parsed and a missing
template fail the run naming the problem and write no report; the narrative falls back along the
model chain, and a report is still written when every model fails.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import date
from decimal import Decimal

import asyncpg
import pytest
from minio import Minio
from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from deepagents_temporal import pgstore
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.helpers import failure_message
from tests.report_inputs import (
    NARRATIVE,
    SALES_CSV,
    TEMPLATE,
    keys,
    narrates,
    put,
    read,
    start_report,
    upload_inputs,
)

# The example's figures, worked out by hand from examples/reports/sales.csv.
TOTAL_UNITS = 697
TOTAL_REVENUE = 4056.99
INVALID_LINES = {14: "Units", 15: "Unit price", 16: "Date", 17: "Region"}


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


def _without_run(summary: bytes) -> dict:
    value = json.loads(summary)
    del value["run"]
    return value


async def test_example_report_end_to_end(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio, pool: asyncpg.Pool
) -> None:
    narrates(llm)
    template, data = upload_inputs(s3, settings, SALES_CSV)
    handle = await start_report(client, settings, template, data)
    result = await handle.result()
    run_id = handle.id
    bucket = settings.s3_bucket

    assert (result.rows, result.valid, result.invalid) == (18, 14, 4)
    assert result.totals == {"units": TOTAL_UNITS, "revenue": TOTAL_REVENUE}
    assert result.narrative.text == NARRATIVE and result.narrative.model == "test-model"

    # The workbook: values filled, the template's look kept.
    book = load_workbook(io.BytesIO(read(s3, bucket, f"reports/{run_id}/report.xlsx")))
    original = load_workbook(io.BytesIO(TEMPLATE))
    sales, template_sales = book["Sales"], original["Sales"]
    assert sales.tables["data"].ref == "A7:F21"
    assert [c.value for c in sales[7]] == ["Date", "Region", "Product", "Units", "Unit price", "Revenue"]
    first = [c.value for c in sales[8]]
    assert first[0].date() == date(2024, 1, 3) and first[1:] == ["North", "Widget", 120, 2.5, 300]
    rows = list(sales.iter_rows(min_row=8, max_row=21, values_only=True))
    assert sum(r[3] for r in rows) == TOTAL_UNITS
    assert "twelve" not in [r[3] for r in rows] and "" not in [r[1] for r in rows]
    for row in (8, 21):
        assert [_look(c) for c in sales[row]] == [_look(c) for c in template_sales[8]]
    assert sales["D8"].number_format == "#,##0" and sales["F21"].number_format == '"$"#,##0.00'
    assert sales["A21"].number_format == "yyyy-mm-dd" and sales["A21"].font.color.rgb == "00222222"
    assert [_look(c) for c in sales[7]] == [_look(c) for c in template_sales[7]]
    assert sales["A7"].font.b and sales["A7"].fill.fgColor.rgb == "001F4E78"
    for letter in "ABCDEF":
        assert sales.column_dimensions[letter].width == template_sales.column_dimensions[letter].width
    # Named cells: the totals, the counts, the narrative.
    named = {name: book.defined_names[name].attr_text for name in ("total_units", "total_revenue", "narrative")}
    assert named["total_units"] == "'Sales'!$B$2"
    assert sales["B2"].value == TOTAL_UNITS and sales["B2"].number_format == "#,##0"
    assert sales["B3"].value == pytest.approx(TOTAL_REVENUE) and sales["B3"].number_format == '"$"#,##0.00'
    assert (sales["E2"].value, sales["E3"].value) == (14, 4)
    assert sales["B4"].value == NARRATIVE
    assert sales["B5"].value == f"uploads/{data}"
    # Per-group sums, sorted by key, and they add up.
    by_region = list(book["Summary"].iter_rows(min_row=2, max_col=4, values_only=True))
    assert [r[0] for r in by_region] == ["East", "North", "South", "West"]
    assert sum(r[2] for r in by_region) == TOTAL_UNITS
    assert sum(Decimal(str(r[3])) for r in by_region) == Decimal("4056.99")
    # The Errors sheet: each invalid row with its line, column and reason.
    errors = list(book["Errors"].iter_rows(values_only=True))
    assert errors[0] == ("Row", "Column", "Value", "Reason")
    assert {r[0]: r[1] for r in errors[1:]} == INVALID_LINES
    assert "valid integer" in errors[1][3] and errors[1][2] == "twelve"

    summary = json.loads(read(s3, bucket, f"reports/{run_id}/summary.json"))
    report = summary["report"]
    assert report["inputs"]["data"]["sha256"] == _sha256(SALES_CSV)
    template_input = {"key": f"templates/{template}", "sha256": _sha256(TEMPLATE), "size": len(TEMPLATE)}
    assert report["inputs"]["template"] == template_input
    assert report["rows"] == {"total": 18, "valid": 14, "invalid": 4}
    assert report["totals"] == {"units": TOTAL_UNITS, "revenue": TOTAL_REVENUE}
    assert [e["row"] for e in report["validation_errors"]] == sorted(INVALID_LINES)
    assert report["narrative"] == {"requested": True, "text": NARRATIVE, "model": "test-model", "error": None}
    assert set(summary["run"]["step_seconds"]) >= {"load template", "validate data", "compute figures", "narrative"}
    assert summary["run"]["run_id"] == run_id

    log = read(s3, bucket, f"logs/{run_id}/run.log").decode()
    assert "4 invalid" in log and f"reports/{run_id}/report.xlsx" in log

    # PostgreSQL: COMPLETED, the model named, the artifacts indexed as the bucket holds them.
    run = await pgstore.get_run(pool, run_id)
    assert run is not None and run.status == pgstore.RunStatus.COMPLETED
    assert run.workflow_name == "ReportingWorkflow" and run.models_used == ["test-model"]
    indexed = {a.key: a.sha256 for a in await pgstore.list_artifacts(pool, run_id)}
    assert set(indexed) == {f"reports/{run_id}/report.xlsx", f"reports/{run_id}/summary.json", f"logs/{run_id}/run.log"}
    for key, sha in indexed.items():
        assert _sha256(read(s3, bucket, key)) == sha
    kinds = [d.kind for d in await pgstore.list_decisions(pool, run_id)]
    assert pgstore.DecisionKind.VALIDATION in kinds and pgstore.DecisionKind.MODEL_CALL in kinds


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _look(cell: Cell) -> tuple:
    """What a person sees of a cell's style: font, fill, border, number format."""
    font, fill = cell.font, cell.fill
    return (
        font.name,
        font.sz,
        font.b,
        font.color.rgb if font.color else None,
        fill.fill_type,
        fill.fgColor.rgb,
        cell.border.bottom.style,
        cell.number_format,
        cell.alignment.horizontal,
    )


def _as_json(csv_bytes: bytes) -> bytes:
    return json.dumps(list(csv.DictReader(io.StringIO(csv_bytes.decode())))).encode()


def _as_xlsx(csv_bytes: bytes) -> bytes:
    book = Workbook()
    for line in csv.reader(io.StringIO(csv_bytes.decode())):
        book.active.append([int(cell) if cell.isdigit() else cell for cell in line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_csv_xlsx_and_json_data_give_the_same_report(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    """Without a narrative: no model call at all."""
    outcomes = {}
    for suffix, data in (("csv", SALES_CSV), ("xlsx", _as_xlsx(SALES_CSV)), ("json", _as_json(SALES_CSV))):
        template, upload = upload_inputs(s3, settings, data, suffix)
        handle = await start_report(client, settings, template, upload, narrative=False)
        result = await handle.result()
        summary = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/summary.json"))["report"]
        assert summary["inputs"]["data"]["format"] == suffix
        outcomes[suffix] = (result.totals, summary["groups"], [e["column"] for e in summary["validation_errors"]])
        assert result.narrative.requested is False and result.narrative.text is None
    assert outcomes["csv"] == outcomes["xlsx"] == outcomes["json"]
    assert outcomes["csv"][0] == {"units": TOTAL_UNITS, "revenue": TOTAL_REVENUE}
    assert not llm.requests


async def test_summary_json_is_byte_identical_across_runs_apart_from_ids_and_times(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    narrates(llm)
    template, data = upload_inputs(s3, settings, SALES_CSV)
    summaries = []
    for _ in range(2):
        handle = await start_report(client, settings, template, data)
        await handle.result()
        summaries.append(read(s3, settings.s3_bucket, f"reports/{handle.id}/summary.json"))
    first, second = summaries
    assert first != second  # the run ids and times differ...
    assert json.loads(first)["run"]["run_id"] != json.loads(second)["run"]["run_id"]
    # ...and only they: the "report" section comes first and is the same bytes.
    run_at = [summary.index(b'\n  "run": {') for summary in summaries]
    assert first[: run_at[0]] == second[: run_at[1]]
    assert _without_run(first) == _without_run(second)


BAD_DATA = [
    (
        "latin1.csv",
        "Date,Region,Product,Units,Unit price\n2024-01-03,Mälmo,Widget,1,2.50\n".encode("latin-1"),
        "not UTF-8 text (byte 0xe4 at offset",
    ),
    ("sales.txt", SALES_CSV, "unsupported format ('.txt'): use a .csv, .xlsx or .json file"),
    ("columns.csv", b"Date,Region,Units\n2024-01-03,North,1\n", "missing required columns product, unit_price"),
    ("broken.json", b'[{"date": "2024-01-03",', "not valid JSON (line 1, column"),
    ("object.json", b'{"date": "2024-01-03"}', "expected a JSON array of objects"),
    ("fake.xlsx", SALES_CSV, "not an XLSX workbook"),
    ("empty.csv", b"", "the file is empty"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_DATA, ids=[name for name, _, _ in BAD_DATA])
async def test_a_data_file_that_cannot_be_parsed_fails_the_run_naming_it(
    client: Client,
    settings: Settings,
    worker: Worker,
    s3: Minio,
    pool: asyncpg.Pool,
    name: str,
    content: bytes,
    problem: str,
) -> None:
    template, _ = upload_inputs(s3, settings, b"")
    upload = f"{uuid.uuid4().hex[:8]}-{name}"
    put(s3, settings.s3_bucket, f"uploads/{upload}", content)
    handle = await start_report(client, settings, template, upload, narrative=False)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    message = failure_message(failed.value)
    assert f"uploads/{upload}: {problem}" in message
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status == pgstore.RunStatus.FAILED and problem in (run.error or "")
    assert keys(s3, settings.s3_bucket, f"reports/{handle.id}/") == []
    assert problem in read(s3, settings.s3_bucket, f"logs/{handle.id}/run.log").decode()


async def test_a_missing_template_fails_clearly_and_writes_nothing(
    client: Client, settings: Settings, worker: Worker, s3: Minio, pool: asyncpg.Pool
) -> None:
    _, data = upload_inputs(s3, settings, SALES_CSV)
    handle = await start_report(client, settings, "no-such-template.xlsx", data)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failure_message(failed.value).endswith(
        f"no template templates/no-such-template.xlsx in bucket {settings.s3_bucket}; "
        "upload it with `python starter.py upload PATH --template`"
    )
    assert keys(s3, settings.s3_bucket, f"reports/{handle.id}/") == []
    assert keys(s3, settings.s3_bucket, f"runs/{handle.id}/") == []
    run = await pgstore.get_run(pool, handle.id)
    assert run is not None and run.status == pgstore.RunStatus.FAILED
    assert [a.key for a in await pgstore.list_artifacts(pool, handle.id)] == [f"logs/{handle.id}/run.log"]


async def test_a_template_without_its_table_is_named(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    _, data = upload_inputs(s3, settings, SALES_CSV)
    plain = io.BytesIO()
    Workbook().save(plain)
    put(s3, settings.s3_bucket, "templates/plain.xlsx", plain.getvalue())
    handle = await start_report(client, settings, "plain.xlsx", data, narrative=False)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "templates/plain.xlsx: no Excel table named 'data' to fill" in failure_message(failed.value)


async def test_the_narrative_falls_back_when_the_primary_model_is_unknown(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    llm.unknown_model("gpt-missing")
    narrates(llm)
    template, data = upload_inputs(s3, settings, SALES_CSV)
    handle = await start_report(client, settings, template, data, model_chain=["gpt-missing", "test-model"])
    result = await handle.result()
    assert result.narrative.text == NARRATIVE and result.narrative.model == "test-model"
    assert [r.status for r in llm.requests] == [404, 200]
    summary = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/summary.json"))
    assert summary["report"]["narrative"]["model"] == "test-model"
    log = read(s3, settings.s3_bucket, f"logs/{handle.id}/run.log").decode()
    assert "narrative: test-model answered (attempt 2" in log and "gpt-missing: HTTP 404" in log


async def test_a_report_is_written_without_its_narrative_when_every_model_fails(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    llm.unknown_model("gone-1", "gone-2")
    template, data = upload_inputs(s3, settings, SALES_CSV)
    handle = await start_report(client, settings, template, data, model_chain=["gone-1", "gone-2"])
    result = await handle.result()
    assert result.narrative.text is None and result.narrative.error
    assert result.narrative.error.startswith("all models failed: gone-1 (attempt 1): HTTP 404")
    book = load_workbook(io.BytesIO(read(s3, settings.s3_bucket, f"reports/{handle.id}/report.xlsx")))
    assert book["Sales"]["B2"].value == TOTAL_UNITS and not book["Sales"]["B4"].value
    summary = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/summary.json"))
    assert summary["report"]["narrative"]["error"] == result.narrative.error


async def test_the_offline_demo_model_narrates_the_figures_it_is_sent(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    """No rule: the scripted model's demo brain answers, as it does for `report` without an API key."""
    template, data = upload_inputs(s3, settings, SALES_CSV)
    result = await (await start_report(client, settings, template, data)).result()
    text = result.narrative.text or ""
    assert "units 697, revenue 4,056.99" in text and "4 invalid rows were left out" in text
    assert "By region, East leads (units 192, revenue 848.85)" in text
