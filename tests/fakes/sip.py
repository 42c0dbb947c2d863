"""FakeSip: an in-memory SipPort with the sandbox carrier's default callees, for fast flow tests.

Callee behaviour by number (like the sandbox): +15005550001 busy (486), +15005550002 rings
until the ring timeout (no-answer), +15005550003 fails (503), +15005550004 declines (603),
anything else answers after one "ring". Playback of a file lasts `play_s` per loop; a test
presses keys with press(); recordings end after `record_s` with how="silence" unless a key in
finish_on_key is pressed first.

Commands fail as the real worker's do, through the same protocol mapping (sip/protocol.py): a
play of a file that is missing or no 16-bit PCM WAV, or a recording while `fail_recordings`
is set, ends in CommandFailed and no completion event. `corrupt` (a predicate on the path)
writes garbage over a file just before it is played, as if it broke after conversion.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from dataclasses import dataclass, field

from wirexa.calls.ports import (
    AudioHeard,
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    Dialout,
    DigitReceived,
    DigitsSent,
    InboundInvite,
    MediaStream,
    PlaybackFinished,
    QualitySampled,
    RecordingFinished,
    SipEvent,
    SpeakingChanged,
    StreamChanged,
)
from wirexa.errors import SipError
from wirexa.sip import protocol as proto


@dataclass
class FakeCall:
    dial: Dialout
    answered: bool = False
    ended: bool = False
    plays: list[tuple[str, str, int]] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    play_task: asyncio.Task[None] | None = None
    play_id: str | None = None
    recording: tuple[str, str, float, float, str] | None = None
    record_task: asyncio.Task[None] | None = None
    bridged_to: str | None = None
    mix_with: str | None = None
    # call recordings by rec_id: [path, out_path, track, started, paused behavior, paused since, skipped s]
    whole: dict[str, list[object]] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)  # streamed plays: play_id -> size once ended


class FakeSip:
    def __init__(
        self, *, ring_s: float = 0.01, play_s: float = 0.02, record_s: float = 0.6, capacity: int = 64
    ) -> None:
        self.ring_s = ring_s
        self.play_s = play_s
        self.record_s = record_s
        self.capacity = capacity
        self.record_silent = False  # recordings are silence instead of a tone
        self.record_pcm: bytes | None = None  # recordings hold this 8 kHz PCM (a spoken answer) instead
        self.record_close_s = 0.05  # after a hangup, call recordings are reported this much later
        self.fail_recordings = False  # start_recording fails as when the worker cannot create the file
        self.corrupt: Callable[[str], bool] | None = None  # garbage over these files before they play
        self.calls: dict[str, FakeCall] = {}
        self.events: list[SipEvent] = []
        self.on_answer: dict[str, Callable[[str], object]] = {}
        self._sink: Callable[[SipEvent], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_invite: Callable[[InboundInvite], None] | None = None
        self.held: dict[str, InboundInvite] = {}
        self.accepted: dict[str, str] = {}  # dialog_id -> CallSid
        self.rooms: dict[str, dict[str, tuple[bool, str]]] = {}  # room -> member -> (muted, coach)
        self.room_recordings: dict[str, tuple[str, str, float]] = {}  # rec_id -> (room, path, started)
        self.room_recorded: list[str] = []  # rec_ids of the room recordings stopped, in order
        self.refused: dict[str, tuple[int, str]] = {}  # dialog_id -> (code, why)
        self.gone: set[str] = set()  # dialog_ids whose caller hangs up before they are taken
        self.streams: list[tuple[str, MediaStream]] = []  # start_stream commands, in order
        self.listens: list[tuple[CallSid, str]] = []  # listen commands (call, listen id)
        self.unlistens: list[tuple[CallSid, str]] = []
        self.speech_watches: dict[str, str] = {}  # watched calls: CallSid -> room (watch_speech)
        self.stopped_streams: list[str] = []  # stop_stream commands' StreamSids

    # --- SipPort ------------------------------------------------------------------------------

    def set_event_sink(self, sink: Callable[[SipEvent], None]) -> None:
        self._sink = sink

    def resolve(self, number: str, caller_id: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        to = number if number.startswith("sip:") else f"sip:{number}@sandbox.invalid"
        return to, f"sip:{caller_id}@wirexa.invalid", ()

    def can_start(self, legs: int = 1) -> bool:
        live = sum(1 for c in self.calls.values() if not c.ended)
        return live + legs <= self.capacity

    async def start_call(self, dial: Dialout) -> None:
        call = FakeCall(dial)
        self.calls[dial.call_sid] = call
        self._spawn(self._progress(call))

    async def answer(self, call_sid: CallSid) -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended or call.answered:
            return
        call.answered = True
        self._spawn(self._later(self.ring_s, CallAnswered(call_sid, 200)))

    # --- InboundSip: held INVITEs, taken or refused ----------------------------------------------

    def set_incoming_handler(self, handler: Callable[[InboundInvite], None] | None) -> None:
        self.on_invite = handler

    def invite(self, invite: InboundInvite) -> None:
        """A worker holds `invite`: hand it to the engine's handler (as the bridge does)."""
        self.held[invite.dialog_id] = invite
        assert self.on_invite is not None, "no incoming handler"
        self.on_invite(invite)

    async def accept(self, dialog_id: str, call_sid: CallSid) -> None:
        invite = self.held.pop(dialog_id, None)
        if invite is None:
            raise SipError(f"no worker holds the incoming INVITE {dialog_id}")
        self.accepted[dialog_id] = call_sid
        self.incoming(call_sid, invite.from_uri, invite.to_uri)
        if dialog_id in self.gone:  # the caller hung up before the engine took it
            self._end(self.calls[call_sid], "canceled", 487, "remote")

    async def refuse(self, dialog_id: str, code: int, why: str) -> None:
        if self.held.pop(dialog_id, None) is not None:
            self.refused[dialog_id] = (code, why)

    def incoming(self, call_sid: str, from_number: str, to_number: str) -> None:
        """An inbound INVITE for `to_number`, ringing until answer() (the engine's Answer)."""
        dial = Dialout(
            CallSid(call_sid), f"sip:{to_number}@wirexa.invalid", f"sip:{from_number}@carrier.invalid", 60.0, ()
        )
        self.calls[call_sid] = FakeCall(dial)

    async def hangup(self, call_sid: CallSid, code: int = 0) -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended:
            return
        if code and not call.answered:  # an inbound call refused (<Reject>), as the worker does
            self._end(call, "busy" if code == 486 else "no-answer", code, "local")
            return
        self._end(call, "completed" if call.answered else "canceled", 200 if call.answered else 487, "local")

    async def play(self, call_sid: CallSid, play_id: str, path: str, loop: int = 1, stream: bool = False) -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended:
            return
        self._stop_play(call)
        call.plays.append((play_id, path, loop))
        if stream:  # plays until end_stream() gave the size, then one play_s
            call.streams[play_id] = -1
            call.play_id = play_id
            call.play_task = self._spawn(self._streaming(call, play_id))
            return
        if self.corrupt is not None and self.corrupt(path):
            with open(path, "wb") as f:
                f.write(b"no audio here " * 16)
        problem = unplayable(path)
        if problem:
            self._fail(proto.Play(call_sid, play_id, path, loop), f"cannot play {path}: {problem}")
            return
        call.play_id = play_id
        call.play_task = self._spawn(self._playing(call, play_id, loop))

    async def end_stream(self, call_sid: CallSid, play_id: str, size: int) -> None:
        call = self.calls.get(call_sid)
        if call is not None and play_id in call.streams:
            call.streams[play_id] = size

    async def stop_play(self, call_sid: CallSid) -> None:
        call = self.calls.get(call_sid)
        if call is not None:
            self._stop_play(call)

    async def send_dtmf(self, call_sid: CallSid, digits: str) -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended:
            return
        call.dtmf_sent.append(digits)
        self._spawn(self._later(0.01, DigitsSent(call_sid)))

    async def start_recording(
        self,
        call_sid: CallSid,
        rec_id: str,
        path: str,
        max_length_s: float,
        silence_timeout_s: float,
        finish_on_key: str,
        mix_with: CallSid | None = None,
    ) -> None:
        call = self.calls[call_sid]
        if self.fail_recordings:
            command = proto.Record(call_sid, rec_id, path, max_length_s, silence_timeout_s, finish_on_key, mix_with)
            self._fail(command, f"cannot record to {path}: the fake recorder is broken")
            return
        call.recording = (rec_id, path, max_length_s, silence_timeout_s, finish_on_key)
        call.mix_with = mix_with
        if silence_timeout_s or max_length_s:  # a <Dial> recording runs until stopped
            call.record_task = self._spawn(self._recording(call, "silence", None, self.record_s))

    async def stop_recording(self, call_sid: CallSid, rec_id: str = "") -> None:
        call = self.calls.get(call_sid)
        if call is None:
            return
        if rec_id:
            if rec_id in call.whole:
                self._finish_whole(call, rec_id, "stopped")
        elif call.recording is not None:
            self._finish_recording(call, "stopped", None)

    async def start_call_recording(
        self, call_sid: CallSid, rec_id: str, path: str, track: str, out_path: str = ""
    ) -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended:
            return
        if self.fail_recordings:
            self._fail(proto.Record(call_sid, rec_id, path, whole=True), f"cannot record to {path}: broken")
            return
        call.whole[rec_id] = [path, out_path, track, asyncio.get_running_loop().time(), "", 0.0, 0.0]

    async def pause_recording(self, call_sid: CallSid, rec_id: str, behavior: str) -> None:
        call = self.calls.get(call_sid)
        if call is not None and rec_id in call.whole and not call.whole[rec_id][4]:
            call.whole[rec_id][4] = behavior
            call.whole[rec_id][5] = asyncio.get_running_loop().time()

    async def resume_recording(self, call_sid: CallSid, rec_id: str) -> None:
        call = self.calls.get(call_sid)
        if call is not None and rec_id in call.whole and call.whole[rec_id][4]:
            rec = call.whole[rec_id]
            if rec[4] == "skip":
                rec[6] = float(rec[6]) + asyncio.get_running_loop().time() - float(rec[5])  # type: ignore[arg-type]
            rec[4] = ""

    async def start_stream(self, call_sid: CallSid, stream: MediaStream) -> None:
        """As a worker whose server accepts at once: "started" a moment later."""
        self.streams.append((call_sid, stream))
        self._spawn(self._later(0.01, StreamChanged(call_sid, stream.stream_sid, "started")))

    async def stop_stream(self, call_sid: CallSid, stream_sid: str) -> None:
        self.stopped_streams.append(stream_sid)
        self._spawn(self._later(0.01, StreamChanged(call_sid, stream_sid, "stopped", 0, "stopped")))

    async def listen(self, call_sid: CallSid, listen_id: str) -> None:
        """As a worker tapping the caller: the test sends the audio (heard)."""
        self.listens.append((call_sid, listen_id))

    async def unlisten(self, call_sid: CallSid, listen_id: str) -> None:
        self.unlistens.append((call_sid, listen_id))

    async def watch_speech(self, call_sid: CallSid, room: str) -> None:
        """As a worker watching the far end: the test says when it talks (speaks)."""
        self.speech_watches[call_sid] = room

    async def unwatch_speech(self, call_sid: CallSid, room: str) -> None:
        if self.speech_watches.get(call_sid) == room:
            del self.speech_watches[call_sid]

    def speaks(self, call_sid: str, on: bool) -> None:
        """The watched callee starts (on) or stops talking: the worker's speaking event."""
        self._emit(SpeakingChanged(CallSid(call_sid), self.speech_watches[call_sid], on))

    def heard(self, event: AudioHeard) -> None:
        """100 ms of the caller's audio for a listen."""
        self._emit(event)

    def stream_event(self, event: StreamChanged) -> None:
        """What the worker reports of a stream (the server closed it, a 319xx)."""
        self._emit(event)

    def quality(self, event: QualitySampled) -> None:
        """A reading of a call's media statistics, as the worker sends one every 5 s."""
        self._emit(event)

    async def bridge(self, a: CallSid, b: CallSid) -> None:
        self.calls[a].bridged_to = b
        self.calls[b].bridged_to = a

    async def unbridge(self, a: CallSid, b: CallSid) -> None:
        for sid in (a, b):
            if sid in self.calls:
                self.calls[sid].bridged_to = None

    async def room_join(self, room: str, call_sid: CallSid, muted: bool = False, coach: str = "") -> None:
        call = self.calls.get(call_sid)
        if call is None or call.ended or not call.answered:
            raise SipError(f"call {call_sid} has no live audio")
        self.rooms.setdefault(room, {})[call_sid] = (muted, coach)

    async def room_member(self, room: str, call_sid: CallSid, muted: bool, coach: str = "") -> None:
        if call_sid in self.rooms.get(room, {}):
            self.rooms[room][call_sid] = (muted, coach)

    async def room_leave(self, room: str, call_sid: CallSid) -> None:
        self.rooms.get(room, {}).pop(call_sid, None)

    def room_over(self, room: str) -> None:
        self.rooms.pop(room, None)

    async def room_record(self, room: str, rec_id: str, path: str) -> None:
        if room not in self.rooms:
            raise SipError(f"room {room} is in no SIP worker")
        self.room_recordings[rec_id] = (room, path, asyncio.get_running_loop().time())

    async def room_record_stop(self, room: str, rec_id: str) -> RecordingFinished | None:
        """The mix as a 440 Hz tone (silence with record_silent) as long as the recording ran."""
        from wirexa.media.audio import tone_pcm, wav_bytes

        entry = self.room_recordings.pop(rec_id, None)
        if entry is None:
            return None
        self.room_recorded.append(rec_id)
        ms = int((asyncio.get_running_loop().time() - entry[2]) * 1000)
        with open(entry[1], "wb") as f:
            f.write(wav_bytes(bytes(ms * 16) if self.record_silent else tone_pcm(440, ms)))
        return RecordingFinished(CallSid(room), rec_id, entry[1], ms, "stopped")

    def hears(self, room: str, listener: str) -> set[str]:
        """Whom `listener` hears in `room`, by the real rules (mediagraph.py's heard_by)."""
        members = self.rooms.get(room, {})
        if listener not in members:
            return set()
        return {
            sid
            for sid, (muted, coach) in members.items()
            if sid != listener and not muted and (not coach or coach == listener)
        }

    def health(self) -> dict[str, object]:
        return {"state": "fake", "live_calls": sum(1 for c in self.calls.values() if not c.ended)}

    # --- test controls --------------------------------------------------------------------------

    def press(self, call_sid: str, digits: str) -> None:
        """The callee presses keys (one DigitReceived each; a recording's finish key ends it)."""
        call = self.calls[call_sid]
        for d in digits:
            self._emit(DigitReceived(CallSid(call_sid), d))
            if call.recording is not None and d in call.recording[4]:
                self._finish_recording(call, "key", d)

    def remote_hangup(self, call_sid: str) -> None:
        call = self.calls[call_sid]
        if not call.ended:
            self._end(call, "completed" if call.answered else "canceled", 200, "remote")

    # --- internals --------------------------------------------------------------------------

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit(self, event: SipEvent) -> None:
        self.events.append(event)
        assert self._sink is not None
        self._sink(event)

    def _fail(self, command: proto.Command, message: str) -> None:
        """Report a failed command as the pool does: the worker's error event, mapped."""
        event = proto.to_sip_event(proto.failure(command, message))
        assert event is not None
        self._emit(event)

    async def _later(self, delay: float, event: SipEvent) -> None:
        await asyncio.sleep(delay)
        self._emit(event)

    async def _progress(self, call: FakeCall) -> None:
        sid = call.dial.call_sid
        number = call.dial.to_uri.split(":", 1)[1].split("@", 1)[0]
        self._emit(CallInitiated(sid))
        await asyncio.sleep(self.ring_s)
        if number == "+15005550003":
            self._end(call, "failed", 503, "remote")
            return
        self._emit(CallRinging(sid, 180))
        await asyncio.sleep(self.ring_s)
        if number == "+15005550001":
            self._end(call, "busy", 486, "remote")
        elif number == "+15005550004":
            self._end(call, "busy", 603, "remote")
        elif number == "+15005550002":
            await asyncio.sleep(call.dial.timeout_s)
            if not call.ended:
                self._end(call, "no-answer", 487, "local")
        elif not call.ended:
            call.answered = True
            self._emit(CallAnswered(sid, 200))
            hook = self.on_answer.get(number)
            if hook is not None:
                hook(sid)

    async def _playing(self, call: FakeCall, play_id: str, loop: int) -> None:
        loops = loop if loop > 0 else 10**6
        for _ in range(loops):
            await asyncio.sleep(self.play_s)
        call.play_task = None
        self._emit(PlaybackFinished(call.dial.call_sid, play_id, "done"))

    async def _streaming(self, call: FakeCall, play_id: str) -> None:
        while call.streams.get(play_id, -1) < 0:
            await asyncio.sleep(0.005)
        await asyncio.sleep(self.play_s)
        call.play_task = None
        self._emit(PlaybackFinished(call.dial.call_sid, play_id, "done"))

    async def _whole_closed(self, call: FakeCall, rec_id: str, after: float) -> None:
        await asyncio.sleep(after)
        self._finish_whole(call, rec_id, "hangup")

    def _finish_whole(self, call: FakeCall, rec_id: str, how: str) -> None:
        """A call recording ends: a tone WAV as long as it ran (less skipped pauses), and a
        second file for the outbound track when asked."""
        from wirexa.media.audio import tone_pcm, wav_bytes

        path, out_path, _track, started, paused, paused_at, skipped = call.whole.pop(rec_id)
        now = asyncio.get_running_loop().time()
        skipped = float(skipped) + (now - float(paused_at) if paused == "skip" else 0.0)  # type: ignore[arg-type]
        duration_ms = int((now - float(started) - skipped) * 1000)  # type: ignore[arg-type]
        for file, hz in ((path, 440), (out_path, 880)):
            if file:
                with open(str(file), "wb") as f:
                    f.write(wav_bytes(tone_pcm(hz, max(duration_ms, 0))))
        self._emit(RecordingFinished(call.dial.call_sid, rec_id, str(path), duration_ms, how, None))  # type: ignore[arg-type]

    def _stop_play(self, call: FakeCall) -> None:
        if call.play_task is not None and not call.play_task.done():
            call.play_task.cancel()
            call.play_task = None
            self._emit(PlaybackFinished(call.dial.call_sid, call.play_id or "", "stopped"))

    async def _recording(self, call: FakeCall, how: str, digit: str | None, after: float) -> None:
        await asyncio.sleep(after)
        self._finish_recording(call, how, digit)

    def _finish_recording(self, call: FakeCall, how: str, digit: str | None) -> None:
        if call.recording is None:
            return
        rec_id, path, *_ = call.recording
        call.recording = None
        if call.record_task is not None and call.record_task is not asyncio.current_task():
            call.record_task.cancel()
        from wirexa.media.audio import tone_pcm, wav_bytes

        duration_ms = int(self.record_s * 1000)
        if self.record_pcm is not None:
            duration_ms = len(self.record_pcm) // 16
        with open(path, "wb") as f:
            if self.record_pcm is not None:
                f.write(wav_bytes(self.record_pcm))
            else:
                f.write(wav_bytes(bytes(duration_ms * 16) if self.record_silent else tone_pcm(440, duration_ms)))
        self._emit(RecordingFinished(call.dial.call_sid, rec_id, path, duration_ms, how, digit))  # type: ignore[arg-type]

    def _end(self, call: FakeCall, reason: str, code: int | None, by: str) -> None:
        call.ended = True
        for members in self.rooms.values():  # as the worker: an ended call leaves every room
            members.pop(call.dial.call_sid, None)
        self.speech_watches.pop(call.dial.call_sid, None)  # and its taps stop
        self._stop_play(call)
        if call.recording is not None:
            self._finish_recording(call, "hangup", None)
        self._emit(CallEnded(call.dial.call_sid, reason, code, by))  # type: ignore[arg-type]
        # As the worker: call recordings are reported once their files are closed, after the end.
        for rec_id in list(call.whole):
            self._spawn(self._whole_closed(call, rec_id, self.record_close_s))


def unplayable(path: str) -> str:
    """Why the worker could not play this file ("" when it could): missing, or no 16-bit WAV."""
    try:
        with wave.open(path) as w:
            if w.getsampwidth() != 2:
                return f"{8 * w.getsampwidth()}-bit samples are not supported"
    except (OSError, EOFError, wave.Error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""
