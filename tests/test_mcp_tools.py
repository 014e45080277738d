"""MCP tools end to end: a profile naming a stdio and a streamable-HTTP MCP
server (the example glossary server, started by the test on loopback), the
scripted model calling their tools. The tools are listed once at run start,
each call is an `mcp_tool` activity, a server killed mid-run becomes a tool
error naming it while the run goes on, a server down at start leaves its tools
out, and the secret header never reaches the history."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from deepagents_temporal.profiles import ProfileFileError, parse_profile
from deepagents_temporal.schema import AgentResult
from deepagents_temporal.settings import Settings
from scripted_llm import ChatRequest, Reply, ScriptedLLM
from tests.helpers import ROOT, history_text, rows_text, start_run, unique_request
from worker import build_worker

SERVER = ROOT / "examples" / "glossary" / "glossary_server.py"
TOKEN_VARIABLE = "TEST_GLOSSARY_TOKEN"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HttpServer:
    """The glossary server over streamable HTTP, in a process of its own."""

    def __init__(self, token: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--http", str(self.port)],
            env={"PATH": "/usr/bin:/bin", "GLOSSARY_TOKEN": token},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the MCP server exited at start"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("the MCP server did not listen within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"glossary-secret-{uuid.uuid4().hex}"
    # The worker's environment: the profile says ${TEST_GLOSSARY_TOKEN}.
    monkeypatch.setenv(TOKEN_VARIABLE, value)
    return value


@pytest.fixture
def http_server(secret: str) -> Iterator[HttpServer]:
    server = HttpServer(secret)
    try:
        yield server
    finally:
        server.stop()


def _profile(url: str, down_url: str) -> str:
    return f"""
