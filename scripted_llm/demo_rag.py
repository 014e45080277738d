"""The offline demo of the ``rag`` profile: search the documents for the question, then
answer with the best passages' first sentences, each cited with its ``[doc:chunk]`` id."""

from __future__ import annotations

import re

from scripted_llm.chat_request import ChatRequest
from scripted_llm.script import Reply

_PASSAGE = re.compile(r"^\[(\d+:\d+)\] (.+?) \(chunk .*?\)\n(.+?)(?=\n\n\[\d+:\d+\] |\Z)", re.MULTILINE | re.DOTALL)
_SENTENCE = re.compile(r"(.+?[.!?])(\s|$)", re.DOTALL)
CITED = 2


def is_rag_request(req: ChatRequest) -> bool:
    return "search_documents" in req.tool_names


def demo_rag(req: ChatRequest) -> Reply:
    results = [r for r in req.tool_results if r.name == "search_documents"]
    if not results:
        return Reply.tool_calls([("search_documents", {"query": req.first_user_text, "k": 4})])
    found = _PASSAGE.findall(results[-1].content)
    if not found:
        return Reply.text(f"The indexed documents do not answer this. ({results[-1].content.splitlines()[0]})")
    lines = []
    for passage_id, name, text in found[:CITED]:
        # Headings are not statements: the first sentence of the passage's prose.
        flat = " ".join(" ".join(line for line in text.splitlines() if not line.startswith("#")).split())
        sentence = _SENTENCE.match(flat)
        lines.append(f"- {(sentence.group(1) if sentence else flat[:200]).strip()} [{passage_id}] ({name})")
    return Reply.text("From the indexed documents:\n" + "\n".join(lines))
