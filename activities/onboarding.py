"""The onboarding workflow's steps as activities: the checklist, the client's documents, the
fields checked, and the outputs.

The checklist is read from ``templates/`` and checked; the client's files
under ``uploads/<client>/`` are converted to text (``documents/convert.py``)
and stored as ``runs/<run id>/onboarding/documents/<n>.txt``, the extraction
prompt as a transcript segment the ``call_model`` activity reads by hash, so
no document text passes through history. The model's reply is read back from
the transcript and every answer checked (``onboarding/extraction.py``). The
last step writes ``reports/<run id>/onboarding.json`` and ``checklist.md``.
"""

from __future__ import annotations

import asyncio
import fnmatch

from minio import Minio
from temporalio import activity

from deepagents_temporal import s3
from deepagents_temporal.conversation import ConversationStore
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.documents.bucket import BucketIO, InputError, step_errors
from deepagents_temporal.documents.convert import UnsupportedDocument, document_kind, extract_text
from deepagents_temporal.onboarding import checklist as checklists
from deepagents_temporal.onboarding import extraction, report
from deepagents_temporal.onboarding.schema import (
    MAX_CLIENT_FILES,
    ChecklistInfo,
    ChecklistStep,
    CheckStep,
    ClientDocuments,
    ClientFile,
    DocumentsStep,
    DocumentStatus,
    FieldStatus,
    OutputsStep,
    Unreadable,
)
from deepagents_temporal.schema import ArtifactInfo

ONBOARDING_INPUT_ERROR = "OnboardingInputError"


def onboarding_work_key(run_id: str, name: str) -> str:
    """``runs/<run id>/onboarding/<name>``: what the onboarding workflow's steps hand each other."""
    return f"{s3.run_prefix(run_id)}onboarding/{name}"


