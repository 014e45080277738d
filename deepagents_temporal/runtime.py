"""Connecting to Temporal and building the worker, shared by worker.py and starter.py."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.model import ModelActivities
from deepagents_temporal.settings import Settings
from workflows.agent import AgentWorkflow

WORKFLOWS = [AgentWorkflow]


async def connect(settings: Settings, address: str | None = None) -> Client:
    target = address or settings.temporal_address
    if not target:
        raise RuntimeError("TEMPORAL_ADDRESS is not set and no embedded stack was started")
    return await Client.connect(target, namespace=settings.temporal_namespace, data_converter=pydantic_data_converter)


def build_worker(client: Client, settings: Settings) -> Worker:
    models = ModelActivities(settings)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=[models.call_model],
        # A dead worker's cached workflows move to another worker after this,
        # instead of the 10 s default.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
        # These never heal by retrying the workflow task: fail the run with
        # the reason instead of leaving it RUNNING forever.
        workflow_failure_exception_types=[workflow.NondeterminismError],
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


def hard_exit(code: int) -> None:
    """Leave without interpreter finalization (temporalio/sdk-python#300 SIGABRT)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
