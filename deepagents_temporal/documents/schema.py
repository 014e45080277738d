"""The document workflow's public contract: its names, description, input and result, and what its
steps and section sub-agents hand each other.

Everything here crosses the Temporal boundary, so it stays small: the
document's text, its sections and the sub-agents' notes live in the bucket
(``runs/<run id>/document/``, docs/architecture.md "The bucket") and only
keys, counts and titles ride in history. Imported by workflow code: no I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from deepagents_temporal.schema import ArtifactInfo, TokenUsage

DOCUMENT_WORKFLOW_NAME = "DocumentWorkflow"
SECTION_WORKFLOW_NAME = "DocumentSectionWorkflow"
# What the router offers the model (one line).
DOCUMENT_WORKFLOW_DESCRIPTION = (
    "Reads one uploaded document in uploads/ (text, Markdown, HTML, DOCX or PDF), splits it into sections, "
    "summarises each section and extracts its key facts with quotes, in parallel: summary.md and facts.json."
)
MAX_FANOUT = 32


class DocumentInput(BaseModel):
    # The document's name in the bucket's uploads/ ("handbook.pdf"; the prefix may be given too).
    document: str
    # The top-level run this belongs to (outputs under that id); None = this workflow's own id.
    run_id: str | None = None
    # Sections read at once; None = the workers' DEEPAGENT_DOCUMENT_FANOUT.
    fanout: int | None = Field(default=None, ge=1, le=MAX_FANOUT)
    # Characters per section before a section is cut again; None = the default (sections.py).
    section_chars: int | None = Field(default=None, ge=500, le=200_000)
    model_chain: list[str] = Field(default_factory=list)
    model_timeout_seconds: float = Field(default=120.0, gt=0)


class SplitStep(BaseModel):
    run_id: str
    key: str
    section_chars: int | None = None


class SectionRef(BaseModel):
    """One stored section: its number (from 1), its object, its title and size."""

    n: int
    key: str
    title: str
    chars: int


class SplitDocument(BaseModel):
    key: str
    size: int
    sha256: str
    kind: str
    title: str | None = None
    pages: int | None = None
    chars: int
    sections: list[SectionRef]
    # The worker's DEEPAGENT_DOCUMENT_FANOUT (the input's, when it gives one, wins).
    fanout: int


class SectionInput(BaseModel):
    """A section sub-agent's work: read one stored section, summarise it, extract its facts."""

    run_id: str
    document_key: str
    section: SectionRef
    model_chain: list[str] = Field(default_factory=list)
    model_timeout_seconds: float = Field(default=120.0, gt=0)


class PromptStep(BaseModel):
    run_id: str
    agent: str
    section: SectionRef


class NotesStep(BaseModel):
    run_id: str
    section: SectionRef
    # The model's reply, in the run's transcripts (read there: it never rides in this input).
    transcript: str
    model: str


class SectionNotesInfo(BaseModel):
    """What the notes step wrote: the notes' object and how many facts held up."""

    notes_key: str
    facts: int
    # Facts whose quote is not in the section: left out of facts.json, counted here.
    dropped: int
    summary_chars: int


class SectionResult(BaseModel):
    n: int
    title: str
    status: Literal["completed", "failed"]
    notes_key: str | None = None
    facts: int = 0
    dropped: int = 0
    model: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    error: str | None = None


class OutputsStep(BaseModel):
    run_id: str
    document: SplitDocument
    sections: list[SectionResult]


class DocumentResult(BaseModel):
    run_id: str
    document: str
    kind: str
    title: str | None = None
    pages: int | None = None
    chars: int
    sections: int
    sections_failed: list[SectionResult] = Field(default_factory=list)
    facts: int
    facts_dropped: int
    fanout: int
    models_used: list[str] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
