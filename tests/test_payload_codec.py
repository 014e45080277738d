"""Optional payload encryption (DEEPAGENT_PAYLOAD_KEY) and the codec server."""

from __future__ import annotations

import base64
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError

from cli.codec_server import CodecServer
from deepagents_temporal.payload_codec import ENCODING, EncryptionCodec, PayloadKeyError, parse_key
from deepagents_temporal.services import ConfigurationError, connect, data_converter, s3_client
from deepagents_temporal.settings import Settings
from scripted_llm import Reply, ScriptedLLM
from tests.helpers import ROOT, _payloads_in, failure_message, history_text, start_run
from worker import build_worker

# --------------------------------------------------------------------------- the key and the codec


def test_the_key_is_32_bytes_as_hex_or_base64() -> None:
    key = secrets.token_bytes(32)
    for text in (
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        f"  {key.hex()}\n",
    ):
        assert parse_key(text) == key
    for bad in ("", "abc", key.hex()[:-1], base64.b64encode(key[:16]).decode(), "z" * 64):
        with pytest.raises(PayloadKeyError) as err:
            parse_key(bad)
        assert "DEEPAGENT_PAYLOAD_KEY must be 32 random bytes" in str(err.value)
        assert "token_hex(32)" in str(err.value)  # and how to make one
    settings = Settings(s3_endpoint="127.0.0.1:9", s3_access_key="a", s3_secret_key="b", deepagent_payload_key="abc")
    with pytest.raises(ConfigurationError, match="DEEPAGENT_PAYLOAD_KEY"):
        data_converter(settings)


async def test_codec_round_trip_wrong_key_and_tampering() -> None:
    codec = EncryptionCodec(secrets.token_bytes(32))
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'"the request"')
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING and b"the request" not in sealed.data
    assert (await codec.decode([sealed])) == [original]
    # Payloads written before the key was set are read as they are.
    assert (await codec.decode([original])) == [original]
    with pytest.raises(PayloadKeyError, match="encrypted with key .* set the key the payloads were written with"):
        await EncryptionCodec(secrets.token_bytes(32)).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadKeyError, match="altered"):
        await codec.decode([tampered])


# --------------------------------------------------------------------------- an encrypted run


def _with_key(settings: Settings, key: str) -> Settings:
    return settings.model_copy(update={"deepagent_payload_key": SecretStr(key)})


