"""The README's generated parts equal what the code says, and its commands are CI's.

The configuration table must list every setting of the ``Settings`` class with
its default, and the CLI reference every command with its options and one-line
help as ``--help`` prints them. `python -m cli.docs --write README.md`
regenerates both.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from cli import docs
from deepagents_temporal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REGENERATE = "run `python -m cli.docs --write README.md`"


def test_the_configuration_table_is_the_settings_class() -> None:
    assert docs.readme_block(README, "config-table") == docs.config_table(), REGENERATE
    listed = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", docs.readme_block(README, "config-table") or "", re.M)
    names = {name for name, _ in listed}
    assert {name.upper() for name in Settings.model_fields} <= names
    defaults = dict(listed)
    assert defaults["TEMPORAL_TASK_QUEUE"].strip() == f"`{Settings.model_fields['temporal_task_queue'].default}`"


def test_the_cli_reference_is_what_help_prints() -> None:
    assert docs.readme_block(README, "cli-reference") == docs.cli_reference(), REGENERATE
    # Every command that `starter.py --help` lists is in it, with its one-line help.
    top = docs._help_text([])
    for name, help_line in docs._commands(top):
        _, is_group = docs._usage_parts(docs._help_text([name]))
        if not is_group:  # a group's commands are listed one by one
            assert f"`python starter.py {name}" in README and help_line in README, name
    run_help = docs._help_text(["run"])
    for option in re.findall(r"--[\w-]+", run_help):
        if option != "--help":
            assert f"[{option}" in README, option


def test_the_readme_opens_with_the_two_commands_ci_runs() -> None:
    commands = [line.strip() for line in README.split("---", 1)[0].splitlines() if line.startswith("    ")]
    assert len(commands) == 2 and "starter.py run" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_the_architecture_picture_and_benchmarks_page_exist() -> None:
    for target in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / target).is_file(), target
    picture = re.search(r"!\[[^\]]+\]\((docs/[^)]+\.svg)\)", README)
    assert picture is not None
    svg = ElementTree.parse(ROOT / picture.group(1)).getroot()
    assert svg.tag.endswith("svg") and "worker.py" in ElementTree.tostring(svg, encoding="unicode")
