"""The container image's health check: does this container's worker poll its task queue?

    python -m cli.healthcheck [TASK_QUEUE ...]    # default: TEMPORAL_TASK_QUEUE

The Dockerfile's ``HEALTHCHECK``. A worker process that is alive can still do
no work (Temporal or S3 unreachable from its container, credentials refused, a
poll loop that gave up), and a port that answers says nothing about that. So
this asks the Temporal server what it saw: a workflow or activity poll on the
task queue, within the last ``POLLER_FRESH``, from a worker on this host (the
SDK's default worker identity is ``<pid>@<hostname>``, and a container's
hostname is its own). It connects the way the worker does (the same settings,
the bucket checked too). Exit 0 when healthy; 1 with one line saying why (what
``docker inspect`` shows), or the two lines of a service that cannot be used.
A worker that polls other task queues is checked by naming them.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from cli.services import POLLER_FRESH
from deepagents_temporal.service_errors import report
from deepagents_temporal.services import connect, hard_exit, temporal_runtime
from deepagents_temporal.settings import load_settings

# Within a Docker health check's default 30 s timeout.
CHECK_TIMEOUT_SECONDS = 20
_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def polls_from_host(client: Client, task_queue: str, host: str) -> bool:
    """Whether a worker on ``host`` polled ``task_queue`` (workflow or activity tasks) lately."""
    now = datetime.now(UTC)
    for task_queue_type in _TYPES:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=task_queue_type,
            )
        )
        for poller in response.pollers:
            recent = not poller.HasField("last_access_time") or (
                now - poller.last_access_time.ToDatetime(UTC) < POLLER_FRESH
            )
            if recent and poller.identity.endswith(f"@{host}"):
                return True
    return False


async def check(task_queues: list[str]) -> int:
    settings = load_settings()
    client = await connect(settings)
    queues = task_queues or [settings.temporal_task_queue]
    host = socket.gethostname()
    idle = [queue for queue in queues if not await polls_from_host(client, queue, host)]
    if idle:
        print(
            f"unhealthy: no worker on {host} polled task queue {', '.join(map(repr, idle))} "
            f"on {settings.temporal_address} in the last {POLLER_FRESH.seconds} s",
            flush=True,
        )
        return 1
    print(f"healthy: a worker on {host} polls {', '.join(map(repr, queues))}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task_queues", nargs="*", metavar="TASK_QUEUE", help="default: TEMPORAL_TASK_QUEUE")
    args = parser.parse_args(argv)
    temporal_runtime()
    try:
        code = asyncio.run(asyncio.wait_for(check(args.task_queues), CHECK_TIMEOUT_SECONDS))
    except TimeoutError:
        print(f"unhealthy: no answer from Temporal within {CHECK_TIMEOUT_SECONDS} s", flush=True)
        code = 1
    except Exception as err:  # noqa: BLE001 - two clear lines, not a traceback
        # Docker reads 0 or 1; any other code is reserved.
        code = min(report(err, lambda line: print(line, flush=True), debug=False), 1)
    hard_exit(code)


if __name__ == "__main__":
    main()
