"""PURE: the typed message set between the engine and its SIP child processes, and SIP outcome mapping.

Commands go to a child's stdin and events come back on its stdout, one JSON object per line.
A command carries its name under "op", an event under "ev"; the other keys are the message's
fields, each under its own name, which is the name the same fact has in calls.ports (a call is
`call_sid`, a SIP status `sip_code`, a length in milliseconds `duration_ms`, the command an
error is about `command`). Every message is a frozen dataclass with to_json(); from_json()
turns one line back into one, checking the name, every field's presence and type, and that no
unknown key came along (anything else is a ValueError). The engine and its children ship
together; `ready` carries VERSION, and the pool refuses a child that speaks another.

Commands: call(call_sid, to_uri, from_uri, timeout_s, headers, amd..., auth_username, auth_password) · hangup(call_sid, code) ·
play(call_sid, play_id, path, loop, stream) · stream_end(call_sid, play_id, size) ·
stop_play(call_sid) · dtmf(call_sid, digits) · record(call_sid, rec_id, path, max_length_s,
silence_timeout_s, finish_on_key, mix_with, whole, track, out_path) · stop_record(call_sid,
rec_id) · pause_record(call_sid, rec_id, behavior) · resume_record(call_sid, rec_id) ·
reject(dialog_id, sip_code, why) · bridge(a, b) · unbridge(a, b) · relay_open(call_sid, peer,
listen_port, peer_port) · relay_close(call_sid, peer) · room_join(call_sid, room, muted, coach) ·
room_member(call_sid, room, muted, coach) · room_leave(call_sid, room) · remote_open(call_sid,
room, listen_port, peer_port, muted, coach) · remote_close(call_sid, room) · room_record(room,
rec_id, path) · room_record_stop(room, rec_id) · start_stream(call_sid, stream_sid, account_sid, url,
tracks, bidirectional, parameters, headers) · stop_stream(call_sid, stream_sid) · listen(call_sid,
listen_id) · unlisten(call_sid, listen_id) · watch_speech(call_sid, room) ·
unwatch_speech(call_sid, room) · ping(n) · shutdown() ·
reload(config) (the sandbox carrier only).
Events: ready(port, pid, version) · incoming(dialog_id, from_uri, to_uri, source,
request_uri, headers) ·
initiated(call_sid) · ringing(call_sid, sip_code) ·
answered(call_sid, sip_code, headers) · ended(call_sid, reason, sip_code, hangup_by, message) ·
digit(call_sid, digit) · play_done(call_sid, play_id, how) · record_done(call_sid, rec_id,
path, duration_ms, how, digit) · dtmf_done(call_sid) · amd(call_sid, answered_by, confidence,
detection_ms) · stream(call_sid, stream_sid, kind, code, message) · heard(call_sid, listen_id, audio, voiced) ·
speaking(call_sid, room, on) · quality(call_sid, rx_pkt, rx_loss,
rx_jitter_us, tx_pkt, tx_loss, tx_jitter_us, rtt_us, jbuf_ms, final) · registration(code, reason, active) ·
pong(n, calls) ·
error(message, call_sid, command, ref).

The contract that keeps a call from hanging: a child answers every call command it cannot
carry out with an error event naming the command (`command`) and the play or recording id it
carried (`ref`), and then sends no completion event (play_done, record_done) for it.
to_sip_event() hands that to the call's session as calls.ports.CommandFailed, which notifies
the customer and moves on to the next verb.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from wirexa.calls.ports import (
    AmdDecided,
    AudioHeard,
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    CommandFailed,
    DigitReceived,
    DigitsSent,
    EndReason,
    PlaybackFinished,
    QualitySampled,
    RecordingFinished,
    SipEvent,
    SpeakingChanged,
    StreamChanged,
)
from wirexa.media.amd import (
    DEFAULT_SILENCE_TIMEOUT_MS,
    DEFAULT_SPEECH_END_THRESHOLD_MS,
    DEFAULT_SPEECH_THRESHOLD_MS,
    DEFAULT_TIMEOUT_S,
)
from wirexa.media.quality import Reading
from wirexa.notices import Notice

PlayHow: TypeAlias = Literal["done", "stopped"]
RecordHow: TypeAlias = Literal["silence", "max-length", "key", "hangup", "stopped"]
HangupBy: TypeAlias = Literal["remote", "local", "worker"]
RecordTrack: TypeAlias = Literal["inbound", "outbound", "both"]
PauseBehavior: TypeAlias = Literal["skip", "silence"]


VERSION = 12  # of this message set; bumped with any change to a message's name or fields


class _Message:
    """Base of every message: KIND is "op" (a command) or "ev" (an event), NAME its wire name."""

    __slots__ = ()
    KIND: ClassVar[str]
    NAME: ClassVar[str]

    def to_json(self) -> bytes:
        """One line: the JSON object with the name first, then the fields (tuples as lists), and a newline."""
        body: dict[str, Any] = {self.KIND: self.NAME}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            body[f.name] = getattr(self, f.name)
        return (json.dumps(body, separators=(",", ":")) + "\n").encode("utf-8")


# --- commands (engine -> child) ----------------------------------------------------------------


class _Command(_Message):
    __slots__ = ()
    KIND = "op"


@dataclass(frozen=True, slots=True)
class MakeCall(_Command):
    """Place a call; the child answers initiated, or ended(reason "failed") when it cannot."""

    NAME = "call"
    call_sid: str
    to_uri: str
    from_uri: str
    timeout_s: float = 60.0
    headers: tuple[tuple[str, str], ...] = ()
    # Answering-machine detection on the answered call's audio ("" = off; else Enable or
    # DetectMessageEnd, with Twilio's thresholds): the child reports one amd event.
    amd: str = ""
    amd_timeout_ms: int = DEFAULT_TIMEOUT_S * 1000
    amd_speech_threshold_ms: int = DEFAULT_SPEECH_THRESHOLD_MS
    amd_speech_end_threshold_ms: int = DEFAULT_SPEECH_END_THRESHOLD_MS
    amd_silence_timeout_ms: int = DEFAULT_SILENCE_TIMEOUT_MS
    # Digest credentials for this call's far end (a sip: URI's SipAuthUsername/Password, or
    # <Sip username password>); "" = the trunk's, if any.
    auth_username: str = ""
    auth_password: str = ""


@dataclass(frozen=True, slots=True)
class Hangup(_Command):
    """End the call: BYE when answered, CANCEL for our INVITE, and for an unanswered inbound call
    a final response: `code` (486 busy, 603 decline: <Reject>), else pjsua's default."""

    NAME = "hangup"
    call_sid: str
    code: int = 0


