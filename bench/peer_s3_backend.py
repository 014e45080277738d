"""A deepagents backend on S3, for the side-by-side step-time benchmark only.

Temporal's deepagents plugin keeps files in workflow state by default; to make
it do the same file I/O as this project (each write an object in the bucket),
the benchmark hands it this backend through its ``TemporalBackend``. It keeps
to what the benchmark's task uses (write, read, ls, edit) on the same minio
client and bucket layout idea (one prefix per run); it is not part of the
product.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from deepagents.backends.protocol import BackendProtocol, EditResult, LsResult, ReadResult, WriteResult
from minio import Minio
from minio.error import S3Error


class S3PeerBackend(BackendProtocol):
    def __init__(self, client: Minio, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def _key(self, path: str) -> str:
        return f"{self._prefix}/{path.lstrip('/')}"

    def write(self, file_path: str, content: str) -> WriteResult:
        data = content.encode()
        self._client.put_object(
            self._bucket, self._key(file_path), io.BytesIO(data), len(data), content_type="text/plain; charset=utf-8"
        )
        return WriteResult(path=file_path)

    def _text(self, file_path: str) -> str | None:
        try:
            response = self._client.get_object(self._bucket, self._key(file_path))
        except S3Error as error:
            if error.code == "NoSuchKey":
                return None
            raise
        try:
            return response.read().decode()
        finally:
            response.close()
            response.release_conn()

    def read(self, file_path: str, offset: int = 0, limit: int = 2000) -> ReadResult:
        text = self._text(file_path)
        if text is None:
            return ReadResult(error=f"File '{file_path}' not found")
        lines = text.splitlines()
        window = lines[max(offset, 0) : max(offset, 0) + max(limit, 0)]
        now = datetime.now(UTC).isoformat()
        return ReadResult(
            file_data={"content": "\n".join(window), "encoding": "utf-8", "created_at": now, "modified_at": now},
            total_lines=len(lines),
        )

    def edit(self, file_path: str, old_string: str, new_string: str, replace_all: bool = False) -> EditResult:  # noqa: FBT001, FBT002
        text = self._text(file_path)
        if text is None or old_string not in text:
            return EditResult(error=f"'{old_string[:40]}' not found in {file_path}")
        self.write(file_path, text.replace(old_string, new_string, -1 if replace_all else 1))
        return EditResult(path=file_path)

    def ls(self, path: str) -> LsResult:
        prefix = self._key(path).rstrip("/") + "/"
        entries = [
            {"path": "/" + item.object_name.removeprefix(self._prefix + "/"), "is_dir": item.is_dir}
            for item in self._client.list_objects(self._bucket, prefix=prefix)
        ]
        return LsResult(entries=entries)
