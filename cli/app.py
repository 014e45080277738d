"""The commands, their options and exit codes, on typer.

Each command parses its options here and runs its work (a coroutine from the
module named after it) through ``_execute``, which turns what can go wrong
into the CLI's exit codes: 130 on Ctrl-C, 141 when the output pipe closed,
2 for a missing or invalid setting, 3 when a service cannot be used (down,
refusing the credentials), each with two lines saying what and what to do,
and 1 with one line for any other error; the traceback only with --debug or
DEEPAGENT_DEBUG=1. ``main`` is the entry of `starter.py` and of the
`deepagents-temporal` script; it leaves through ``hard_exit``
(temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn

import typer

from cli import (
    approve,
    cancel,
    codec_server,
    database,
    dev,
    document,
    index,
    inspect,
    onboard,
    profiles,
    query_list,
    run,
    supply,
    upload,
    watch,
)
from cli import report as reporting
from cli.console import say
from deepagents_temporal import pgstore
from deepagents_temporal.documents.schema import MAX_FANOUT
from deepagents_temporal.onboarding.schema import MAX_WAIT_SECONDS
from deepagents_temporal.reports.schema import DEFAULT_REPORT_TYPE
from deepagents_temporal.reports.types import REPORT_TYPES
from deepagents_temporal.service_errors import debug_requested, report
from deepagents_temporal.services import hard_exit, temporal_runtime
from deepagents_temporal.settings import MODEL_TIMEOUT_RANGE

LIST_LIMIT = 10_000

DESCRIPTION = (
    "Start, follow and inspect durable deep-agent runs.\n\n"
    "Without TEMPORAL_ADDRESS every command uses the embedded stack: the one `starter.py dev` is running, "
    "or one it starts for its own duration (Temporal dev server with web UI, an S3 server and PostgreSQL, "
    "all on loopback, data kept under ~/.local/share/deepagents-temporal); `run` adds an in-process worker "
    "to a stack it started. Without OPENAI_API_KEY and OPENAI_BASE_URL that worker talks to the offline demo "
    "model. status, result, watch, list and show only read: they never run a worker.\n\n"
    "Exit codes: 0 done (a run COMPLETED), 1 the run failed (or an unexpected error), 2 a bad option or "
    "setting, 3 a service cannot be used (down, refusing the credentials), 130 interrupted."
)

_HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(help=DESCRIPTION, add_completion=False, context_settings=_HELP_OPTIONS)
db_app = typer.Typer(help="database maintenance", context_settings=_HELP_OPTIONS)
app.add_typer(db_app, name="db")
profiles_app = typer.Typer(
    help="the agent profiles: built-in, DEEPAGENT_PROFILES files, with the tools of DEEPAGENT_TOOL_MODULES",
    context_settings=_HELP_OPTIONS,
)
app.add_typer(profiles_app, name="profiles")


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="show worker and SDK logs")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of an error (also DEEPAGENT_DEBUG=1)")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = debug or debug_requested()
    temporal_runtime()


def _execute(ctx: typer.Context, work: Coroutine[Any, Any, int]) -> NoReturn:
    try:
        code = asyncio.run(work)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # Output piped into `head` that closed early: nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except Exception as err:  # noqa: BLE001 - two clear lines, not a traceback
        code = report(err, say, debug=bool(ctx.find_root().obj))
    raise typer.Exit(code)


def _model_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"not a number of seconds: {text!r}") from None
    low, high = MODEL_TIMEOUT_RANGE
    if not low <= value <= high:
        raise typer.BadParameter(f"must be between {low:g} and {high:g} seconds, got {text}")
    return value


# Options several commands share.
WithWorker = Annotated[
    bool, typer.Option("--with-worker", help="also run a worker in this process when TEMPORAL_ADDRESS is set")
]
ModelTimeout = Annotated[
    float | None,
    typer.Option(
        parser=_model_timeout, metavar="SECONDS", help="per model request (default: DEEPAGENT_MODEL_TIMEOUT, 60)"
    ),
]


def _step_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"not a whole number: {text!r}") from None
    # No upper bound: a long run continues as new (workflows/continue_as_new.py).
    if value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}")
    return value


def _token_budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"not a whole number of tokens: {text!r}") from None
    if value < 1:
        raise typer.BadParameter(f"must be a positive number of tokens, got {value}")
    return value


RunId = Annotated[str, typer.Argument(metavar="ID", show_default=False)]


@app.command("run")
def run_command(
    ctx: typer.Context,
    request: Annotated[str, typer.Argument(metavar="REQUEST", help="what the agents should do")],
    profile: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="agent profile (`profiles list` shows them); default: a routing step (one model call) chooses "
            "the profile or workflow",
            show_default=False,
        ),
    ] = None,
    workflow_name: Annotated[
        str | None,
        typer.Option(
            "--workflow",
            metavar="NAME",
            help="send the request to this workflow without the routing step; its inputs come from "
            "key=value words of REQUEST",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            parser=_step_limit,
            metavar="N",
            help="model-call limit for the supervisor, at least 1 (default: the profile's)",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(metavar="ID", help="user id: namespaces the agents' long-term /memories/ (default: shared)"),
    ] = None,
    with_worker: WithWorker = False,
    model_timeout: Annotated[
        float | None,
        typer.Option(
            parser=_model_timeout,
            metavar="SECONDS",
            help="per model request; a timeout moves on to the next model (default: DEEPAGENT_MODEL_TIMEOUT, 60)",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            parser=_token_budget,
            metavar="N",
            help="token budget of the whole run, sub-agents included: the run fails before a model call "
            "once it has used N tokens (default: the profile's, else none)",
        ),
    ] = None,
    continue_as_new_steps: Annotated[
        int | None,
        typer.Option(
            parser=_step_limit,
            metavar="N",
            help="each agent continues as new (a fresh Temporal history, same run) after N model calls "
            "(default: when Temporal suggests it or its history reaches 10,000 events)",
        ),
    ] = None,
) -> None:
    """start a run and follow it to the end (exit 0 when COMPLETED, 1 when it failed)"""
    _execute(
        ctx,
        run.run(
            request,
            profile=profile,
            workflow=workflow_name,
            max_steps=max_steps,
            user=user,
            with_worker=with_worker,
            model_timeout=model_timeout,
            max_tokens=max_tokens,
            continue_as_new_steps=continue_as_new_steps,
        ),
    )


@app.command("upload")
def upload_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", help="the file to put in the bucket", show_default=False)],
    name: Annotated[
        str | None, typer.Option("--as", metavar="NAME", help="its name in the bucket (default: the file's)")
    ] = None,
    template: Annotated[
        bool,
        typer.Option(
            "--template",
            help="a report template (.xlsx) or onboarding checklist (.yaml, .yml, .xlsx): goes to templates/ "
            "instead of uploads/",
        ),
    ] = False,
) -> None:
    """put a data file or document in uploads/, or a template or checklist in templates/; prints its key and sha256"""
    _execute(ctx, upload.upload(path, name=name, template=template))


@app.command("index")
def index_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="files or folders (recursively) to index; with --from-uploads, names under uploads/",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        str, typer.Option(metavar="NAME", help="the collection the documents go to (search_documents' collection)")
    ] = "default",
    from_uploads: Annotated[
        bool,
        typer.Option("--from-uploads", help="index objects under uploads/ in the bucket (all of them without names)"),
    ] = False,
) -> None:
    """index documents (text, Markdown, HTML, PDF, DOCX) for search_documents and the rag profile (idempotent)"""
    _execute(ctx, index.index(paths or [], collection=collection, from_uploads=from_uploads))


@app.command("report")
def report_command(
    ctx: typer.Context,
    template: Annotated[
        str, typer.Option(metavar="NAME", help="the template's name in templates/", show_default=False)
    ],
    data: Annotated[str, typer.Option(metavar="NAME", help="the data file's name in uploads/", show_default=False)],
    kind: Annotated[
        str, typer.Option("--type", metavar="TYPE", help=f"report type: {', '.join(sorted(REPORT_TYPES))}")
    ] = DEFAULT_REPORT_TYPE,
    narrative: Annotated[
        bool, typer.Option("--narrative/--no-narrative", help="ask the model for a short narrative")
    ] = True,
    with_worker: WithWorker = False,
    model_timeout: Annotated[
        float | None,
        typer.Option(
            parser=_model_timeout,
            metavar="SECONDS",
            help="per model request of the narrative (default: DEEPAGENT_MODEL_TIMEOUT, 60)",
        ),
    ] = None,
) -> None:
    """make a report from a template and a data file, follow it and print its links (exit 0 when COMPLETED)"""
    _execute(
        ctx,
        reporting.report(
            template=template,
            data=data,
            kind=kind,
            narrative=narrative,
            with_worker=with_worker,
            model_timeout=model_timeout,
        ),
    )


@app.command("document")
def document_command(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="the document's name in uploads/ (.txt, .md, .html, .docx, .pdf)")
    ],
    fanout: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_FANOUT,
            metavar="N",
            help="sections summarised at once (default: the workers' DEEPAGENT_DOCUMENT_FANOUT, 4)",
            show_default=False,
        ),
    ] = None,
    with_worker: WithWorker = False,
    model_timeout: ModelTimeout = None,
) -> None:
    """summarise an uploaded document section by section and extract its key facts (summary.md, facts.json)"""
    _execute(ctx, document.document(name, fanout=fanout, with_worker=with_worker, model_timeout=model_timeout))


@app.command("onboard")
def onboard_command(
    ctx: typer.Context,
    checklist: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="the checklist's name in templates/ (.yaml, .yml, .xlsx)", show_default=False
        ),
    ],
    client: Annotated[
        str,
        typer.Option(metavar="FOLDER", help="the client's folder in uploads/ (e.g. clients/acme)", show_default=False),
    ],
    wait: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=MAX_WAIT_SECONDS,
            metavar="SECONDS",
            help="how long the run waits for missing fields before it ends listing them; 0: no wait "
            "(default: the workers' DEEPAGENT_ONBOARDING_WAIT, a day)",
            show_default=False,
        ),
    ] = None,
    with_worker: WithWorker = False,
    model_timeout: ModelTimeout = None,
) -> None:
    """onboard a client from their documents against a checklist; follows it until it ends or waits for fields"""
    _execute(
        ctx,
        onboard.onboard(
            checklist=checklist, client=client, wait=wait, with_worker=with_worker, model_timeout=model_timeout
        ),
    )


@app.command("supply")
def supply_command(
    ctx: typer.Context,
    run_id: RunId,
    values: Annotated[
        list[str] | None,
        typer.Argument(metavar="FIELD=VALUE...", help="the fields to supply; none: list what the run waits for"),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="who supplies them (recorded; default: a person)", show_default=False),
    ] = None,
) -> None:
    """give a waiting onboarding run its missing fields (validated; refused with the reason); follows it to its end"""
    _execute(ctx, supply.supply(run_id, values or [], by=by))


@app.command("status")
def status_command(ctx: typer.Context, run_id: RunId) -> None:
    """show a run's status, todos and sub-agents"""
    _execute(ctx, inspect.status(run_id))


