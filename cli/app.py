"""The commands, their options and exit codes, on typer.

Each command parses its options here and runs its work (a coroutine from the
module named after it) through ``_execute``, which turns what can go wrong
into the CLI's exit codes: 130 on Ctrl-C, 141 when the output pipe closed,
1 with one line instead of a traceback for any other error. ``main`` is the
entry of `starter.py` and of the `deepagents-temporal` script; it leaves
through ``hard_exit`` (temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn

import typer

from cli import codec_server, database, dev, inspect, run
from cli.console import say
from deepagents_temporal import pgstore
from deepagents_temporal.profiles import DEFAULT_PROFILE, PROFILES
from deepagents_temporal.services import hard_exit

# Long runs need continue-as-new (not there yet), so the loop stays bounded.
MAX_STEPS_LIMIT = 500

DESCRIPTION = (
    "Start, follow and inspect durable deep-agent runs.\n\n"
    "Without TEMPORAL_ADDRESS every command uses the embedded stack: the one `starter.py dev` is running, "
    "or one it starts for its own duration (Temporal dev server with web UI, an S3 server and PostgreSQL, "
    "all on loopback, data kept under ~/.local/share/deepagents-temporal) with an in-process worker. "
    "Without OPENAI_API_KEY and OPENAI_BASE_URL that worker talks to the offline demo model."
)

_HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(help=DESCRIPTION, add_completion=False, context_settings=_HELP_OPTIONS)
db_app = typer.Typer(help="database maintenance", context_settings=_HELP_OPTIONS)
app.add_typer(db_app, name="db")


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="show worker and SDK logs")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = verbose


def _execute(ctx: typer.Context, work: Coroutine[Any, Any, int]) -> NoReturn:
    try:
        code = asyncio.run(work)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Output piped into `head` that closed early: nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except Exception as err:  # noqa: BLE001 - one clear line, not a traceback
        if ctx.find_root().obj:
            traceback.print_exc()
        say(f"error: {type(err).__name__}: {err}")
        code = 1
    raise typer.Exit(code)


def _step_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_STEPS_LIMIT:
        raise typer.BadParameter(f"must be between 1 and {MAX_STEPS_LIMIT}, got {value}")
    return value


RunId = Annotated[str, typer.Argument(metavar="ID", show_default=False)]


@app.command("run")
def run_command(
    ctx: typer.Context,
    request: Annotated[str, typer.Argument(metavar="REQUEST", help="what the supervisor agent should do")],
    profile: Annotated[
        str, typer.Option(metavar="NAME", help=f"agent profile (known: {', '.join(PROFILES)})", show_default=True)
    ] = DEFAULT_PROFILE,
    max_steps: Annotated[
        int | None,
        typer.Option(
            parser=_step_limit,
            metavar="N",
            help=f"model-call limit for the supervisor, 1-{MAX_STEPS_LIMIT} (default: the profile's)",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(metavar="ID", help="user id: namespaces the agents' long-term /memories/ (default: shared)"),
    ] = None,
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="also run a worker in this process when TEMPORAL_ADDRESS is set")
    ] = False,
) -> None:
    """start a run and follow it to the end (exit 0 when COMPLETED)"""
    _execute(ctx, run.run(request, profile=profile, max_steps=max_steps, user=user, with_worker=with_worker))


@app.command("status")
def status_command(ctx: typer.Context, run_id: RunId) -> None:
    """show a run's status, todos and sub-agents"""
    _execute(ctx, inspect.status(run_id))


@app.command("result")
def result_command(ctx: typer.Context, run_id: RunId) -> None:
    """wait for a run's end and print its answer (exit 0 when COMPLETED)"""
    _execute(ctx, inspect.result(run_id))


@app.command("dev")
def dev_command(ctx: typer.Context) -> None:
    """run the embedded stack and a worker in the foreground"""
    _execute(ctx, dev.dev())


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(metavar="N", help="how many runs")] = 20,
    status: Annotated[
        pgstore.RunStatus | None,
        typer.Option(
            metavar="STATUS",
            help=f"only runs with this status: {', '.join(pgstore.RunStatus)}",
            show_default=False,
        ),
    ] = None,
    include_sub_agents: Annotated[bool, typer.Option("--all", help="include sub-agent runs")] = False,
) -> None:
    """recent runs from PostgreSQL: id, profile, status, duration, tokens, models"""
    _execute(
        ctx,
        inspect.list_runs(limit=limit, status=status.value if status else None, include_sub_agents=include_sub_agents),
    )


@app.command("show")
def show_command(ctx: typer.Context, run_id: RunId) -> None:
    """a run's decision timeline, sub-agents and artifacts, from PostgreSQL"""
    _execute(ctx, inspect.show(run_id))


@db_app.command("migrate")
def db_migrate_command(ctx: typer.Context) -> None:
    """apply pending schema migrations (idempotent)"""
    _execute(ctx, database.migrate())


app.command("codec-server")(codec_server.command)


def main(argv: list[str] | None = None) -> None:
    try:
        typer.main.get_command(app).main(args=argv)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
    hard_exit(code)