@dataclass(frozen=True, slots=True)
class Play(_Command):
    """Play a WAV `loop` times (0 = until stopped); play_done, or an error naming play_id.

    With `stream`, `path` is headerless 16-bit little-endian 8 kHz mono PCM that may still be
    growing (TTS arriving from a provider): the child plays the bytes as they appear, silence
    while it waits, and finishes (play_done) only after a stream_end has told it the size."""

    NAME = "play"
    call_sid: str
    play_id: str
    path: str
    loop: int = 1
    stream: bool = False


@dataclass(frozen=True, slots=True)
class StreamEnd(_Command):
    """The streamed play `play_id` is complete at `size` bytes."""

    NAME = "stream_end"
    call_sid: str
    play_id: str
    size: int


@dataclass(frozen=True, slots=True)
class StopPlay(_Command):
    NAME = "stop_play"
    call_sid: str


@dataclass(frozen=True, slots=True)
class SendDtmf(_Command):
    NAME = "dtmf"
    call_sid: str
    digits: str


@dataclass(frozen=True, slots=True)
class Record(_Command):
    """Record the far end (mixed with `mix_with` when set); record_done, or an error naming rec_id.

    `whole` makes it a call recording (Record=true, the Recordings API): it has no silence,
    length or key limit, runs until stop_record names it or the call ends, records `track`
    (inbound = the far end, outbound = what the call is sent: prompts and bridged parties,
    both), keeps time while nothing is heard, and with `out_path` writes the outbound track to
    that second file (the engine merges the two into one dual-channel file)."""

    NAME = "record"
    call_sid: str
    rec_id: str
    path: str
    max_length_s: float = 3600.0
    silence_timeout_s: float = 5.0
    finish_on_key: str = ""
    mix_with: str | None = None
    whole: bool = False
    track: RecordTrack = "inbound"
    out_path: str = ""


@dataclass(frozen=True, slots=True)
class StopRecord(_Command):
    """Stop the recording `rec_id`; "" = the call's <Record>/<Dial record> recording."""

    NAME = "stop_record"
    call_sid: str
    rec_id: str = ""


