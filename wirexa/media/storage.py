"""Where finished recording files live besides the data directory: a small Protocol with a local
directory and an S3-compatible bucket (AWS, MinIO, Ceph, Wasabi) behind it.

Keys are relative names ("AC.../RE....wav"); each store puts them under its own root (a
directory, or a bucket and prefix). All methods are coroutines for the event loop; the blocking
work (boto3, hashing, copying) runs in asyncio.to_thread. S3 credentials come from boto3's
standard chain (environment, ~/.aws, instance or container role): no setting holds them.

Objects written by `put` carry their SHA-256 (S3 user metadata `sha256`), so `stat` can tell an
identical copy from a different one without downloading it (`wirexa recordings export` resumes
that way).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wirexa.errors import ConfigError

if TYPE_CHECKING:
    from wirexa.config import Settings

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
CONTENT_TYPES = {".wav": "audio/x-wav", ".mp3": "audio/mpeg"}


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    sha256: str | None  # hex; None when the store cannot tell without reading the object


class Storage(Protocol):
    """A place recording files can be copied to, read back from (whole or a byte range), and
    deleted from. Loop-only coroutines; a missing key is None from stat, a no-op for delete."""

    root: str  # printable location of the root: a directory or s3://bucket/prefix

    def url(self, key: str) -> str: ...

    async def put(self, src: Path, key: str, sha256: str | None = None) -> None: ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def get(self, key: str, dest: Path) -> None: ...

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes start..end (inclusive) of the object, in chunks."""
        ...

    async def presign(self, key: str, expires_s: int) -> str | None:
        """A URL a client can GET the object from without credentials, or None (not possible)."""
        ...

    async def delete(self, key: str) -> None: ...


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (blocking: call in a thread)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


def _safe_key(key: str) -> str:
    """Keys are built from sids, never from customer input; refuse anything that could climb out."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key {key!r}")
    return key


class LocalStorage:
    """A directory (the data directory's recordings, or an export target)."""

    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = str(root)

    def _file(self, key: str) -> Path:
        return self.path / _safe_key(key)

    def url(self, key: str) -> str:
        return str(self._file(key))

    async def put(self, src: Path, key: str, sha256: str | None = None) -> None:
        dest = self._file(key)

        def copy() -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists() and os.path.samefile(src, dest):
                return
            # A copy cut short (Ctrl-C, a full disk) leaves a .part file, never a short file
            # under the real name that a resumed export would take for finished.
            part = dest.with_name(dest.name + ".part")
            shutil.copyfile(src, part)
            os.replace(part, dest)

        await asyncio.to_thread(copy)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._file(key)

        def info() -> ObjectInfo | None:
            if not path.is_file():
                return None
            return ObjectInfo(path.stat().st_size, sha256_file(path))

        return await asyncio.to_thread(info)

    async def get(self, key: str, dest: Path) -> None:
        await asyncio.to_thread(shutil.copyfile, self._file(key), dest)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self._file(key).open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                block = await asyncio.to_thread(f.read, min(CHUNK, left))
                if not block:
                    return
                left -= len(block)
                yield block

    async def presign(self, key: str, expires_s: int) -> str | None:
        return None

    async def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)


