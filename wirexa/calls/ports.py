"""The seams of a call: what calls/ needs from the store, SIP, TTS and HTTP, as Protocols.

calls/ never imports store/, sip/ or aiohttp; runtime.py hands it objects that satisfy these
Protocols (store.calls.StoreCalls and sip.bridge.SipBridge in production; tests/fakes/FakeSip
in fast tests).

Threading contract: every method here is called on the engine's event loop, and every SipEvent
is delivered on the event loop (the SIP side hops threads with call_soon_threadsafe before it
calls the sink). No asyncio object ever crosses into a SIP worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NewType, Protocol, TypeAlias

from wirexa.calls.records import (
    NO_CHANGES,
    CallChanges,
    CallRecord,
    InboundRoute,
    NewCall,
    NewNotification,
    NewRecording,
    ProjectRecord,
    RecordingRecord,
    VerbRun,
)
from wirexa.calls.state import Fact
from wirexa.media.amd import (
    DEFAULT_SILENCE_TIMEOUT_MS,
    DEFAULT_SPEECH_END_THRESHOLD_MS,
    DEFAULT_SPEECH_THRESHOLD_MS,
    DEFAULT_TIMEOUT_S,
)
from wirexa.media.quality import Reading, Sample, Summary
from wirexa.media.stt.base import Partial, Recognition, SpeechOptions

CallSid = NewType("CallSid", str)
RecordingSid = NewType("RecordingSid", str)
AccountSid = NewType("AccountSid", str)


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AmdRequest:
    """Answering-machine detection on an outbound call's first audio (media/amd.py decides):
    Twilio's MachineDetection parameters. The SIP side reports AmdDecided once."""

    detect_message_end: bool = False
    timeout_ms: int = DEFAULT_TIMEOUT_S * 1000
    speech_threshold_ms: int = DEFAULT_SPEECH_THRESHOLD_MS
    speech_end_threshold_ms: int = DEFAULT_SPEECH_END_THRESHOLD_MS
    silence_timeout_ms: int = DEFAULT_SILENCE_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class Dialout:
    """Place one outbound SIP call.

    `to_uri` and `from_uri` are complete SIP URIs (number rewriting and the trunk/sandbox choice
    are done by the caller of start_call: calls/ resolves them through SipPort.resolve()).
    `timeout_s` is the ring timeout: on expiry the SIP side CANCELs and reports CallEnded with
    reason "no-answer". `parent_call_sid` is set for <Dial> legs: the leg must be placed in the
    same media worker as its parent so that bridge() can connect their audio.
    """

    call_sid: CallSid
    to_uri: str
    from_uri: str
    timeout_s: float
    headers: tuple[tuple[str, str], ...] = ()
    parent_call_sid: CallSid | None = None
    amd: AmdRequest | None = None
    auth: tuple[str, str] | None = None  # (username, password) for the far end's digest challenge


# --- events (past-tense facts from the SIP side) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class CallInitiated:
    """The INVITE left."""

    call_sid: CallSid


@dataclass(frozen=True, slots=True)
class CallRinging:
    """180/183 arrived (sent once per call)."""

    call_sid: CallSid
    sip_code: int


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_sid: CallSid
    sip_code: int = 200
    sip_headers: tuple[tuple[str, str], ...] = ()  # the far end's X- headers (a SIP endpoint's 200 OK)


