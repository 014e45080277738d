"""What a workflow must say about itself for the router to send requests to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class RoutableWorkflow:
    """A workflow the router can send a request to.

    ``arguments`` is the model of what the router must take from the request
    (shown to the model with the route tool); ``make_input`` builds the
    workflow's input from them, the run id its outputs belong to, the model
    chain and the model timeout; ``answer`` turns its result into the text a
    person reads.
    """

    name: str
    description: str
    workflow_type: str
    arguments: type[BaseModel]
    make_input: Callable[[BaseModel, str, list[str], float], BaseModel]
    result_type: type[BaseModel]
    answer: Callable[[BaseModel], str]
