"""The README's generated parts: the configuration table and the CLI reference.

    python -m cli.docs --write README.md     # regenerate both in place, between their markers
    python -m cli.docs config-table          # print one of them
    python -m cli.docs cli-reference

The configuration table comes from the ``Settings`` class: one row per field
(its environment variable, its default, its meaning) plus the variables read
outside it (``EXTRA_VARIABLES``). A field's meaning is its ``Field(description=...)``,
else ``MEANINGS`` here; a new setting without either stops the generator,
naming it. The CLI reference comes from the commands' own ``--help`` output
(rendered wide, so no line is wrapped), and ``python worker.py --help`` for the
worker. tests/test_readme.py checks that the README holds what this prints.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from deepagents_temporal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WIDE = "1000"

# Meanings of the settings whose Field has no description (the description wins).
MEANINGS = {
    "TEMPORAL_ADDRESS": "host:port of Temporal; unset: the embedded stack",
    "TEMPORAL_NAMESPACE": "must exist on the server",
    "TEMPORAL_TASK_QUEUE": "the task queue the runs go to and the workers poll",
    "TEMPORAL_UI_URL": "base of the links to runs (the embedded stack sets its own UI)",
    "OPENAI_API_KEY": "read only by workers, never put in workflow inputs or history",
    "OPENAI_BASE_URL": "any OpenAI-compatible server (Ollama, vLLM, ...); unset: OpenAI",
    "DEEPAGENT_MODEL": "primary model, read by the workers (`offline-demo` with the offline demo model)",
    "DEEPAGENT_FALLBACK_MODELS": "comma-separated, tried in order, read by the workers",
    "DEEPAGENT_MODEL_TIMEOUT": "seconds per model request (1-3600) of the runs `run` starts; "
    "raise it for slow local models",
    "S3_ENDPOINT": "host:port of the S3 server (MinIO, SeaweedFS, AWS); unset: the embedded stack's",
    "S3_ACCESS_KEY": "access key of `S3_ENDPOINT`",
    "S3_SECRET_KEY": "secret key of `S3_ENDPOINT`",
    "S3_BUCKET": "the bucket of run files, reports, logs and large payloads (created if missing)",
    "S3_SECURE": "`true`: https to `S3_ENDPOINT`",
    "DATABASE_URL": "`postgresql://user:password@host:port/database`; unset: the embedded stack's",
    "DEEPAGENT_PAYLOAD_KEY": "32 random bytes as 64 hex digits or base64 "
    '(`python -c "import secrets; print(secrets.token_hex(32))"`): every Temporal payload (history, '
    "failure messages, the bucket's `payloads/`) is AES-GCM encrypted; workers and `starter.py` need the "
    "same key; unset: not encrypted",
}
# Read from the environment outside Settings: (name, default, meaning).
EXTRA_VARIABLES = [
    ("DEEPAGENT_DEBUG", "unset", "`1`: errors come with their traceback (as `--debug` does)"),
]
WORKER_MEANING = "a worker against `TEMPORAL_ADDRESS`; stops cleanly on SIGINT/SIGTERM"

MARKERS = {
    "config-table": "configuration table",
    "cli-reference": "CLI reference",
}


# --------------------------------------------------------------------------- configuration table


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_text(name: str, field: object) -> str:
    default = field.default  # type: ignore[attr-defined]
    if default is PydanticUndefined and field.default_factory is not None:  # type: ignore[attr-defined]
        default = field.default_factory()  # type: ignore[attr-defined]
    if default is None or isinstance(default, SecretStr) and not default.get_secret_value():
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    if isinstance(default, list):
        return f"`{','.join(map(str, default))}`" if default else "none"
    if isinstance(default, dict) and not default:
        return "unset"
    return f"`{default}`"


def config_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, in the class's order, then the extra variables."""
    prefix = Settings.model_config.get("env_prefix", "") or ""
    rows = []
    for name, field in Settings.model_fields.items():
        variable = (field.alias or f"{prefix}{name}").upper()
        meaning = field.description or MEANINGS.get(variable)
        if not meaning:
            raise SystemExit(
                f"cli/docs.py: setting {variable} has no meaning: give it Field(description=...) "
                "in deepagents_temporal/settings.py"
            )
        rows.append((variable, _default_text(variable, field), meaning))
    return rows + list(EXTRA_VARIABLES)


