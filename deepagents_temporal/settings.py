"""Settings read from the environment. Names are part of the public interface."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deepagents_temporal.service_errors import ConfigurationError

# Bounds of DEEPAGENT_MODEL_TIMEOUT and `run --model-timeout` (seconds).
MODEL_TIMEOUT_RANGE = (1.0, 3600.0)


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

    @field_validator("deepagent_fallback_models", "deepagent_profiles", "deepagent_tool_modules", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

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