@dataclass(frozen=True, slots=True)
class PauseRecord(_Command):
    """Pause a call recording: `skip` leaves the paused time out of the file, `silence` keeps it
    as silence (Twilio's PauseBehavior). Nothing of the call reaches the file while paused."""

    NAME = "pause_record"
    call_sid: str
    rec_id: str
    behavior: PauseBehavior = "skip"


@dataclass(frozen=True, slots=True)
class ResumeRecord(_Command):
    NAME = "resume_record"
    call_sid: str
    rec_id: str


@dataclass(frozen=True, slots=True)
class Accept(_Command):
    """Take the held incoming INVITE `dialog_id` as the call `call_sid`, a CallSid the engine
    minted: the worker rings the caller (180) and reports the call under `call_sid` from now on
    (answered, digits, ended ...); one the caller gave up meanwhile is reported ended."""

    NAME = "accept"
    dialog_id: str
    call_sid: str


@dataclass(frozen=True, slots=True)
class Answer(_Command):
    """Answer an accepted inbound call (200 OK); `answered` follows when the caller's ACK
    confirms it."""

    NAME = "answer"
    call_sid: str


@dataclass(frozen=True, slots=True)
class Reject(_Command):
    """Refuse the incoming INVITE `dialog_id` (an incoming event's) with `sip_code`; `why` goes
    to the worker's log of refused requests."""

    NAME = "reject"
    dialog_id: str
    sip_code: int = 403
    why: str = ""


@dataclass(frozen=True, slots=True)
class Bridge(_Command):
    NAME = "bridge"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Unbridge(_Command):
    NAME = "unbridge"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class RelayOpen(_Command):
    """Relay the audio of call `call_sid` (in this worker) to and from call `peer` (in another
    worker, pool.py's cross-worker bridge): listen on 127.0.0.1:listen_port, send to peer_port.
    No reply; one that fails is answered with an error event naming it."""

    NAME = "relay_open"
    call_sid: str
    peer: str
    listen_port: int
    peer_port: int


@dataclass(frozen=True, slots=True)
class RelayClose(_Command):
    NAME = "relay_close"
    call_sid: str
    peer: str


@dataclass(frozen=True, slots=True)
class RoomJoin(_Command):
    """Call `call_sid` (live in this worker) joins conference room `room` of this worker (its
    home): it hears every other member and, unless `muted`, is heard by them; with `coach` (a
    member's CallSid) only that member hears it. A call without live audio is an error event."""

    NAME = "room_join"
    call_sid: str
    room: str
    muted: bool = False
    coach: str = ""


@dataclass(frozen=True, slots=True)
class RoomMember(_Command):
    """Change a member of `room` (a call of this worker or a remote member): muted, coach ("" none)."""

    NAME = "room_member"
    call_sid: str
    room: str
    muted: bool = False
    coach: str = ""


@dataclass(frozen=True, slots=True)
class RoomLeave(_Command):
    NAME = "room_leave"
    call_sid: str
    room: str


@dataclass(frozen=True, slots=True)
class RemoteOpen(_Command):
    """Call `call_sid` of another worker joins room `room` of this one through a relay port
    (listen on 127.0.0.1:listen_port, send to peer_port, where its worker's RelayOpen(call_sid,
    room) listens), as RoomJoin does for a local call."""

    NAME = "remote_open"
    call_sid: str
    room: str
    listen_port: int
    peer_port: int
    muted: bool = False
    coach: str = ""


@dataclass(frozen=True, slots=True)
class RemoteClose(_Command):
    NAME = "remote_close"
    call_sid: str
    room: str


@dataclass(frozen=True, slots=True)
class RoomRecord(_Command):
    """Record room `room`'s mix (every member heard in it: mediagraph.py) into `path` from now,
    keeping time while nobody is heard, until room_record_stop: then record_done with the room
    as its call_sid, or an error naming the room (call_sid) and rec_id (ref)."""

    NAME = "room_record"
    room: str
    rec_id: str
    path: str


@dataclass(frozen=True, slots=True)
class RoomRecordStop(_Command):
    NAME = "room_record_stop"
    room: str
    rec_id: str


@dataclass(frozen=True, slots=True)
class Ping(_Command):
    NAME = "ping"
    n: int


@dataclass(frozen=True, slots=True)
class Shutdown(_Command):
    NAME = "shutdown"


