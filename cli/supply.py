"""`supply`: give a waiting onboarding run the fields it is missing (its ``supply_fields`` update).

Without values it lists what the run waits for (its ``missing_fields``
query); a routed run's id stands for its onboarding child
(``<run id>/onboarding``). Each value is checked by the run as the extracted
ones were: an unknown field or an invalid value is refused with the reason
and the run goes on waiting (exit 1). When nothing required is missing any more, the run
finishes and this command follows it to its end, printing the outcome.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError

from cli.console import say
from cli.onboard import onboarding_outcome, say_missing
from cli.reconnect import TemporalLink
from cli.run_tree import QUERY_TIMEOUT
from cli.services import WorkerPolicy, open_services
from deepagents_temporal.failures import failure_messages
from deepagents_temporal.onboarding.schema import (
    MISSING_FIELDS_QUERY,
    ONBOARDING_WORKFLOW_NAME,
    SUPPLY_FIELDS_UPDATE,
    MissingFields,
    SupplyFields,
)
from deepagents_temporal.settings import load_settings


def parse_values(pairs: list[str]) -> dict[str, str] | str:
    """``field=value`` words as a dict, or what is wrong with one."""
    values: dict[str, str] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            return f"{pair!r} is not FIELD=VALUE"
        values[field.strip()] = value
    return values


async def supply(run_id: str, pairs: list[str], *, by: str | None) -> int:
    values = parse_values(pairs)
    if isinstance(values, str):
        say(f"error: {values}")
        return 2
    if values:  # none: only list what is missing
        try:
            SupplyFields(values=values, by=by or "a person")
        except ValidationError as err:
            problem = err.errors(include_url=False)[0]
            where = "--by" if problem["loc"][:1] == ("by",) else "the values"
            say(f"error: {where}: {problem['msg']}")
            return 2
    async with open_services(load_settings(), "supply", worker=WorkerPolicy.IF_STARTED_HERE, needs_database=True) as (
        services
    ):
        handle = services.client.get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except RPCError:
            say(f"error: no run {run_id} in namespace {services.settings.temporal_namespace}")
            return 2
        if description.workflow_type != ONBOARDING_WORKFLOW_NAME:
            # A routed run: its onboarding is the child `<run id>/onboarding`.
            routed = services.client.get_workflow_handle(f"{run_id}/onboarding")
            try:
                description = await routed.describe()
            except RPCError:
                say(f"error: run {run_id} is a {description.workflow_type}, not an onboarding run")
                return 2
            handle, run_id = routed, routed.id
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = description.status.name if description.status else "ended"
            say(f"error: run {run_id} has ended ({status}): `python starter.py result {run_id}` prints its outcome")
            return 1
        missing = await handle.query(MISSING_FIELDS_QUERY, result_type=MissingFields, rpc_timeout=QUERY_TIMEOUT)
        if not values:
            if not missing.waiting:
                say(f"run {run_id} is not waiting for fields (it is still reading the client's documents)")
                return 0
            say_missing(run_id, missing)
            return 0
        try:
            answer = await handle.execute_update(
                SUPPLY_FIELDS_UPDATE, SupplyFields(values=values, by=by or "a person"), result_type=str
            )
        except WorkflowUpdateFailedError as err:
            say(f"error: refused: {failure_messages(err)[-1]}")
            say(f"  nothing was changed; the run goes on waiting: `python starter.py supply {run_id}` lists what")
            return 1
        say(answer)
        still = await handle.query(MISSING_FIELDS_QUERY, result_type=MissingFields, rpc_timeout=QUERY_TIMEOUT)
        if still.waiting and still.fields:
            return 0
        return await onboarding_outcome(services, handle, TemporalLink(services.settings.temporal_address or ""))