@app.command("result")
def result_command(ctx: typer.Context, run_id: RunId) -> None:
    """wait for a run's end and print its answer (exit 0 when COMPLETED)"""
    _execute(ctx, inspect.result(run_id))


@app.command("watch")
def watch_command(ctx: typer.Context, run_id: RunId) -> None:
    """follow any run live (todos, sub-agents, model calls, text as written) to its end, exit as `result`"""
    _execute(ctx, watch.watch(run_id))


@app.command("dev")
def dev_command(ctx: typer.Context) -> None:
    """run the embedded stack and a worker in the foreground"""
    _execute(ctx, dev.dev())


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=LIST_LIMIT, help="how many runs")] = 20,
    status: Annotated[
        pgstore.RunStatus | None,
        typer.Option(
            metavar="STATUS",
            help=f"only runs with this status: {', '.join(pgstore.RunStatus)}",
            show_default=False,
        ),
    ] = None,
    include_sub_agents: Annotated[bool, typer.Option("--all", help="include sub-agent runs")] = False,
    query: Annotated[
        str | None,
        typer.Option(
            metavar="QUERY",
            help="ask Temporal instead, with this visibility query (search attributes Profile, WorkflowKind, "
            "PrimaryModel, UserId, RunStatus), e.g. \"Profile='qa'\"",
            show_default=False,
        ),
    ] = None,
) -> None:
    """recent runs from PostgreSQL: id, profile, status, duration, tokens, cost, models"""
    if query is not None:
        _execute(ctx, query_list.list_by_query(query, limit=limit))
    _execute(
        ctx,
        inspect.list_runs(limit=limit, status=status.value if status else None, include_sub_agents=include_sub_agents),
    )