@dataclass(frozen=True, slots=True)
class Reload(_Command):
    """Sandbox carrier only: take the callees from this sandbox.toml ("" = the built-in ones) for
    calls that arrive from now on; an unusable file is an error event and the old callees stay."""

    NAME = "reload"
    config: str


@dataclass(frozen=True, slots=True)
class StartStream(_Command):
    """Open a Media Stream (calls.ports.MediaStream) on the call; stream events follow, "stopped"
    last. Held until the call's audio is up."""

    NAME = "start_stream"
    call_sid: str
    stream_sid: str
    account_sid: str
    url: str
    tracks: tuple[str, ...] = ("inbound",)
    bidirectional: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StopStream(_Command):
    NAME = "stop_stream"
    call_sid: str
    stream_sid: str


@dataclass(frozen=True, slots=True)
class Listen(_Command):
    """Tap the caller's audio (the call's inbound track) for speech recognition: `heard` events
    carry it, 100 ms each, until `unlisten` or the call's end. Held until the call's audio is up."""

    NAME = "listen"
    call_sid: str
    listen_id: str


@dataclass(frozen=True, slots=True)
class Unlisten(_Command):
    NAME = "unlisten"
    call_sid: str
    listen_id: str


@dataclass(frozen=True, slots=True)
class WatchSpeech(_Command):
    """Watch the call's inbound audio for speech (a participant of conference `room` whose room
    wants `speaker` events): a `speaking` event each time it starts or stops talking
    (media/speaker.py), until unwatch_speech or the call's end. Held until the call's audio is up."""

    NAME = "watch_speech"
    call_sid: str
    room: str


@dataclass(frozen=True, slots=True)
class UnwatchSpeech(_Command):
    NAME = "unwatch_speech"
    call_sid: str
    room: str


# the ones naming one live call
CallCommand: TypeAlias = (
    Hangup
    | Answer
    | Play
    | StreamEnd
    | StopPlay
    | SendDtmf
    | Record
    | StopRecord
    | PauseRecord
    | ResumeRecord
    | StartStream
    | StopStream
    | Listen
    | Unlisten
    | WatchSpeech
    | UnwatchSpeech
)
Command: TypeAlias = (
    MakeCall
    | Hangup
    | Play
    | StreamEnd
    | StopPlay
    | SendDtmf
    | Record
    | StopRecord
    | PauseRecord
    | ResumeRecord
    | Accept
    | Answer
    | Reject
    | Bridge
    | Unbridge
    | RelayOpen
    | RelayClose
    | RoomJoin
    | RoomMember
    | RoomLeave
    | RemoteOpen
    | RemoteClose
    | RoomRecord
    | RoomRecordStop
    | StartStream
    | StopStream
    | Listen
    | Unlisten
    | WatchSpeech
    | UnwatchSpeech
    | Ping
    | Shutdown
    | Reload
)


# --- events (child -> engine) ------------------------------------------------------------------


class _Event(_Message):
    __slots__ = ()
    KIND = "ev"


@dataclass(frozen=True, slots=True)
class Ready(_Event):
    """The child is up and listening on `port`; the first line it writes."""

    NAME = "ready"
    port: int
    pid: int
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Incoming(_Event):
    """An INVITE from an allowed peer (the trunk) reached the worker, which holds it (after
    pjsua's 100 Trying) as the dialog `dialog_id` until the engine accepts it (accept, with the
    CallSid it minted) or refuses it (reject); one left unanswered for the worker's
    INCOMING_WAIT_S is refused 403 by the worker itself."""

    NAME = "incoming"
    dialog_id: str
    from_uri: str
    to_uri: str
    source: str  # host:port the INVITE came from
    request_uri: str = ""
    # The INVITE's headers the engine routes by (INCOMING_HEADERS), in their order.
    headers: tuple[tuple[str, str], ...] = ()