async def _decoded_without_key(client: Client, workflow_id: str) -> tuple[str, int]:
    """The history as a reader without the key decodes it: payloads it cannot
    decode stay raw bytes. Returns the text and how many payloads were unreadable."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    parts, unreadable = [history.to_json()], 0
    for event in history.events:
        for payload in _payloads_in(event):
            try:
                parts.append(repr((await client.data_converter.decode([payload]))[0]))
            except Exception:  # noqa: BLE001 - an encrypted payload, as expected
                unreadable += 1
                parts.append(payload.data.decode("utf-8", "replace"))
    return "\n".join(parts), unreadable


def _stored_payloads(settings: Settings, workflow_id: str) -> list[Payload]:
    """The payloads ExternalStorage put in the bucket for this workflow."""
    s3 = s3_client(settings)
    stored = []
    for obj in s3.list_objects(settings.s3_bucket, prefix="payloads/", recursive=True):
        if f"/wi/{workflow_id}/" not in obj.object_name:
            continue
        response = s3.get_object(settings.s3_bucket, obj.object_name)
        try:
            stored.append(Payload.FromString(response.read()))
        finally:
            response.close()
            response.release_conn()
    return stored


async def test_an_encrypted_history_is_unreadable_without_the_key(
    client: Client, settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool
) -> None:
    settings = _with_key(settings, secrets.token_hex(32))
    keyed = await connect(settings)
    marker = f"encrypted-request-{uuid.uuid4().hex}"
    # Over the 128 KB threshold: the request also travels through ExternalStorage.
    request = f"{marker} " + "pad " * 40_000
    llm.add_rule(None, Reply.text("done"))
    async with await build_worker(keyed, settings, pool):
        handle = await start_run(keyed, settings, request, chain=["test-model"], static_summary=marker)
        await handle.result()

    # With the key: readable, the offloaded request included.
    assert request in await history_text(keyed, handle.id)
    # Without it: neither the raw history nor what a keyless converter decodes.
    raw = await handle.fetch_history()
    assert marker not in raw.to_json()
    for event in raw.events:
        for payload in _payloads_in(event):
            assert marker.encode() not in payload.data
    text, unreadable = await _decoded_without_key(client, handle.id)
    assert unreadable > 0 and marker not in text
    # The bucket's copies are ciphertext too.
    stored = _stored_payloads(settings, handle.id)
    assert stored, "no payload of this run went through ExternalStorage"
    for payload in stored:
        assert payload.metadata["encoding"] == ENCODING and marker.encode() not in payload.data


async def test_failure_messages_are_encrypted_too(settings: Settings, llm: ScriptedLLM, pool: asyncpg.Pool) -> None:
    settings = _with_key(settings, secrets.token_hex(32))
    keyed = await connect(settings)
    llm.add_rule(None, Reply.error(400, "unsupported parameter: temperature"))
    async with await build_worker(keyed, settings, pool):
        handle = await start_run(keyed, settings, chain=["test-model"])
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "unsupported parameter" in failure_message(failure.value)
    raw = (await handle.fetch_history()).to_json()
    assert "unsupported parameter" not in raw and "Encoded failure" in raw


# --------------------------------------------------------------------------- the codec server


UI_ORIGIN = "http://127.0.0.1:8233"


def _body(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def _payloads(response: httpx.Response) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in response.json()["payloads"]]


def test_codec_server_decodes_and_encodes_over_http() -> None:
    codec = EncryptionCodec(secrets.token_bytes(32))
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'"what the user asked"')
    sealed = codec.encrypt(original)
    with CodecServer(codec, port=0, origins=[UI_ORIGIN]) as server, httpx.Client(base_url=server.url) as http:
        decoded = http.post("/decode", json=_body(sealed), headers={"Origin": UI_ORIGIN, "X-Namespace": "default"})
        assert decoded.status_code == 200 and _payloads(decoded) == [original]
        assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        encoded = http.post("/encode", json=_body(original))
        [again] = _payloads(encoded)
        assert again.metadata["encoding"] == ENCODING and codec.decrypt(again) == original
        # The browser's preflight, from the UI and from any other page.
        allowed = http.options("/decode", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"})
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "x-namespace" in allowed.headers["access-control-allow-headers"]
        other = http.post("/decode", json=_body(sealed), headers={"Origin": "http://127.0.0.1:9999"})
        assert "access-control-allow-origin" not in other.headers
        bad = http.post("/decode", content=b"not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "payloads" in bad.json()["error"]
        assert http.post("/nothing", json=_body()).status_code == 404

    # A server with another key refuses, saying why.
    with CodecServer(EncryptionCodec(secrets.token_bytes(32)), port=0) as server:
        refused = httpx.post(f"{server.url}/decode", json=_body(sealed))
        assert refused.status_code == 400 and "encrypted with key" in refused.json()["error"]


def _command(env: dict[str, str]) -> subprocess.Popen:
    values = {k: v for k, v in os.environ.items() if k != "DEEPAGENT_PAYLOAD_KEY"}
    values.update({"TEMPORAL_UI_URL": UI_ORIGIN, "NO_COLOR": "1", **env})
    return subprocess.Popen(
        [sys.executable, str(ROOT / "starter.py"), "codec-server", "--port", "0"],
        cwd=ROOT,
        env=values,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_codec_server_command(started: list[subprocess.Popen]) -> None:
    key = secrets.token_bytes(32)
    process = _command({"DEEPAGENT_PAYLOAD_KEY": base64.b64encode(key).decode()})
    started.append(process)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    first = lines.get(timeout=60)
    assert first.startswith("codec server: http://127.0.0.1:"), first
    url = first.split()[2]
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
    response = httpx.post(f"{url}/decode", json=_body(EncryptionCodec(key).encrypt(original)), timeout=10)
    assert response.status_code == 200 and _payloads(response) == [original]
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


@pytest.mark.parametrize(
    ("key", "code", "says"),
    [(None, 2, "DEEPAGENT_PAYLOAD_KEY is not set"), ("abc", 2, "DEEPAGENT_PAYLOAD_KEY must be 32 random bytes")],
    ids=["missing", "malformed"],
)
def test_codec_server_command_without_a_usable_key(key: str | None, code: int, says: str) -> None:
    process = _command({} if key is None else {"DEEPAGENT_PAYLOAD_KEY": key})
    output, _ = process.communicate(timeout=60)
    assert process.returncode == code
    assert says in output and "Traceback" not in output
