"""Custom tools the tests name in DEEPAGENT_TOOL_MODULES: each fails in one
way a real tool can (transiently, for good, refusing), so the tests can see
what the model is told."""

from __future__ import annotations

from temporalio import activity

from deepagents_temporal import NonRetryableToolError, ToolContext, tool


@tool(retries=3)
async def flaky_lookup(key: str) -> str:
    """Look a key up in a service that fails twice before it answers.

    Args:
        key: what to look up
    """
    attempt = activity.info().attempt
    if attempt < 3:
        raise RuntimeError(f"lookup service unavailable (attempt {attempt})")
    return f"value of {key} (answered on attempt {attempt})"


@tool(retries=1)
def always_broken(x: int) -> str:
    """A tool whose service is down for good.

    Args:
        x: any number
    """
    raise RuntimeError(f"service down while handling {x}")


@tool(retries=5)
async def refuses(reason: str) -> str:
    """A tool that refuses its input at once.

    Args:
        reason: why it refuses
    """
    raise NonRetryableToolError(f"refused: {reason}")


@tool
async def write_note(name: str, text: str, ctx: ToolContext) -> dict:
    """Save a note in the run's files and report where.

    Args:
        name: the note's file name, without folder
        text: what the note says
    """
    path = await ctx.write_file(f"/notes/{name}", text)
    return {"saved": path, "run": ctx.run_id, "agent": ctx.agent}