def incoming_fields(message: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The Request-URI of a SIP request's text and its INCOMING_HEADERS and custom X- headers
    (INCOMING_HEADERS named as listed; value stripped; in the message's order); the body and
    every other header are left."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")
    parts = head[0].split(" ") if head else []
    request_uri = parts[1] if len(parts) == 3 else ""
    return request_uri, _headers(head[1:], {name.lower(): name for name in INCOMING_HEADERS})


def x_headers(message: str) -> tuple[tuple[str, str], ...]:
    """The custom X- headers of a SIP message's text (not the engine's own X-Wirexa-*)."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")
    return _headers(head[1:], {})


def _headers(lines: list[str], wanted: dict[str, str]) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep:
            continue
        key = wanted.get(name.lower())
        if key is None and name.lower().startswith("x-") and not name.lower().startswith("x-wirexa-"):
            key = name
        if key is not None:
            found.append((key, value.strip()))
    return tuple(found)


def source_host(source: str) -> str:
    """The host of "ip:port", "[v6]:port" or "ip:port;transport=udp" (X-Wirexa-Source)."""
    hostport = source.split(";", 1)[0].strip()
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    return hostport.rpartition(":")[0] if hostport.count(":") == 1 else hostport


# Headers of an incoming INVITE that travel with protocol.Incoming: the caller's identity, the
# diversion, and what the inbound front (sip/front.py) says of the sender.
INCOMING_HEADERS = (
    "P-Asserted-Identity",
    "Remote-Party-ID",
    "Privacy",
    "Diversion",
    "X-Wirexa-Source",
    "X-Wirexa-Auth",
)


@dataclass(frozen=True, slots=True)
class Initiated(_Event):
    NAME = "initiated"
    call_sid: str


@dataclass(frozen=True, slots=True)
class Ringing(_Event):
    NAME = "ringing"
    call_sid: str
    sip_code: int = 180


@dataclass(frozen=True, slots=True)
class Answered(_Event):
    NAME = "answered"
    call_sid: str
    sip_code: int = 200
    # The X- headers of the far end's 200 OK (a call to a SIP endpoint): SipHeader_X-... params.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Ended(_Event):
    NAME = "ended"
    call_sid: str
    reason: EndReason
    sip_code: int | None = None
    hangup_by: HangupBy = "remote"
    message: str = ""


@dataclass(frozen=True, slots=True)
class Digit(_Event):
    NAME = "digit"
    call_sid: str
    digit: str


@dataclass(frozen=True, slots=True)
class PlayDone(_Event):
    NAME = "play_done"
    call_sid: str
    play_id: str
    how: PlayHow = "done"


@dataclass(frozen=True, slots=True)
class RecordDone(_Event):
    NAME = "record_done"
    call_sid: str
    rec_id: str
    path: str
    duration_ms: int
    how: RecordHow
    digit: str | None = None


@dataclass(frozen=True, slots=True)
class DtmfDone(_Event):
    NAME = "dtmf_done"
    call_sid: str


@dataclass(frozen=True, slots=True)
class AmdResult(_Event):
    """The answering-machine detector of a call decided (once): Twilio's AnsweredBy value,
    its confidence (0..1) and `detection_ms` from the answer's first audio to the decision."""

    NAME = "amd"
    call_sid: str
    answered_by: str
    confidence: float
    detection_ms: int


@dataclass(frozen=True, slots=True)
class Stream(_Event):
    """A Media Stream's news (calls.ports.StreamChanged): started, error, warning, stopped."""

    NAME = "stream"
    call_sid: str
    stream_sid: str
    kind: str
    code: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Heard(_Event):
    """100 ms of the caller's audio for a `listen` (calls.ports.AudioHeard): `audio` is base64 of
    8 kHz s16le mono PCM, `voiced` the voice detector's verdict on each 20 ms frame of it ("1"
    speech, "0" not), taken on the worker's tap thread as AMD's are."""

    NAME = "heard"
    call_sid: str
    listen_id: str
    audio: str
    voiced: str


@dataclass(frozen=True, slots=True)
class Speaking(_Event):
    """A watched participant (watch_speech) started (`on`) or stopped talking
    (calls.ports.SpeakingChanged); `room` is the watch's."""

    NAME = "speaking"
    call_sid: str
    room: str
    on: bool


@dataclass(frozen=True, slots=True)
class Quality(_Event):
    """A reading of an answered call's RTP/RTCP statistics (pjsua2's getStreamStat), every
    worker.QUALITY_EVERY_S and once more (`final`) at its end, read as its audio stream went: cumulative
    packets and losses of the far end's stream as we received it (rx_*) and of ours as its RTCP
    receiver reports said (tx_*, zeros before the first), the current interarrival jitter of each
    and the round trip in microseconds (rtt_us 0 = not measured yet), the jitter buffer's average
    delay in ms (0 = unknown). media/quality.py makes loss, jitter and MOS of them."""

    NAME = "quality"
    call_sid: str
    rx_pkt: int
    rx_loss: int
    rx_jitter_us: int
    tx_pkt: int
    tx_loss: int
    tx_jitter_us: int
    rtt_us: int
    jbuf_ms: int = 0
    final: bool = False


@dataclass(frozen=True, slots=True)
class Registration(_Event):
    """The worker's registration with the trunk changed: the registrar's last answer (`code`,
    `reason`) and whether the registration is now active."""

    NAME = "registration"
    code: int
    reason: str
    active: bool


@dataclass(frozen=True, slots=True)
class Pong(_Event):
    NAME = "pong"
    n: int
    calls: int = 0


@dataclass(frozen=True, slots=True)
class CommandError(_Event):
    """A command failed in the child: `command` names it ("play", "record", ...; "" for a line
    that was no command at all), `ref` is the play_id or rec_id it carried ("" for others),
    `call_sid` the call it was for ("" when none)."""

    NAME = "error"
    message: str
    call_sid: str = ""
    command: str = ""
    ref: str = ""


Event: TypeAlias = (
    Ready
    | Incoming
    | Initiated
    | Ringing
    | Answered
    | Ended
    | Digit
    | PlayDone
    | RecordDone
    | DtmfDone
    | AmdResult
    | Heard
    | Speaking
    | Stream
    | Quality
    | Registration
    | Pong
    | CommandError
)

COMMANDS: dict[str, type[Command]] = {
    c.NAME: c
    for c in (
        MakeCall,
        Hangup,
        Play,
        StreamEnd,
        StopPlay,
        SendDtmf,
        Record,
        StopRecord,
        PauseRecord,
        ResumeRecord,
        Accept,
        Answer,
        Reject,
        Bridge,
        Unbridge,
        RelayOpen,
        RelayClose,
        RoomJoin,
        RoomMember,
        RoomLeave,
        RemoteOpen,
        RemoteClose,
        RoomRecord,
        RoomRecordStop,
        StartStream,
        StopStream,
        Listen,
        Unlisten,
        WatchSpeech,
        UnwatchSpeech,
        Ping,
        Shutdown,
        Reload,
    )
}
EVENTS: dict[str, type[Event]] = {
    e.NAME: e
    for e in (
        Ready,
        Incoming,
        Initiated,
        Ringing,
        Answered,
        Ended,
        Digit,
        PlayDone,
        RecordDone,
        DtmfDone,
        AmdResult,
        Stream,
        Heard,
        Speaking,
        Quality,
        Registration,
        Pong,
        CommandError,
    )
}
# The pool's own commands: a failure is logged by the pool, and no call's session hears of it.
POOL_ONLY = frozenset(
    {
        RelayOpen.NAME,
        RelayClose.NAME,
        RoomLeave.NAME,
        RemoteClose.NAME,
        RoomRecord.NAME,
        RoomRecordStop.NAME,
        Accept.NAME,
        Reject.NAME,
    }
)
# Each message's field types, resolved once (the annotations are strings under `from __future__`).
_FIELD_TYPES: dict[type[Any], dict[str, Any]] = {
    cls: typing.get_type_hints(cls) for cls in (*COMMANDS.values(), *EVENTS.values())
}


# --- decoding ------------------------------------------------------------------------------------


def from_json(line: bytes | str) -> Command | Event:
    """Parse one line into its message; ValueError for bad JSON, an unknown name, a missing,
    unknown or ill-typed field."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"not a message: {_short(line)}")
    # "ev" decides: an event never carries an "op".
    cls: type[Command] | type[Event] | None
    if "ev" in obj:
        name = obj.pop("ev")
        cls = EVENTS.get(name) if isinstance(name, str) else None
    else:
        name = obj.pop("op", None)
        cls = COMMANDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown message: {_short(line)}")
    message: Command | Event = _build(cls, obj)
    return message


def command_from_json(line: bytes | str) -> Command:
    """from_json() that accepts commands only (what a child reads)."""
    msg = from_json(line)
    if isinstance(msg, _Event):
        raise ValueError(f"not a command: {_short(line)}")
    return msg


def event_from_json(line: bytes | str) -> Event:
    """from_json() that accepts events only (what the engine reads)."""
    msg = from_json(line)
    if isinstance(msg, _Command):
        raise ValueError(f"not an event: {_short(line)}")
    return msg


def _short(line: bytes | str) -> str:
    return repr(line[:200])


def _build(cls: type[Any], obj: dict[str, Any]) -> Any:
    hints = _FIELD_TYPES[cls]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f.name
        if key not in obj:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"{cls.NAME}: missing {key!r}")
            continue
        try:
            kwargs[f.name] = _check(obj.pop(key), hints[f.name])
        except ValueError as exc:
            raise ValueError(f"{cls.NAME}: bad {key!r}: {exc}") from None
    if obj:
        raise ValueError(f"{cls.NAME}: unknown field(s) {sorted(obj)}")
    return cls(**kwargs)


def _check(value: Any, tp: Any) -> Any:
    """`value` (decoded JSON) as type `tp`, or ValueError. Lists become tuples, ints floats."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            try:
                return _check(value, arg)
            except ValueError:
                continue
        raise ValueError(f"{value!r} is not {tp}")
    if origin is Literal:
        if value in typing.get_args(tp) and isinstance(value, str):
            return value
        raise ValueError(f"{value!r} is not one of {typing.get_args(tp)}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ValueError(f"{value!r} is not a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0]) for v in value)
        if len(value) != len(args):
            raise ValueError(f"{value!r} does not have {len(args)} items")
        return tuple(_check(v, a) for v, a in zip(value, args, strict=True))
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"no decoder for {tp}")  # a message declared a field type this module lacks
    raise ValueError(f"{value!r} is not {getattr(tp, '__name__', tp)}")


