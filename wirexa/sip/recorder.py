"""A media worker's recordings: their pjmedia recorders, a <Record>'s limits (length, silence,
finish keys), pause and resume, and the moment a finished file is complete enough to report.

How a recording is wired (its tracks, pause, the time-keeping silence) is the media graph's
business (mediagraph.py); Recorders tells the graph what changed and applies its answer.
Main thread only."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from wirexa.media.audio import wav_header_complete
from wirexa.sip import mediagraph as mg
from wirexa.sip import protocol as proto
from wirexa.sip.applier import Applier
from wirexa.sip.endpoint import Sink, describe

if TYPE_CHECKING:
    from wirexa.sip.dialogs import Dialog

log = logging.getLogger(__name__)

SOUND_LEVEL = 3  # level (percent) of the call's port above which a tick counts as sound for Record
CLOSE_WAIT_S = 2.0  # report a finished recording after this long even if its header never completed


def file_complete(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(12)
        return wav_header_complete(header, os.path.getsize(path))
    except OSError:
        return False


@dataclass
class Recording:
    """One running recording of a call. A <Record> (not `whole`) has limits: `max_s`,
    `silence_s` since `last_sound`, the finish `keys`; a call recording (`whole`) has none."""

    rec_id: str
    path: str
    recorder: Any  # its AudioMediaRecorder (the graph's recorder node)
    started: float
    max_s: float
    silence_s: float
    keys: str
    last_sound: float
    whole: bool = False
    out: Any = None  # the outbound track's recorder (dual channel; the graph's recorder_out node)
    out_path: str = ""
    paused: str = ""  # "" | "skip" | "silence"
    paused_at: float = 0.0
    skipped_s: float = 0.0  # paused time left out of the file (skip)

    def duration_ms(self, now: float) -> int:
        skipped = self.skipped_s + (now - self.paused_at if self.paused == "skip" else 0.0)
        return int((now - self.started - skipped) * 1000)


def open_recorders(cmd: proto.Record, bury: Callable[[Any], None]) -> tuple[Any, Any]:
    """The recorder (and for dual channel, the outbound one) of a record command, their files
    created. Raises OSError or pj.Error, after burying whatever it had made."""
    recorder = out = None
    try:
        os.makedirs(os.path.dirname(cmd.path) or ".", exist_ok=True)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(cmd.path)
        if cmd.out_path:
            out = pj.AudioMediaRecorder()
            out.createRecorder(cmd.out_path)
    except (OSError, pj.Error):
        bury(recorder)
        bury(out)
        raise
    return recorder, out


class Closing:
    """Recordings whose recorders were dropped. Dropping a recorder removes its port from the
    bridge; pjmedia does that on the clock thread a moment later and only then writes the final
    WAV header. The event goes out once every file is complete (or CLOSE_WAIT_S has passed), so
    the engine never reads half a file."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, tuple[str, ...], proto.RecordDone]] = []

    def add(self, now: float, paths: tuple[str, ...], event: proto.RecordDone) -> None:
        self.pending.append((now + CLOSE_WAIT_S, paths, event))

    def due(self) -> list[float]:
        return [d for d, _, _ in self.pending]

    def ready(self, now: float) -> list[proto.RecordDone]:
        """The events of the recordings now complete (or out of time), in the order they finished."""
        done, pending = [], []
        for deadline, paths, event in self.pending:
            if all(file_complete(p) for p in paths) or now >= deadline:
                done.append(event)
            else:
                pending.append((deadline, paths, event))
        self.pending = pending
        return done


