"""The calls' unit of work (calls.ports.CallStore) over the Store and repo functions.

Each write method is one write function on the store's writer thread, so a status change and
the callback rows it causes (the outbox, injected as callables: the store never imports
webhooks/) commit together or not at all; after the commit delivery is woken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from wirexa.calls import state
from wirexa.calls.permissions import ProjectLimits
from wirexa.calls.ports import CONCURRENCY_WAIT_S, AmdCallbacks, ClaimGate, RecordingCallbacks, StatusCallbacks
from wirexa.calls.records import (
    NO_CHANGES,
    CallChanges,
    CallRecord,
    NewCall,
    NewNotification,
    NewRecording,
    ProjectRecord,
    RecordingRecord,
    VerbRun,
)
from wirexa.calls.statuses import MediaState, RecordingStatus
from wirexa.clock import utcnow
from wirexa.media.quality import Sample, Summary
from wirexa.store.db import Store
from wirexa.store.repo import (
    calls,
    flags,
    nodes,
    notifications,
    projects,
    quality,
    recordings,
    transcriptions,
    webhooks,
)
from wirexa.store.repo import verbs as verbs_repo


class StoreCalls:
    """Implements calls.ports.CallStore and calls.permissions.LimitsStore. Loop-only."""

    def __init__(
        self,
        store: Store,
        *,
        status_callbacks: StatusCallbacks,
        recording_callbacks: RecordingCallbacks,
        amd_callbacks: AmdCallbacks = lambda call, ms, confidence: None,
        wake_webhooks: Callable[[], None] = lambda: None,
        recording_saved: Callable[[], None] | None = None,
    ) -> None:
        """`recording_saved` wakes the recordings' media job (media.recording_jobs) after a
        recording is saved; None: no job runs, save_recording sends the callback itself."""
        self.store = store
        self._recording_saved = recording_saved
        self._status_callbacks = status_callbacks
        self._recording_callbacks = recording_callbacks
        self._amd_callbacks = amd_callbacks
        self._wake = wake_webhooks

    async def project(self, account_sid: str) -> ProjectRecord | None:
        return await self.store.lookup(projects.get_project, account_sid)

    async def call(self, call_sid: str) -> CallRecord | None:
        return await self.store.lookup(calls.get_call, call_sid)

    # calls.permissions.LimitsStore: the toll-fraud facts the dispatcher checks.

    async def calls_stopped(self) -> bool:
        return await self.store.lookup(flags.get_flag, flags.CALLS_STOPPED) is not None

    async def project_limits(self, account_sid: str) -> ProjectLimits:
        return await self.store.lookup(projects.project_limits, account_sid)

    async def call_usage_since(self, account_sid: str, since: dt.datetime) -> tuple[int, list[dt.datetime]]:
        return await self.store.read(calls.call_usage_since, account_sid, since)

    async def queued(self, limit: int) -> list[CallRecord]:
        return await self.store.read(calls.queued_calls, limit)

    async def orphaned(self, me: str | None) -> list[CallRecord]:
        return await self.store.read(nodes.orphaned_calls, me)

    async def claim(self, call_sid: str, changes: CallChanges, gate: ClaimGate) -> CallRecord | float | None:
        def tx() -> CallRecord | float | None:
            if gate.generation and not nodes.is_open(gate.node_id, gate.generation):
                return None  # fenced or draining: this node takes nothing from the queue
            if not nodes.lock_queued_call(call_sid):
                return None  # not queued any more, or another engine is claiming it now
            if gate.cps or gate.max_concurrent is not None:
                nodes.lock_project(gate.account_sid)  # the engines' claims of one project, one at a time
                if gate.max_concurrent is not None and calls.count_live_calls(gate.account_sid) >= gate.max_concurrent:
                    return CONCURRENCY_WAIT_S
                if gate.cps and (wait := nodes.take_token(gate.account_sid, gate.cps, 1.0)) > 0:
                    return wait
            return self._transition_tx(
                call_sid, state.Fact.DISPATCHED, changes, None, True, (state.CallStatus.QUEUED,), None
            )

        result: CallRecord | float | None = await self.store.write(tx)
        if isinstance(result, CallRecord):
            self._wake()
        return result

    async def insert(self, account_sid: str, new: NewCall) -> CallRecord:
        fields = dataclasses.asdict(new)
        if new.direction == state.Direction.INBOUND:  # it started when its INVITE came
            fields["start_time"] = utcnow()
        fields["status_callback_events"] = " ".join(new.status_callback_events)
        fields["recording_status_callback_events"] = " ".join(new.recording_status_callback_events)
        return await self.store.write(
            lambda: calls.insert_call(
                account_sid=account_sid, status=str(state.initial_status(new.direction)), **fields
            )
        )

    async def change(self, call_sid: str, changes: CallChanges) -> CallRecord | None:
        columns = changes.columns()
        if not columns:
            return await self.call(call_sid)
        return await self.store.write(lambda: calls.update_call(call_sid, **columns))

    async def transition(
        self,
        call_sid: str,
        fact: state.Fact,
        changes: CallChanges = NO_CHANGES,
        extra: Mapping[str, str] | None = None,
        announce: bool = True,
        expect: tuple[str, ...] | None = None,
        *,
        notice: NewNotification | None = None,
    ) -> CallRecord | None:
        result: CallRecord | None = await self.store.write(
            self._transition_tx, call_sid, fact, changes, extra, announce, expect, notice
        )
        if result is not None:
            self._wake()
        return result

    def _transition_tx(
        self,
        call_sid: str,
        fact: state.Fact,
        changes: CallChanges,
        extra: Mapping[str, str] | None,
        announce: bool,
        expect: tuple[str, ...] | None,
        notice: NewNotification | None,
    ) -> CallRecord | None:
        """transition()'s transaction (also the end of claim()'s)."""
        call = calls.get_call(call_sid)
        if call is None or (expect is not None and call.status not in expect):
            return None
        new = state.step(call.status, fact)
        if new is None:
            return None
        updated = calls.update_call(call_sid, expect_status=(call.status,), status=str(new), **changes.columns())
        if updated is None:
            return None
        if announce:
            self._status_callbacks(updated, state.EVENT_OF[new], extra or {})
        if new in state.FINAL and updated.duration_s:
            projects.charge_credits(updated.account_sid, updated.duration_s)
        if notice is not None:  # why it ended, visible together with the status (a refusal's code)
            notifications.insert_notification(**dataclasses.asdict(notice))
        return updated

    async def alive(self, call_sids: Sequence[str], at: dt.datetime) -> None:
        await self.store.write(calls.mark_alive, call_sids, at)

    async def delete(self, call_sid: str) -> None:
        await self.store.write(calls.delete_call, call_sid)

    async def save_recording(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord:
        """Insert a finished recording. With a media job wired (`recording_saved`) the row is
        media_state pending: the job makes the MP3 and sends the `completed` callback in its own
        transaction once both files exist. Without one the callback commits here, with the row (the
        MP3 is then made on the first request). A <Record transcribe> recording's Transcription
        goes in with it, in progress: the transcription job's to do (also woken by
        `recording_saved`). `call` None: a conference's recording."""
        deferred = self._recording_saved is not None

        def tx() -> RecordingRecord:
            fields = dataclasses.asdict(new)
            del fields["transcribe"], fields["transcribe_callback"]
            fields["status_callback_events"] = " ".join(new.status_callback_events)
            fields["media_state"] = str(MediaState.PENDING if deferred else MediaState.READY)
            existing = recordings.get_recording(new.sid)  # a call recording's in-progress row
            if existing is not None:
                del fields["sid"], fields["start_time"]
                rec = recordings.update_recording(new.sid, **fields) or existing
            else:
                rec = recordings.insert_recording(**fields)
            if new.transcribe and rec.call_sid is not None:
                transcriptions.insert_transcription(
                    account_sid=rec.account_sid,
                    call_sid=rec.call_sid,
                    recording_sid=rec.sid,
                    callback=new.transcribe_callback,
                )
            if not deferred and new.status_callback and RecordingStatus.COMPLETED in new.status_callback_events:
                self._recording_callbacks(rec, call, RecordingStatus.COMPLETED)
            return rec

        rec = await self.store.write(tx)
        if self._recording_saved is not None:
            self._recording_saved()
        else:
            self._wake()
        return rec

    async def recording_started(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord:
        def tx() -> RecordingRecord:
            fields = dataclasses.asdict(new)
            del fields["transcribe"], fields["transcribe_callback"]
            fields["status_callback_events"] = " ".join(new.status_callback_events)
            rec = recordings.insert_recording(**fields, media_state=str(MediaState.READY))
            self._recording_callbacks(rec, call, RecordingStatus.IN_PROGRESS)
            return rec

        rec = await self.store.write(tx)
        self._wake()
        return rec

    async def recording_status(self, sid: str, status: str) -> RecordingRecord | None:
        return await self.store.write(lambda: recordings.update_recording(sid, status=status))

    async def recording_absent(self, sid: str, call: CallRecord | None, error_code: int) -> RecordingRecord | None:
        def tx() -> RecordingRecord | None:
            rec = recordings.update_recording(
                sid,
                status=str(RecordingStatus.ABSENT),
                error_code=error_code,
                duration_s=0,
                media_state=str(MediaState.READY),
                wav_path=None,
            )
            if rec is not None:
                self._recording_callbacks(rec, call, RecordingStatus.ABSENT)
            return rec

        rec = await self.store.write(tx)
        self._wake()
        return rec

    async def amd_decided(
        self, call_sid: str, answered_by: str, detection_ms: int, confidence: float, *, announce_answered: bool
    ) -> CallRecord | None:
        def tx() -> CallRecord | None:
            call = calls.update_call(call_sid, answered_by=answered_by, amd_confidence=confidence)
            if call is None:
                return None
            if announce_answered:
                self._status_callbacks(call, state.CallbackEvent.ANSWERED, {})
            if call.async_amd:
                self._amd_callbacks(call, detection_ms, confidence)
            return call

        result: CallRecord | None = await self.store.write(tx)
        self._wake()
        return result

    async def verbs_run(self, call_sid: str, verbs: Sequence[VerbRun]) -> None:
        await self.store.write(verbs_repo.insert_verbs, call_sid, verbs)

    async def quality_sampled(self, call_sid: str, sample: Sample | None, thin: int | None, summary: Summary) -> None:
        await self.store.write(quality.save_sample, call_sid, sample, thin, summary, utcnow())

    async def webhook(
        self,
        account_sid: str,
        call_sid: str,
        kind: str,
        event: str,
        url: str,
        method: str,
        params: Sequence[tuple[str, str]],
    ) -> None:
        """Queue one request in the webhook outbox (a Media Stream's status callback)."""
        await self.store.write(
            lambda: webhooks.insert_webhook(
                account_sid=account_sid,
                call_sid=call_sid,
                kind=kind,
                event=event,
                url=url,
                method=method,
                params=list(params),
            )
        )
        self._wake()

    async def notify(self, notice: NewNotification) -> None:
        await self.store.write(lambda: notifications.insert_notification(**dataclasses.asdict(notice)))
