"""Model answers kept by the step that asked for them, so an answer is paid for once.

A ``call_model`` attempt that has the model's answer stores it here before
anything else can fail (storing the transcript segment, PostgreSQL, the worker
itself, the Temporal server). A later attempt of the same activity looks here
first and returns the stored answer instead of asking the model again. The key
is the activity's identity in its workflow run, stable across its attempts:

    runs/<run id>/answers/<workflow run id>/<activity id>.json

(see "The bucket" in docs/architecture.md). The heartbeat details of the
attempt carry the same answer, for when the bucket is what failed.
"""

from __future__ import annotations

import io

from minio import Minio
from minio.error import S3Error

from deepagents_temporal.s3 import check_segment, is_missing, run_prefix
from deepagents_temporal.schema import KeptAnswer


class AnswerStore:
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @staticmethod
    def key(run_id: str, workflow_run_id: str, activity_id: str) -> str:
        return (
            f"{run_prefix(run_id)}answers/{check_segment(workflow_run_id, 'workflow run id')}/"
            f"{check_segment(activity_id, 'activity id')}.json"
        )

    def keep(self, key: str, answer: KeptAnswer) -> None:
        data = answer.model_dump_json(exclude_defaults=True).encode("utf-8")
        self._client.put_object(self._bucket, key, io.BytesIO(data), len(data), content_type="application/json")

    def find(self, key: str) -> KeptAnswer | None:
        """The answer kept under ``key``, or None when no attempt got one."""
        try:
            response = self._client.get_object(self._bucket, key)
        except S3Error as err:
            if is_missing(err):
                return None
            raise
        try:
            return KeptAnswer.model_validate_json(response.read())
        finally:
            response.close()
            response.release_conn()