EndReason: TypeAlias = Literal[
    "completed",  # answered, then ended by either side
    "busy",  # 486 / 600 / 603
    "no-answer",  # ring timeout expired (we CANCELled) or 408/480/487 before answer
    "failed",  # any other final response, unreachable, worker crashed before answer
    "canceled",  # we hung up before answer at the API's request
]


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is gone on the SIP side; no further events for it follow.

    `hangup_by` is "remote" when the far end ended it, "local" when we did (hangup(), ring
    timeout, worker shutdown), "worker" when the worker process died or hung.
    """

    call_sid: CallSid
    reason: EndReason
    sip_code: int | None
    hangup_by: Literal["remote", "local", "worker"] = "remote"

    @classmethod
    def never_placed(cls, call_sid: str) -> CallEnded:
        """The end of a call whose INVITE could not be sent (no worker, a refused command)."""
        return cls(CallSid(call_sid), "failed", None, "local")


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """One DTMF digit from the far end (RFC 2833 or SIP INFO): 0-9 * # A-D."""

    call_sid: CallSid
    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A play() ended: all loops done ("done"), or stop_play()/hangup ("stopped")."""

    call_sid: CallSid
    play_id: str
    how: Literal["done", "stopped"] = "done"


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """A start_recording() ended; `path` is a WAV (8 kHz 16-bit mono unless dual)."""

    call_sid: CallSid
    rec_id: str
    path: str
    duration_ms: int
    how: Literal["silence", "max-length", "key", "hangup", "stopped", "lost"]  # lost: never reported
    digit: str | None = None  # the finishOnKey digit when how == "key"


@dataclass(frozen=True, slots=True)
class DigitsSent:
    """A send_dtmf() finished."""

    call_sid: CallSid


@dataclass(frozen=True, slots=True)
class AmdDecided:
    """The answering-machine detector decided (Twilio's AnsweredBy values: human, machine_start,
    machine_end_beep, machine_end_silence, machine_end_other, fax, unknown), `detection_ms` after
    the answer, with a confidence from 0 to 1."""

    call_sid: CallSid
    answered_by: str
    confidence: float
    detection_ms: int


@dataclass(frozen=True, slots=True)
class AudioHeard:
    """100 ms of the caller's audio for a listen (SipPort.listen): 8 kHz s16le mono PCM, and the
    voice detector's verdict on each of its 20 ms frames (True = speech)."""

    call_sid: CallSid
    listen_id: str
    pcm: bytes
    voiced: tuple[bool, ...] = ()


@dataclass(frozen=True, slots=True)
class SpeakingChanged:
    """A conference participant whose speech is watched (SipPort.watch_speech) started (`on`) or
    stopped talking; `room` is the watch's (a stale event of an earlier room is told apart)."""

    call_sid: CallSid
    room: str
    on: bool


@dataclass(frozen=True, slots=True)
class MediaStream:
    """A Media Stream for the worker that holds the call: the WebSocket `url` (ws:// or wss://),
    the tracks it carries ("inbound" = what the far end says, "outbound" = what the call is sent),
    `bidirectional` (<Connect><Stream>: the server's audio is played to the call), the custom
    parameters (start.customParameters) and the headers of the upgrade request (X-Twilio-Signature)."""

    stream_sid: str
    account_sid: str
    url: str
    tracks: tuple[str, ...] = ("inbound",)
    bidirectional: bool = False
    parameters: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StreamChanged:
    """A Media Stream's news from its worker: "started" (the WebSocket is open, `start` sent),
    "error" (`code` 319xx, `message`; "stopped" follows), "warning" (31924 a malformed message,
    31931 audio discarded: the stream goes on), "stopped" (always last, exactly once; `message`
    says why: the server closed it, it was stopped, the call ended)."""

    call_sid: CallSid
    stream_sid: str
    kind: Literal["started", "stopped", "error", "warning"]
    code: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A command for a live call failed in the worker: `command` is its name ("play",
    "record", ...), `ref` the play or recording id it carried, `code` the Twilio notification
    code to show the customer. The command's own completion event will not follow."""

    call_sid: CallSid
    command: str
    ref: str
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class QualitySampled:
    """A reading of the call's media statistics (media/quality.py), every few seconds while its
    audio is up; `final` for the last one, taken as its audio stream went away."""

    call_sid: CallSid
    reading: Reading
    final: bool = False


SipEvent: TypeAlias = (
    AudioHeard
    | SpeakingChanged
    | StreamChanged
    | QualitySampled
    | CallInitiated
    | CallRinging
    | CallAnswered
    | CallEnded
    | DigitReceived
    | PlaybackFinished
    | RecordingFinished
    | DigitsSent
    | CommandFailed
    | AmdDecided
)


