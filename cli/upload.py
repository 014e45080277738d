"""`upload`: put a data file or a document in the bucket's ``uploads/`` (or a report template or an
onboarding checklist in ``templates/``).

Prints the object's key and sha256, which the report's summary.json records
for its inputs. A name the bucket layout cannot take, a missing file, a file
of a format neither the reports nor the document readers take, a template
that is not an .xlsx workbook or a checklist that does not check out is
refused before anything is sent (exit 2).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from cli.console import say
from cli.inputs import Bucket
from cli.services import open_services
from deepagents_temporal import s3
from deepagents_temporal.digest import sha256_hex
from deepagents_temporal.documents.convert import SUPPORTED, UnsupportedDocument, document_kind
from deepagents_temporal.reports.parsing import DataFileError, data_format
from deepagents_temporal.settings import load_settings

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refused(problem: str) -> int:
    say(f"error: {problem}")
    return 2


async def upload(path: str, *, name: str | None, template: bool) -> int:
    file = Path(path)
    if not file.exists():
        return _refused(f"no such file: {path}")
    if not file.is_file():
        return _refused(f"not a file: {path}")
    name = name or file.name
    try:
        key = s3.template_key(name) if template else s3.upload_key(name)
    except ValueError as err:
        return _refused(f"{err} (give another name with --as NAME)")
    data = file.read_bytes()
    if template and key.lower().endswith((".yaml", ".yml")):
        # An onboarding checklist: checked now, so a typo is found before a run.
        from deepagents_temporal.onboarding.checklist import ChecklistError, parse

        try:
            parse(key, data)
        except ChecklistError as err:
            return _refused(f"{path}: {err}")
        content_type = "application/yaml"
    elif template:
        if not key.lower().endswith(".xlsx"):
            return _refused(
                f"a template is an .xlsx workbook (or a .yaml onboarding checklist); {name!r} is not named like one"
            )
        from deepagents_temporal.reports.workbook import TemplateError, open_template

        try:
            open_template(data)
        except TemplateError as err:
            return _refused(f"{path}: {err}")
        content_type = XLSX_TYPE
    else:
        try:
            data_format(key)
        except DataFileError as err:
            # Not a data file: a document (for `document`, `onboard`) will do.
            try:
                document_kind(key)
            except UnsupportedDocument:
                return _refused(f"{name}: {err}; documents: {SUPPORTED}")
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    async with open_services(load_settings(), "upload") as services:
        bucket = Bucket(services.settings)
        replaced = await bucket.stat(key) is not None
        await bucket.put(key, data, content_type)
    say(f"{'replaced' if replaced else 'uploaded'} {key} ({len(data):,} bytes) in bucket {services.settings.s3_bucket}")
    say(f"key: {key}")
    say(f"sha256: {sha256_hex(data)}")
    return 0
