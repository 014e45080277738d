"""The custom search attributes a run carries, so the Temporal UI and
`starter.py list --query` can filter runs: ``Profile``, ``WorkflowKind``
(supervisor or sub-agent), ``PrimaryModel``, ``UserId`` and ``RunStatus`` (the
store's view: RUNNING until the run writes its final row's status).

They must be registered on the namespace before a run uses them: the embedded
stack does it (``devstack/temporal.py``), docker-compose.yml's
``temporal-namespace`` service does it, and docs/deployment.md says how for
any other server. A run started without them (older runs, a server where they
are not registered) simply has none: the workflow updates ``RunStatus`` only
when the run was started with it.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PROFILE = SearchAttributeKey.for_keyword("Profile")
WORKFLOW_KIND = SearchAttributeKey.for_keyword("WorkflowKind")
PRIMARY_MODEL = SearchAttributeKey.for_keyword("PrimaryModel")
USER_ID = SearchAttributeKey.for_keyword("UserId")
RUN_STATUS = SearchAttributeKey.for_keyword("RunStatus")
ALL = (PROFILE, WORKFLOW_KIND, PRIMARY_MODEL, USER_ID, RUN_STATUS)

SUPERVISOR = "supervisor"
SUB_AGENT = "sub-agent"


def start_attributes(*, profile: str, kind: str, model: str | None, user: str | None) -> TypedSearchAttributes:
    pairs = [
        SearchAttributePair(PROFILE, profile),
        SearchAttributePair(WORKFLOW_KIND, kind),
        SearchAttributePair(RUN_STATUS, "RUNNING"),
    ]
    if model:
        pairs.append(SearchAttributePair(PRIMARY_MODEL, model))
    if user:
        pairs.append(SearchAttributePair(USER_ID, user))
    return TypedSearchAttributes(pairs)


def registration_commands(namespace: str = "default") -> list[str]:
    """The `temporal` CLI lines that register them on a namespace."""
    return [
        f"temporal operator search-attribute create --namespace {namespace} --name {key.name} --type Keyword"
        for key in ALL
    ]