class Recorders:
    """Starts, pauses, resumes and finishes the recordings of the worker's calls (each in its
    Dialog's `recordings`) and of its rooms' mixes (`rooms`, by rec_id: they belong to no call),
    and reports each one once its files are complete."""

    def __init__(self, graph: mg.MediaGraph, applier: Applier, bury: Callable[[Any], None], emit: Sink) -> None:
        self.graph = graph
        self.applier = applier
        self.bury = bury
        self.emit = emit
        self.closing = Closing()
        self.rooms: dict[str, tuple[str, Recording]] = {}  # rec_id -> (room, its recording)

    def _fail(self, st: Dialog, cmd: proto.Record, message: str) -> None:
        log.warning("[%s] %s failed: %s", st.call_sid, cmd.NAME, message)
        self.emit(proto.failure(cmd, message))

    def start(self, st: Dialog, cmd: proto.Record, mixed: mg.Node | None) -> None:
        """Start a recording (the call's audio is up), or answer an error event (never
        record_done) when the file cannot be created. A <Record> (not `whole`) replaces the
        call's previous one; call recordings run side by side, each into its own file. `mixed`
        is the port mix_with names (a call here, or a relay from another worker)."""
        if not cmd.whole:
            for old in [r for r in st.recordings.values() if not r.whole]:
                self.finish(st, old, "stopped")
        if cmd.rec_id in st.recordings:
            self._fail(st, cmd, f"recording {cmd.rec_id} is already running")
            return
        sid, rec_id = st.call_sid, cmd.rec_id
        try:
            recorder, out = open_recorders(cmd, self.bury)
        except (OSError, pj.Error) as exc:
            self._fail(st, cmd, f"cannot record to {cmd.path}: {describe(exc)}")
            return
        now = time.monotonic()
        rec = Recording(
            rec_id,
            cmd.path,
            recorder,
            now,
            cmd.max_length_s or 86400.0,
            0.0 if cmd.whole else cmd.silence_timeout_s,
            "" if cmd.whole else cmd.finish_on_key,
            now,
            whole=cmd.whole,
            out=out,
            out_path=cmd.out_path,
        )
        st.recordings[rec_id] = rec
        self.applier.add(mg.recorder(sid, rec_id), recorder)
        if out is not None:
            self.applier.add(mg.recorder_out(sid, rec_id), out)
        track = cmd.track if cmd.whole else "inbound"
        try:
            changes = self.graph.start_recording(
                sid, rec_id, track=track, whole=cmd.whole, dual=out is not None, mixed=mixed
            )
            self.applier.apply(changes, strict=True)
        except pj.Error as exc:
            self.applier.apply(self.graph.stop_recording(sid, rec_id))
            self.applier.drop(mg.recorder(sid, rec_id))
            self.applier.drop(mg.recorder_out(sid, rec_id))
            del st.recordings[rec_id]
            self.bury(recorder)  # dropping it also takes it out of the bridge
            self.bury(out)
            self._fail(st, cmd, f"cannot record to {cmd.path}: {describe(exc)}")

    def finish(self, st: Dialog, rec: Recording, how: proto.RecordHow, digit: str | None = None) -> None:
        if st.recordings.pop(rec.rec_id, None) is None:
            return
        sid = st.call_sid
        self.applier.apply(self.graph.stop_recording(sid, rec.rec_id))
        self.applier.drop(mg.recorder(sid, rec.rec_id))
        self.applier.drop(mg.recorder_out(sid, rec.rec_id))
        now = time.monotonic()
        ms = rec.duration_ms(now)
        # Dropping the recorder removes its port from the bridge, and pjmedia writes the final
        # WAV header a moment later (Closing waits for it).
        self.bury(rec.recorder)
        self.bury(rec.out)
        rec.recorder = rec.out = None
        paths = (rec.path, rec.out_path) if rec.out_path else (rec.path,)
        self.closing.add(now, paths, proto.RecordDone(sid, rec.rec_id, rec.path, ms, how, digit))

    def stop(self, st: Dialog, rec_id: str) -> None:
        """stop_record: the recording `rec_id`, or with "" the call's <Record>/<Dial record> one
        (also one still waiting for the call's audio)."""

        def named(r_id: str, whole: bool) -> bool:
            return r_id == rec_id or (not rec_id and not whole)

        st.pending_records = [r for r in st.pending_records if not named(r.rec_id, r.whole)]
        for rec in list(st.recordings.values()):
            if named(rec.rec_id, rec.whole):
                self.finish(st, rec, "stopped")

    def pause(self, st: Dialog, rec_id: str, behavior: proto.PauseBehavior) -> None:
        rec = st.recordings.get(rec_id)
        if rec is not None and not rec.paused:
            rec.paused, rec.paused_at = behavior, time.monotonic()
            self.applier.apply(self.graph.pause_recording(st.call_sid, rec_id, behavior), strict=True)

    def resume(self, st: Dialog, rec_id: str) -> None:
        rec = st.recordings.get(rec_id)
        if rec is not None and rec.paused:
            if rec.paused == "skip":
                rec.skipped_s += time.monotonic() - rec.paused_at
            rec.paused = ""
            self.applier.apply(self.graph.resume_recording(st.call_sid, rec_id), strict=True)

    def digit(self, st: Dialog, digit: str) -> None:
        for rec in list(st.recordings.values()):
            if digit in rec.keys:
                self.finish(st, rec, "key", digit)

    def hangup(self, st: Dialog) -> None:
        for rec in list(st.recordings.values()):
            self.finish(st, rec, "hangup")

    def check_limits(self, st: Dialog, now: float) -> None:
        """A <Record>'s length and silence limits (call recordings have none)."""
        for rec in list(st.recordings.values()):
            if rec.whole:
                continue  # no limits: it runs until stopped or the call ends
            # Measured on this wheel: the call's conference port reports the far end's audio as
            # its *tx* level (the level it transmits into the bridge); getRxLevel() stays 0.
            level = st.media.getTxLevel() if st.media is not None else 0
            if level > SOUND_LEVEL:
                rec.last_sound = now
            if now - rec.started >= rec.max_s:
                self.finish(st, rec, "max-length")
            elif rec.silence_s > 0 and now - rec.last_sound >= rec.silence_s:
                self.finish(st, rec, "silence")

    def due(self, st: Dialog) -> list[float]:
        """When the call's <Record> reaches its length or silence limit."""
        due = []
        for rec in st.recordings.values():
            if not rec.whole:
                due.append(rec.started + rec.max_s)
                if rec.silence_s > 0:
                    due.append(rec.last_sound + rec.silence_s)
        return due

    def room_start(self, cmd: proto.RoomRecord) -> None:
        """Record a room's mix (<Conference record>) until room_stop; an error event when the
        file cannot be created."""
        if cmd.rec_id in self.rooms:
            self.emit(proto.failure(cmd, f"recording {cmd.rec_id} is already running"))
            return
        try:
            recorder, _ = open_recorders(proto.Record(cmd.room, cmd.rec_id, cmd.path), self.bury)
        except (OSError, pj.Error) as exc:
            self.emit(proto.failure(cmd, f"cannot record to {cmd.path}: {describe(exc)}"))
            return
        now = time.monotonic()
        self.rooms[cmd.rec_id] = (cmd.room, Recording(cmd.rec_id, cmd.path, recorder, now, 0.0, 0.0, "", now, True))
        node = mg.room_recorder(cmd.rec_id)
        self.applier.add(node, recorder)
        try:
            self.applier.apply(self.graph.start_room_recording(cmd.room, cmd.rec_id), strict=True)
        except pj.Error as exc:
            self.applier.apply(self.graph.stop_room_recording(cmd.rec_id))
            self.applier.drop(node)
            del self.rooms[cmd.rec_id]
            self.bury(recorder)
            self.emit(proto.failure(cmd, f"cannot record to {cmd.path}: {describe(exc)}"))

    def room_stop(self, rec_id: str) -> None:
        """Finish a room's recording: its record_done (call_sid = the room) once the file is complete."""
        entry = self.rooms.pop(rec_id, None)
        if entry is None:
            return
        room, rec = entry
        self.applier.apply(self.graph.stop_room_recording(rec_id))
        self.applier.drop(mg.room_recorder(rec_id))
        now = time.monotonic()
        self.bury(rec.recorder)
        rec.recorder = None
        self.closing.add(now, (rec.path,), proto.RecordDone(room, rec_id, rec.path, rec.duration_ms(now), "stopped"))

    def report(self, now: float) -> None:
        """Send the record_done of every finished recording whose files are now complete."""
        for event in self.closing.ready(now):
            self.emit(event)
