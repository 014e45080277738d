"""Settings read from the environment. Names are part of the public interface."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deepagents_temporal.service_errors import ConfigurationError

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
    deepagent_tool_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="modules with @tool functions (comma-separated, importable on PYTHONPATH)",
    )

    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "deepagents"
    s3_secure: bool = False

    database_url: SecretStr | None = None

    # 32 random bytes (64 hex digits or base64): encrypts every Temporal payload
    # (AES-GCM, deepagents_temporal/payload_codec.py); unset = no encryption.
    deepagent_payload_key: SecretStr | None = None

    # Model name -> USD per million input / output tokens, read by the workers
    # (JSON, PRICES_EXAMPLE): runs then record what they cost.
    deepagent_prices: Annotated[dict[str, ModelPrice], NoDecode] = Field(default_factory=dict)

    @field_validator("deepagent_fallback_models", "deepagent_profiles", "deepagent_tool_modules", mode="before")
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
