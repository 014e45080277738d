"""What custom tools raise, and what the worker tells apart."""

from __future__ import annotations


class NonRetryableToolError(Exception):
    """Raise it from a tool when trying again cannot help: the model gets the
    message as a tool error at once, without the tool's retries."""


class ToolFileError(NonRetryableToolError):
    """A file operation a tool asked for cannot be done (missing file, a
    different file already there, a bad path); retrying cannot change that."""


class ToolDefinitionError(TypeError):
    """A function that cannot be a tool, with what to change."""
