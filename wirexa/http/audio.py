"""<Play> audio: fetch a WAV/MP3 by URL (size and time limits), convert with ffmpeg to the bridge
format (8 kHz 16-bit mono WAV), and cache by URL plus the server's validators."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import aiohttp

import wirexa
from wirexa.errors import DocumentError
from wirexa.http.documents import read_capped
from wirexa.notices import Notice

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 50 * 1024 * 1024


class AudioCache:
    """Loop-only. get(url) -> path of a playable WAV; raises DocumentError (11200, 13420)."""

    def __init__(
        self, cache_dir: Path, timeout_s: float = 30.0, max_bytes: int = MAX_AUDIO_BYTES, ffmpeg: str = "ffmpeg"
    ) -> None:
        self.cache_dir = cache_dir
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=5.0)
        self.max_bytes = max_bytes
        self.ffmpeg = ffmpeg
        self._locks: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AudioCache:
        self._session = aiohttp.ClientSession(
            timeout=self.timeout, headers={"User-Agent": f"Wirexa/{wirexa.__version__}"}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str) -> Path:
        assert self._session is not None, "AudioCache used outside its context"
        key = hashlib.sha256(url.encode()).hexdigest()[:40]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            wav = self.cache_dir / f"{key}.wav"
            meta = self.cache_dir / f"{key}.json"
            headers = {}
            if wav.exists() and meta.exists():
                validators = json.loads(meta.read_text())
                if validators.get("etag"):
                    headers["If-None-Match"] = validators["etag"]
                if validators.get("last_modified"):
                    headers["If-Modified-Since"] = validators["last_modified"]
            try:
                async with self._session.get(url, headers=headers) as resp:
                    if resp.status == 304 and wav.exists():
                        return wav
                    if not 200 <= resp.status < 300:
                        raise DocumentError(
                            Notice.HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: status {resp.status}", url
                        )
                    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                    if ctype and not (ctype.startswith("audio/") or ctype == "application/octet-stream"):
                        raise DocumentError(Notice.PLAY_INVALID_CONTENT, f"Play: unsupported Content-Type {ctype}", url)
                    body = await read_capped(resp.content, self.max_bytes)
                    if len(body) > self.max_bytes:
                        raise DocumentError(Notice.RESPONSE_TOO_LARGE, "Audio file too large", url)
                    validators = {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
            except DocumentError:
                raise
            except (aiohttp.ClientError, TimeoutError) as exc:
                if wav.exists():
                    log.warning("refetch of %s failed (%s); playing the cached copy", url, exc)
                    return wav
                raise DocumentError(
                    Notice.HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: {exc or type(exc).__name__}", url
                ) from exc
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            src = self.cache_dir / f"{key}.{os.getpid()}.src"
            tmp = self.cache_dir / f"{key}.{os.getpid()}.tmp.wav"
            src.write_bytes(body)
            try:
                proc = await asyncio.create_subprocess_exec(
                    shutil.which(self.ffmpeg) or self.ffmpeg,
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(src),
                    "-ar",
                    "8000",
                    "-ac",
                    "1",
                    "-sample_fmt",
                    "s16",
                    str(tmp),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, err = await proc.communicate()
            finally:
                src.unlink(missing_ok=True)
            if proc.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise DocumentError(
                    Notice.PLAY_INVALID_CONTENT,
                    f"Play: cannot decode audio: {err.decode(errors='replace').strip()[:200]}",
                    url,
                )
            tmp.replace(wav)
            meta.write_text(json.dumps(validators))
            return wav
