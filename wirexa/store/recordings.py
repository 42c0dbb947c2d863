"""The recordings' files bookkeeping over the Store (media.recording_jobs.RecordingRows): which
rows still need their MP3 or upload, each step committed with the callback it causes.

Like StoreCalls, each method is one write function on the store's writer thread, and the
recording status callback (the outbox, injected as a callable) commits in the same transaction
as the change that causes it; delivery is woken after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from wirexa.calls.ports import RecordingCallbacks
from wirexa.calls.records import RecordingRecord
from wirexa.calls.statuses import MediaState, RecordingStatus
from wirexa.notices import Notice
from wirexa.store.db import Store
from wirexa.store.repo import calls, nodes, recordings

DUE_PAGE = 100


class StoreRecordings:
    """Implements media.recording_jobs.RecordingRows. Loop-only."""

    def __init__(
        self, store: Store, *, recording_callbacks: RecordingCallbacks, wake_webhooks: Callable[[], None] = lambda: None
    ) -> None:
        self.store = store
        self._callbacks = recording_callbacks
        self._wake = wake_webhooks

    def _announce(self, rec: RecordingRecord) -> None:
        """Enqueue the terminal callback of `rec` (its RecordingStatus is rec.status); inside a tx.
        A conference's recording has no call; a call's whose call was deleted gets none."""
        call = calls.get_call(rec.call_sid) if rec.call_sid is not None else None
        if (call is not None or rec.conference_sid is not None) and rec.status_callback:
            self._callbacks(rec, call, RecordingStatus.COMPLETED)

    async def media_due(self) -> list[RecordingRecord]:
        return await self.store.read(recordings.recordings_media_due, DUE_PAGE)

    async def media_made(self, sid: str, mp3_path: str | None, next_state: MediaState) -> RecordingRecord | None:
        """The MP3 exists (or could not be made: None): record it, move to `next_state` and send
        the `completed` callback, in one transaction. None when the row is gone (deleted)."""

        def tx() -> RecordingRecord | None:
            rec = recordings.get_recording(sid)
            if rec is None or rec.media_state != MediaState.PENDING:
                return None
            updated = recordings.update_recording(sid, mp3_path=mp3_path, media_state=str(next_state))
            if updated is not None:
                self._announce(updated)
            return updated

        result: RecordingRecord | None = await self.store.write(tx)
        self._wake()
        return result

    async def stored(
        self, sid: str, storage_url: str | None, wav_path: str | None, mp3_path: str | None
    ) -> RecordingRecord | None:
        """The bucket holds the files now; the local paths that remain (None: removed)."""
        return await self.store.write(
            lambda: (
                recordings.update_recording(
                    sid,
                    storage_url=storage_url,
                    wav_path=wav_path,
                    mp3_path=mp3_path,
                    media_state=str(MediaState.READY),
                )
                if recordings.get_recording(sid) is not None
                else None
            )
        )

    async def unfinished(self) -> list[RecordingRecord]:
        return await self.store.read(recordings.unfinished_recordings)

    async def orphans(self, me: str | None) -> list[RecordingRecord]:
        """Open recordings whose engine is not live (store/repo/nodes.py orphaned_recordings)."""
        return await self.store.read(nodes.orphaned_recordings, me)

    async def recovered(self, sid: str, duration_s: int | None) -> RecordingRecord | None:
        """Close a recording a dead engine or worker left open: completed with `duration_s` (its
        MP3 and callback follow through media_state pending), or failed (duration None: nothing
        was captured) with its callback now. A failed recording is `absent` with error 16101 on
        the resource (Twilio's status enum has no `failed`); its callback says
        RecordingStatus=failed, as the product doc's webhook table does."""

        def tx() -> RecordingRecord | None:
            if duration_s is None:
                rec = recordings.update_recording(
                    sid,
                    status=str(RecordingStatus.ABSENT),
                    error_code=Notice.RECORDING_TOO_SHORT,
                    duration_s=0,
                    media_state=str(MediaState.READY),
                )
                if rec is not None:
                    self._announce(dataclasses.replace(rec, status=str(RecordingStatus.FAILED)))
                return rec
            return recordings.update_recording(
                sid, status=str(RecordingStatus.COMPLETED), duration_s=duration_s, media_state=str(MediaState.PENDING)
            )

        result: RecordingRecord | None = await self.store.write(tx)
        self._wake()
        return result

    async def expired(self, before: dt.datetime, limit: int) -> list[RecordingRecord]:
        return await self.store.read(recordings.recordings_created_before, before, limit)

    async def delete(self, sid: str) -> None:
        await self.store.write(recordings.delete_recording, sid)
