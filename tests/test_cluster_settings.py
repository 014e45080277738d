"""Settings for services past one machine: TLS / API key for Temporal, S3_REGION for AWS S3,
sslmode for PostgreSQL. What can be checked without those services: the settings reach the
clients, and a wrong one is named in two lines without a traceback or the secret."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from deepagents_temporal.service_errors import ConfigurationError
from deepagents_temporal.services import open_database, s3_client
from deepagents_temporal.settings import Settings
from tests.helpers import stop_process, worker_output, worker_process

API_KEY = "tmprl-api-key-sentinel-4711"


def _worker_fails(settings: Settings, **env: str) -> tuple[int, str]:
    process = worker_process(settings, **env)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        stop_process(process)
        raise
    return process.returncode, worker_output(process)


def test_a_client_certificate_needs_its_key_and_readable_pem_files(settings: Settings, tmp_path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    code, output = _worker_fails(settings, TEMPORAL_TLS_CERT=str(cert))
    assert code == 2, output
    assert "error: TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not" in output
    assert "Traceback" not in output

    code, output = _worker_fails(settings, TEMPORAL_TLS_CERT=str(cert), TEMPORAL_TLS_KEY=str(tmp_path / "missing.key"))
    assert code == 2, output
    assert f"error: TEMPORAL_TLS_KEY={tmp_path / 'missing.key'} is not valid: No such file or directory" in output


def test_an_api_key_turns_tls_on_and_never_shows(settings: Settings) -> None:
    # The dev server speaks plain gRPC: a TLS client cannot talk to it, and says so.
    code, output = _worker_fails(settings, TEMPORAL_API_KEY=API_KEY)
    assert code == 3, output
    assert f"cannot reach Temporal at {settings.temporal_address}" in output
    assert "the server speaks TLS" in output and "unset TEMPORAL_TLS* and TEMPORAL_API_KEY" in output
    assert API_KEY not in output and "Traceback" not in output


def test_aws_s3_uses_its_region_and_virtual_host_style(settings: Settings) -> None:
    aws = settings.model_copy(
        update={"s3_endpoint": "s3.eu-west-1.amazonaws.com", "s3_secure": True, "s3_region": "eu-west-1"}
    )
    # A presigned link is made without a request: the link users get for an artifact.
    url = urlsplit(s3_client(aws).presigned_get_object("my-bucket", "reports/r1/final_answer.md"))
    assert url.scheme == "https"
    assert url.netloc == "my-bucket.s3.eu-west-1.amazonaws.com"
    assert url.path == "/reports/r1/final_answer.md"
    assert "%2Feu-west-1%2Fs3%2Faws4_request" in url.query

    with pytest.raises(ConfigurationError) as bad:
        s3_client(settings.model_copy(update={"s3_region": "eu west"}))
    assert "S3_REGION=eu west is not valid" in bad.value.problem


async def test_postgres_sslmode_in_the_url_is_honoured(settings: Settings) -> None:
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    joiner = "&" if "?" in dsn else "?"
    # The embedded PostgreSQL has no TLS: sslmode=disable and prefer connect, require fails and says why.
    for mode in ("disable", "prefer"):
        pool = await open_database(
            settings.model_copy(update={"database_url": SecretStr(f"{dsn}{joiner}sslmode={mode}")})
        )
        try:
            assert await pool.fetchval("SELECT 1") == 1
        finally:
            await pool.close()
    code, output = _worker_fails(settings, DATABASE_URL=f"{dsn}{joiner}sslmode=require")
    assert code == 3, output
    assert "TLS failed (the server does not offer TLS; sslmode=require)" in output
    assert "enable TLS on the server, or set sslmode=prefer (or disable) in DATABASE_URL" in output
    assert "Traceback" not in output