# --- failures and the mapping to calls.ports ---------------------------------------------------

# Twilio's notification code for a prompt the worker cannot open. Twilio reports media it
# cannot play as 13420 ("Play: invalid content": the URL's audio is not a supported type or
# cannot be decoded; http/audio.py already uses it for a download ffmpeg cannot convert). A WAV
# that converted but that the worker's player then refuses (corrupt, gone, an encoding pjmedia
# does not read) is that same fact met one step later, so the customer sees the same code.
PLAY_FAILED = Notice.PLAY_INVALID_CONTENT
# Twilio's 12400 "internal failure": anything else a worker could not do (a recorder it could
# not open, a bridge it could not make) is our failure, not a fault of the customer's content.
INTERNAL_FAILURE = Notice.INTERNAL_FAILURE


def failure(cmd: Command, message: str) -> CommandError:
    """The error event for a command that could not be carried out: its name, its call (side a
    of a bridge) and the play or recording id it carried."""
    match cmd:
        case (
            Play(call_sid=sid, play_id=ref)
            | StreamEnd(call_sid=sid, play_id=ref)
            | Record(call_sid=sid, rec_id=ref)
            | StopRecord(call_sid=sid, rec_id=ref)
            | PauseRecord(call_sid=sid, rec_id=ref)
            | ResumeRecord(call_sid=sid, rec_id=ref)
        ):
            return CommandError(message, sid, cmd.NAME, ref)
        case Bridge(a=sid) | Unbridge(a=sid):
            return CommandError(message, sid, cmd.NAME)
        case RoomRecord(room=room, rec_id=ref) | RoomRecordStop(room=room, rec_id=ref):
            return CommandError(message, room, cmd.NAME, ref)
        case (
            MakeCall(call_sid=sid)
            | Hangup(call_sid=sid)
            | StopPlay(call_sid=sid)
            | SendDtmf(call_sid=sid)
            | RelayOpen(call_sid=sid)
            | RelayClose(call_sid=sid)
            | RoomJoin(call_sid=sid)
            | RoomMember(call_sid=sid)
            | RoomLeave(call_sid=sid)
            | RemoteOpen(call_sid=sid)
            | RemoteClose(call_sid=sid)
        ):
            return CommandError(message, sid, cmd.NAME)
        case StartStream(call_sid=sid, stream_sid=ref) | StopStream(call_sid=sid, stream_sid=ref):
            return CommandError(message, sid, cmd.NAME, ref)
        case WatchSpeech(call_sid=sid, room=ref) | UnwatchSpeech(call_sid=sid, room=ref):
            return CommandError(message, sid, cmd.NAME, ref)
        case _:
            return CommandError(message, "", cmd.NAME)


