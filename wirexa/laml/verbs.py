"""The parsed form of a LaML/TwiML document: one frozen dataclass per verb, Twilio's defaults applied.

parse.py builds these from XML; the interpreter only ever sees these. Field names are snake_case
with units; the Twilio attribute each field comes from is named in the class docstring. Where the
product doc and Twilio disagree, Twilio wins and the difference is noted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class TargetKind(StrEnum):
    """Which noun inside <Dial> named the target (a bare number text is NUMBER)."""

    NUMBER = "number"
    SIP = "sip"
    CLIENT = "client"


class RejectReason(StrEnum):
    REJECTED = "rejected"
    BUSY = "busy"


class Trim(StrEnum):
    TRIM_SILENCE = "trim-silence"
    DO_NOT_TRIM = "do-not-trim"


class DialRecord(StrEnum):
    """<Dial record>; the legacy values "true"/"false" map to RECORD_FROM_ANSWER/DO_NOT_RECORD."""

    DO_NOT_RECORD = "do-not-record"
    RECORD_FROM_ANSWER = "record-from-answer"
    RECORD_FROM_RINGING = "record-from-ringing"
    RECORD_FROM_ANSWER_DUAL = "record-from-answer-dual"
    RECORD_FROM_RINGING_DUAL = "record-from-ringing-dual"


@dataclass(frozen=True, slots=True)
class Say:
    """<Say voice language loop>text</Say>.

    `voice` defaults to Twilio's "man" (the product doc says "woman"; both mean "best available
    provider", so only the default's name differs). `text` is the spoken text with any SSML tags
    removed and whitespace collapsed. `loop` 0 means repeat until the call ends.
    """

    text: str
    voice: str = "man"
    language: str = "en-US"
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Play:
    """<Play loop digits>url</Play>. Exactly one of `url` (possibly relative) and `digits` is set;
    `digits` is a DTMF string where "w" waits 0.5 s. `loop` 0 means repeat until the call ends."""

    url: str | None
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """<Pause length>; `length_s` 0 is a no-op."""

    length_s: int = 1


Prompt: TypeAlias = Say | Play | Pause


# Twilio's speechModel values (reference/twilio-voice-next.md §5); media/stt/base.py keeps the same
# tuple for the providers (a test holds them equal: laml imports nothing of media).
SPEECH_MODELS = (
    "default",
    "numbers_and_commands",
    "phone_call",
    "experimental_conversations",
    "experimental_utterances",
    "googlev2_long",
    "googlev2_short",
    "googlev2_telephony",
    "googlev2_telephony_short",
    "deepgram_nova-2",
    "deepgram_nova-3",
)


@dataclass(frozen=True, slots=True)
class Speech:
    """The speech half of a <Gather input="speech"> (reference/twilio-voice-next.md §5).

    `speech_timeout_s` is the silence that ends the utterance; None = `auto` (the endpointer's
    own pause). `max_speech_time_s` caps an utterance (Twilio: 60 s). `hints` are the
    comma-separated phrases, stripped. `partial_result_callback` None = no partial results.
    """

    speech_timeout_s: int | None = None
    max_speech_time_s: int = 60
    language: str = "en-US"
    hints: tuple[str, ...] = ()
    model: str = "default"
    profanity_filter: bool = True
    enhanced: bool = False
    partial_result_callback: str | None = None
    partial_result_callback_method: HttpMethod = HttpMethod.POST


@dataclass(frozen=True, slots=True)
class Gather:
    """<Gather input action method timeout finishOnKey numDigits actionOnEmptyResult bargeIn ...>.

    `action` None means "the current document URL". `finish_on_key` "" means no finish key.
    `num_digits` None means unlimited. `input` is the modes collected ("dtmf", "speech", or
    both: the first one heard wins); `speech` holds the speech attributes when "speech" is
    one of them. `children` are the nested prompts, played in order.
    """

    input: tuple[str, ...] = ("dtmf",)
    speech: Speech | None = None
    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    timeout_s: int = 5
    finish_on_key: str = "#"
    num_digits: int | None = None
    action_on_empty_result: bool = False
    barge_in: bool = True
    children: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    """<Record action method timeout finishOnKey maxLength playBeep trim recordingStatusCallback*
    transcribe transcribeCallback>.

    `timeout_s` is the silence that ends the recording (0 = never on silence); the product doc's
    `silence` attribute is accepted as its alias. `finish_on_key` is a set of keys ("" = none).
    `transcribe`: the saved recording is transcribed (a transcribeCallback implies it, as on Twilio).
    """

    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    timeout_s: int = 5
    finish_on_key: str = "1234567890*#"
    max_length_s: int = 3600
    play_beep: bool = True
    trim: Trim = Trim.TRIM_SILENCE
    recording_status_callback: str | None = None
    recording_status_callback_method: HttpMethod = HttpMethod.POST
    recording_status_callback_event: tuple[str, ...] = ("completed",)
    transcribe: bool = False
    transcribe_callback: str | None = None


@dataclass(frozen=True, slots=True)
class DialTarget:
    """One <Number>, <Sip> or <Client> inside <Dial> (or the bare number text).

    `value` is the E.164 number, the SIP URI or the client identity. `url` is the whisper
    document run on the callee before bridging.
    """

    kind: TargetKind
    value: str
    send_digits: str | None = None
    url: str | None = None
    method: HttpMethod = HttpMethod.POST
    status_callback: str | None = None
    status_callback_method: HttpMethod = HttpMethod.POST
    status_callback_event: tuple[str, ...] = ("completed",)
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class DialQueue:
    """The <Queue url method>name</Queue> noun of <Dial>: take the first caller waiting in the
    project's queue `name`. `url` (possibly relative) is run on that caller's call before the
    two are connected (Play, Say, Pause and Redirect only)."""

    name: str
    url: str | None = None
    method: HttpMethod = HttpMethod.POST


class Beep(StrEnum):
    """<Conference beep>: who hears a beep when this participant enters and leaves the room."""

    TRUE = "true"
    FALSE = "false"
    ON_ENTER = "onEnter"
    ON_EXIT = "onExit"


class ConferenceRecord(StrEnum):
    DO_NOT_RECORD = "do-not-record"
    RECORD_FROM_START = "record-from-start"


@dataclass(frozen=True, slots=True)
class DialConference:
    """The <Conference ...>name</Conference> noun of <Dial>: join the project's room `name`
    (created on demand) until the call leaves it. `wait_url` None is the built-in hold music,
    "" silence, else the document (possibly relative: Play, Say, Pause, Redirect) played while
    the room has not started. `status_callback*`, `record`, `trim` and the recording callback
    count when this participant creates the room (Twilio: the first participant's win).
    `status_callback_event` is empty when none was asked for (Twilio's default: no callbacks).
    `coach` is the CallSid of the participant this one coaches (heard only by it)."""

    name: str
    muted: bool = False
    beep: Beep = Beep.TRUE
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    participant_label: str | None = None
    wait_url: str | None = None
    wait_method: HttpMethod = HttpMethod.POST
    max_participants: int = 250
    record: ConferenceRecord = ConferenceRecord.DO_NOT_RECORD
    trim: Trim = Trim.TRIM_SILENCE
    coach: str | None = None
    status_callback: str | None = None
    status_callback_method: HttpMethod = HttpMethod.POST
    status_callback_event: tuple[str, ...] = ()
    recording_status_callback: str | None = None
    recording_status_callback_method: HttpMethod = HttpMethod.POST
    recording_status_callback_event: tuple[str, ...] = ("completed",)


@dataclass(frozen=True, slots=True)
class Dial:
    """<Dial action method timeout callerId timeLimit hangupOnStar record answerOnBridge ...>.

    Also what the product doc's <Transfer> becomes. `targets` are rung at once, first answer wins;
    it may be empty when every target was invalid (the dial then fails at once). `caller_id` None
    means the session's default (the parent call's caller id).
    """

    targets: tuple[DialTarget, ...]
    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    timeout_s: int = 30
    queue: DialQueue | None = None  # <Dial><Queue>: no targets, the queue's first caller instead
    conference: DialConference | None = None  # <Dial><Conference>: no targets, the room instead
    caller_id: str | None = None
    time_limit_s: int = 14400
    hangup_on_star: bool = False
    record: DialRecord = DialRecord.DO_NOT_RECORD
    answer_on_bridge: bool = False
    recording_status_callback: str | None = None
    recording_status_callback_method: HttpMethod = HttpMethod.POST
    recording_status_callback_event: tuple[str, ...] = ("completed",)


@dataclass(frozen=True, slots=True)
class Enqueue:
    """<Enqueue action method waitUrl waitUrlMethod maxQueueSize>name</Enqueue>: wait in the
    project's queue `name` (created on demand) until a <Dial><Queue>, a REST dequeue, a live
    update or <Leave> takes the call out; then request `action` with QueueResult (None: go on
    with the next verb). `wait_url` None is the built-in hold music, "" silence, else the
    document (possibly relative) run while waiting, requested again each time it runs out.
    `max_queue_size` None keeps the queue's own MaxSize (1000 for a new queue)."""

    name: str
    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    wait_url: str | None = None
    wait_url_method: HttpMethod = HttpMethod.POST
    max_queue_size: int | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    """<Leave/>: inside a waitUrl document, leave the queue (QueueResult leave)."""


@dataclass(frozen=True, slots=True)
class Redirect:
    """<Redirect method>url</Redirect>; `url` may be relative."""

    url: str
    method: HttpMethod = HttpMethod.POST


@dataclass(frozen=True, slots=True)
class Hangup:
    """<Hangup/>."""


@dataclass(frozen=True, slots=True)
class Reject:
    """<Reject reason/>."""

    reason: RejectReason = RejectReason.REJECTED


# The same values as actions.StreamTrack (actions imports this module, so it cannot be shared).
StreamTrack: TypeAlias = Literal["inbound_track", "outbound_track", "both_tracks"]


@dataclass(frozen=True, slots=True)
class Stream:
    """The <Stream url name track statusCallback statusCallbackMethod> noun of <Start> and <Connect>,
    with its <Parameter name value/> children as `parameters`, in document order.

    `url` is as written (stripped): relative, or absolute with scheme ws, wss, http or https; the
    interpreter resolves it against the document URL and turns http(s) into ws(s). `name` is ""
    when none was given. `track` is inbound_track inside <Connect> (parse.py guarantees it). The
    attributes connectorName, audioFormat and sampleRate are not kept (parse.py warns about them).
    """

    url: str
    name: str = ""
    track: StreamTrack = "inbound_track"
    status_callback: str | None = None
    status_callback_method: HttpMethod = HttpMethod.POST
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Connect:
    """<Connect action method><Stream .../></Connect>: a bidirectional Media Stream; the document
    waits until it ends, then requests `action` (None = go on with the next verb). Any other
    <Connect> noun (Room, ConversationRelay, VirtualAgent ...) parses to Unsupported."""

    stream: Stream
    action: str | None = None
    method: HttpMethod = HttpMethod.POST


@dataclass(frozen=True, slots=True)
class Start:
    """<Start action method><Stream .../>...</Start>: fork the call's audio to each stream
    (unidirectional) and go on at once. `action`/`method` are Twilio's attributes, kept as
    parsed; Wirexa does not request them (parse.py warns). `unsupported` names the other nouns
    (<Siprec>, <Transcription> ...), reported when the verb runs."""

    streams: tuple[Stream, ...]
    action: str | None = None
    method: HttpMethod = HttpMethod.POST
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    """<Stop><Stream name="x"/>...</Stop>: stop the unidirectional streams with these names (or
    StreamSids). `unsupported` names the other nouns (<Siprec>, <Transcription> ...)."""

    names: tuple[str, ...]
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A real TwiML verb or noun Wirexa does not implement (<Conference>, <Connect><Room> ...);
    the interpreter reports it and moves on. `name` is the element name, e.g. "Conference"."""

    name: str


Verb: TypeAlias = (
    Say
    | Play
    | Pause
    | Gather
    | Record
    | Dial
    | Connect
    | Start
    | Stop
    | Enqueue
    | Leave
    | Redirect
    | Hangup
    | Reject
    | Unsupported
)


@dataclass(frozen=True, slots=True)
class DocumentWarning:
    """A problem found while parsing: the verb or attribute was skipped or defaulted. Most are
    warnings on Twilio; `error` marks the codes Twilio logs as errors (31922, 31941)."""

    code: int
    message: str
    error: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed document: the verbs in order, plus the warnings met while parsing."""

    verbs: tuple[Verb, ...]
    warnings: tuple[DocumentWarning, ...] = ()
