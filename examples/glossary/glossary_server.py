"""A tiny MCP server for the examples and tests: a glossary of testing terms.

    python examples/glossary/glossary_server.py                      # stdio (a profile's `command`)
    python examples/glossary/glossary_server.py --http 8931          # streamable HTTP at http://127.0.0.1:8931/mcp

Over HTTP, when ``GLOSSARY_TOKEN`` is set in its environment, every call must
carry ``Authorization: Bearer <that token>`` (a profile sends it with
``headers: {Authorization: "Bearer ${GLOSSARY_TOKEN}"}``, read from the worker's
environment).
"""

from __future__ import annotations

import argparse
import os

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("glossary", instructions="Definitions of software testing terms.")

GLOSSARY = {
    "flaky test": "a test that passes and fails on the same code, usually from timing or shared state",
    "smoke test": "a quick check that the most important paths work at all, run before deeper testing",
    "regression": "a bug in behaviour that used to work, introduced by a later change",
    "boundary value": "an input at the edge of a valid range, where off-by-one errors hide",
}


def _authorize(ctx: Context) -> None:
    token = os.environ.get("GLOSSARY_TOKEN")
    headers = ctx.headers
    if token and headers is not None and headers.get("authorization") != f"Bearer {token}":
        raise ToolError("missing or wrong Authorization header")


@server.tool()
def define(term: str, ctx: Context) -> str:
    """Define a software testing term (e.g. 'flaky test', 'smoke test', 'regression')."""
    _authorize(ctx)
    definition = GLOSSARY.get(term.strip().lower())
    if definition is None:
        # ToolError: the model reads this text (any other exception stays on the server).
        raise ToolError(f"no definition of {term!r}; known terms: {', '.join(sorted(GLOSSARY))}")
    return f"{term}: {definition}"


@server.tool()
def list_terms(ctx: Context) -> list[str]:
    """Every term the glossary defines."""
    _authorize(ctx)
    return sorted(GLOSSARY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT at /mcp")
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