@dataclass(frozen=True, slots=True)
class InboundInvite:
    """An INVITE a media worker holds until the engine takes it (InboundSip.accept, with the
    CallSid it minted) or refuses it: its From and To (as pjsua2 gives them, with display names
    and tags), Request-URI, sender (host:port) and the headers calls/inbound.py routes by."""

    dialog_id: str
    from_uri: str
    to_uri: str
    source: str
    request_uri: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        key = name.lower()
        return next((value for hname, value in self.headers if hname.lower() == key), None)


class InboundSip(Protocol):
    """The SIP side of inbound calls (sip.bridge.SipBridge): the held INVITEs, on the loop."""

    def set_incoming_handler(self, handler: Callable[[InboundInvite], None] | None) -> None:
        """`handler` gets each held INVITE; it must accept or refuse it (None: all are refused 403)."""
        ...

    async def accept(self, dialog_id: str, call_sid: CallSid) -> None:
        """Take the INVITE as the call `call_sid` (the caller hears 180); raises SipError when no
        worker holds it any more. Its events then come under call_sid."""
        ...

    async def refuse(self, dialog_id: str, code: int, why: str) -> None:
        """Answer the INVITE with a final `code`."""
        ...


class NumberDirectory(Protocol):
    """Where inbound calls go (the store's numbers and desk phones, on the loop)."""

    async def number_route(self, phone_number: str) -> InboundRoute | None:
        """The route of a number registered with a project (E.164), or None."""
        ...

    async def phone_route(self, username: str) -> InboundRoute | None:
        """The route of calls made from the desk phone `username`, or None (no such phone)."""
        ...


