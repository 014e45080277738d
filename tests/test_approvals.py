"""Human approval of tool calls: a profile's interrupt_on makes calls wait for a
decision (approve, reject with a reason, edit the arguments), an invalid
decision is refused with a reason and the wait goes on, a wait survives its
worker, a timeout applies the profile's default, and `approve` finds calls
waiting in sub-agents."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from minio import Minio
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from deepagents_temporal.approvals import ApprovalDecision, PendingApproval
from deepagents_temporal.profiles import ProfileFileError, parse_profile
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.services import data_converter, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.cli_process import ROOT, cluster_env
from tests.helpers import (
    bucket_text,
    failure_message,
    rows_text,
    start_run,
    stop_process,
    unique_request,
    worker_process,
)
from worker import WORKFLOWS, build_worker

GATED = """
name: gated
description: Writes files a person approves
system_prompt: You write files.
tools: [write_file, read_file, task]
interrupt_on:
  write_file: {allow: [approve, reject, edit]}
subagents:
  - name: writer
    description: Writes one file
    system_prompt: You are the writer sub-agent.
    tools: [write_file]
    interrupt_on: {write_file: true}
"""
TIMED = """
name: gated-timed
description: Writes files unless nobody approves in time
system_prompt: You write files.
tools: [write_file]
interrupt_on:
  write_file: {timeout_seconds: 1, on_timeout: reject}
