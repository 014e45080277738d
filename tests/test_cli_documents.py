"""`upload`, `document`, `onboard` and `supply` as a person runs them: processes against the test
servers (TEMPORAL_ADDRESS set), the runs going to the test's worker. A document is uploaded and read;
an onboarding run that waits is left waiting with what is missing printed; `supply` refuses an invalid
value with the reason (exit 1) and completes the run with valid ones, printing its outcome; bad input is
refused before anything starts (exit 2)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from deepagents_temporal.settings import Settings
from tests.cli_process import ROOT, cluster_env

EXAMPLES = ROOT / "examples"


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


def _run_id(output: str) -> str:
    return re.search(r"^run id: (\S+)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]


async def test_upload_and_read_a_document(settings: Settings, worker: Worker) -> None:
    name = f"handbook-{uuid.uuid4().hex[:8]}.md"
    uploaded = await _cli(settings, "upload", str(EXAMPLES / "documents" / "handbook.md"), "--as", name)
    assert uploaded.returncode == 0 and f"key: uploads/{name}" in uploaded.stdout, uploaded.stdout + uploaded.stderr

    done = await _cli(settings, "document", name, "--fanout", "3")
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    run_id = _run_id(output)
    assert f"uploads/{name} (markdown): 6 sections summarised" in output
    assert f"reports/{run_id}/summary.md" in output and f"reports/{run_id}/facts.json" in output
    assert "status: COMPLETED, 6 sections" in output

    again = await _cli(settings, "result", run_id)
    assert again.returncode == 0 and "6 sections summarised" in again.stdout


async def test_onboard_waits_and_supply_completes_it(settings: Settings, worker: Worker, client: Client) -> None:
    tag = uuid.uuid4().hex[:8]
    checklist = f"checklist-{tag}.yaml"
    up = await _cli(
        settings, "upload", str(EXAMPLES / "onboarding" / "checklist.yaml"), "--template", "--as", checklist
    )
    assert up.returncode == 0, up.stdout + up.stderr
    for path in sorted((EXAMPLES / "onboarding" / "globex").iterdir()):
        up = await _cli(settings, "upload", str(path), "--as", f"clients/globex-{tag}/{path.name}")
        assert up.returncode == 0, up.stdout + up.stderr

    started = await _cli(settings, "onboard", "--checklist", checklist, "--client", f"clients/globex-{tag}")
    output = started.stdout
    assert started.returncode == 0, output + started.stderr
    run_id = _run_id(output)
    assert "is waiting until" in output and "for these fields:" in output
    assert "  incorporation_date (Date of incorporation): missing: not found in the client's documents" in output
    assert "  registration_number (Registration number): invalid (found '09-77-1234')" in output
    assert "  document: proof of address: missing" in output
    assert f"supply them: python starter.py supply {run_id} FIELD=VALUE ..." in output
    assert (await client.get_workflow_handle(run_id).describe()).status == WorkflowExecutionStatus.RUNNING

    listed = await _cli(settings, "supply", run_id)
    assert listed.returncode == 0 and "contact_email (Contact email): missing" in listed.stdout

    refused = await _cli(settings, "supply", run_id, "incorporation_date=yesterday", "--by", "ops")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "error: refused: incorporation_date: 'yesterday': not a date as YYYY-MM-DD" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr

    partly = await _cli(settings, "supply", run_id, "incorporation_date=2011-03-12", "--by", "ops")
    assert partly.returncode == 0
    assert "accepted: incorporation_date; still missing: registration_number, contact_email" in partly.stdout

    done = await _cli(settings, "supply", run_id, "registration_number=GB771234", "contact_email=ops@globex.example")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted: registration_number, contact_email; nothing missing" in done.stdout
    assert "- incorporation_date: supplied '2011-03-12' (supplied by ops)" in done.stdout
    assert "status: COMPLETED, onboarding INCOMPLETE: missing document: proof of address" in done.stdout
    assert f"reports/{run_id}/checklist.md" in done.stdout

    ended = await _cli(settings, "supply", run_id, "contact_email=x@y.example")
    assert ended.returncode == 1 and f"error: run {run_id} has ended (COMPLETED)" in ended.stdout


async def test_bad_input_is_refused_before_anything_starts(settings: Settings) -> None:
    cases = {
        ("document", "slides.pptx"): "slides.pptx: not a format this backend reads",
        ("document", f"missing-{uuid.uuid4().hex[:6]}.pdf"): "error: no document uploads/missing-",
        ("onboard", "--checklist", "c.txt", "--client", "x"): "a checklist is a .yaml, .yml or .xlsx file",
        ("onboard", "--checklist", "absent.yaml", "--client", "x"): "error: no checklist templates/absent.yaml",
        ("supply", "some-run", "novalue"): "error: 'novalue' is not FIELD=VALUE",
        ("supply", "some-run", "a=b", "--by", "x" * 201): "error: --by: String should have at most 200 characters",
        ("supply", f"no-such-run-{uuid.uuid4().hex[:6]}", "a=b"): "error: no run no-such-run-",
    }
    results = await asyncio.gather(*(_cli(settings, *args) for args in cases))
    for (args, message), result in zip(cases.items(), results, strict=True):
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert message in result.stdout, (args, result.stdout)
        assert "run id" not in result.stdout and "Traceback" not in result.stderr
    # A YAML file that is not a checklist (a profile) is refused at upload, naming what it lacks.
    bad = await _cli(settings, "upload", str(EXAMPLES / "profiles" / "analyst.yaml"), "--template")
    assert bad.returncode == 2 and "analyst.yaml: fields: Field required" in bad.stdout, bad.stdout