class SipPort(Protocol):
    """What the call session needs from the SIP engine. All methods run on the event loop.

    Methods naming a call that is already gone are no-ops (the CallEnded event is what counts).
    start_call raises errors.SipError when it cannot place the call at all; the caller marks the
    call failed. Capacity is checked with can_start(): the dispatcher keeps calls queued while it
    is False, so start_call is only invoked when a slot exists.
    """

    def set_event_sink(self, sink: Callable[[SipEvent], None]) -> None: ...

    def resolve(self, number: str, caller_id: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """Map a To number (E.164, or a sip: URI) and a caller id to (to_uri, from_uri, headers)
        per the trunk settings (prefix, rewriting, P-Asserted-Identity) or the sandbox."""
        ...

    def can_start(self, legs: int = 1) -> bool: ...

    async def start_call(self, dial: Dialout) -> None: ...

    async def hangup(self, call_sid: CallSid, code: int = 0) -> None:
        """CANCEL before answer (CallEnded reason 'canceled'), BYE after; an unanswered inbound
        call with `code` (486, 603: <Reject>) is refused with it (reason busy / no-answer)."""
        ...

    async def answer(self, call_sid: CallSid) -> None:
        """Answer an inbound call (200 OK); CallAnswered follows once it is confirmed."""
        ...

    async def play(self, call_sid: CallSid, play_id: str, path: str, loop: int = 1, stream: bool = False) -> None:
        """Play a WAV (mono 16-bit, any rate pjsua2 reads) into the call; loop 0 = until stopped.
        With `stream`, `path` is headerless 16-bit 8 kHz mono PCM still being written: it plays
        as it grows and finishes (PlaybackFinished) once end_stream() has given its size."""
        ...

    async def end_stream(self, call_sid: CallSid, play_id: str, size: int) -> None:
        """The streamed play `play_id` is complete at `size` bytes."""
        ...

    async def stop_play(self, call_sid: CallSid) -> None: ...

    async def send_dtmf(self, call_sid: CallSid, digits: str) -> None:
        """Send digits (0-9*#, 'w' = wait 0.5 s); DigitsSent when done."""
        ...

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
        """Record what the far end says into `path` until silence, max length, a key in
        finish_on_key, hangup or stop_recording(); RecordingFinished reports which. With
        `mix_with` (a call bridged to this one in the same worker) both parties are recorded,
        mixed to mono (<Dial record>). 0 for max_length_s/silence_timeout_s means no limit."""
        ...

    async def stop_recording(self, call_sid: CallSid, rec_id: str = "") -> None:
        """Stop the recording `rec_id`; "" = the call's <Record> / <Dial record> recording."""
        ...

    async def start_call_recording(
        self, call_sid: CallSid, rec_id: str, path: str, track: str, out_path: str = ""
    ) -> None:
        """Record the whole call (Record=true, the Recordings API) until stop_recording(rec_id)
        or hangup: `track` inbound (the far end), outbound (prompts and bridged parties) or
        both; with `out_path`, the outbound track goes to that second file (dual channel).
        Several run at once, each to its own file; RecordingFinished(rec_id) when one ends."""
        ...

    async def pause_recording(self, call_sid: CallSid, rec_id: str, behavior: str) -> None:
        """Pause a call recording: behavior skip (paused time left out) or silence (kept as silence)."""
        ...

    async def resume_recording(self, call_sid: CallSid, rec_id: str) -> None: ...

    async def start_stream(self, call_sid: CallSid, stream: MediaStream) -> None:
        """Open a Media Stream on the call (StreamChanged events follow, "stopped" last)."""

    async def stop_stream(self, call_sid: CallSid, stream_sid: str) -> None:
        """Stop a Media Stream (its "stopped" follows; nothing when it is not running)."""

    async def listen(self, call_sid: CallSid, listen_id: str) -> None:
        """Send the caller's audio as AudioHeard events, 100 ms each, until unlisten or the end."""

    async def unlisten(self, call_sid: CallSid, listen_id: str) -> None:
        """Stop a listen (nothing when it is not running)."""

    async def watch_speech(self, call_sid: CallSid, room: str) -> None:
        """Report when the call's far end starts and stops talking (SpeakingChanged with `room`),
        until unwatch_speech or the call's end: a conference's `speaker` events."""

    async def unwatch_speech(self, call_sid: CallSid, room: str) -> None:
        """Stop watching (nothing when not watching; no SpeakingChanged follows)."""

    async def bridge(self, a: CallSid, b: CallSid) -> None:
        """Connect the audio of two calls of the same worker both ways."""
        ...

    async def unbridge(self, a: CallSid, b: CallSid) -> None: ...

    async def room_join(self, room: str, call_sid: CallSid, muted: bool = False, coach: str = "") -> None:
        """Put the call (its audio up) in conference room `room`, made on first use: it hears
        every other member, and unless `muted` they hear it; coaching `coach` (a member's
        CallSid), only that member hears it. Members may be calls of any worker."""
        ...

    async def room_member(self, room: str, call_sid: CallSid, muted: bool, coach: str = "") -> None:
        """Change a member's mute and coaching ("" coaches nobody)."""
        ...

    async def room_leave(self, room: str, call_sid: CallSid) -> None:
        """Take the call out of the room (nothing for a call that ended: its end did)."""
        ...

    def room_over(self, room: str) -> None:
        """Every member has left the room: forget it."""
        ...

    async def room_record(self, room: str, rec_id: str, path: str) -> None:
        """Record the room's mix (every member heard in it, wherever its call is) into `path`, a
        WAV (8 kHz 16-bit mono) that keeps time while nobody is heard, until room_record_stop.
        Raises SipError when the room is in no worker."""
        ...

    async def room_record_stop(self, room: str, rec_id: str) -> RecordingFinished | None:
        """Stop a room's recording; once its file is complete, its RecordingFinished (call_sid =
        the room, how "stopped"), or None when it could not be made or its worker died (the
        file, if any, was never closed)."""
        ...

    def health(self) -> dict[str, object]:
        """JSON-able SIP state for /health: workers, live calls, trunk registration."""
        ...


# --- other ports of a live call ----------------------------------------------------------------


class FetchedDocument(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def body(self) -> bytes: ...

    @property
    def url(self) -> str: ...


class Fetcher(Protocol):
    """Fetch a document for a live call (http/documents.py). Raises errors.DocumentError."""

    async def fetch(
        self, url: str, method: str, params: Sequence[tuple[str, str]], auth_token: str
    ) -> FetchedDocument: ...


class TtsFallback(Protocol):
    """A TTS provider that passed the text on to the next one (13511 voice, 13520 otherwise)."""

    @property
    def code(self) -> int: ...

    @property
    def message(self) -> str: ...


class SpeechStreamEnd(Protocol):
    """A streamed render is complete: `size` bytes of PCM; `failure` (a warning for the call)
    when the provider stopped before the end of the text."""

    @property
    def size(self) -> int: ...

    @property
    def failure(self) -> TtsFallback | None: ...


class SpeechStream(Protocol):
    async def wait(self) -> SpeechStreamEnd:
        """When the provider is done (never raises but CancelledError)."""
        ...


class Speech(Protocol):
    """Rendered text: a playable 8 kHz mono WAV, and the providers that fell back on the way.
    With `stream` (not None), `path` is instead headerless 16-bit 8 kHz mono PCM still being
    written (SipPort.play(stream=True)); `stream.wait()` gives its final size (end_stream)."""

    @property
    def path(self) -> Path: ...

    @property
    def fallbacks(self) -> Sequence[TtsFallback]: ...

    @property
    def stream(self) -> SpeechStream | None: ...


class SttSession(Protocol):
    """One recognition in progress (media/stt/base.py Recognizing)."""

    def feed(self, pcm: bytes) -> None: ...

    async def finish(self) -> Recognition: ...

    async def cancel(self) -> None: ...


class SttPort(Protocol):
    """Speech recognition through the provider chain (media/stt/chain.py): `open` a session at
    the start of speech; its `finish` gives the Recognition, fallbacks and notes included, or
    raises ProviderError when no provider could recognize."""

    async def open(self, options: SpeechOptions, on_partial: Callable[[Partial], None] | None = None) -> SttSession: ...


class TtsPort(Protocol):
    """Render text through the provider chain (media/tts/chain.py): cached, and shared while
    the same text is being rendered. Raises errors.TtsError (with `fallbacks`) when no provider
    could render it. With `stream`, answers as soon as a streaming provider's first audio is on
    disk (a Speech with `stream`), else with the complete WAV."""

    async def synthesize(self, text: str, voice: str, language: str, *, stream: bool = False) -> Speech: ...

    def prepare(self, text: str, voice: str, language: str) -> None:
        """Start rendering without waiting (a later synthesize() of the same text shares it)."""
        ...


class AudioSource(Protocol):
    """Fetch and convert <Play> audio to a playable WAV path (http/audio.py). Raises DocumentError."""

    async def get(self, url: str) -> Path: ...


# --- the store ---------------------------------------------------------------------------------

# The outbox, injected into the store (webhooks/outbox.py provides both; runtime wires them).
# Each enqueues the customer's callback rows inside the caller's transaction:
# (call, StatusCallbackEvent, extra params) and (recording, call, RecordingStatusCallbackEvent).
StatusCallbacks: TypeAlias = Callable[[CallRecord, str, Mapping[str, str]], None]
# (recording, its call (None: a conference's), event): the recordingStatusCallback request.
RecordingCallbacks: TypeAlias = Callable[[RecordingRecord, CallRecord | None, str], None]
# (call with its AnsweredBy, detection ms, confidence): the AsyncAmdStatusCallback request.
AmdCallbacks: TypeAlias = Callable[[CallRecord, int, float], None]


# After a claim found the project's concurrency cap reached: when to look at its calls again
# (an ending call wakes the dispatcher earlier on the engine that holds it).
CONCURRENCY_WAIT_S = 0.5


@dataclass(frozen=True, slots=True)
class ClaimGate:
    """What a claim of a queued call checks in its transaction (CallStore.claim): this engine's
    run (`generation` 0: not registered, no check), the project's shared CPS and its
    concurrency cap, across every engine on the database."""

    node_id: str
    generation: int
    account_sid: str
    cps: float | None
    max_concurrent: int | None


class CallStore(Protocol):
    """The calls' unit of work (store/calls.py implements it over the store's writer thread).

    Each write method is one transaction together with the webhook rows it causes (status
    callbacks, recording callbacks: the transactional outbox), and wakes webhook delivery
    after the commit. Loop-only.
    """

    async def project(self, account_sid: str) -> ProjectRecord | None: ...

    async def call(self, call_sid: str) -> CallRecord | None: ...

    async def queued(self, limit: int) -> list[CallRecord]:
        """Queued top-level calls, oldest first (the dispatcher's queue)."""
        ...

    async def orphaned(self, me: str | None) -> list[CallRecord]:
        """Live calls (state.DIALING) that no live engine owns: a dead engine's, and with `me`
        (at this engine's start) its own previous run's (store/repo/nodes.py)."""
        ...

    async def claim(self, call_sid: str, changes: CallChanges, gate: ClaimGate) -> CallRecord | float | None:
        """Take a queued call for this engine (queued -> initiated, as transition(DISPATCHED)
        with its callback), in one transaction that also checks the gate: the engine is open
        (not fenced), the project has a token in its shared CPS bucket, and fewer live calls on
        all engines than its concurrency cap. The call; or seconds to wait (no token, the cap
        reached: the call stays queued); or None (not queued any more, or the engine fenced)."""
        ...

    async def insert(self, account_sid: str, new: NewCall) -> CallRecord:
        """Insert a call `queued`."""
        ...

    async def change(self, call_sid: str, changes: CallChanges) -> CallRecord | None:
        """Set plain columns (no status change, no callback); None for an unknown call."""
        ...

    async def transition(
        self,
        call_sid: str,
        fact: Fact,
        changes: CallChanges = NO_CHANGES,
        extra: Mapping[str, str] | None = None,
        announce: bool = True,
        expect: tuple[str, ...] | None = None,
        *,
        notice: NewNotification | None = None,
    ) -> CallRecord | None:
        """Apply a status fact (state.step) with `changes`, enqueue the status callback the new
        status fires (with `extra` parameters; not when `announce` is False), charge credits for
        a final answered call, insert `notice` (why the call ended: a toll-fraud refusal), in one
        transaction: nobody reads the new status without its notification. None (and no notice)
        when the fact does not apply, or when `expect` is given and the stored status (read in
        that transaction) is not one of it."""
        ...

    async def alive(self, call_sids: Sequence[str], at: dt.datetime) -> None:
        """Heartbeat: these live calls were up at `at` (CallRecord.alive_at)."""
        ...

    async def delete(self, call_sid: str) -> None: ...

    async def save_recording(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord:
        """Insert a finished recording (or complete the in-progress row of a call or conference
        recording with the same sid) and enqueue its `completed` callback if subscribed; `call`
        None for a conference's."""
        ...

    async def recording_started(self, new: NewRecording, call: CallRecord | None) -> RecordingRecord:
        """Insert a call recording `in-progress` (listed and fetched while it runs) and enqueue
        its `in-progress` callback if subscribed."""
        ...

    async def recording_status(self, sid: str, status: str) -> RecordingRecord | None:
        """Set a live recording's status (paused, in-progress, stopped); no callback."""
        ...

    async def recording_absent(self, sid: str, call: CallRecord | None, error_code: int) -> RecordingRecord | None:
        """Close a call recording that captured nothing usable: `absent` with `error_code`,
        its files gone, and its `absent` callback if subscribed."""
        ...

    async def notify(self, notice: NewNotification) -> None: ...

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

    async def verbs_run(self, call_sid: str, verbs: Sequence[VerbRun]) -> None:
        """Keep verbs the call's document ran (the console's timeline points)."""
        ...

    async def quality_sampled(self, call_sid: str, sample: Sample | None, thin: int | None, summary: Summary) -> None:
        """Keep a quality sample of a live call (None: not kept), first thinning its kept samples
        to the multiples of `thin` (quality.Decimator); set the call's summary and flags."""
        ...

    async def amd_decided(
        self, call_sid: str, answered_by: str, detection_ms: int, confidence: float, *, announce_answered: bool
    ) -> CallRecord | None:
        """Store AnsweredBy (and its confidence) on an answered call, and in the same transaction enqueue the
        `answered` status callback held back for it (synchronous AMD: `announce_answered`) and,
        for AsyncAmd, the AsyncAmdStatusCallback request. None for an unknown call."""
        ...


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """UTC, naive (what the store keeps)."""
        ...

    def monotonic(self) -> float: ...

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run fn on the event loop after delay_s (loop-only); the Timer cancels it."""
        ...


SidSource: TypeAlias = Callable[[str], str]  # "RE" -> a new RecordingSid
