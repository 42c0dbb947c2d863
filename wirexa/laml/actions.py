"""Commands the interpreter gives the call session (imperative).

Contract for the session: execute a feed()'s actions in list order and without waiting for media
to finish; each action that has an `op_id` later answers with exactly one event carrying that
op_id (see events.py), except a cancelled timer, which never fires. Actions without op_id
produce no event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

from wirexa.laml.verbs import Beep, ConferenceRecord, DialRecord, DialTarget, HttpMethod, RejectReason, Speech, Trim


class FetchReason(StrEnum):
    """Why a document is fetched (for logs and for the session's fallback policy)."""

    INITIAL = "initial"
    REDIRECT = "redirect"
    GATHER = "gather"
    RECORD = "record"
    DIAL = "dial"
    CONNECT = "connect"
    ENQUEUE = "enqueue"
    QUEUE_WAIT = "queue-wait"
    LIVE_UPDATE = "live-update"


class NotifyLevel(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the inbound call now (sent once, before its first verb that needs media)."""


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text`; `loop` times, 0 = until stopped. Answers with PlaybackFinished."""

    op_id: int
    text: str
    voice: str
    language: str
    loop: int


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Play the audio at absolute `url`; `loop` times, 0 = until stopped. PlaybackFinished."""

    op_id: int
    url: str
    loop: int


@dataclass(frozen=True, slots=True)
class PlayDigits:
    """Send DTMF `digits` ("w" = wait 0.5 s) to the caller. Answers with PlaybackFinished."""

    op_id: int
    digits: str


@dataclass(frozen=True, slots=True)
class StopPrompts:
    """Stop whatever Say/PlayAudio/PlayDigits is playing (its PlaybackFinished may still come)."""


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Feed TimerFired(op_id) after `delay_s` seconds unless cancelled first."""

    op_id: int
    delay_s: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    op_id: int


@dataclass(frozen=True, slots=True)
class StartGather:
    """The interpreter is collecting input (it runs the timeouts itself via StartTimer). For
    logging; digits arrive as DigitReceived, speech through StartListening. No event."""

    num_digits: int | None
    timeout_s: int
    finish_on_key: str
    input: tuple[str, ...] = ("dtmf",)


@dataclass(frozen=True, slots=True)
class StopGather:
    """Input collection is over (a recognition still running is dropped)."""


@dataclass(frozen=True, slots=True)
class StartListening:
    """Recognize the caller's speech: SpeechStarted when the caller starts speaking, then one
    SpeechRecognized (also when the recognition fails, with "" and a notification posted).
    `partial_url` (absolute) gets partial results; `speech` holds the <Gather>'s attributes."""

    listen_op: int
    speech: Speech
    partial_url: str | None = None


@dataclass(frozen=True, slots=True)
class StopListening:
    """A key won over speech: stop recognizing (no SpeechRecognized is needed any more)."""


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Beep (if `play_beep`) and record the caller until `silence_timeout_s` of silence (0 = not
    on silence), `max_length_s`, a key in `finish_on_key`, StopRecording or hangup. Answers with
    RecordingSaved or RecordingEmpty. Status callbacks (absolute URL) are the session's to send."""

    op_id: int
    max_length_s: int
    silence_timeout_s: int
    finish_on_key: str
    play_beep: bool
    trim: Trim
    recording_status_callback: str | None = None
    recording_status_callback_method: HttpMethod = HttpMethod.POST
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    transcribe: bool = False  # the saved recording gets a Transcription
    transcribe_callback: str | None = None  # absolute URL


@dataclass(frozen=True, slots=True)
class StopRecording:
    """End the running recording now; its RecordingSaved/RecordingEmpty still follows."""


@dataclass(frozen=True, slots=True)
class Dial:
    """Ring `targets` at once (first answer wins, the rest are cancelled), bridge, and end the
    leg after `time_limit_s`, when either side hangs up, or on StopDial. Target URLs are
    absolute; `caller_id` None = the session's default (the parent call's caller id). Unless
    `answer_on_bridge`, an inbound parent was already answered (Answer came first). The
    interpreter handles `hangup_on_star` itself (StopDial on "*"), so while bridged the session
    keeps feeding the caller's DigitReceived. Answers with DialEnded. Never emitted with no
    targets (the interpreter treats that as an immediate failed dial)."""

    op_id: int
    targets: tuple[DialTarget, ...]
    timeout_s: int
    caller_id: str | None
    time_limit_s: int
    hangup_on_star: bool
    record: DialRecord
    answer_on_bridge: bool = False
    recording_status_callback: str | None = None
    recording_status_callback_method: HttpMethod = HttpMethod.POST
    recording_status_callback_event: tuple[str, ...] = ("completed",)


@dataclass(frozen=True, slots=True)
class StopDial:
    """Hang up the <Dial> leg (hangupOnStar, live redirect, caller gone); DialEnded follows."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Put the call in the project's queue `name` (created on demand) and keep it there until
    it is taken out; answers with QueueLeft. While waiting, the session runs `wait_url` (absolute;
    "" silence, None the built-in hold music) with `wait_url_method` in a wait document of its
    own, again each time it runs out. `action`/`method` (absolute, or None) are the interpreter's
    to request, except after a hangup or a live update: the session requests them then (Twilio
    reports those results and the call goes on elsewhere)."""

    op_id: int
    name: str
    wait_url: str | None
    wait_url_method: HttpMethod
    max_queue_size: int | None
    action: str | None = None
    method: HttpMethod = HttpMethod.POST


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    """Take the call out of its queue now. From a wait document: `result` "leave" (<Leave>) or
    "error" (the wait document failed: notified already); QueueLeft follows. From the
    interpreter on a live update while enqueued: "redirected" (no event: the document moves on)."""

    result: str


@dataclass(frozen=True, slots=True)
class DialQueue:
    """<Dial><Queue>: take the first caller of the project's queue `name` (waiting up to
    `timeout_s` for one), run `url` (absolute, or None) on that caller's call, then connect the
    two until either hangs up or StopDial. Answers with DialEnded (DialCallSid: the caller's
    CallSid; failed when the queue does not exist, no-answer when nobody came in time)."""

    op_id: int
    name: str
    url: str | None
    method: HttpMethod
    timeout_s: int
    hangup_on_star: bool


@dataclass(frozen=True, slots=True)
class DialConference:
    """<Dial><Conference>: join the project's room `name` (created on demand) and stay until the
    call leaves it (hangup, kick, the room's end, StopDial, `time_limit_s`). URLs are absolute;
    `wait_url` None is the built-in hold music, "" silence. The interpreter handles
    `hangup_on_star` itself (StopDial on "*"), so the session keeps feeding DigitReceived.
    Answers with DialEnded (a room that refuses the call: failed, with the reason notified)."""

    op_id: int
    name: str
    muted: bool
    beep: Beep
    start_conference_on_enter: bool
    end_conference_on_exit: bool
    participant_label: str | None
    wait_url: str | None
    wait_method: HttpMethod
    max_participants: int
    record: ConferenceRecord
    trim: Trim
    coach: str | None
    status_callback: str | None
    status_callback_method: HttpMethod
    status_callback_event: tuple[str, ...]
    recording_status_callback: str | None
    recording_status_callback_method: HttpMethod
    recording_status_callback_event: tuple[str, ...]
    time_limit_s: int
    hangup_on_star: bool


StreamTrack: TypeAlias = Literal["inbound_track", "outbound_track", "both_tracks"]


@dataclass(frozen=True, slots=True)
class StartStream:
    """Open a Media Stream: a WebSocket to `url` (absolute, ws:// or wss://) carrying the call's
    audio in Twilio's protocol. `bidirectional` (<Connect><Stream>): the server's audio is played
    to the call, the track is always inbound_track, and the interpreter waits: the stream answers
    with exactly one StreamEnded(op_id) when it is over (the server closed the socket, it could not
    be opened, StopStream, or the call ended). Unidirectional (<Start><Stream>, op_id 0): no event;
    the document goes on at once. `name` is "" when none was given (the StreamSid then names it).
    `parameters` are the <Parameter name value> pairs, in order (start.customParameters). Status
    callbacks (stream-started/-stopped/-error) and 319xx notifications are the session's to send."""

    op_id: int
    url: str
    name: str = ""
    track: StreamTrack = "inbound_track"
    bidirectional: bool = False
    status_callback: str | None = None
    status_callback_method: HttpMethod = HttpMethod.POST
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StopStream:
    """Stop a running stream: the unidirectional one called `name` (<Stop><Stream name>; a
    StreamSid names it too), or with `bidirectional` the call's <Connect><Stream> (a live redirect
    or hangup while connected). Stopping a stream that is not running does nothing."""

    name: str = ""
    bidirectional: bool = False


@dataclass(frozen=True, slots=True)
class FetchDocument:
    """Request `url` (absolute) with `method`, sending `params` (form body for POST, query for
    GET; call parameters first, then the verb's, in order). Answers with DocumentLoaded (after
    parse_document) or FetchFailed."""

    op_id: int
    url: str
    method: HttpMethod
    params: tuple[tuple[str, str], ...]
    reason: FetchReason


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call (on an unanswered inbound call the session picks how to refuse it).
    `end_of_document` marks the implicit hangup after the last verb (a <Dial> leg's whisper
    document ends by connecting the parties instead); it takes no part in equality."""

    end_of_document: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the unanswered inbound call (busy -> 486, rejected -> 603)."""

    reason: RejectReason


@dataclass(frozen=True, slots=True)
class Notify:
    """Store a notification (debugger entry) for the customer. `url` is the document or request
    the problem belongs to, when known."""

    code: int
    message: str
    url: str | None = None
    level: NotifyLevel = NotifyLevel.ERROR


@dataclass(frozen=True, slots=True)
class Finished:
    """The interpreter is done; nothing it says follows. Always the last action it emits."""


Action: TypeAlias = (
    Answer
    | Say
    | PlayAudio
    | PlayDigits
    | StopPrompts
    | StartTimer
    | CancelTimer
    | StartGather
    | StopGather
    | StartListening
    | StopListening
    | StartRecording
    | StopRecording
    | Dial
    | StopDial
    | Enqueue
    | LeaveQueue
    | DialQueue
    | DialConference
    | StartStream
    | StopStream
    | FetchDocument
    | Hangup
    | Reject
    | Notify
    | Finished
)
