"""Where a lake lives: a local folder (`file://` or a path) or S3-compatible object storage
(`s3://bucket/prefix`), both through pyarrow's filesystems, so one writer serves both and
the bytes it hashes are the bytes it stores, whatever the store's engine."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs


class LakeError(RuntimeError):
    """A lake operation that cannot be done; the message names the destination and why."""


@dataclass(frozen=True)
class S3Options:
    """Credentials default to the AWS environment (AWS_ACCESS_KEY_ID, ...)."""

    endpoint: str | None = None  # http://127.0.0.1:9000 for a local server
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None


class Destination:
    def __init__(self, url: str, s3: S3Options | None = None) -> None:
        self.url = url
        parts = urlsplit(url)
        try:
            if parts.scheme == "s3":
                self._fs: pafs.FileSystem = _s3(s3 or S3Options())
                self._base = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
                self._local = False
            elif parts.scheme in ("", "file"):
                path = Path(parts.path if parts.scheme else url).expanduser().absolute()
                path.mkdir(parents=True, exist_ok=True)
                self._fs, self._base, self._local = pafs.LocalFileSystem(), str(path), True
            else:
                raise LakeError(f"unknown lake URL {url!r}: use file://PATH, a path or s3://")
        except OSError as exc:
            raise LakeError(f"cannot open the lake at {url}: {exc}") from exc

    def _full(self, path: str) -> str:
        return f"{self._base}/{path}"

    def check_writable(self) -> None:
        """Write and remove a probe object: an unreachable or read-only lake fails here,
        before anything is exported."""
        probe = f"_probe-{uuid.uuid4().hex}"
        self.write(probe, b"ok")
        self.delete(probe)

    def write(self, path: str, data: bytes) -> None:
        """Whole or not at all: a local file is written beside and renamed into place (an S3
        object appears only when its upload completes)."""
        full = self._full(path)
        try:
            if self._local:
                Path(full).parent.mkdir(parents=True, exist_ok=True)
                temp = f"{full}.{uuid.uuid4().hex}.tmp"
                with open(temp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temp, full)
            else:
                with self._fs.open_output_stream(full) as out:
                    out.write(data)
        except OSError as exc:
            raise LakeError(f"cannot write {path} to the lake at {self.url}: {exc}") from exc

    def read(self, path: str) -> bytes:
        try:
            with self._fs.open_input_stream(self._full(path)) as f:
                data: bytes = f.read()
                return data
        except OSError as exc:
            raise LakeError(f"cannot read {path} from the lake at {self.url}: {exc}") from exc

    def files(self, prefix: str) -> list[str]:
        """Paths (relative to the lake) of every file under `prefix`, sorted."""
        selector = pafs.FileSelector(self._full(prefix), recursive=True, allow_not_found=True)
        try:
            infos = self._fs.get_file_info(selector)
        except OSError as exc:
            raise LakeError(f"cannot list the lake at {self.url}: {exc}") from exc
        start = len(self._base) + 1
        return sorted(i.path[start:] for i in infos if i.type == pafs.FileType.File)

    def delete(self, path: str) -> None:
        try:
            self._fs.delete_file(self._full(path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LakeError(f"cannot delete {path} in the lake at {self.url}: {exc}") from exc


def _s3(options: S3Options) -> pafs.S3FileSystem:
    endpoint = options.endpoint or os.environ.get("AWS_ENDPOINT_URL")
    scheme = "https"
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    return pafs.S3FileSystem(
        access_key=options.access_key,
        secret_key=options.secret_key,
        region=options.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_override=endpoint,
        scheme=scheme,
        # Fail in seconds, not minutes, when the endpoint is down.
        connect_timeout=5,
        request_timeout=30,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
    )
