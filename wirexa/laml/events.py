"""Facts the call session feeds into the interpreter (past tense): results of its actions and
things that happened to the call.

Every action that starts something finishing later carries an `op_id`; its result event carries
the same `op_id`. The interpreter drops results whose op_id is not the one it waits for (a
playback stopped by barge-in, a fetch overtaken by a live redirect), so the session may deliver
late results without bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from wirexa.laml.verbs import Document, HttpMethod


class DialCallStatus(StrEnum):
    """Twilio's DialCallStatus values, verbatim."""

    COMPLETED = "completed"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class DocumentLoaded:
    """A FetchDocument succeeded and parse_document accepted the body. `url` is the final URL
    (after HTTP redirects); None means "the URL that was requested"."""

    op_id: int
    document: Document
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """A FetchDocument failed for good (fallback, if any, already tried by the session): an
    11200-family HTTP failure or the errors.DocumentError code from parse_document."""

    op_id: int
    code: int
    message: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A Say, PlayAudio or PlayDigits ended: all loops played, or stopped by StopPrompts."""

    op_id: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A StartTimer elapsed (and was not cancelled)."""

    op_id: int


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """One DTMF digit from the caller: 0-9 * # A-D."""

    digit: str


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started speaking during a StartListening (`listen_op` is its op id): speech
    barges into the prompts, and the <Gather> waits for its result."""

    listen_op: int


@dataclass(frozen=True, slots=True)
class SpeechRecognized:
    """A StartListening's result: `text` the transcript ("" = nothing understood, or the
    recognition failed: its notification is already posted), `confidence` 0-1 or None."""

    listen_op: int
    text: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class RecordingSaved:
    """A StartRecording produced audio. `digits` is the finishOnKey key that ended it, or "" when
    silence, maxLength, StopRecording or hangup ended it (the interpreter says "hangup" itself)."""

    op_id: int
    recording_sid: str
    recording_url: str
    duration_s: int
    digits: str = ""


@dataclass(frozen=True, slots=True)
class RecordingEmpty:
    """A StartRecording ended with nothing worth keeping (silent or too short); no file."""

    op_id: int


@dataclass(frozen=True, slots=True)
class DialEnded:
    """The <Dial> leg is over. `bridged` is True when the callee answered and was connected.
    `recording_*` are set when the dial was recorded; `extra_params` are additional action-URL
    parameters the session knows (DialSipCallId, DialSipResponseCode, DialSipHeader_X-...)."""

    op_id: int
    dial_call_status: DialCallStatus
    dial_call_sid: str | None = None
    dial_call_duration_s: int | None = None
    bridged: bool = False
    recording_sid: str | None = None
    recording_url: str | None = None
    recording_duration_s: int | None = None
    extra_params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """A bidirectional StartStream is over: the server closed the WebSocket, StopStream stopped
    it, or it never opened (`error_code` 319xx; the session has already notified). The
    interpreter then requests <Connect action>, or runs the next verb."""

    op_id: int
    stream_sid: str
    error_code: int | None = None


class QueueResult(StrEnum):
    """Twilio's QueueResult values (those Wirexa produces), verbatim."""

    BRIDGED = "bridged"
    ERROR = "error"
    HANGUP = "hangup"
    LEAVE = "leave"
    REDIRECTED = "redirected"
    REDIRECTED_FROM_BRIDGED = "redirected-from-bridged"
    QUEUE_FULL = "queue-full"
    SYSTEM_ERROR = "system-error"  # the queue lives on another engine (several engines, one database)


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """An Enqueue is over: the call left its queue (<Leave>, a wait document's failure, the end
    of the bridge to the caller that dequeued it) or never entered it (queue-full). `queue_sid`
    and `queue_time_s` are set when it was enqueued."""

    op_id: int
    result: QueueResult
    queue_sid: str | None = None
    queue_time_s: int | None = None


@dataclass(frozen=True, slots=True)
class CallRedirected:
    """Live modify from the REST API: stop the current verb and run new instructions, either a
    URL to fetch (`url`, `method`) or inline TwiML already parsed (`document`). Exactly one set."""

    url: str | None = None
    method: HttpMethod = HttpMethod.POST
    document: Document | None = None


@dataclass(frozen=True, slots=True)
class CallHungUp:
    """The call is over on the SIP side (either party hung up)."""


Event: TypeAlias = (
    DocumentLoaded
    | FetchFailed
    | PlaybackFinished
    | TimerFired
    | DigitReceived
    | SpeechStarted
    | SpeechRecognized
    | RecordingSaved
    | RecordingEmpty
    | DialEnded
    | StreamEnded
    | QueueLeft
    | CallRedirected
    | CallHungUp
)