name: glossary
description: Looks terms up in MCP glossaries
system_prompt: You look testing terms up.
tools: [mcp:local/*, mcp:remote/define, mcp:gone/*]
max_steps: 5
mcp_servers:
  local: {{command: {sys.executable}, args: [{SERVER}], timeout_seconds: 60}}
  remote:
    url: {url}
    headers: {{Authorization: "Bearer ${{{TOKEN_VARIABLE}}}"}}
    retries: 1
  gone: {{url: "{down_url}", timeout_seconds: 10}}
"""


@pytest.fixture
async def mcp_worker(
    client: Client, settings: Settings, pool: asyncpg.Pool, http_server: HttpServer, tmp_path: Path
) -> AsyncIterator[Settings]:
    (tmp_path / "glossary.yaml").write_text(_profile(http_server.url, f"http://127.0.0.1:{_free_port()}/mcp"))
    configured = settings.model_copy(update={"deepagent_profiles": [str(tmp_path)]})
    async with await build_worker(client, configured, pool):
        yield configured


def _told(llm: ScriptedLLM, mine, turn: int) -> dict[str, str]:  # noqa: ANN001
    request: ChatRequest = next(r.request for r in llm.requests if mine(r.request) and r.request.turn == turn)
    return {m["tool_call_id"]: m["content"] for m in request.messages if m.get("role") == "tool"}


async def _activity_types(client: Client, run_id: str) -> list[str]:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_tools_of_both_servers_are_listed_and_called_and_the_secret_stays_out(
    client: Client, mcp_worker: Settings, llm: ScriptedLLM, secret: str, pool: asyncpg.Pool
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731
    seen: list[list[str]] = []

    def first_turn(r: ChatRequest) -> bool:
        if mine(r) and r.turn == 0:
            seen.append(r.tool_names)
            return True
        return False

    llm.add_rule(
        first_turn,
        Reply.tool_calls(
            [
                ("local_define", {"term": "flaky test"}, "stdio"),
                ("remote_define", {"term": "smoke test"}, "http"),
                ("local_define", {"term": "teapot"}, "unknown"),
            ]
        ),
        times=1,
    )
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("done"), times=1)
    handle = await start_run(client, mcp_worker, request, profile="glossary")
    result: AgentResult = await handle.result()
    assert result.answer == "done"

    # The tools the entries grant, by server_tool name; the server that is down is left out.
    assert sorted(seen[0]) == ["local_define", "local_list_terms", "remote_define"]
    told = _told(llm, mine, 1)
    assert told["stdio"].startswith("flaky test: a test that passes and fails")
    assert told["http"].startswith("smoke test: a quick check")
    assert told["unknown"].startswith("Error: tool local_define (MCP server local) reported an error: ")
    assert "no definition of 'teapot'" in told["unknown"]

    types = await _activity_types(client, handle.id)
    assert types.count("list_mcp_tools") == 1
    assert types.count("mcp_tool") == 3
    rows = await rows_text(pool, handle.id)
    assert "MCP server gone (streamable HTTP: http://127.0.0.1:" in rows and "cannot be reached" in rows

    # The header went to the server (it answered), its value never to the history or the rows.
    text = await history_text(client, handle.id)
    assert f"${{{TOKEN_VARIABLE}}}" in text
    assert secret not in text
    assert secret not in rows


async def test_a_server_killed_mid_run_is_a_tool_error_and_the_run_goes_on(
    client: Client, mcp_worker: Settings, llm: ScriptedLLM, http_server: HttpServer, secret: str
) -> None:
    request = unique_request()
    mine = lambda r: request in r.first_user_text  # noqa: E731

    def first_turn(r: ChatRequest) -> bool:
        if mine(r) and r.turn == 0:
            # The tools were listed when the run started; now the server goes away.
            http_server.stop()
            return True
        return False

    llm.add_rule(first_turn, Reply.tool_calls([("remote_define", {"term": "regression"}, "dead")]), times=1)
    llm.add_rule(lambda r: mine(r) and r.turn == 1, Reply.text("carried on without it"), times=1)
    handle = await start_run(client, mcp_worker, request, profile="glossary")
    result: AgentResult = await handle.result()
    assert result.answer == "carried on without it"

    told = _told(llm, mine, 1)["dead"]
    assert told.startswith("Error: tool remote_define failed after 2 attempts: MCP server remote (streamable HTTP: ")
    assert "cannot be reached" in told
    assert secret not in await history_text(client, handle.id)


def test_profile_file_names_each_mcp_mistake() -> None:
    data = {
        "name": "broken",
        "description": "x",
        "system_prompt": "x",
        "tools": ["mcp:nowhere/*", "mcp:files", "mcp:both/read"],
        "mcp_servers": {
            "both": {"command": "python", "url": "http://127.0.0.1:1/mcp"},
            "neither": {"args": ["-m", "x"]},
            "web": {"url": "ftp://example/mcp"},
            "stdio": {"command": "python", "headers": {"A": "b"}},
        },
    }
    with pytest.raises(ProfileFileError) as caught:
        parse_profile(data, "broken.yaml")
    problems = dict(caught.value.problems)
    assert "give either command" in problems["mcp_servers.both"]
    assert "give either command" in problems["mcp_servers.neither"]
    assert "must start with http:// or https://" in problems["mcp_servers.web"]
    assert "headers are for url servers" in problems["mcp_servers.stdio"]
    assert "unknown MCP server 'nowhere'" in problems["tools[0]"]
    assert "write MCP tools as mcp:<server>/<tool>" in problems["tools[1]"]


def test_a_profile_keeps_the_variable_not_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "never-in-a-profile")
    profile = parse_profile(
        {
            "name": "p",
            "description": "x",
            "system_prompt": "x",
            "tools": ["mcp:remote/*"],
            "mcp_servers": {
                "remote": {"url": "http://127.0.0.1:1/mcp", "headers": {"X-Key": f"${{{TOKEN_VARIABLE}}}"}}
            },
        },
        "p.yaml",
    )
    assert profile.mcp_servers["remote"].headers == {"X-Key": f"${{{TOKEN_VARIABLE}}}"}
    assert "never-in-a-profile" not in profile.model_dump_json()