def parse_s3_url(url: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix/'); ValueError when it is not one."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


class S3Storage:
    """A bucket and key prefix on S3 or an S3-compatible service, through boto3.

    `client` is a boto3 S3 client (thread-safe); `at(url)` gives a store on the same client for
    another s3:// location, e.g. where a recording was uploaded under an earlier prefix."""

    def __init__(
        self, bucket: str, prefix: str = "", *, region: str = "", endpoint_url: str = "", client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.root = f"s3://{bucket}/{self.prefix}"
        if client is None:
            import boto3  # imported here: only an engine with a bucket configured needs it

            client = boto3.session.Session().client("s3", region_name=region or None, endpoint_url=endpoint_url or None)
        self.client = client

    def at(self, url: str) -> S3Storage:
        bucket, prefix = parse_s3_url(url)
        if (bucket, prefix) == (self.bucket, self.prefix):
            return self
        return S3Storage(bucket, prefix, client=self.client)

    def _key(self, key: str) -> str:
        return self.prefix + _safe_key(key)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    async def put(self, src: Path, key: str, sha256: str | None = None) -> None:
        def upload() -> None:
            digest = sha256 or sha256_file(src)
            self.client.upload_file(
                str(src),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": content_type(key), "Metadata": {"sha256": digest}},
            )

        await asyncio.to_thread(upload)

    async def stat(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        def head() -> ObjectInfo | None:
            try:
                meta = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            return ObjectInfo(int(meta["ContentLength"]), (meta.get("Metadata") or {}).get("sha256"))

        return await asyncio.to_thread(head)

    async def get(self, key: str, dest: Path) -> None:
        await asyncio.to_thread(self.client.download_file, self.bucket, self._key(key), str(dest))

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        obj = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end}"
        )
        body = obj["Body"]
        try:
            while block := await asyncio.to_thread(body.read, CHUNK):
                yield block
        finally:
            body.close()

    async def presign(self, key: str, expires_s: int) -> str | None:
        return str(
            await asyncio.to_thread(
                self.client.generate_presigned_url,
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_s,
            )
        )

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))


def s3_from_settings(settings: Settings, url: str | None = None) -> S3Storage:
    """An S3Storage for `url` (s3://bucket/prefix), or for the configured recordings bucket,
    with the configured region and endpoint."""
    if url is not None:
        bucket, prefix = parse_s3_url(url)
    else:
        bucket, prefix = settings.recordings_s3_bucket, settings.recordings_s3_prefix
    return S3Storage(
        bucket, prefix, region=settings.recordings_s3_region, endpoint_url=settings.recordings_s3_endpoint_url
    )


def remote_from_settings(settings: Settings) -> S3Storage | None:
    """The recordings' remote store (None: local disk only). ConfigError on a bad serve mode."""
    if settings.recordings_s3_serve not in ("proxy", "redirect"):
        raise ConfigError(f"recordings.s3_serve must be proxy or redirect, got {settings.recordings_s3_serve!r}")
    if not settings.recordings_s3_bucket:
        return None
    return s3_from_settings(settings)


def recording_key(account_sid: str, sid: str, ext: str) -> str:
    """The key of a recording's file in any store: mirrors <recordings_dir>/<AccountSid>/<sid>.wav."""
    return f"{account_sid}/{sid}{ext}"


class RangeNotSatisfiable(Exception):
    """The Range header names no byte of the object (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single HTTP byte range ('bytes=a-b', 'bytes=a-', 'bytes=-n') -> inclusive (start, end)
    within `size`, or None to send the whole object (no header, a malformed one, or several
    ranges: RFC 9110 lets a server ignore what it does not serve). RangeNotSatisfiable when the
    range starts past the end, or a suffix of 0 bytes."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or (first == last == ""):
        return None
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable
    if end < start:
        return None
    return start, min(end, size - 1)


Locator = Callable[[str], Storage]


def locator(settings: Settings, remote: S3Storage | None) -> Locator:
    """Where a recording's bucket copy is, from its storage_url: on the configured bucket's
    client when there is one, else a client built from the [recordings] s3_* settings (a bucket
    configured once and removed since)."""

    def locate(url: str) -> Storage:
        return remote.at(url) if remote is not None else s3_from_settings(settings, url)

    return locate


class HasFiles(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def wav_path(self) -> str | None: ...
    @property
    def mp3_path(self) -> str | None: ...
    @property
    def storage_url(self) -> str | None: ...


async def remove_files(rec: HasFiles, locate: Locator | None) -> None:
    """Delete a recording's files everywhere: its bucket copies first (an error there propagates,
    so the caller keeps the row and can try again), then the local WAV and MP3."""
    if rec.storage_url:
        if locate is None:
            raise ConfigError(f"recording {rec.sid} has files in {rec.storage_url} but no storage is configured")
        remote = locate(rec.storage_url)
        for ext in (".wav", ".mp3"):
            await remote.delete(recording_key(rec.account_sid, rec.sid, ext))
    wav = Path(rec.wav_path) if rec.wav_path else None
    for path in {p for p in (wav, Path(rec.mp3_path) if rec.mp3_path else None, wav and wav.with_suffix(".mp3")) if p}:
        path.unlink(missing_ok=True)
