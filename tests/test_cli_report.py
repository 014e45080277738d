"""`upload` and `report` as a person runs them: a process against the test servers (TEMPORAL_ADDRESS set),
the run going to the test's worker. The report's links download the workbook that is in the bucket;
bad input is refused before anything starts (exit 2); a run that fails exits 1 naming the problem."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from minio import Minio
from openpyxl import load_workbook
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from deepagents_temporal.reports.narrative import NARRATIVE_INSTRUCTION
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import cluster_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "reports"


async def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=cluster_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


async def test_upload_and_report_print_keys_checksums_figures_and_links(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM, s3: Minio
) -> None:
    llm.add_rule(lambda r: r.system_prompt == NARRATIVE_INSTRUCTION, Reply.text("North led the quarter."))
    tag = uuid.uuid4().hex[:8]
    template = await _cli(settings, "upload", str(EXAMPLE / "sales_template.xlsx"), "--template", "--as", f"{tag}.xlsx")
    assert template.returncode == 0, template.stdout + template.stderr
    assert f"key: templates/{tag}.xlsx" in template.stdout
    assert f"sha256: {_sha256(EXAMPLE / 'sales_template.xlsx')}" in template.stdout
    data = await _cli(settings, "upload", str(EXAMPLE / "sales.csv"), "--as", f"{tag}.csv")
    assert data.returncode == 0, data.stdout + data.stderr
    assert f"key: uploads/{tag}.csv" in data.stdout and f"sha256: {_sha256(EXAMPLE / 'sales.csv')}" in data.stdout
    again = await _cli(settings, "upload", str(EXAMPLE / "sales.csv"), "--as", f"{tag}.csv")
    assert again.stdout.startswith(f"replaced uploads/{tag}.csv")

    done = await _cli(settings, "report", "--template", f"{tag}.xlsx", "--data", f"{tag}.csv")
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    run_id = re.search(r"^run id: (\S+)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert run_id.startswith("report-")
    assert "rows: 18 (14 valid, 4 invalid)" in output
    assert "totals: units 697, revenue 4,056.99" in output
    assert "row 14, Units: Input should be a valid integer" in output and "(value 'twelve')" in output
    assert "narrative (test-model): North led the quarter." in output
    assert "status: COMPLETED, sales report" in output
    links = dict(re.findall(r"^  (\S+) \([\d,]+ bytes\)\n    (http\S+)$", output, re.MULTILINE))
    assert set(links) == {f"reports/{run_id}/report.xlsx", f"reports/{run_id}/summary.json", f"logs/{run_id}/run.log"}
    with urllib.request.urlopen(links[f"reports/{run_id}/report.xlsx"], timeout=30) as response:
        book = load_workbook(io.BytesIO(response.read()))
    assert book["Sales"]["B2"].value == 697 and book["Sales"]["B4"].value == "North led the quarter."
    assert (await client.get_workflow_handle(run_id).describe()).status == WorkflowExecutionStatus.COMPLETED

    # `result` of a report prints the report's outcome too.
    again_result = await _cli(settings, "result", run_id)
    assert again_result.returncode == 0, again_result.stdout + again_result.stderr
    assert "rows: 18 (14 valid, 4 invalid)" in again_result.stdout and "report.xlsx" in again_result.stdout
    # `show` names the workflow that ran, not an empty profile.
    shown = await _cli(settings, "show", run_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "workflow: ReportingWorkflow" in shown.stdout and "profile:  None" not in shown.stdout

    # The same inputs without a narrative: no model call.
    asked = len(llm.requests)
    quiet = await _cli(settings, "report", "--template", f"{tag}.xlsx", "--data", f"{tag}.csv", "--no-narrative")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no narrative" in quiet.stdout and len(llm.requests) == asked


async def test_bad_input_is_refused_before_anything_starts(settings: Settings, s3: Minio) -> None:
    missing = await _cli(settings, "upload", "no/such/file.csv")
    assert missing.returncode == 2 and "error: no such file: no/such/file.csv" in missing.stdout
    # A Markdown file is a document now (`document`, `onboard`); a Python file is neither kind.
    text = await _cli(settings, "upload", str(ROOT / "starter.py"))
    assert text.returncode == 2
    assert "starter.py: unsupported format ('.py'): use a .csv, .xlsx or .json file" in text.stdout
    not_xlsx = await _cli(settings, "upload", str(EXAMPLE / "sales.csv"), "--template")
    assert not_xlsx.returncode == 2 and "a template is an .xlsx workbook" in not_xlsx.stdout

    tag = uuid.uuid4().hex[:8]
    no_template = await _cli(settings, "report", "--template", f"{tag}.xlsx", "--data", "sales.csv")
    assert no_template.returncode == 2
    assert f"error: no template templates/{tag}.xlsx in bucket {settings.s3_bucket}" in no_template.stdout
    assert f"python starter.py upload PATH --template --as {tag}.xlsx" in no_template.stdout
    assert "run id" not in no_template.stdout and "Traceback" not in no_template.stderr
    unknown = await _cli(settings, "report", "--template", "t.xlsx", "--data", "d.csv", "--type", "weather")
    assert unknown.returncode == 2 and "unknown report type 'weather'; known types: sales" in unknown.stdout


async def test_a_report_that_fails_exits_1_naming_the_file(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    tag = uuid.uuid4().hex[:8]
    for path, extra in ((EXAMPLE / "sales_template.xlsx", ["--template"]), (ROOT / "examples/reports/sales.csv", [])):
        assert (await _cli(settings, "upload", str(path), *extra, "--as", f"{tag}{path.suffix}")).returncode == 0
    bad = f"{tag}-latin1.csv"
    content = b"Date,Region\n\xe9\n"
    s3.put_object(settings.s3_bucket, f"uploads/{bad}", io.BytesIO(content), len(content))
    failed = await _cli(settings, "report", "--template", f"{tag}.xlsx", "--data", bad, "--no-narrative")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"FAILED: uploads/{bad}: not UTF-8 text (byte 0xe9 at offset 12); save it as UTF-8" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
