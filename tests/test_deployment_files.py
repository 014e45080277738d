"""docker-compose.yml, the Dockerfile and their companions, checked without Docker.

The compose file is parsed (PyYAML) and its ``${...}`` interpolated with the
values of ``.env.example``, as `docker compose` would with that file copied to
``.env``; the Dockerfile is read instruction by instruction.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from deepagents_temporal.service_errors import require_settings
from deepagents_temporal.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
OFFICIAL_IMAGES = (
    "postgres",
    "temporalio/server",
    "temporalio/admin-tools",
    "temporalio/ui",
    "minio/minio",
    "minio/mc",
)


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise AssertionError(f"{name} must be set: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        return value or ""

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}", one, text)


def service_env(name: str, env: dict[str, str] | None = None) -> dict[str, str | None]:
    """A service's environment as the container gets it; a name without a value is passed through from .env."""
    env = env_example() if env is None else env
    raw = SERVICES[name].get("environment") or {}
    return {key: interpolate(str(value), env) if value is not None else env.get(key) for key, value in raw.items()}


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def test_the_worker_gets_every_setting_under_its_own_name() -> None:
    raw = SERVICES["worker"]["environment"]
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in raw]
    assert not missing, (
        f"docker-compose.yml: the worker does not get {', '.join(missing)}; add each to its environment "
        "(with a value, or `NAME:` alone to pass it through from .env)"
    )


def test_the_worker_settings_load_and_cover_what_worker_py_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in service_env("worker").items():
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = load_settings()
    require_settings(settings, ["temporal", "s3", "postgres"], "worker.py")
    # The offline demo of .env.example: the workers talk to the demo-model service.
    host, port = host_port(urlsplit(settings.openai_base_url or "").netloc)
    assert host == "demo-model" and f"{port}" in " ".join(SERVICES["demo-model"]["entrypoint"])
    assert "demo" in env_example()["COMPOSE_PROFILES"] and SERVICES["demo-model"]["profiles"] == ["demo"]