"""
# No test may wait forever on a wait that is broken.
PATIENCE = 120


@pytest.fixture
def gated_settings(settings: Settings, tmp_path: Path) -> Settings:
    (tmp_path / "gated.yaml").write_text(GATED)
    (tmp_path / "timed.yaml").write_text(TIMED)
    return settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})


@pytest.fixture
async def gated_worker(client: Client, gated_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    async with await build_worker(client, gated_settings, pool) as running:
        yield running


async def waiting_call(handle: WorkflowHandle, call_id: str) -> PendingApproval:
    """The call once it waits (polled: it waits only after the model's answer)."""
    async with asyncio.timeout(PATIENCE):
        while True:
            try:
                pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                pending = []  # a sub-agent not started yet
            found = [p for p in pending if p.call_id == call_id]
            if found:
                return found[0]
            await asyncio.sleep(0.2)


async def refused(handle: WorkflowHandle, decision: ApprovalDecision) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update("decide", decision, result_type=str)
    return failure_message(failure.value)


def file_text(s3: Minio, bucket: str, run_id: str, path: str) -> str | None:
    text = bucket_text(s3, bucket, [f"runs/{run_id}/files{path}"])
    return text.split("\n", 1)[1] if text else None


def test_interrupt_on_names_unknown_tools_and_tools_the_agent_lacks() -> None:
    data = {
        "name": "p",
        "description": "d",
        "system_prompt": "s",
        "tools": ["read_file"],
        "interrupt_on": {"fetch_page": True, "write_file": {"allow": ["approve"], "on_timeout": "reject"}},
        "subagents": [],
    }
    with pytest.raises(ProfileFileError) as err:
        parse_profile(data, "p.yaml")
    text = str(err.value)
    assert "p.yaml: interrupt_on.fetch_page: unknown tool 'fetch_page'" in text
    assert "p.yaml: interrupt_on.write_file: 'write_file' is not one of this agent's tools: read_file" in text
    assert "on_timeout 'reject' is not one of allow (approve)" in text


async def test_approve_reject_edit_and_invalid_decisions(
    client: Client, gated_settings: Settings, gated_worker: Worker, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls(
            [
                ("write_file", {"file_path": "/a.md", "content": "A as asked"}, "call_a"),
                ("write_file", {"file_path": "/b.md", "content": "B as asked"}, "call_b"),
                ("write_file", {"file_path": "/c.md", "content": "C as asked"}, "call_c"),
            ]
        ),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("done"), times=1)
    handle = await start_run(client, gated_settings, request, profile="gated")

    first = await waiting_call(handle, "call_a")
    assert (first.tool, first.args, first.agent) == (
        "write_file",
        {"file_path": "/a.md", "content": "A as asked"},
        "gated",
    )
    # Refused, with the reason; the call goes on waiting.
    problem = await refused(handle, ApprovalDecision(call_id="call_zzz", decision="approve"))
    assert "no tool call 'call_zzz' is waiting" in problem and "call_a" in problem
    problem = await refused(handle, ApprovalDecision(call_id="call_a", decision="edit", args={"file_path": 3}))
    assert "invalid arguments for write_file" in problem and "content" in problem
    problem = await refused(handle, ApprovalDecision(call_id="call_a", decision="edit"))
    assert "edit needs the new arguments" in problem
    assert [p.call_id for p in await handle.query("pending_approvals", result_type=list[PendingApproval])] == ["call_a"]
    # The UI's current details show the waiting call.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "waiting for approval" in metadata.current_details and "`call_a` write_file" in metadata.current_details
    await handle.execute_update("decide", ApprovalDecision(call_id="call_a", decision="approve"), result_type=str)

    await waiting_call(handle, "call_b")
    await handle.execute_update(
        "decide", ApprovalDecision(call_id="call_b", decision="reject", reason="b.md is not wanted"), result_type=str
    )
    await waiting_call(handle, "call_c")
    edited = {"file_path": "/c.md", "content": "C as edited by a person"}
    await handle.execute_update(
        "decide", ApprovalDecision(call_id="call_c", decision="edit", args=edited), result_type=str
    )

    result: AgentResult = await asyncio.wait_for(handle.result(), PATIENCE)
    assert result.answer == "done"
    s3 = s3_client(gated_settings)
    bucket = gated_settings.s3_bucket
    assert file_text(s3, bucket, handle.id, "/a.md") == "A as asked"
    assert file_text(s3, bucket, handle.id, "/b.md") is None
    assert file_text(s3, bucket, handle.id, "/c.md") == "C as edited by a person"
    # The model was told of the rejection, with the reason.
    last = [r.request for r in llm.requests if mine(r.request) and r.request.turn == 1][0]
    told = {m["tool_call_id"]: m["content"] for m in last.messages if m.get("role") == "tool"}
    assert "a person rejected it" in told["call_b"] and "b.md is not wanted" in told["call_b"]
    rows = await rows_text(pool, handle.id)
    assert "approval of write_file: reject by a person" in rows and "approval of write_file: edit by a person" in rows
    # The refused decisions left nothing in history that would change its replay.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(gated_settings))
    await replayer.replay_workflow(await handle.fetch_history())


async def test_file_calls_after_one_waiting_for_approval_wait_too(
    client: Client, gated_settings: Settings, gated_worker: Worker, llm: ScriptedLLM
) -> None:
    """The model activity runs a reply's file calls up to the first one that needs a
    person; the ones after it run after the decision, in the model's order."""
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls(
            [
                ("read_file", {"file_path": "/a.md"}, "read_before"),
                ("write_file", {"file_path": "/a.md", "content": "A as asked"}, "call_a"),
                ("read_file", {"file_path": "/a.md"}, "read_after"),
            ]
        ),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("done"), times=1)
    handle = await start_run(client, gated_settings, request, profile="gated")

    await waiting_call(handle, "call_a")
    assert file_text(s3_client(gated_settings), gated_settings.s3_bucket, handle.id, "/a.md") is None
    await handle.execute_update("decide", ApprovalDecision(call_id="call_a", decision="approve"), result_type=str)
    result: AgentResult = await asyncio.wait_for(handle.result(), PATIENCE)
    assert result.answer == "done"

    last = [r.request for r in llm.requests if mine(r.request) and r.request.turn == 1][0]
    told = {m["tool_call_id"]: m["content"] for m in last.messages if m.get("role") == "tool"}
    assert "not found" in told["read_before"].lower()
    assert "A as asked" in told["read_after"]
    # The first read ran in the model activity; the approved write and the read after it did not.
    history = await handle.fetch_history()
    file_tools = [
        e for e in history.events if e.activity_task_scheduled_event_attributes.activity_type.name == "file_tool"
    ]
    assert len(file_tools) == 2


