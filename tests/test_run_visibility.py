"""A run as the Temporal UI shows it, read back with the client's describe and
list APIs: search attributes (profile, kind, primary model, user, run status),
the static summary and details written at start, the current details, and
`starter.py list --query` passing a visibility query through."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.worker import Worker

from deepagents_temporal.schema import AgentResult
from deepagents_temporal.search_attributes import PRIMARY_MODEL, PROFILE, RUN_STATUS, USER_ID, WORKFLOW_KIND
from deepagents_temporal.settings import Settings
from scripted_llm import ScriptedLLM
from tests.cli_process import ROOT, cluster_env
from tests.helpers import unique_request

PATIENCE = 180


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        cwd=ROOT,
        env=cluster_env(settings),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


async def test_a_finished_run_reads_well_in_describe_and_list(
    client: Client, settings: Settings, worker: Worker, llm: ScriptedLLM
) -> None:
    request = unique_request()
    done = await asyncio.to_thread(cli, settings, "run", "--profile", "qa", "--user", "alice", request)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.search(r"^run id: (\S+)$", done.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
    handle = client.get_workflow_handle(run_id, result_type=AgentResult)
    result = await handle.result()

    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(PROFILE) == "qa"
    assert attributes.get(WORKFLOW_KIND) == "supervisor"
    assert attributes.get(USER_ID) == "alice"
    assert attributes.get(RUN_STATUS) == "COMPLETED"
    assert attributes.get(PRIMARY_MODEL)
    assert await described.static_summary() == f"qa: {request}"
    details = await described.static_details()
    assert details and request in details and "**profile / workflow:** qa" in details

    child = await client.get_workflow_handle(result.children[0]).describe()
    assert child.typed_search_attributes.get(WORKFLOW_KIND) == "sub-agent"
    assert child.typed_search_attributes.get(PROFILE) == "qa"
    assert child.typed_search_attributes.get(RUN_STATUS) == "COMPLETED"

    # Current details: the last step, the todos and the sub-agents with their status.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "**qa_orchestrator** step" in metadata.current_details
    assert f"completed (`{result.children[0]}`)" in metadata.current_details

    # Visibility is eventually consistent: list until the run shows up (bounded).
    query = f"Profile='qa' AND UserId='alice' AND WorkflowKind='supervisor' AND WorkflowId='{run_id}'"
    async with asyncio.timeout(PATIENCE):
        while True:
            found = [e.id async for e in client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.5)
    assert found == [run_id]
    listed = await asyncio.to_thread(cli, settings, "list", "--query", query)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert run_id in listed.stdout and "COMPLETED" in listed.stdout
    bad = await asyncio.to_thread(cli, settings, "list", "--query", "Profile=")
    assert bad.returncode == 2 and "refused the query" in bad.stdout
