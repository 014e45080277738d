"""The document workflow's steps as activities: convert and split, a section's prompt, its notes
checked, and the outputs.

The document's text and its sections are written to the bucket
(``runs/<run id>/document/sections/section-<n>.txt``) and never handed to a
workflow: the split returns keys, titles and sizes. A section sub-agent's
prompt is stored as a transcript segment (``conversation.py``) that the
agents' ``call_model`` activity reads by hash, so the section text stays out of
history there too; the model's reply is read back from the transcript, its
facts' quotes checked against the section, and the notes stored as
``runs/<run id>/document/notes/section-<n>.json``. The last step writes
``reports/<run id>/summary.md`` and ``facts.json`` from those notes.
"""

from __future__ import annotations

import asyncio

from minio import Minio
from temporalio import activity

from deepagents_temporal import s3
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.documents import notes as section_notes
from deepagents_temporal.documents import outputs
from deepagents_temporal.documents.bucket import BucketIO, InputError, step_errors
from deepagents_temporal.documents.convert import UnsupportedDocument, extract_text
from deepagents_temporal.documents.schema import (
    NotesStep,
    OutputsStep,
    PromptStep,
    SectionNotesInfo,
    SectionRef,
    SplitDocument,
    SplitStep,
)
from deepagents_temporal.documents.sections import SECTION_CHARS, split_sections
from deepagents_temporal.schema import ArtifactInfo

# The error type of a bad input: never retried (the workflow fails the run with its message).
DOCUMENT_INPUT_ERROR = "DocumentInputError"
UPLOAD_HINT = "upload it with `python starter.py upload PATH`"


def document_work_key(run_id: str, name: str) -> str:
    """``runs/<run id>/document/<name>``: what the document workflow's steps hand each other."""
    return f"{s3.run_prefix(run_id)}document/{name}"


class DocumentActivities:
    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, fanout: int) -> None:
        self._bucket = BucketIO(client, bucket)
        self._conversations = conversations
        self._fanout = fanout

    @activity.defn(name="document_split")
    async def split(self, step: SplitStep) -> SplitDocument:
        """Convert the uploaded document to text and store its sections."""
        with step_errors(step.key, DOCUMENT_INPUT_ERROR):
            return await asyncio.to_thread(self._split, step)

    @activity.defn(name="document_section_prompt")
    async def section_prompt(self, step: PromptStep) -> str:
        """The section's prompt stored as a transcript segment; its hash."""
        with step_errors(step.section.key, DOCUMENT_INPUT_ERROR):
            return await asyncio.to_thread(self._prompt, step)

    @activity.defn(name="document_section_notes")
    async def section_notes(self, step: NotesStep) -> SectionNotesInfo:
        """The model's notes on a section, its facts' quotes checked against the section, stored."""
        with step_errors(step.section.key, DOCUMENT_INPUT_ERROR):
            return await asyncio.to_thread(self._notes, step)

    @activity.defn(name="document_write_outputs")
    async def write_outputs(self, step: OutputsStep) -> list[ArtifactInfo]:
        """reports/<run id>/summary.md and facts.json."""
        with step_errors(s3.report_key(step.run_id, "summary.md"), DOCUMENT_INPUT_ERROR):
            return await asyncio.to_thread(self._outputs, step)

    # ----- their work (blocking: run in a thread) ---------------------------

    def _split(self, step: SplitStep) -> SplitDocument:
        data, content_type = self._bucket.get(step.key, "document", UPLOAD_HINT)
        name = step.key.rsplit("/", 1)[-1]
        # A generic type (what a plain upload gets) says nothing: the suffix decides.
        if content_type in (None, "application/octet-stream", "binary/octet-stream"):
            content_type = None
        try:
            extracted = extract_text(data, filename=name, content_type=content_type)
        except UnsupportedDocument as err:
            raise InputError(str(err)) from None
        if not extracted.text.strip():
            raise InputError(
                f"{step.key}: no text in this {extracted.kind} document (a scanned PDF has only images; "
                "give a document with a text layer)"
            )
        sections = split_sections(extracted.text, step.section_chars or SECTION_CHARS)
        refs = []
        for n, section in enumerate(sections, start=1):
            key = document_work_key(step.run_id, f"sections/section-{n}.txt")
            self._bucket.put(key, section.text.encode("utf-8"), "text/plain; charset=utf-8")
            refs.append(SectionRef(n=n, key=key, title=section.title, chars=len(section.text)))
        return SplitDocument(
            key=step.key,
            size=len(data),
            sha256=sha256_hex(data),
            kind=extracted.kind,
            title=extracted.title,
            pages=extracted.pages,
            chars=len(extracted.text),
            sections=refs,
            fanout=self._fanout,
        )

    def _section_text(self, section: SectionRef) -> str:
        return self._bucket.get(section.key, "section", "run the document again")[0].decode("utf-8")

    def _prompt(self, step: PromptStep) -> str:
        messages = section_notes.prompt(step.section.title, step.section.n, self._section_text(step.section))
        return self._conversations.append(step.run_id, None, messages)

    def _notes(self, step: NotesStep) -> SectionNotesInfo:
        reply = self._conversations.segment(step.run_id, step.transcript)[-1]
        reply = reply.model_copy(
            update={
                "tool_calls": [
                    c.model_copy(update={"args": self._conversations.call_arguments(step.run_id, c)})
                    for c in reply.tool_calls
                ]
            }
        )
        try:
            notes = section_notes.read_notes(reply)
        except ValueError as err:
            notes = section_notes.SectionNotes(summary="")
            dropped = [{"fact": "", "quote": "", "reason": f"unreadable answer: {err}"}]
        else:
            dropped = []
        kept, not_found = section_notes.check(notes, self._section_text(step.section))
        checked = section_notes.CheckedNotes(
            n=step.section.n,
            title=step.section.title,
            model=step.model,
            summary=notes.summary,
            facts=kept,
            dropped=dropped + not_found,
        )
        key = document_work_key(step.run_id, f"notes/section-{step.section.n}.json")
        self._bucket.put_json(key, checked.model_dump(mode="json"))
        return SectionNotesInfo(
            notes_key=key, facts=len(kept), dropped=len(not_found), summary_chars=len(notes.summary)
        )

    def _outputs(self, step: OutputsStep) -> list[ArtifactInfo]:
        notes = {
            r.n: section_notes.CheckedNotes.model_validate(self._bucket.get_json(r.notes_key))
            for r in step.sections
            if r.notes_key
        }
        summary = outputs.summary_markdown(step.document, step.sections, notes).encode("utf-8")
        facts = outputs.facts_json(step.document, step.sections, notes)
        return [
            self._bucket.put(s3.report_key(step.run_id, "summary.md"), summary, "text/markdown; charset=utf-8"),
            self._bucket.put(s3.report_key(step.run_id, "facts.json"), facts, "application/json"),
        ]


__all__ = ["DOCUMENT_INPUT_ERROR", "DocumentActivities", "InputError"]
