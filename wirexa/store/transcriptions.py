"""The transcriptions' bookkeeping over the Store (media.transcriptions.TranscriptionRows): the
rows still in progress, and each outcome committed with its transcribeCallback and, for a
failure, the notification that says why.

Like StoreRecordings, each method is one write function on the store's writer thread; the
callback (the outbox, injected as a callable: the store never imports webhooks/) commits in the
same transaction as the outcome, and delivery is woken after the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from wirexa.calls.records import CallRecord, RecordingRecord, TranscriptionRecord
from wirexa.calls.statuses import TranscriptionStatus
from wirexa.store.db import Store
from wirexa.store.repo import calls, notifications, recordings, transcriptions

# Enqueue a finished transcription's transcribeCallback (webhooks.outbox.transcription_callbacks);
# called inside the transaction that finishes it. The call is None when it was deleted.
TranscriptionCallbacks = Callable[[TranscriptionRecord, CallRecord | None], None]


class StoreTranscriptions:
    """Implements media.transcriptions.TranscriptionRows. Loop-only."""

    def __init__(
        self, store: Store, *, callbacks: TranscriptionCallbacks, wake_webhooks: Callable[[], None] = lambda: None
    ) -> None:
        self.store = store
        self._callbacks = callbacks
        self._wake = wake_webhooks

    async def due(self, limit: int) -> list[TranscriptionRecord]:
        return await self.store.read(transcriptions.transcriptions_in_progress, limit)

    async def recording(self, sid: str) -> RecordingRecord | None:
        return await self.store.lookup(recordings.get_recording, sid)

    async def finished(
        self,
        sid: str,
        status: TranscriptionStatus,
        *,
        text: str | None,
        duration_s: int | None,
        provider: str | None,
        error: tuple[int, str] | None,
    ) -> TranscriptionRecord | None:
        """Record the outcome of a transcription still in progress, its callback and (error: the
        code and message) a notification on the call, in one transaction. None when the row is
        gone or was finished already (by another engine on the same database)."""

        def tx() -> TranscriptionRecord | None:
            current = transcriptions.get_transcription(sid)
            if current is None or current.status != TranscriptionStatus.IN_PROGRESS:
                return None
            tr = transcriptions.update_transcription(
                sid,
                status=str(status),
                transcription_text=text,
                duration_s=duration_s,
                provider=provider,
                error_code=error[0] if error else None,
            )
            if tr is None:
                return None
            if error is not None:
                notifications.insert_notification(
                    account_sid=tr.account_sid, call_sid=tr.call_sid, error_code=error[0], message_text=error[1]
                )
            self._callbacks(tr, calls.get_call(tr.call_sid))
            return tr

        result: TranscriptionRecord | None = await self.store.write(tx)
        if result is not None:
            self._wake()
        return result
