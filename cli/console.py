"""Where the CLI's output goes: one rich console on stdout.

Every line the commands print goes through ``say`` so that it is written the
same way everywhere: as plain text (no markup, emoji codes or wrapping, so run
ids, paths and presigned URLs come out intact), styled only on a terminal, and
never coloured when ``NO_COLOR`` is set (rich reads it). Lines printed while a
live view is on screen appear above it.
"""

from __future__ import annotations

from rich.console import Console
from rich.style import Style
from rich.text import Text


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit with 1 here; the CLI ends a closed pipe with 141 (see cli.app).
        self.quiet = True
        raise BrokenPipeError


console = _Console(highlight=False)


def say(text: str = "", *, style: str | Style | None = None) -> None:
    console.print(Text(text, style=style or ""), soft_wrap=True)