@app.command("show")
def show_command(ctx: typer.Context, run_id: RunId) -> None:
    """a run's decision timeline, sub-agents and artifacts, from PostgreSQL"""
    _execute(ctx, inspect.show(run_id))


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    run_id: RunId,
    call: Annotated[
        str | None,
        typer.Option(metavar="CALL_ID", help="the waiting call to decide on (needed when several wait)"),
    ] = None,
    approve_: Annotated[bool, typer.Option("--approve", help="run the call as the model asked")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="do not run it; the model is told so")] = False,
    edit: Annotated[
        str | None,
        typer.Option(metavar="JSON", help="run it with these arguments instead (a JSON object)", show_default=False),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="why, with --reject: told to the model", show_default=False)
    ] = None,
) -> None:
    """tool calls of a run and its sub-agents waiting for approval; asks about each, or decides as told"""
    _execute(ctx, approve.approve(run_id, call=call, approve=approve_, reject=reject, edit=edit, reason=reason))


@app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    run_id: RunId,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="why: recorded with the run's rows", show_default=False)
    ] = None,
) -> None:
    """cancel a run and its sub-agents; waits for their CANCELLED rows and lists the files kept"""
    _execute(ctx, cancel.cancel(run_id, reason=reason))


@db_app.command("migrate")
def db_migrate_command(ctx: typer.Context) -> None:
    """apply pending schema migrations (idempotent)"""
    _execute(ctx, database.migrate())


@profiles_app.command("list")
def profiles_list_command(ctx: typer.Context) -> None:
    """every profile with its sub-agents, tools and file (exit 2 if a file is invalid)"""
    _execute(ctx, profiles.list_profiles())


@profiles_app.command("show")
def profiles_show_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME", show_default=False)]
) -> None:
    """one profile as runs get it: prompts, tools, models, sub-agents (general-purpose included)"""
    _execute(ctx, profiles.show_profile(name))


@profiles_app.command("check")
def profiles_check_command(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", help="profile files or folders of them")],
) -> None:
    """validate profile files; every problem with its file, field and reason (exit 2 if any)"""
    _execute(ctx, profiles.check_profiles(paths))


app.command("codec-server")(codec_server.command)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # --debug works after the command too (`run --debug "..."`), as people type it.
    end = args.index("--") if "--" in args else len(args)
    if "--debug" in args[1:end]:
        args = ["--debug", *(arg for i, arg in enumerate(args) if not (i < end and arg == "--debug"))]
    try:
        typer.main.get_command(app).main(args=args)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
    hard_exit(code)