def test_addresses_and_credentials_agree_between_services() -> None:
    worker = service_env("worker")
    postgres = service_env("postgres")
    minio = service_env("minio")

    host, port = host_port(worker["TEMPORAL_ADDRESS"] or "")
    assert SERVICES[host]["image"].startswith("temporalio/server:")
    assert port == 7233 and f"{port}" in SERVICES[host]["healthcheck"]["test"]
    for name in ("temporal-ui", "temporal-namespace"):
        assert service_env(name)["TEMPORAL_ADDRESS"] == worker["TEMPORAL_ADDRESS"]
    assert service_env("temporal-namespace")["TEMPORAL_NAMESPACE"] == worker["TEMPORAL_NAMESPACE"]

    host, port = host_port(worker["S3_ENDPOINT"] or "")
    assert SERVICES[host]["image"].startswith("minio/minio:") and port == 9000  # MinIO's API port by default
    assert "--address" not in SERVICES[host]["command"]
    assert (worker["S3_ACCESS_KEY"], worker["S3_SECRET_KEY"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    bucket = service_env("minio-bucket")
    assert bucket["S3_BUCKET"] == worker["S3_BUCKET"] and "http://minio:9000" in SERVICES["minio-bucket"]["command"][0]

    url = urlsplit(worker["DATABASE_URL"] or "")
    assert SERVICES[url.hostname or ""]["image"].startswith("postgres:") and url.port == 5432
    assert (url.username, url.password, url.path.lstrip("/")) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    temporal = service_env("temporal")
    schema = service_env("temporal-schema")
    assert temporal["POSTGRES_SEEDS"] == schema["SQL_HOST"] == url.hostname
    assert temporal["POSTGRES_USER"] == schema["SQL_USER"] == url.username
    assert temporal["POSTGRES_PWD"] == schema["SQL_PASSWORD"] == url.password

    # Links to runs open the UI where compose publishes it.
    ui_port = SERVICES["temporal-ui"]["ports"][0]
    published = interpolate(ui_port, env_example()).split(":")
    assert worker["TEMPORAL_UI_URL"] == f"http://localhost:{published[-2]}" and published[-1] == "8080"
    # The starter reaches the same services the worker does, and gets no model secret.
    starter = service_env("starter")
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "S3_ENDPOINT", "DATABASE_URL"):
        assert starter[name] == worker[name]
    assert not [name for name in starter if name.startswith("OPENAI_")]


def test_ordering_uses_health_checks_and_completed_init_services() -> None:
    image_has_healthcheck = any(instruction == "HEALTHCHECK" for instruction, _ in final_stage())
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends.items():
            condition = rule["condition"]
            assert condition in ("service_healthy", "service_completed_successfully"), (name, dependency)
            target = SERVICES[dependency]
            if condition == "service_healthy":
                own = target.get("healthcheck", {})
                built_here = target.get("build") == "." and image_has_healthcheck
                assert (own.get("test") and not own.get("disable")) or built_here, f"{dependency} has no health check"
            else:
                # A one-shot service restarted on exit would never complete.
                assert target.get("restart") in (None, "no", "on-failure"), dependency
    for name in ("postgres", "temporal", "minio", "worker"):
        assert SERVICES[name].get("restart") == "unless-stopped"
    assert SERVICES["worker"]["depends_on"]["temporal-namespace"]["condition"] == "service_completed_successfully"
    assert SERVICES["worker"]["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"
    assert SERVICES["starter"]["profiles"] == ["starter"]
    assert SERVICES["starter"]["entrypoint"] == ["python", "-m", "starter"]


def test_images_are_official_and_pinned_and_data_lives_on_named_volumes() -> None:
    env = env_example()
    for name, service in SERVICES.items():
        image = interpolate(service["image"], env)
        if service.get("build") == ".":
            assert image == "deepagents-temporal:latest", name
            continue
        repo, _, tag = image.rpartition(":")
        assert repo in OFFICIAL_IMAGES and tag and tag != "latest", f"{name}: {image}"
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") and (ROOT / source).is_file() or source in declared, (name, volume)
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "minio-data:/data" in SERVICES["minio"]["volumes"]


def test_search_attributes_are_registered_exactly_when_the_code_uses_them() -> None:
    sources = [p for d in ("workflows", "activities", "deepagents_temporal", "cli") for p in (ROOT / d).rglob("*.py")]
    sources.append(ROOT / "worker.py")
    used = [p for p in sources if re.search(r"search_attribute|SearchAttribute", p.read_text())]
    registers = "search-attribute create" in SERVICES["temporal-namespace"]["command"][0]
    assert registers == bool(used), f"search attributes used in {used}; register them in temporal-namespace"


def test_secrets_come_from_env_which_git_ignores() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    assert ignored, ".env must be in .gitignore"
    tracked = subprocess.run(["git", "ls-files", ".env.example"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == ".env.example"
    example = env_example()
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        assert example[name].startswith("change-me"), f"{name} in .env.example must be a placeholder"
        assert "${" + name + ":?" in (ROOT / "docker-compose.yml").read_text(), f"{name} has no default: it is a secret"
    # Without .env the stack refuses to start, naming the variable.
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD must be set"):
        service_env("postgres", env={})


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def dockerfile_instructions_named(name: str) -> list[str]:
    return [args for instruction, args in dockerfile_instructions() if instruction == name]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


def test_the_image_is_multi_stage_and_runs_worker_py_as_a_non_root_user() -> None:
    assert len(dockerfile_instructions_named("FROM")) >= 2
    stage = final_stage()
    users = [args for instruction, args in stage if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    entrypoint = [args for instruction, args in stage if instruction == "ENTRYPOINT"]
    assert entrypoint == ['["python", "-m", "worker"]']
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "worker" in pyproject["tool"]["setuptools"]["py-modules"] and (ROOT / "worker.py").is_file()
    assert "main()" in (ROOT / "worker.py").read_text().split('if __name__ == "__main__":')[1]
    healthcheck = dict(stage)["HEALTHCHECK"]
    module = re.search(r'"-m", "([\w.]+)"', healthcheck).group(1)  # type: ignore[union-attr]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
    assert "--timeout=" in healthcheck and "--start-period=" in healthcheck


def test_the_image_installs_the_project_from_pyproject_without_extras() -> None:
    runs = "; ".join(dockerfile_instructions_named("RUN"))
    installs = re.findall(r"pip install ([^&;]+)", runs)
    assert [shlex.split(i) for i in installs] == [["."]], installs  # the pyproject of the build context, no [test]
    copied = " ".join(dockerfile_instructions_named("COPY"))
    assert "pyproject.toml" in copied and "README.md" in copied  # the readme pyproject.toml names
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for module in pyproject["tool"]["setuptools"]["py-modules"]:
        assert f"{module}.py" in copied, f"the image lacks {module}.py"
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"{package}/" in copied, f"the image lacks the package {package}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored
    for needed in ("pyproject.toml", "README.md", "worker.py", "cli", "deepagents_temporal"):
        assert needed not in ignored
