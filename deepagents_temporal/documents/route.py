"""The document workflow as the router offers it: one uploaded document to read, and how its result reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from deepagents_temporal.documents.schema import (
    DOCUMENT_WORKFLOW_DESCRIPTION,
    DOCUMENT_WORKFLOW_NAME,
    DocumentInput,
    DocumentResult,
)
from deepagents_temporal.routable import RoutableWorkflow


class DocumentArguments(BaseModel):
    document: str = Field(description="the document's name in uploads/ (.txt, .md, .html, .docx or .pdf)")


def _input(args: BaseModel, run_id: str, model_chain: list[str], model_timeout_seconds: float) -> BaseModel:
    assert isinstance(args, DocumentArguments)
    return DocumentInput(
        document=args.document,
        run_id=run_id,
        model_chain=model_chain,
        model_timeout_seconds=model_timeout_seconds,
    )


def answer(result: BaseModel) -> str:
    assert isinstance(result, DocumentResult)
    pages = f", {result.pages} pages" if result.pages else ""
    lines = [
        f"{result.document} ({result.kind}{pages}): {result.sections} sections summarised, {result.facts} facts "
        f"with quotes"
        + (f", {result.facts_dropped} facts dropped (quote not in the section)" if result.facts_dropped else ""),
        *(f"section {s.n} ({s.title}) failed: {s.error}" for s in result.sections_failed),
        f"summary: reports/{result.run_id}/summary.md, facts: reports/{result.run_id}/facts.json",
    ]
    return "\n".join(lines)


DOCUMENT_ROUTE = RoutableWorkflow(
    name="document",
    description=DOCUMENT_WORKFLOW_DESCRIPTION,
    workflow_type=DOCUMENT_WORKFLOW_NAME,
    arguments=DocumentArguments,
    make_input=_input,
    result_type=DocumentResult,
    answer=answer,
)