def config_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v}` | {_cell(d)} | {_cell(m)} |" for v, d, m in config_rows()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI reference


def _help_text(args: list[str]) -> str:
    """``starter.py ARGS --help`` as the CLI prints it, wide enough that nothing wraps."""
    from typer.testing import CliRunner

    from cli.app import app

    env = {"COLUMNS": WIDE, "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(app, [*args, "--help"], env=env, prog_name="starter.py")
    if result.exit_code != 0:
        raise SystemExit(f"cli/docs.py: starter.py {' '.join(args)} --help exited {result.exit_code}")
    return result.output


def _panel_rows(text: str, title: str) -> list[list[str]]:
    """The rows of one of rich's help panels ("Options", "Commands", ...), split into their columns."""
    rows: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("╭"):
            inside = re.match(rf"╭─ {re.escape(title)} ─", stripped) is not None
        elif stripped.startswith("╰"):
            inside = False
        elif inside and stripped.startswith("│"):
            rows.append(re.split(r"\s{2,}", stripped.strip("│").strip()))
    return rows


def _usage_parts(text: str) -> tuple[list[str], bool]:
    """What a command takes, in usage syntax; whether it is a group of commands."""
    parts = []
    for row in _panel_rows(text, "Options"):
        names = [cell for cell in row if cell.startswith("-")]
        if "--help" in names:
            continue
        long_name = next((n for n in names if n.startswith("--")), names[0])
        # The first word: "N [1<=X<=10000]" shows a range after the metavar.
        metavar = next((cell for cell in row if not cell.startswith("-")), "<bool>").split()[0]
        parts.append(f"[{long_name}]" if metavar == "<bool>" else f"[{long_name} {metavar.strip('<>').upper()}]")
    for row in _panel_rows(text, "Arguments"):
        required = row[0] == "*"
        name = row[1] if required else row[0]
        parts.append(name if required else f"[{name}]")
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    return parts, "COMMAND [ARGS]..." in usage


def _commands(text: str) -> list[tuple[str, str]]:
    return [(row[0], row[1] if len(row) > 1 else "") for row in _panel_rows(text, "Commands")]


def _worker_usage() -> str:
    env = {**os.environ, "COLUMNS": WIDE}
    out = subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    usage = next(line for line in out.splitlines() if line.startswith("usage:"))
    return re.sub(r"\s*\[-h\]", "", usage.removeprefix("usage:").strip()).replace("worker.py", "python worker.py", 1)


def cli_rows() -> list[tuple[str, str]]:
    """(usage, one-line help) of every command, from the commands' --help."""
    top = _help_text([])
    global_parts, _ = _usage_parts(top)
    rows = [(f"python starter.py {' '.join(global_parts)} COMMAND ...", "options that go with every command")]

    def walk(path: list[str], help_line: str) -> None:
        text = _help_text(path)
        parts, is_group = _usage_parts(text)
        if is_group:
            for name, sub_help in _commands(text):
                walk([*path, name], sub_help)
            return
        rows.append((" ".join(["python starter.py", *path, *parts]), help_line))

    for name, help_line in _commands(top):
        walk([name], help_line)
    rows.append((_worker_usage(), WORKER_MEANING))
    return rows


def cli_reference() -> str:
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `{usage}` | {_cell(help_line)} |" for usage, help_line in cli_rows()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- README


GENERATORS = {"config-table": config_table, "cli-reference": cli_reference}


def _block(kind: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {kind} .*?-->\n)(.*?)(<!-- end: {kind} -->)", re.S)


def readme_block(text: str, kind: str) -> str | None:
    """The generated block ``kind`` as it stands in ``text``; None when its markers are missing."""
    match = _block(kind).search(text)
    return match.group(2).rstrip("\n") if match else None


def regenerate(text: str) -> str:
    for kind, generate in GENERATORS.items():
        if readme_block(text, kind) is None:
            raise SystemExit(f"cli/docs.py: no markers for the {MARKERS[kind]} ({kind}) in the README")
        content = generate()
        text = _block(kind).sub(lambda m, c=content: m.group(1) + c + "\n" + m.group(3), text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=sorted(GENERATORS), help="print this part")
    parser.add_argument("--write", metavar="README", type=Path, help="regenerate every part in this file")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(regenerate(args.write.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"regenerated {', '.join(MARKERS.values())} in {args.write}")
    elif args.part:
        print(GENERATORS[args.part]())
    else:
        parser.error("name a part or give --write README")


if __name__ == "__main__":
    main()
