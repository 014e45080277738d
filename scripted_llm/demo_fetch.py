"""The offline demo of the ``fetch`` profile: fetch the URL the request names, then
report what came back (where it was saved, its type, size and sha256, its title)."""

from __future__ import annotations

import re

from scripted_llm.chat_request import ChatRequest
from scripted_llm.script import Reply

_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def is_fetch_request(req: ChatRequest) -> bool:
    return "fetch_url" in req.tool_names


def demo_fetch(req: ChatRequest) -> Reply:
    results = [r for r in req.tool_results if r.name == "fetch_url"]
    if not results:
        url = _URL.search(req.first_user_text)
        if url is None:
            return Reply.text("Which URL should I fetch? Give me an http or https address.")
        return Reply.tool_calls([("fetch_url", {"url": url.group(0).rstrip(".,;")})])
    result = results[-1].content
    if result.startswith("Error:"):
        return Reply.text(f"I could not fetch it. {result}")
    head = [line for line in result.split("\n\n", 1)[0].splitlines() if line]
    return Reply.text("Fetched:\n" + "\n".join(f"- {line}" for line in head))
