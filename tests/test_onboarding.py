"""The onboarding workflow on the real stack, with the example checklist and clients: a complete
client (every field found with its source and quote, every document there), an incomplete one that
waits for a person (the missing_fields query and the UI's details list what is missing; a supplied
invalid value or unknown field is refused with the reason and the wait goes on; valid values complete
it), and the wait running out (the run ends listing the missing items, never RUNNING forever)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from minio import Minio
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from deepagents_temporal.documents.notes import normalized
from deepagents_temporal.onboarding.schema import (
    MISSING_FIELDS_QUERY,
    SUPPLY_FIELDS_UPDATE,
    MissingFields,
    OnboardingResult,
    SupplyFields,
)
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import s3_client
from deepagents_temporal.settings import Settings
from tests.document_inputs import EXAMPLES, start_onboarding, upload_client
from tests.helpers import failure_message, history_text, start_run
from tests.report_inputs import read

ACME = {
    "legal_name": "Acme Widgets GmbH",
    "registration_number": "DE482913",
    "incorporation_date": "2016-04-12",
    "country": "DE",
    "contact_email": "finance@acme-widgets.example",
    "annual_revenue": "4250000",
}


@pytest.fixture
def s3(settings: Settings) -> Minio:
    return s3_client(settings)


async def _waiting(handle: WorkflowHandle) -> MissingFields:
    async with asyncio.timeout(60):
        while True:
            missing = await handle.query(MISSING_FIELDS_QUERY, result_type=MissingFields)
            if missing.waiting:
                return missing
            await asyncio.sleep(0.2)


async def test_a_complete_client_is_onboarded_with_every_source(
    client: Client, settings: Settings, worker: Worker, s3: Minio, pool: asyncpg.Pool
) -> None:
    checklist, folder = upload_client(s3, settings, "acme")
    handle = await start_onboarding(client, settings, checklist, folder)
    result: OnboardingResult = await handle.result()

    assert result.complete and result.missing == [] and not result.timed_out
    assert {f.field: f.value for f in result.fields} == ACME
    assert {f.status for f in result.fields} == {"found"}
    assert {d.name: d.status for d in result.documents} == {
        "certificate of incorporation": "found",
        "proof of address": "found",
    }
    # Every value's quote is in the document it names.
    for field in result.fields:
        text = (EXAMPLES / "onboarding" / "acme" / field.document).read_text()
        assert normalized(field.quote) in normalized(text), field

    bucket = settings.s3_bucket
    stored = json.loads(read(s3, bucket, f"reports/{handle.id}/onboarding.json"))
    assert stored["complete"] is True and stored["values"] == ACME
    report = read(s3, bucket, f"reports/{handle.id}/checklist.md").decode()
    assert "outcome: **complete**" in report
    assert (
        "| Registration number (`registration_number`) | yes | found | DE482913 | certificate_of_incorporation.md:"
        in report
    )
    # The documents' text stays in the bucket: only values, sources and quotes are in history.
    history = await history_text(client, handle.id)
    assert "registered at the commercial register of Munich" not in history
    assert "Leopoldstrasse 21" not in history
    row = await pool.fetchrow("SELECT status, workflow_name FROM runs WHERE run_id = $1", handle.id)
    assert dict(row) == {"status": "COMPLETED", "workflow_name": "OnboardingWorkflow"}


async def test_an_incomplete_client_waits_for_a_person_to_supply_the_fields(
    client: Client, settings: Settings, worker: Worker, s3: Minio, pool: asyncpg.Pool
) -> None:
    checklist, folder = upload_client(s3, settings, "globex")
    handle = await start_onboarding(client, settings, checklist, folder, wait_seconds=600)
    missing = await _waiting(handle)

    assert {f.field: f.status for f in missing.fields} == {
        "registration_number": "invalid",
        "incorporation_date": "missing",
        "contact_email": "missing",
    }
    invalid = next(f for f in missing.fields if f.field == "registration_number")
    assert invalid.value == "09-77-1234" and "does not match the pattern" in (invalid.reason or "")
    assert missing.documents == ["document: proof of address"]
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    assert "**waiting for fields**" in details and f"starter.py supply {handle.id}" in details
    assert "- incorporation_date (Date of incorporation): missing" in details

    # Refused with the reason; nothing changes and the run goes on waiting.
    for values, reason in [
        ({"incorporation_date": "12 March 2011"}, "incorporation_date: '12 March 2011': not a date as YYYY-MM-DD"),
        ({"contact_email": "not-an-address"}, "contact_email: 'not-an-address' is not an email address"),
        ({"vat_id": "GB123"}, "unknown field 'vat_id' (fields: legal_name, registration_number"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SUPPLY_FIELDS_UPDATE, SupplyFields(values=values), result_type=str)
        assert reason in failure_message(refused.value)
    still = await handle.query(MISSING_FIELDS_QUERY, result_type=MissingFields)
    assert still.waiting and len(still.fields) == 3

    answer = await handle.execute_update(
        SUPPLY_FIELDS_UPDATE,
        SupplyFields(values={"registration_number": "GB771234", "incorporation_date": "2011-03-12"}, by="ops@globex"),
        result_type=str,
    )
    assert answer == "accepted: registration_number, incorporation_date; still missing: contact_email"
    await handle.execute_update(
        SUPPLY_FIELDS_UPDATE, SupplyFields(values={"contact_email": "Ops@Globex.example"}), result_type=str
    )
    result: OnboardingResult = await handle.result()

    # Every field is there now; the missing document still makes it incomplete, and says so.
    fields = {f.field: f for f in result.fields}
    assert fields["contact_email"].value == "ops@globex.example" and fields["contact_email"].status == "supplied"
    assert fields["incorporation_date"].by == "ops@globex" and fields["legal_name"].status == "found"
    assert not result.timed_out and not result.complete
    assert result.missing == ["document: proof of address"]
    report = read(s3, settings.s3_bucket, f"reports/{handle.id}/checklist.md").decode()
    assert "| found (supplied) | GB771234 | supplied by ops@globex |" in report
    assert "| proof of address | yes | MISSING |" in report
    decisions = await pool.fetch(
        "SELECT summary FROM decisions WHERE run_id = $1 AND kind = 'validation' ORDER BY seq", handle.id
    )
    assert [d["summary"] for d in decisions][-2:] == [
        "fields supplied by ops@globex: registration_number, incorporation_date",
        "fields supplied by a person: contact_email",
    ]


async def test_the_wait_runs_out_and_the_run_ends_listing_what_is_missing(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    checklist, folder = upload_client(s3, settings, "globex")
    handle = await start_onboarding(client, settings, checklist, folder, wait_seconds=2)
    result: OnboardingResult = await handle.result()

    assert result.timed_out and not result.complete
    assert result.missing == [
        "registration_number",
        "incorporation_date",
        "contact_email",
        "document: proof of address",
    ]
    assert (await handle.describe()).status.name == "COMPLETED"
    stored = json.loads(read(s3, settings.s3_bucket, f"reports/{handle.id}/onboarding.json"))
    assert stored["timed_out"] is True and stored["values"] == {"legal_name": "Globex Trading Ltd", "country": "GB"}
    # A supply after the end is refused, naming why.
    with pytest.raises(Exception) as late:
        await handle.execute_update(SUPPLY_FIELDS_UPDATE, SupplyFields(values={"contact_email": "a@b.example"}))
    assert "workflow execution already completed" in str(late.value).lower()


async def test_bad_inputs_fail_clearly(client: Client, settings: Settings, worker: Worker, s3: Minio) -> None:
    checklist, _ = upload_client(s3, settings, "acme")
    handle = await start_onboarding(client, settings, checklist, "clients/nobody-here")
    with pytest.raises(Exception) as failed:
        await handle.result()
    assert "no documents under uploads/clients/nobody-here/ in bucket" in failure_message(failed.value)

    s3.put_object(settings.s3_bucket, "templates/bad-checklist.yaml", *_bytes(b"fields:\n  - name: Bad Name\n"))
    handle = await start_onboarding(client, settings, "bad-checklist.yaml", "clients/x")
    with pytest.raises(Exception) as failed:
        await handle.result()
    assert "templates/bad-checklist.yaml: fields.0.name: String should match pattern" in failure_message(failed.value)


def _bytes(data: bytes) -> tuple:
    import io

    return io.BytesIO(data), len(data)


async def test_an_onboarding_request_is_routed_to_the_onboarding_workflow(
    client: Client, settings: Settings, worker: Worker, s3: Minio
) -> None:
    """The offline demo router picks the onboarding workflow by its description and takes the
    checklist and the client's folder from the request."""
    checklist, folder = upload_client(s3, settings, "acme")
    request = f"Onboard the new client {folder} against the onboarding checklist {checklist}"
    handle = await start_run(client, settings, request, profile=None)
    result: AgentResult = await handle.result()

    assert result.agent == "onboarding" and result.children == [f"{handle.id}/onboarding"]
    assert f"onboarding of uploads/{folder}/: complete; 6 of 6 fields found or supplied" in result.answer
    assert f"reports/{handle.id}/onboarding.json" in {a.key for a in result.artifacts}