async def test_a_waiting_call_survives_its_worker(
    client: Client, gated_settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls([("write_file", {"file_path": "/kept.md", "content": "kept"}, "call_kept")]),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("written"), times=1)
    profiles = str(tmp_path)
    first = worker_process(gated_settings, DEEPAGENT_PROFILES=profiles)
    second = None
    try:
        handle = await start_run(client, gated_settings, request, profile="gated")
        await waiting_call(handle, "call_kept")
        stop_process(first)
        second = worker_process(gated_settings, DEEPAGENT_PROFILES=profiles)
        # A new worker rebuilds the wait from history and takes the decision.
        await handle.execute_update(
            "decide", ApprovalDecision(call_id="call_kept", decision="approve"), result_type=str
        )
        result: AgentResult = await asyncio.wait_for(handle.result(), PATIENCE)
    finally:
        stop_process(first)
        stop_process(second)
    assert result.answer == "written"
    assert file_text(s3_client(gated_settings), gated_settings.s3_bucket, handle.id, "/kept.md") == "kept"


async def test_the_timeout_applies_the_profiles_default(
    client: Client, gated_settings: Settings, gated_worker: Worker, llm: ScriptedLLM
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls([("write_file", {"file_path": "/late.md", "content": "late"}, "call_late")]),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("gave up"), times=1)
    handle = await start_run(client, gated_settings, request, profile="gated-timed")
    result: AgentResult = await asyncio.wait_for(handle.result(), PATIENCE)
    assert result.answer == "gave up"
    last = [r.request for r in llm.requests if mine(r.request) and r.request.turn == 1][0]
    told = {m["tool_call_id"]: m["content"] for m in last.messages if m.get("role") == "tool"}
    assert "the approval timed out" in told["call_late"] and "default is to reject" in told["call_late"]
    assert file_text(s3_client(gated_settings), gated_settings.s3_bucket, handle.id, "/late.md") is None


async def test_approve_command_decides_a_sub_agents_call(
    client: Client, gated_settings: Settings, gated_worker: Worker, llm: ScriptedLLM, tmp_path: Path
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    sub = "You are the writer sub-agent."
    llm.add_rule(
        lambda r: mine(r) and r.turn == 0,
        Reply.tool_calls([("task", {"description": f"write the notes for {request}", "subagent_type": "writer"})]),
        times=1,
    )
    llm.add_rule(
        lambda r: sub in r.system_prompt and r.turn == 0,
        Reply.tool_calls([("write_file", {"file_path": "/notes.md", "content": "draft"}, "call_sub")]),
        times=1,
    )
    llm.add_rule(lambda r: sub in r.system_prompt and r.turn == 1, Reply.text("notes written"), times=1)
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("all done"), times=1)
    handle = await start_run(client, gated_settings, request, profile="gated")
    child = client.get_workflow_handle(f"{handle.id}/writer-1")
    await waiting_call(child, "call_sub")

    env = cluster_env(gated_settings, DEEPAGENT_PROFILES=str(tmp_path))
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "approve", handle.id, "--reject", "--reason", "not now"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "call_sub" in listed.stdout and f"{handle.id}/writer-1" in listed.stdout
    assert "reject: write_file call call_sub (writer)" in listed.stdout
    result: AgentResult = await asyncio.wait_for(handle.result(), PATIENCE)
    assert result.answer == "all done"
    told = [
        m["content"]
        for r in llm.requests
        if sub in r.request.system_prompt and r.request.turn == 1
        for m in r.request.messages
        if m.get("role") == "tool"
    ]
    assert any("not now" in t for t in told)

    # Nothing waits any more: said, and a decision given then is an error.
    again = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "approve", handle.id, "--approve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert again.returncode == 1 and "is waiting for approval" in again.stdout
