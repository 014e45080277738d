"""What each activity's summary in the Temporal UI says: pure functions of what the workflow knows.

A summary (``execute_activity(..., summary=...)``, user metadata of the
scheduled activity) is fixed when the activity is scheduled, before it runs.
So a model call's summary names the model the call starts with and the models
the run already skips with their reason (``gpt-4o-mini (after gpt-x 404)``);
which model finally answered, after which failed attempts, is in the
activity's result and the agent's ``model`` progress event. With no chain in
the run (the workers' ``DEEPAGENT_MODEL`` chain), the workflow names no model
it cannot know; it names the previous reply's file calls the model activity
ran itself (``· after write_file /scenarios/e2e.md``). Tools say what they act on (``write_file /scenarios/e2e.md``,
``save_table title="Q3"``), record writes how many rows (``record 12 rows``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal import s3
    from deepagents_temporal.schema import RecordBatch, ToolCall

# The UI shows a line; anything longer is cut.
MAX_SUMMARY_CHARS = 200
MAX_ARGUMENT_CHARS = 60
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
# The argument each file tool acts on, in deepagents' names.
_FILE_TARGETS = {
    "ls": ("path",),
    "read_file": ("file_path",),
    "write_file": ("file_path",),
    "edit_file": ("file_path",),
    "glob": ("pattern", "path"),
    "grep": ("pattern", "path"),
}


def short_reason(reason: str) -> str:
    """Why a model is skipped, in a word: its HTTP status when there is one."""
    found = _HTTP_STATUS.search(reason)
    if found:
        return found.group(1)
    if "401 or 404" in reason:
        return "401/404"
    return _cut(reason, 30)


def model_call(
    agent: str,
    step: int,
    chain: list[str],
    skipped: Mapping[str, str],
    last_model: str = "",
    files_before: Sequence[str] = (),
) -> str:
    """``gpt-4o-mini (after gpt-x 404; fallback gpt-4o) · supervisor step 3 · after write_file /a.md``.

    ``chain``: the models this call may use, in order (the skipped ones already
    left out); empty when the workers' own chain decides, which the workflow
    does not know: then the summary says so, and which model answered the
    agent's previous call (``last_model``). ``skipped``: models this run no
    longer asks, with why. ``files_before``: the previous reply's file calls that
    its own model activity ran (they have no activity of their own to show)."""
    after = [f"{model} {short_reason(reason)}" for model, reason in skipped.items() if model not in chain]
    notes = []
    if chain:
        head = chain[0]
    else:
        head = "workers' models"
        if last_model:
            notes.append(f"last answer {last_model}")
    if after:
        notes.append("after " + ", ".join(after))
    if len(chain) > 1:
        notes.append("fallback " + ", ".join(chain[1:]))
    text = head + (f" ({'; '.join(notes)})" if notes else "")
    files = f" · after {', '.join(files_before)}" if files_before else ""
    return _cut(f"{text} · {agent} step {step}{files}", MAX_SUMMARY_CHARS)


def _argument(value: Any) -> str:
    if isinstance(value, str):
        return _cut(" ".join(value.split()), MAX_ARGUMENT_CHARS)
    return _cut(json.dumps(value, ensure_ascii=False, default=str), MAX_ARGUMENT_CHARS)


def file_tool(call: ToolCall) -> str:
    """``write_file /scenarios/e2e.md``, ``grep TODO in /src``."""
    names = _FILE_TARGETS.get(call.name, ())
    shown = [_argument(call.args[name]) for name in names if name in call.args]
    if call.name in ("glob", "grep") and len(shown) == 2:
        return _cut(f"{call.name} {shown[0]} in {shown[1]}", MAX_SUMMARY_CHARS)
    return _cut(" ".join([call.name, *shown]), MAX_SUMMARY_CHARS)


def tool_call(name: str, call: ToolCall) -> str:
    """A custom or MCP tool: its name and its first argument, short (``save_table title="Q3"``)."""
    if call.args:
        key, value = next(iter(call.args.items()))
        more = ", …" if len(call.args) > 1 else ""
        return _cut(f"{name} {key}={json.dumps(_argument(value), ensure_ascii=False)}{more}", MAX_SUMMARY_CHARS)
    return _cut(name, MAX_SUMMARY_CHARS)


def record(batch: RecordBatch) -> str:
    """``record 12 rows (run, 10 decisions, 1 artifact)``."""
    parts = []
    if batch.run is not None:
        parts.append(f"run {batch.run.status.value}")
    if batch.decisions:
        parts.append(_count(len(batch.decisions), "decision"))
    if batch.artifacts:
        parts.append(_count(len(batch.artifacts), "artifact"))
    rows = (batch.run is not None) + len(batch.decisions) + len(batch.artifacts)
    return f"record {_count(rows, 'row')} ({', '.join(parts)})"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deliverable(run_id: str, name: str) -> str:
    return f"write {s3.report_key(run_id, name)}"


def log_part(agent: str, lines: int) -> str:
    return f"write {_count(lines, 'log line')} of {agent}"


def run_log(run_id: str) -> str:
    return f"write {s3.log_key(run_id)}"
