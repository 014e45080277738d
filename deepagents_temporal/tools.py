"""Tool schemas the model sees and the argument models that validate the
built-in tools' calls (custom tools carry their own, ``custom_tools/``; MCP
tools the schemas their servers listed, ``mcp/``).

Names and arguments follow deepagents so prompts written for it work here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deepagents_temporal.mcp import TOOL_PREFIX, granted
from deepagents_temporal.profiles import AgentSpec, Profile
from deepagents_temporal.schema import Todo


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WriteTodosArgs(_Args):
    todos: list[Todo]


class TaskArgs(_Args):
    description: str = Field(min_length=1)
    subagent_type: str = Field(min_length=1)


class LsArgs(_Args):
    path: str = "/"


class ReadFileArgs(_Args):
    file_path: str
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=2000, ge=1, le=10_000)


class WriteFileArgs(_Args):
    file_path: str
    content: str


class EditFileArgs(_Args):
    file_path: str
    old_string: str
    new_string: str
    replace_all: bool = False


class GlobArgs(_Args):
    pattern: str
    path: str = "/"


class GrepArgs(_Args):
    pattern: str
    path: str | None = None
    glob: str | None = None


class FetchUrlArgs(_Args):
    url: str = Field(min_length=1, max_length=4000)


class SearchDocumentsArgs(_Args):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=20)
    collection: str | None = Field(default=None, min_length=1, max_length=100)


ARG_MODELS: dict[str, type[_Args]] = {
    "write_todos": WriteTodosArgs,
    "task": TaskArgs,
    "ls": LsArgs,
    "read_file": ReadFileArgs,
    "write_file": WriteFileArgs,
    "edit_file": EditFileArgs,
    "glob": GlobArgs,
    "grep": GrepArgs,
    "fetch_url": FetchUrlArgs,
    "search_documents": SearchDocumentsArgs,
}

_FILE_AREAS = (
    "Paths are absolute (start with /). Your working files live under / ; "
    "/templates/ and /uploads/ are read-only inputs."
)
_FILE_TOOL_DOCS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "ls": ("List the files and folders directly under a folder. " + _FILE_AREAS, {"path": {"type": "string"}}, []),
    "read_file": (
        "Read a text file; lines come numbered. Use offset (0-based line) and limit to page through long files. "
        + _FILE_AREAS,
        {"file_path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}},
        ["file_path"],
    ),
    "write_file": (
        "Create a new file with the given content. To change an existing file use edit_file. " + _FILE_AREAS,
        {"file_path": {"type": "string"}, "content": {"type": "string"}},
        ["file_path", "content"],
    ),
    "edit_file": (
        "Replace exact text in a file. old_string must match exactly once unless replace_all is true. " + _FILE_AREAS,
        {
            "file_path": {"type": "string"},
            "old_string": {"type": "string"},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean"},
        },
        ["file_path", "old_string", "new_string"],
    ),
    "glob": (
        "Find files by glob pattern (*, ?, [..], ** across folders), optionally under a folder. " + _FILE_AREAS,
        {"pattern": {"type": "string"}, "path": {"type": "string"}},
        ["pattern"],
    ),
    "grep": (
        "Search files for a literal text (not a regex); returns path:line:text. Optionally limit to a folder "
        "(path) and a glob of file names. " + _FILE_AREAS,
        {"pattern": {"type": "string"}, "path": {"type": "string"}, "glob": {"type": "string"}},
        ["pattern"],
    ),
}


# The built-in tools that are activities of their own: description, properties, required.
_ACTIVITY_TOOL_DOCS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "fetch_url": (
        "Fetch a web page or file (http or https URL) into your files under /fetched/: returns where it was "
        "saved, its type, size, sha256, title and the start of its text (HTML, PDF, DOCX and text are "
        "converted; read_file the .txt it names for the rest). Private and local addresses are refused.",
        {"url": {"type": "string", "description": "the http(s) URL to fetch"}},
        ["url"],
    ),
    "search_documents": (
        "Search the indexed documents (starter.py index) for passages about a query. Returns the best "
        "passages, each with its id [doc:chunk], its document and its position; cite the ids you use.",
        {
            "query": {"type": "string", "description": "what to look for, in words"},
            "k": {"type": "integer", "description": "how many passages (1-20, default 5)"},
            "collection": {"type": "string", "description": "the collection to search (default: default)"},
        },
        ["query"],
    ),
}


class ToolArgumentError(ValueError):
    pass


def parse_args(tool: str, args: dict[str, Any]) -> _Args:
    """Validate a tool call's arguments; the error text is meant for the model."""
    try:
        return ARG_MODELS[tool].model_validate(args)
    except ValidationError as err:
        raise ToolArgumentError(f"invalid arguments for {tool}: {describe_validation_error(err)}") from None


def describe_validation_error(err: ValidationError) -> str:
    """Each problem as ``field.path: message``, for a model to correct its call."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in err.errors(include_url=False)
    )


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def tool_schemas(profile: Profile, agent: AgentSpec) -> list[dict[str, Any]]:
    """OpenAI function-tool schemas for the tools this agent may call."""
    schemas = []
    # MCP tools, each once however many entries grant it (listed at run start).
    mcp_tools = granted(agent.tools, profile.mcp_tools)
    for name in agent.tools:
        if name.startswith(TOOL_PREFIX):
            for tool in mcp_tools.values():
                if granted((name,), [tool]) and not any(s["function"]["name"] == tool.name for s in schemas):
                    schemas.append(_function(tool.name, tool.description, tool.parameters))
        elif name == "write_todos":
            schemas.append(
                _function(
                    "write_todos",
                    "Replace your todo list. Use it to plan multi-step work and to mark progress; "
                    "keep exactly one item in_progress while you work on it.",
                    {
                        "type": "object",
                        "properties": {
                            "todos": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "content": {"type": "string"},
                                        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                                    },
                                    "required": ["content", "status"],
                                },
                            }
                        },
                        "required": ["todos"],
                    },
                )
            )
        elif name == "task":
            delegates = agent.delegates(profile)
            roster = "\n".join(f"- {sub}: {profile.subagents[sub].description}" for sub in delegates)
            schemas.append(
                _function(
                    "task",
                    "Delegate a self-contained piece of work to a specialist sub-agent, which works in "
                    "its own context and returns only its final answer. Call task several times in one "
                    "turn to run specialists in parallel. Available sub-agents:\n" + roster,
                    {
                        "type": "object",
                        "properties": {
                            "description": {
                                "type": "string",
                                "description": "Everything the sub-agent needs to know to do the work",
                            },
                            "subagent_type": {"type": "string", "enum": list(delegates)},
                        },
                        "required": ["description", "subagent_type"],
                    },
                )
            )
        elif name in _FILE_TOOL_DOCS:
            description, properties, required = _FILE_TOOL_DOCS[name]
            schemas.append(
                _function(name, description, {"type": "object", "properties": properties, "required": required})
            )
        elif name in profile.custom_tools:
            custom = profile.custom_tools[name]
            schemas.append(_function(name, custom.description, custom.parameters))
        elif name in _ACTIVITY_TOOL_DOCS:
            description, properties, required = _ACTIVITY_TOOL_DOCS[name]
            schemas.append(
                _function(name, description, {"type": "object", "properties": properties, "required": required})
            )
        else:
            raise ValueError(f"agent {agent.name!r} lists unknown tool {name!r}")
    return schemas