def failure_code(command: str) -> int:
    """The Twilio notification code of a failed command (see PLAY_FAILED, INTERNAL_FAILURE)."""
    return PLAY_FAILED if command == Play.NAME else INTERNAL_FAILURE


def to_sip_event(event: Event) -> SipEvent | None:
    """The calls.ports event of a child's event; None for pool-internal ones (ready, pong, an
    error that names no call).

    An error for a call command becomes CommandFailed, so the session can notify and move on;
    except a failed call command, which becomes CallEnded(failed): the call never started,
    and nothing else would ever end it.
    """
    match event:
        case Initiated(call_sid=sid):
            return CallInitiated(CallSid(sid))
        case Ringing(call_sid=sid, sip_code=code):
            return CallRinging(CallSid(sid), code)
        case Answered(call_sid=sid, sip_code=code, headers=headers):
            return CallAnswered(CallSid(sid), code, headers)
        case Ended(call_sid=sid, reason=reason, sip_code=code, hangup_by=by):
            return CallEnded(CallSid(sid), reason, code, by)
        case Digit(call_sid=sid, digit=digit):
            return DigitReceived(CallSid(sid), digit)
        case PlayDone(call_sid=sid, play_id=play_id, how=how):
            return PlaybackFinished(CallSid(sid), play_id, how)
        case RecordDone(call_sid=sid, rec_id=rec_id, path=path, duration_ms=ms, how=how, digit=digit):
            return RecordingFinished(CallSid(sid), rec_id, path, ms, how, digit)
        case DtmfDone(call_sid=sid):
            return DigitsSent(CallSid(sid))
        case Stream(call_sid=sid, stream_sid=stream_sid, kind=kind, code=code, message=message):
            if kind not in ("started", "stopped", "error", "warning"):
                return None
            return StreamChanged(CallSid(sid), stream_sid, kind, code, message)  # type: ignore[arg-type]
        case Heard(call_sid=sid, listen_id=listen_id, audio=audio, voiced=voiced):
            return AudioHeard(CallSid(sid), listen_id, base64.b64decode(audio), tuple(v == "1" for v in voiced))
        case Speaking(call_sid=sid, room=room, on=on):
            return SpeakingChanged(CallSid(sid), room, on)
        case AmdResult(call_sid=sid, answered_by=answered_by, confidence=confidence, detection_ms=ms):
            return AmdDecided(CallSid(sid), answered_by, confidence, ms)
        case Quality(call_sid=sid, final=final):
            return QualitySampled(
                CallSid(sid),
                Reading(
                    event.rx_pkt,
                    event.rx_loss,
                    event.rx_jitter_us,
                    event.tx_pkt,
                    event.tx_loss,
                    event.tx_jitter_us,
                    event.rtt_us,
                    event.jbuf_ms,
                ),
                final,
            )
        case CommandError(call_sid=sid, command=op) if sid and op == MakeCall.NAME:
            return CallEnded.never_placed(sid)
        case CommandError(call_sid=sid, command=op, ref=ref, message=message) if (
            sid and op in COMMANDS and op not in POOL_ONLY
        ):
            return CommandFailed(CallSid(sid), op, ref, failure_code(op), message)
        case _:
            return None


