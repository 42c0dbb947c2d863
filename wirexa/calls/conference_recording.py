"""Conference recordings (<Conference record="record-from-start">): one mono mix of a room, from
its start to its end, kept as a Recording of the conference (conference_sid, no call_sid).

Theory of operation. Conferences (calls/conference.py) calls start() when a room starts (or when
a participant asking for a recording joins a room already started) and stop() when the room
ends. start() inserts the Recording resource `in-progress` (listed and fetched while it runs;
its `in-progress` callback if subscribed) and asks the SIP port to record the room's mix in the
worker the room lives in (remote members included: sip/pool.py, sip/mediagraph.py). stop()
asks the port to stop and waits for the file to be complete, then keeps it as call recordings
are kept (calls/recordings.py): too short, or nothing but silence once trimmed (trim-silence,
the default), and the resource ends `absent` (its callback); else it is `completed`, its MP3,
upload to the bucket when configured and `completed` callback following through the media job
(media/recording_jobs.py), the same path as every recording. A worker that died while
recording leaves a file whose header was never written: it is repaired and kept for what it holds.

The recording's settings (trim, recordingStatusCallback, Method, Event) are those of the
participant whose record attribute asked for it: the first in joining order at the start, or
the participant that joined a started room with it. The RecordingStatusCallback of a conference
recording names the conference, not a call (webhooks/outbox.py recording_status_params).
Loop-only."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Protocol

from wirexa.calls.ports import Clock, RecordingFinished, SidSource, SipPort
from wirexa.calls.recordings import MIN_RECORDING_MS, Repairer, Trimmer
from wirexa.calls.records import CallRecord, NewRecording, RecordingRecord
from wirexa.calls.statuses import RecordingStatus
from wirexa.errors import SipError
from wirexa.laml import actions as A
from wirexa.laml.verbs import Trim
from wirexa.notices import Notice

log = logging.getLogger(__name__)

SOURCE = "Conference"  # the Recording resource's `source` (Twilio's enum); its callback says DialConference


class RecordingStore(Protocol):
    """The recordings' unit of work (store/calls.py StoreCalls), `call` None for a conference's."""

    async def recording_started(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord: ...

    async def save_recording(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord: ...

    async def recording_absent(self, sid: str, call: CallRecord | None, error_code: int) -> RecordingRecord | None: ...


@dataclasses.dataclass(slots=True)
class _Live:
    new: NewRecording
    path: Path
    started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # the port was asked
    failed: bool = False  # it could not record


class RoomRecorder:
    """The recordings of the live rooms, by room sid (one each)."""

    def __init__(
        self,
        store: RecordingStore,
        sip: SipPort,
        clock: Clock,
        new_sid: SidSource,
        trim: Trimmer,
        repair: Repairer,
        folder: Path,
    ) -> None:
        self.store = store
        self.sip = sip
        self.clock = clock
        self.new_sid = new_sid
        self.trim = trim
        self.repair = repair
        self.folder = folder  # recordings_dir: each project's files in a folder of its own
        self.live: dict[str, _Live] = {}

    def recording(self, room_sid: str) -> bool:
        return room_sid in self.live

    async def start(self, room_sid: str, media_room: str, account_sid: str, action: A.DialConference) -> None:
        """Record the room from now on, with `action`'s settings (its record attribute asked)."""
        if room_sid in self.live:
            return
        rec_sid = self.new_sid("RE")
        folder = self.folder / account_sid
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{rec_sid}.wav"
        new = NewRecording(
            sid=rec_sid,
            account_sid=account_sid,
            call_sid=None,
            conference_sid=room_sid,
            source=SOURCE,
            channels=1,
            track="both",
            duration_s=0,
            start_time=self.clock.now(),
            wav_path=str(path),
            status_callback=action.recording_status_callback,
            status_callback_method=str(action.recording_status_callback_method),
            status_callback_events=action.recording_status_callback_event,
            trim=str(action.trim),
            status=str(RecordingStatus.IN_PROGRESS),
        )
        live = self.live[room_sid] = _Live(new, path)
        await self.store.recording_started(new, None)
        try:
            await self.sip.room_record(media_room, rec_sid, str(path))
        except SipError as exc:
            log.error("conference %s: recording %s could not start: %s", room_sid, rec_sid, exc)
            live.failed = True
            live.started.set()
            if self.live.get(room_sid) is live:  # else stop() has it, and closes it
                del self.live[room_sid]
                await self.store.recording_absent(rec_sid, None, Notice.INTERNAL_FAILURE)
            return
        live.started.set()
        log.info("conference %s: recording %s started", room_sid, rec_sid)

    async def stop(self, room_sid: str, media_room: str) -> RecordingRecord | None:
        """The room ended: finish its recording (if any) and keep it, or close it `absent`."""
        live = self.live.pop(room_sid, None)
        if live is None:
            return None
        new, path = live.new, live.path
        await live.started.wait()  # a room that ended while its recording was starting
        if live.failed:
            return await self.store.recording_absent(new.sid, None, Notice.INTERNAL_FAILURE)
        done: RecordingFinished | None = await self.sip.room_record_stop(media_room, new.sid)
        if done is not None:
            ms = done.duration_ms
        else:  # the worker failed or died: what its file holds, its header repaired
            seconds = await self.repair(path) if path.exists() else None
            ms = int((seconds or 0.0) * 1000)
        if ms >= MIN_RECORDING_MS and path.exists() and new.trim == Trim.TRIM_SILENCE:
            trimmed = await self.trim(path)
            if trimmed is not None:
                ms = int(trimmed * 1000)
        if ms < MIN_RECORDING_MS or not path.exists():
            log.info("conference %s: recording %s absent (%d ms)", room_sid, new.sid, ms)
            path.unlink(missing_ok=True)
            return await self.store.recording_absent(new.sid, None, Notice.RECORDING_TOO_SHORT)
        kept = dataclasses.replace(
            new, status=str(RecordingStatus.COMPLETED), duration_s=max(1, round(ms / 1000)), wav_path=str(path)
        )
        rec = await self.store.save_recording(kept, None)
        log.info("conference %s: recording %s completed, %d s", room_sid, new.sid, kept.duration_s)
        return rec
