"""A scripted, OpenAI-compatible chat-completions server on loopback, for tests and the offline demo.

This is the project's only model fake. The real ``openai`` / ``langchain_openai``
clients talk to it over HTTP, so every layer above the socket is exercised for
real. It serves two purposes:

* tests script replies with :meth:`ScriptedLLM.add_rule` (text, tool calls,
  errors with ``Retry-After`` or echoing the Authorization header, slow
  replies, unknown models), hold every answer for a moment with
  :meth:`ScriptedLLM.paused`, and inspect
  :attr:`ScriptedLLM.requests`, a log of every model call that records whether
  the response actually reached a still-connected client;
* without an API key it is the offline "demo model":
  :func:`scripted_llm.demo_brain.demo_brain` plays the "qa" profile
  (supervisor plus its test specialists) deterministically from the
  conversation it is sent.

Modules: ``chat_request`` (what is asked), ``script`` (replies, rules, the
request log), ``openai_format`` (response bodies), ``server`` (the HTTP
server), ``demo_*`` (the offline demo). Run it standalone with
``python -m scripted_llm --port 8000``.

It lives outside ``deepagents_temporal`` because it is a test double: the
shared package never imports it.
"""

from scripted_llm.chat_request import ChatRequest, ToolCall, ToolResult
from scripted_llm.script import Reply, RequestRecord
from scripted_llm.server import ScriptedLLM

__all__ = ["ChatRequest", "Reply", "RequestRecord", "ScriptedLLM", "ToolCall", "ToolResult"]
