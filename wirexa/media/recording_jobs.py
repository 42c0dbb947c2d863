"""Background work on finished recordings: the MP3 and the `completed` callback, the upload to
the bucket, retention, and closing recordings a dead engine or worker left open.

Theory of operation: the recordings table is the queue. A recording saved by a call is
media_state `pending`; RecordingMedia makes its MP3 (ffmpeg, once) and then, in one transaction,
records the MP3, sends the `completed` callback and moves the row to `upload` (a bucket is
configured) or `ready`. An `upload` row has its WAV and MP3 copied to the bucket, then becomes
`ready` with its storage_url (and, unless keep_local, loses its local copies after the commit).
Each step is redone from the row after a crash: converting twice or uploading twice is harmless,
a callback is committed exactly once with the step that causes it. The store side of every step
is a RecordingRows port (store.recordings.StoreRecordings in production).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wirexa.calls.statuses import MediaState
from wirexa.clock import utcnow
from wirexa.janitor import Janitor
from wirexa.media.jobs import Job
from wirexa.media.recording import convert_mp3, repair_wav
from wirexa.media.storage import Locator, Storage, recording_key, remove_files

if TYPE_CHECKING:
    from wirexa.calls.records import RecordingRecord

log = logging.getLogger(__name__)

Converter = Callable[[Path, Path], Awaitable[bool]]


class RecordingRows(Protocol):
    """The store side of the jobs; loop-only coroutines, each one transaction."""

    async def media_due(self) -> list[RecordingRecord]: ...

    async def media_made(self, sid: str, mp3_path: str | None, next_state: MediaState) -> RecordingRecord | None: ...

    async def stored(
        self, sid: str, storage_url: str | None, wav_path: str | None, mp3_path: str | None
    ) -> RecordingRecord | None: ...

    async def unfinished(self) -> list[RecordingRecord]: ...

    async def recovered(self, sid: str, duration_s: int | None) -> RecordingRecord | None: ...

    async def expired(self, before: dt.datetime, limit: int) -> list[RecordingRecord]: ...

    async def delete(self, sid: str) -> None: ...


async def recover_recordings(
    rows: RecordingRows,
    found: Sequence[RecordingRecord] | None = None,
    repair: Callable[[Path], float | None] = repair_wav,
) -> int:
    """At engine start, before any call runs: close every recording left in-progress (or paused,
    stopped, processing) by a dead engine or worker (`found`: those, when the caller knows them:
    the orphans of engines sharing the database; else every unfinished one). A WAV with audio gets a header that matches
    the data actually captured and the row becomes completed with that duration (its MP3 and
    `completed` callback follow through RecordingMedia); no file or no audio makes it failed,
    with its callback at once. Returns how many were closed."""
    closed = 0
    for rec in found if found is not None else await rows.unfinished():
        seconds = await asyncio.to_thread(repair, Path(rec.wav_path)) if rec.wav_path else None
        duration = max(1, round(seconds)) if seconds else None
        log.warning(
            "[%s] recording %s was %s when its engine or worker stopped: %s",
            rec.call_sid,
            rec.sid,
            rec.status,
            f"kept {seconds:.1f} s" if seconds else "nothing captured, failed",
        )
        await rows.recovered(rec.sid, duration)
        closed += 1
    return closed


class RecordingMedia(Job):
    """The recordings' media job (see the module docstring): `async with RecordingMedia(rows,
    remote=...) as media:` runs it; `media.wake()` after a recording is saved (loop-only).
    It also looks for work every `poll_s`, and retries a failed upload after `retry_s`."""

    NAME = "recording-media"

    def __init__(
        self,
        rows: RecordingRows,
        *,
        remote: Storage | None = None,
        keep_local: bool = True,
        convert: Converter = convert_mp3,
        poll_s: float = 30.0,
        retry_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.remote = remote
        self.keep_local = keep_local
        self.convert = convert
        self.poll_s = poll_s
        self.retry_s = retry_s
        self._retry_at: dict[str, float] = {}

    async def run_once(self) -> int:
        """Do every step that is due now; returns how many steps were done."""
        steps, failed = 0, set[str]()
        while True:
            now = time.monotonic()
            due = [
                r for r in await self.rows.media_due() if self._retry_at.get(r.sid, 0.0) <= now and r.sid not in failed
            ]
            if not due:
                return steps
            for rec in due:
                if rec.media_state == MediaState.PENDING:
                    await self._convert(rec)
                else:
                    await self._upload(rec)
                    if rec.sid in self._retry_at:
                        failed.add(rec.sid)  # one try per pass, whatever retry_s says
                steps += 1

    async def _convert(self, rec: RecordingRecord) -> None:
        wav = Path(rec.wav_path) if rec.wav_path else None
        mp3 = wav.with_suffix(".mp3") if wav else None
        ok = False
        if wav is not None and mp3 is not None and wav.exists():
            ok = mp3.exists() or await self.convert(wav, mp3)  # exists: converted before a crash
            if not ok:
                log.error("[%s] recording %s: no MP3 (ffmpeg failed); the WAV is kept", rec.call_sid, rec.sid)
        done = await self.rows.media_made(
            rec.sid, str(mp3) if ok else None, MediaState.UPLOAD if self.remote else MediaState.READY
        )
        if done is None and ok and mp3 is not None:
            mp3.unlink(missing_ok=True)  # deleted meanwhile

    async def _upload(self, rec: RecordingRecord) -> None:
        remote = self.remote
        if remote is None:  # the bucket was configured when it was saved, and is not now
            await self.rows.stored(rec.sid, rec.storage_url, rec.wav_path, rec.mp3_path)
            return
        files = [Path(p) for p in (rec.wav_path, rec.mp3_path) if p and Path(p).exists()]
        try:
            for path in files:
                await remote.put(path, recording_key(rec.account_sid, rec.sid, path.suffix))
        except Exception as exc:  # noqa: BLE001 - the bucket is down or refuses: retry later
            log.warning(
                "[%s] upload of recording %s to %s failed (retry in %.0f s): %s",
                rec.call_sid,
                rec.sid,
                remote.root,
                self.retry_s,
                exc,
            )
            self._retry_at[rec.sid] = time.monotonic() + self.retry_s
            return
        self._retry_at.pop(rec.sid, None)
        keep = self.keep_local or not files
        done = await self.rows.stored(
            rec.sid,
            remote.root if files else rec.storage_url,
            rec.wav_path if keep else None,
            rec.mp3_path if keep else None,
        )
        if done is not None and not keep:
            for path in files:
                path.unlink(missing_ok=True)


class RetentionJanitor(Janitor):
    """Deletes recordings older than `days` (rows and their files, local and in the bucket) every
    `interval_s`, the first pass at start; `async with RetentionJanitor(rows, days=30, locate=...)`.
    days <= 0 does nothing. A file that cannot be deleted (the bucket is down) keeps its row, and
    the next pass tries again."""

    task_name = "recording-retention"
    deleted_what = "recording(s)"
    failed_what = "retention pass"

    def __init__(
        self,
        rows: RecordingRows,
        *,
        days: float,
        locate: Locator | None = None,
        interval_s: float = 3600.0,
        batch: int = 200,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(days=days, interval_s=interval_s, batch=batch, now=now)
        self.rows = rows
        self.locate = locate

    async def run_once(self) -> int:
        """One pass; returns how many recordings were deleted."""
        before = self.cutoff()
        deleted, failed = 0, set[str]()
        while True:
            batch = [r for r in await self.rows.expired(before, self.batch + len(failed)) if r.sid not in failed]
            if not batch:
                return deleted
            for rec in batch:
                try:
                    await remove_files(rec, self.locate)
                except Exception as exc:  # noqa: BLE001 - keep the row, try it again next pass
                    log.warning("retention: files of recording %s could not be deleted: %s", rec.sid, exc)
                    failed.add(rec.sid)
                    continue
                await self.rows.delete(rec.sid)
                deleted += 1
