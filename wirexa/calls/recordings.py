"""Keeping what a call recorded: one function for every kind of recording (<Record>, <Dial
record>, and the whole-call recordings), and CallRecordings, the whole-call recordings of one
live call (Record=true on create, the call Recordings API: start, pause, resume, stop).

A recording shorter than MIN_RECORDING_MS, or nothing but silence once trimmed, is discarded
as Twilio does (no resource, no callback) and leaves a warning notification on the call that
says so; anything else becomes a Recording resource whose `completed` callback commits with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from wirexa.calls.ports import CallSid, CallStore, Clock, RecordingFinished, SidSource, SipPort
from wirexa.calls.records import CallRecord, NewNotification, NewRecording, RecordingOptions, RecordingRecord
from wirexa.calls.statuses import RecordingStatus
from wirexa.notices import Notice

log = logging.getLogger(__name__)

MIN_RECORDING_MS = 500
_VERB = {"RecordVerb": "Record", "DialVerb": "Dial"}

# Trim leading and trailing silence of a WAV in place; the new duration in seconds, or None
# when trimming failed (the file is kept as it was). media/recording.trim_silence in production.
Trimmer = Callable[[Path], Awaitable[float | None]]
# Merge two mono WAVs into one 2-channel WAV (left, right, out); False on failure.
# media/recording.merge_channels in production.
Merger = Callable[[Path, Path, Path], Awaitable[bool]]
# Fix the header of a WAV whose writer died to describe the audio in it; its duration in
# seconds, None when it holds none. media/recording.repair_wav (in a thread) in production.
Repairer = Callable[[Path], Awaitable[float | None]]


async def keep(
    store: CallStore,
    clock: Clock,
    trim: Trimmer,
    call: CallRecord,
    rec_sid: str,
    path: Path,
    duration_ms: int,
    kind: RecordingOptions,
    start_time: dt.datetime | None = None,
) -> RecordingRecord | None:
    """Save a finished recording of `call`, or discard it when it is empty (None); an empty one
    is never transcribed (Twilio: no recording, no transcription)."""
    if duration_ms < MIN_RECORDING_MS or not path.exists():
        path.unlink(missing_ok=True)
        await _discarded(
            store,
            call,
            Notice.RECORDING_TOO_SHORT,
            f"{_VERB.get(kind.source, kind.source)}: recording too short ({duration_ms} ms), discarded",
        )
        return None
    if kind.trim == "trim-silence":
        trimmed = await trim(path)
        if trimmed is not None:
            duration_ms = int(trimmed * 1000)
            if duration_ms < MIN_RECORDING_MS:
                path.unlink(missing_ok=True)
                await _discarded(
                    store,
                    call,
                    Notice.RECORDING_SILENT,
                    f"{_VERB.get(kind.source, kind.source)}: recording silent, discarded",
                )
                return None
    new = NewRecording(
        sid=rec_sid,
        account_sid=call.account_sid,
        call_sid=call.sid,
        source=kind.source,
        channels=kind.channels,
        track=kind.track,
        duration_s=max(1, round(duration_ms / 1000)),
        start_time=start_time or clock.now(),
        wav_path=str(path),
        status_callback=kind.status_callback,
        status_callback_method=kind.status_callback_method,
        status_callback_events=kind.status_callback_events,
        trim=kind.trim,
        transcribe=kind.transcribe,
        transcribe_callback=kind.transcribe_callback,
    )
    return await store.save_recording(new, call)


async def _discarded(store: CallStore, call: CallRecord, code: int, message: str) -> None:
    await store.notify(
        NewNotification(
            account_sid=call.account_sid, call_sid=call.sid, error_code=code, message_text=message, log_level=1
        )
    )


@dataclasses.dataclass
class _Live:
    record: RecordingRecord
    options: RecordingOptions
    path: Path
    out_path: Path | None  # the outbound track's file (dual channel), merged into `path` at the end
    call_sid: CallSid


class CallRecordings:
    """The whole-call recordings of one live call; owned by its session (loop-only).

    start() inserts the Recording resource `in-progress` (so the API lists and fetches it while
    it runs) and asks the worker to record; update() pauses, resumes or stops it; finished()
    takes the worker's RecordingFinished for one of them: a dual-channel recording's two
    tracks are merged into one 2-channel WAV, trimmed if asked, and the row completed (its
    `completed` callback follows once the MP3 exists) or closed `absent` when nothing usable
    was captured. Several run at once, each with its own resource and file."""

    def __init__(
        self,
        store: CallStore,
        sip: SipPort,
        clock: Clock,
        new_sid: SidSource,
        trim: Trimmer,
        merge: Merger,
        repair: Repairer,
        folder: Path,
    ) -> None:
        self.store = store
        self.sip = sip
        self.clock = clock
        self.new_sid = new_sid
        self.trim = trim
        self.merge = merge
        self.repair = repair
        self.folder = folder
        self.live: dict[str, _Live] = {}

    def __contains__(self, rec_sid: str) -> bool:
        return rec_sid in self.live

    def current(self) -> str | None:
        """The most recently started live recording (Twilio's `Twilio.CURRENT`)."""
        return next(reversed(self.live), None)

    async def start(self, call: CallRecord, options: RecordingOptions) -> RecordingRecord:
        rec_sid = self.new_sid("RE")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{rec_sid}.wav"
        out_path = self.folder / f"{rec_sid}.out.wav" if options.channels == 2 else None
        new = NewRecording(
            sid=rec_sid,
            account_sid=call.account_sid,
            call_sid=call.sid,
            source=options.source,
            channels=options.channels,
            track=options.track,
            duration_s=0,
            start_time=self.clock.now(),
            wav_path=str(path),
            status_callback=options.status_callback,
            status_callback_method=options.status_callback_method,
            status_callback_events=options.status_callback_events,
            trim=options.trim,
            status=str(RecordingStatus.IN_PROGRESS),
        )
        record = await self.store.recording_started(new, call)
        self.live[rec_sid] = _Live(record, options, path, out_path, CallSid(call.sid))
        await self.sip.start_call_recording(
            CallSid(call.sid), rec_sid, str(path), options.track, str(out_path) if out_path else ""
        )
        return record

    async def update(self, rec_sid: str, status: str, pause_behavior: str = "skip") -> RecordingRecord | None:
        """Status paused (PauseBehavior skip|silence), in-progress (resume) or stopped."""
        live = self.live.get(rec_sid)
        if live is None:
            return None
        sid = live.call_sid
        if status == RecordingStatus.PAUSED:
            if live.record.status == RecordingStatus.IN_PROGRESS:
                await self.sip.pause_recording(sid, rec_sid, pause_behavior)
        elif status == RecordingStatus.IN_PROGRESS:
            if live.record.status == RecordingStatus.PAUSED:
                await self.sip.resume_recording(sid, rec_sid)
        elif status == RecordingStatus.STOPPED:
            await self.sip.stop_recording(sid, rec_sid)
        else:
            raise ValueError(f"no such recording status: {status}")
        updated = await self.store.recording_status(rec_sid, status)
        if updated is not None:
            live.record = updated
        return updated

    async def finished(self, call: CallRecord, done: RecordingFinished) -> RecordingRecord | None:
        live = self.live.pop(done.rec_id, None)
        if live is None:
            return None
        path, kind = live.path, live.options
        if done.how == "lost":  # the worker died: its files were never closed
            seconds = await self.repair(path)
            if live.out_path is not None and await self.repair(live.out_path) is None:
                live.out_path.unlink(missing_ok=True)
            done = dataclasses.replace(done, duration_ms=int((seconds or 0.0) * 1000))
        if live.out_path is not None and not live.out_path.exists():
            live.out_path = None
            kind = dataclasses.replace(kind, channels=1)
        if live.out_path is not None:
            merged = path.with_name(path.stem + ".dual.wav")
            if await self.merge(path, live.out_path, merged):
                merged.replace(path)
            else:
                log.error(
                    "[%s] recording %s: tracks could not be merged; keeping the inbound track", call.sid, done.rec_id
                )
                kind = dataclasses.replace(kind, channels=1)
            live.out_path.unlink(missing_ok=True)
        rec = await keep(
            self.store, self.clock, self.trim, call, done.rec_id, path, done.duration_ms, kind, live.record.start_time
        )
        if rec is None:
            await self.store.recording_absent(done.rec_id, call, Notice.RECORDING_TOO_SHORT)
        return rec

    async def failed(self, call: CallRecord, rec_sid: str) -> None:
        """The worker could not start it: the resource ends `absent` (its callback, if asked)."""
        live = self.live.pop(rec_sid, None)
        if live is not None:
            await self.store.recording_absent(rec_sid, call, Notice.INTERNAL_FAILURE)

    def pending(self) -> list[str]:
        return list(self.live)

    def lost(self, rec_sid: str) -> RecordingFinished:
        """A RecordingFinished for a recording whose worker never reported (it died): finished()
        keeps what its files hold, their headers repaired."""
        live = self.live[rec_sid]
        return RecordingFinished(live.call_sid, rec_sid, str(live.path), 0, "lost", None)