# --- SIP outcomes --------------------------------------------------------------------------------

BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})


def end_reason(answered: bool, code: int | None, local: str | None, inbound: bool = False) -> EndReason:
    """The calls.ports.EndReason of a finished dialog.

    `local` says why we ended it ourselves: "cancel" (API), "timeout" (ring timeout), "reject",
    "shutdown", or None when the far end or the network ended it.
    """
    if answered:
        return "completed"
    if local == "reject":  # <Reject>: Twilio's status is busy for reason=busy, else no-answer
        return "busy" if code == 486 else "no-answer"
    if inbound and local is None:  # the caller hung up before we answered
        return "canceled"
    if local == "cancel":
        return "canceled"
    if local == "timeout":
        return "no-answer"
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


def dtmf_plan(digits: str, start: float, digit_s: float = 0.25) -> list[tuple[float, str]]:
    """Split SendDigits-style text into (due time, digit run); 'w' waits 0.5 s, 'W' 1 s."""
    plan: list[tuple[float, str]] = []
    t = start
    run = ""
    for ch in digits:
        if ch in "wW":
            if run:
                plan.append((t, run))
                t += len(run) * digit_s
                run = ""
            t += 0.5 if ch == "w" else 1.0
        else:
            run += ch
    if run:
        plan.append((t, run))
    return plan
