"""Settings read from the environment. Names are part of the public interface.

Each setting added for running past one machine (worker roles, tuning, TLS,
metrics, tracing) carries its meaning in ``description=``: the README's
configuration table and docs/deployment.md are written from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deepagents_temporal.service_errors import ConfigurationError

# What a worker runs (worker.py --role): see docs/deployment.md.
WorkerRole = Literal["all", "workflows", "models", "io"]
# Bounds of DEEPAGENT_MODEL_TIMEOUT and `run --model-timeout` (seconds).
MODEL_TIMEOUT_RANGE = (1.0, 3600.0)
PRICES_EXAMPLE = '{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}'


class ModelPrice(BaseModel):
    """What a model costs, in USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


_PRICE_TABLE = TypeAdapter(dict[str, ModelPrice])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    temporal_address: str | None = Field(default=None, description="host:port of Temporal; unset = embedded dev stack")
    temporal_namespace: str = "default"
    temporal_task_queue: str = "deepagents"
    # Temporal Cloud or any TLS/mTLS cluster (docs/deployment.md).
    temporal_tls: bool = Field(
        default=False,
        description="connect to Temporal over TLS (implied by TEMPORAL_TLS_CERT, TEMPORAL_TLS_CA or TEMPORAL_API_KEY)",
    )
    temporal_tls_cert: Path | None = Field(
        default=None, description="client certificate file (PEM) for mTLS; needs TEMPORAL_TLS_KEY"
    )
    temporal_tls_key: Path | None = Field(
        default=None, description="client private key file (PEM) for mTLS; needs TEMPORAL_TLS_CERT"
    )
    temporal_tls_ca: Path | None = Field(
        default=None, description="CA certificate file (PEM) to verify the server with; unset = the system's CAs"
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="name the server's certificate is checked against, when not its address's host"
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="API key for Temporal Cloud (sent as a bearer token, over TLS)"
    )
    # Where links to runs point; the embedded stack fills it in itself.
    temporal_ui_url: str | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    deepagent_model: str = "gpt-4o-mini"
    deepagent_fallback_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Per HTTP request to the model, for the runs this starter starts (it rides
    # in the run's input, so the workers apply it); a timeout moves on to the
    # next model. Long enough for a long answer, short enough that a model
    # server that never answers fails the call within a couple of minutes.
    deepagent_model_timeout: float = Field(default=60.0, ge=MODEL_TIMEOUT_RANGE[0], le=MODEL_TIMEOUT_RANGE[1])

    deepagent_profiles: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="profile files or folders of them (comma-separated), added to the built-in profiles",
    )
    deepagent_default_profile: str = Field(
        default="qa",
        description="the profile a request goes to when the router's answer names nothing registered",
    )
    deepagent_tool_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="modules with @tool functions (comma-separated, importable on PYTHONPATH)",
    )

    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "deepagents"
    s3_secure: bool = False
    s3_region: str | None = Field(
        default=None,
        description="region of the bucket (AWS S3: e.g. eu-west-1); AWS endpoints use virtual-host style requests",
    )

    database_url: SecretStr | None = None

    # 32 random bytes (64 hex digits or base64): encrypts every Temporal payload
    # (AES-GCM, deepagents_temporal/payload_codec.py); unset = no encryption.
    deepagent_payload_key: SecretStr | None = None

    deepagent_prices: Annotated[dict[str, ModelPrice], NoDecode] = Field(
        default_factory=dict,
        description="read by the workers: JSON, model -> USD per million input and output tokens, e.g. "
        '`{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}`; runs then record their cost (sub-agents included); '
        "unset: no costs",
    )

    # Scaling: which parts a worker runs and how much of each at once (docs/deployment.md).
    deepagent_worker_role: WorkerRole = Field(
        default="all",
        description="what `python worker.py` runs unless --role says: all, workflows, models (model calls) "
        "or io (file, log and PostgreSQL activities)",
    )
    deepagent_model_concurrency: int = Field(
        default=20,
        ge=1,
        description="model calls one worker runs at once (on the <TEMPORAL_TASK_QUEUE>-models queue): "
        "the knob for provider rate limits",
    )
    deepagent_stream_text: bool = Field(
        default=True,
        description="read by the workers: stream the models' text to `run` and `watch` as it is written "
        "(PostgreSQL NOTIFY); false: plain requests, for a server that refuses streaming or its usage report",
    )
    deepagent_max_concurrent_workflow_tasks: int = Field(
        default=100, ge=1, description="workflow tasks one worker runs at once"
    )
    deepagent_max_concurrent_activities: int = Field(
        default=100, ge=1, description="file and store activities one worker runs at once (model calls excluded)"
    )
    deepagent_workflow_task_pollers: int = Field(
        default=5, ge=1, description="concurrent polls for workflow tasks per worker"
    )
    deepagent_activity_task_pollers: int = Field(
        default=5, ge=1, description="concurrent polls for activity tasks per worker and queue"
    )
    deepagent_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve the worker's Prometheus metrics (the Temporal SDK's) on this port at /metrics; unset = off",
    )
    deepagent_metrics_host: str = Field(
        default="0.0.0.0", description="address the metrics port listens on (127.0.0.1: this machine only)"
    )
    deepagent_document_fanout: int = Field(
        default=4,
        ge=1,
        le=32,
        description="read by the workers: sections of a document run (`document`) summarised at once, "
        "each a child workflow",
    )
    deepagent_onboarding_wait: float = Field(
        default=86_400.0,
        ge=0,
        le=366 * 86_400,
        description="read by the workers: seconds an onboarding run waits for missing fields to be supplied "
        "(`supply`) before it ends listing them; 0 = no wait; at most a year",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector (e.g. http://collector:4318): traces of every run are sent there; "
        "unset = tracing off",
    )

    # fetch_url (deepagents_temporal/fetch/): the bounds of one fetch, read by the workers.
    deepagent_fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="hosts fetch_url may reach even at private, loopback or link-local addresses "
        "(comma-separated names or IPs, matched exactly); unset: only public addresses",
    )
    deepagent_fetch_max_bytes: int = Field(
        default=10_000_000, ge=1, description="largest page or file fetch_url brings in (bytes)"
    )
    deepagent_fetch_timeout: float = Field(
        default=30.0, gt=0, le=600, description="seconds one fetch_url attempt may take, redirects included"
    )
    deepagent_fetch_max_redirects: int = Field(
        default=5, ge=0, le=20, description="redirects fetch_url follows (each hop's address checked again)"
    )
    # RAG (deepagents_temporal/rag/): embeddings make search hybrid.
    deepagent_embeddings_model: str | None = Field(
        default=None,
        description="embeddings model (same OPENAI_BASE_URL and key as the chat model): chunks are embedded by "
        "the workers and search_documents is hybrid; unset: keyword search only",
    )

    @field_validator(
        "deepagent_fallback_models",
        "deepagent_profiles",
        "deepagent_tool_modules",
        "deepagent_fetch_allow",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("deepagent_prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        # One message naming the model and field, instead of pydantic's nested locations.
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"not JSON ({err.msg} at character {err.pos}); expected {PRICES_EXAMPLE}") from None
        try:
            return _PRICE_TABLE.validate_python(value)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(
                f"{where + ': ' if where else ''}{first['msg']}; expected model -> USD per million "
                f"input and output tokens, like {PRICES_EXAMPLE}"
            ) from None

    @property
    def model_task_queue(self) -> str:
        """The queue of the model calls; workflows derive the same name from their own queue."""
        return f"{self.temporal_task_queue}-models"

    @property
    def metrics_address(self) -> str | None:
        """host:port of the Prometheus endpoint, or None when metrics are off."""
        if self.deepagent_metrics_port is None:
            return None
        host = self.deepagent_metrics_host
        return f"[{host}]:{self.deepagent_metrics_port}" if ":" in host else f"{host}:{self.deepagent_metrics_port}"

    @property
    def temporal_uses_tls(self) -> bool:
        return bool(
            self.temporal_tls or self.temporal_tls_cert or self.temporal_tls_ca or self.temporal_api_key is not None
        )

    @property
    def model_chain(self) -> list[str]:
        """Primary model first, then the fallbacks in order, without repeats."""
        chain: list[str] = []
        for name in [self.deepagent_model, *self.deepagent_fallback_models]:
            if name not in chain:
                chain.append(name)
        return chain


def load_settings() -> Settings:
    """The settings from the environment; :class:`ConfigurationError` naming the bad ones."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}={error.get('input')!r}: {error['msg']}"
            for error in err.errors(include_url=False)
        )
        raise ConfigurationError(f"invalid setting: {problems}", "fix or unset it (README, Configuration)") from None
