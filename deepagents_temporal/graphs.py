"""LangGraph graphs as sub-agents: finding the compiled graphs profiles name.

A sub-agent entry ``graph: my_package.my_module:graph`` names a compiled
LangGraph graph (deepagents' ``CompiledSubAgent`` idea). The workers import
every graph the profiles name when they start and refuse to start when one
cannot be imported or is not a compiled graph, each problem named with its
profile file and field (``profiles check`` does the same). The graph runs in
the ``run_graph`` activity (``activities/graph_agent.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from deepagents_temporal.profiles import LoadedProfiles, ProfileFileError


class GraphImportError(ValueError):
    pass


def import_graph(reference: str) -> Any:
    """The object ``module.path:attribute`` names; it must be a compiled graph (it has ``ainvoke``)."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise GraphImportError(f"cannot import {module_name!r} ({err}); is its folder on PYTHONPATH?") from None
    except Exception as err:  # noqa: BLE001 - the module's own import error, named
        raise GraphImportError(f"importing {module_name!r} failed: {type(err).__name__}: {err}") from None
    graph = getattr(module, attribute, None)
    if graph is None:
        raise GraphImportError(f"module {module_name!r} has no attribute {attribute!r}")
    if hasattr(graph, "compile") and not hasattr(graph, "ainvoke"):
        raise GraphImportError(f"{reference} is a graph builder: name the compiled graph (builder.compile())")
    if not callable(getattr(graph, "ainvoke", None)):
        raise GraphImportError(f"{reference} is a {type(graph).__name__}, not a compiled LangGraph graph")
    return graph


def load_graphs(loaded: LoadedProfiles) -> dict[str, Any]:
    """Every graph the profiles name, by reference; a graph that cannot be loaded
    becomes a problem of its profile file (and that profile is dropped)."""
    graphs: dict[str, Any] = {}
    for name, profile in list(loaded.profiles.items()):
        problems: list[tuple[str, str]] = []
        for i, agent in enumerate(profile.subagents.values()):
            if agent.graph is None or agent.graph in graphs:
                continue
            try:
                graphs[agent.graph] = import_graph(agent.graph)
            except GraphImportError as err:
                problems.append((f"subagents[{i}].graph", str(err)))
        if problems:
            loaded.problems.append(ProfileFileError(profile.source or name, problems))
            del loaded.profiles[name]
    return graphs