class OnboardingActivities:
    def __init__(self, client: Minio, bucket: str, conversations: ConversationStore, wait_seconds: float) -> None:
        self._bucket = BucketIO(client, bucket)
        self._conversations = conversations
        self._wait_seconds = wait_seconds

    @activity.defn(name="onboarding_load_checklist")
    async def load_checklist(self, step: ChecklistStep) -> ChecklistInfo:
        """Read and check the checklist template (read-only)."""
        with step_errors(step.key, ONBOARDING_INPUT_ERROR):
            return await asyncio.to_thread(self._checklist, step)

    @activity.defn(name="onboarding_read_documents")
    async def read_documents(self, step: DocumentsStep) -> ClientDocuments:
        """The client's files as text, the required documents matched, the extraction prompt stored."""
        with step_errors(step.prefix, ONBOARDING_INPUT_ERROR):
            return await asyncio.to_thread(self._documents, step)

    @activity.defn(name="onboarding_check_fields")
    async def check_fields(self, step: CheckStep) -> list[FieldStatus]:
        """The model's answers checked: source, quote and value of every field."""
        with step_errors(onboarding_work_key(step.run_id, "fields.json"), ONBOARDING_INPUT_ERROR):
            return await asyncio.to_thread(self._check, step)

    @activity.defn(name="onboarding_write_outputs")
    async def write_outputs(self, step: OutputsStep) -> list[ArtifactInfo]:
        """reports/<run id>/onboarding.json and checklist.md."""
        with step_errors(s3.report_key(step.run_id, "onboarding.json"), ONBOARDING_INPUT_ERROR):
            return await asyncio.to_thread(self._outputs, step)

    # ----- their work (blocking: run in a thread) ---------------------------

    def _checklist(self, step: ChecklistStep) -> ChecklistInfo:
        hint = "upload it with `python starter.py upload PATH --template`"
        data, _ = self._bucket.get(step.key, "checklist", hint)
        try:
            checklist = checklists.parse(step.key, data)
        except checklists.ChecklistError as err:
            raise InputError(f"{step.key}: {err}") from None
        return ChecklistInfo(
            key=step.key, sha256=sha256_hex(data), checklist=checklist, wait_seconds=self._wait_seconds
        )

    def _documents(self, step: DocumentsStep) -> ClientDocuments:
        keys = [k for k in self._bucket.list(step.prefix) if not k.endswith("/")]
        if not keys:
            raise InputError(
                f"no documents under {step.prefix} in bucket {self._bucket.bucket}; upload the client's files with "
                f"`python starter.py upload PATH --as {step.prefix.removeprefix(s3.UPLOADS_PREFIX)}NAME`"
            )
        if len(keys) > MAX_CLIENT_FILES:
            raise InputError(
                f"{len(keys)} files under {step.prefix}, over {MAX_CLIENT_FILES}; keep the client's onboarding "
                "documents in a folder of their own"
            )
        files: list[ClientFile] = []
        unreadable: list[Unreadable] = []
        texts: list[tuple[str, str]] = []
        for n, key in enumerate(keys, start=1):
            name = key.removeprefix(step.prefix)
            data, _ = self._bucket.get(key, "client document", "upload it again")
            try:
                text = extract_text(data, filename=name).text
            except UnsupportedDocument as err:
                unreadable.append(Unreadable(name=name, reason=str(err)))
                continue
            if not text.strip():
                unreadable.append(Unreadable(name=name, reason="no text (a scanned document without a text layer?)"))
                continue
            text_key = onboarding_work_key(step.run_id, f"documents/{n}.txt")
            self._bucket.put(text_key, text.encode("utf-8"), "text/plain; charset=utf-8")
            files.append(
                ClientFile(
                    name=name,
                    key=key,
                    kind=document_kind(name),
                    chars=len(text),
                    sha256=sha256_hex(data),
                    text_key=text_key,
                )
            )
            texts.append((name, text))
        names = [k.removeprefix(step.prefix) for k in keys]
        documents = []
        for spec in step.checklist.documents:
            matched = [n for n in names if any(fnmatch.fnmatch(n.lower(), p.lower()) for p in spec.match)]
            documents.append(
                DocumentStatus(
                    name=spec.name, required=spec.required, status="found" if matched else "missing", files=matched
                )
            )
        prompt = None
        if texts:
            prompt = self._conversations.append(step.run_id, None, extraction.prompt(step.checklist, texts))
        return ClientDocuments(
            prefix=step.prefix, files=files, unreadable=unreadable, documents=documents, prompt=prompt
        )

    def _check(self, step: CheckStep) -> list[FieldStatus]:
        found: list[extraction.Extracted] = []
        problem = step.reason
        if step.transcript is not None:
            reply = self._conversations.segment(step.run_id, step.transcript)[-1]
            reply = reply.model_copy(
                update={
                    "tool_calls": [
                        c.model_copy(update={"args": self._conversations.call_arguments(step.run_id, c)})
                        for c in reply.tool_calls
                    ]
                }
            )
            found, problem = extraction.answers(reply)
        texts = {
            f.name: self._bucket.get(f.text_key, "document text", "run the onboarding again")[0].decode("utf-8")
            for f in step.files
        }
        statuses = extraction.statuses(step.checklist, found, texts, problem)
        self._bucket.put_json(
            onboarding_work_key(step.run_id, "fields.json"),
            {
                "answers": [a.model_dump() for a in found],
                "problem": problem,
                "fields": [s.model_dump(mode="json") for s in statuses],
            },
        )
        return statuses

    def _outputs(self, step: OutputsStep) -> list[ArtifactInfo]:
        return [
            self._bucket.put(
                s3.report_key(step.run_id, "onboarding.json"), report.onboarding_json(step), "application/json"
            ),
            self._bucket.put(
                s3.report_key(step.run_id, "checklist.md"),
                report.checklist_markdown(step).encode("utf-8"),
                "text/markdown; charset=utf-8",
            ),
        ]
