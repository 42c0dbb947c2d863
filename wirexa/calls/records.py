"""PURE: the records of the call domain as frozen dataclasses, what a store keeps and hands out.

The store (store/repo/) reads and writes these; nothing here knows about a database, so
calls/, api/ and webhooks/ can be tested against an in-memory store. Inputs have their own
types: a NewCall to insert, CallChanges for a plain update (None = leave as is), NewRecording
and NewNotification for the rows a live call adds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from wirexa.calls.state import LIVE
from wirexa.media.amd import (
    DEFAULT_SILENCE_TIMEOUT_MS,
    DEFAULT_SPEECH_END_THRESHOLD_MS,
    DEFAULT_SPEECH_THRESHOLD_MS,
    DEFAULT_TIMEOUT_S,
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectRecord:
    sid: str
    auth_token: str
    friendly_name: str
    status: str
    credits_s: int | None
    cps: float | None
    max_concurrent: int | None
    date_created: dt.datetime
    date_updated: dt.datetime
    parent_sid: str | None = None  # a subaccount's parent project


@dataclasses.dataclass(frozen=True, slots=True)
class CallRecord:
    sid: str
    account_sid: str
    parent_call_sid: str | None
    to_number: str
    from_number: str
    status: str
    direction: str
    url: str | None
    method: str
    twiml: str | None
    fallback_url: str | None
    fallback_method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: str
    send_digits: str | None
    timeout_s: int
    time_limit_s: int
    record: bool
    recording_channels: str
    recording_track: str
    recording_status_callback: str | None
    recording_status_callback_method: str
    recording_status_callback_events: str
    trim: str
    machine_detection: str | None
    machine_detection_timeout_s: int
    machine_detection_speech_threshold_ms: int
    machine_detection_speech_end_threshold_ms: int
    machine_detection_silence_timeout_ms: int
    async_amd: bool
    async_amd_status_callback: str | None
    async_amd_status_callback_method: str
    caller_id: str | None
    answered_by: str | None
    sip_response_code: int | None
    start_time: dt.datetime | None
    answer_time: dt.datetime | None
    end_time: dt.datetime | None
    duration_s: int | None
    queue_time_ms: int | None
    price: str | None
    price_unit: str
    sequence_number: int
    owner: str | None
    date_created: dt.datetime
    date_updated: dt.datetime
    alive_at: dt.datetime | None = None  # the engine's last heartbeat while the call was live
    phone_number_sid: str | None = None  # an inbound call's number (PN...)
    forwarded_from: str | None = None  # an inbound call's Diversion
    sip_auth_username: str | None = None  # a call to a sip: URI answers its digest challenge with these
    sip_auth_password: str | None = None
    quality: str | None = None  # media/quality.py's Summary as JSON (None: never sampled)
    quality_flags: str | None = None  # its Voice Insights tags, space-separated
    hangup_by: str | None = None  # caller | callee | api | engine
    post_dial_delay_ms: int | None = None  # INVITE sent -> first ringing or answer
    amd_confidence: float | None = None  # of answered_by (0..1)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(self.status_callback_events.split())


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingRecord:
    sid: str
    account_sid: str
    call_sid: str | None  # None: a conference's recording (conference_sid)
    status: str
    source: str
    channels: int
    track: str
    duration_s: int | None
    start_time: dt.datetime | None
    error_code: int | None
    wav_path: str | None
    mp3_path: str | None
    status_callback: str | None
    status_callback_method: str
    status_callback_events: str
    trim: str
    date_created: dt.datetime
    date_updated: dt.datetime
    # What is left to do with the files: pending (MP3, then the `completed` callback), upload (to
    # the bucket), ready. Where the bucket copy is: s3://bucket/prefix/, None for none.
    media_state: str = "ready"
    storage_url: str | None = None
    conference_sid: str | None = None  # a <Conference record> recording's room (CF...)


@dataclasses.dataclass(frozen=True, slots=True)
class TranscriptionRecord:
    """A <Record transcribe> recording's transcription (Twilio's Transcription resource):
    `callback` the transcribeCallback URL, `provider` the recognizer that gave the text."""

    sid: str
    account_sid: str
    call_sid: str
    recording_sid: str
    status: str
    transcription_text: str | None
    duration_s: int | None
    callback: str | None
    error_code: int | None
    provider: str | None
    date_created: dt.datetime
    date_updated: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: int
    account_sid: str
    call_sid: str | None
    kind: str
    event: str
    url: str
    method: str
    params: tuple[tuple[str, str], ...]
    sequence_number: int
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    claimed_by: str | None
    claimed_until: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    delivered_at: dt.datetime | None
    # Set by list_webhooks on a pending row held back by the per-call ordering rule: the id of
    # the earlier pending or in-flight row of the same call and URL it waits for.
    held_back_by: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationRecord:
    sid: str
    account_sid: str
    call_sid: str | None
    error_code: int
    log_level: int
    message_text: str
    request_url: str | None
    request_method: str | None
    date_created: dt.datetime


# --- inputs ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewCall:
    """A call to insert `queued`: a validated create request (wire names already mapped to
    columns), or a <Dial> leg (direction outbound-dial, parent_call_sid set)."""

    to_number: str
    from_number: str
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    send_digits: str | None = None
    timeout_s: int = 60
    time_limit_s: int = 14400
    record: bool = False
    recording_channels: str = "mono"
    recording_track: str = "both"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"
    machine_detection: str | None = None
    machine_detection_timeout_s: int = DEFAULT_TIMEOUT_S
    machine_detection_speech_threshold_ms: int = DEFAULT_SPEECH_THRESHOLD_MS
    machine_detection_speech_end_threshold_ms: int = DEFAULT_SPEECH_END_THRESHOLD_MS
    machine_detection_silence_timeout_ms: int = DEFAULT_SILENCE_TIMEOUT_MS
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    caller_id: str | None = None
    direction: str = "outbound-api"
    parent_call_sid: str | None = None
    phone_number_sid: str | None = None
    forwarded_from: str | None = None
    sip_auth_username: str | None = None
    sip_auth_password: str | None = None
    owner: str | None = None  # the engine (node id) holding the call: set here for an inbound call


@dataclasses.dataclass(frozen=True, slots=True)
class CallChanges:
    """Columns to set on a call; None leaves a column as it is, `cleared` empties columns."""

    url: str | None = None
    method: str | None = None
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str | None = None
    status_callback: str | None = None
    status_callback_method: str | None = None
    time_limit_s: int | None = None
    start_time: dt.datetime | None = None
    answer_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    duration_s: int | None = None
    queue_time_ms: int | None = None
    owner: str | None = None
    sip_response_code: int | None = None
    answered_by: str | None = None
    hangup_by: str | None = None
    post_dial_delay_ms: int | None = None
    cleared: frozenset[str] = frozenset()  # columns to set to NULL

    def columns(self) -> dict[str, Any]:
        """The columns to write by name: the set ones, and the cleared ones as None."""
        values = {
            f.name: v
            for f in dataclasses.fields(self)
            if f.name != "cleared" and (v := getattr(self, f.name)) is not None
        }
        return values | dict.fromkeys(self.cleared)


@dataclasses.dataclass(frozen=True, slots=True)
class NewRecording:
    """A finished recording of a live call or conference room, to insert (its status callback
    goes with it)."""

    sid: str
    account_sid: str
    call_sid: str | None  # None for a conference's (conference_sid)
    source: str  # RecordVerb | DialVerb | OutboundAPI | StartCallRecordingAPI | DialConference
    channels: int
    track: str
    duration_s: int
    start_time: dt.datetime
    wav_path: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: tuple[str, ...]
    trim: str = "do-not-trim"
    status: str = "completed"
    transcribe: bool = False  # <Record transcribe>: a Transcription row goes in with it
    transcribe_callback: str | None = None
    conference_sid: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingOptions:
    """What a recording is and who hears about it (Twilio's Recording fields): a whole call's
    (Record=true on create, or the call Recordings API), a <Record>'s or a <Dial record>'s."""

    source: str  # OutboundAPI | StartCallRecordingAPI | RecordVerb | DialVerb
    channels: int = 1  # 2 = dual: the far end on the first channel, what it is sent on the second
    track: str = "both"  # inbound | outbound | both
    trim: str = "do-not-trim"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    transcribe: bool = False  # <Record transcribe> / transcribeCallback (a <Record>'s only)
    transcribe_callback: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewNotification:
    """Something the customer should see about a call (Twilio's Notifications resource)."""

    account_sid: str
    call_sid: str | None
    error_code: int
    message_text: str
    request_url: str | None = None
    request_method: str | None = None
    log_level: int = 0  # 0 error, 1 warning (Twilio's `log`)


@dataclasses.dataclass(frozen=True, slots=True)
class InboundRoute:
    """Where an inbound call goes: the project, and the voice URLs of its number (an
    Application's when the number names one), or of the desk phones ([sip] phones_voice_url)."""

    account_sid: str
    voice_url: str | None
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    phone_number_sid: str | None = None


# Verbs kept per call for the console's timeline (calls/session.py); a document that loops runs
# more, and those are left out.
VERB_CAP = 100


@dataclasses.dataclass(frozen=True, slots=True)
class VerbRun:
    """A verb a call's document ran (a point of the console's timeline): its `seq` in the call
    (0, 1, ...), when, the verb's name and a short detail (what it said, played, dialed)."""

    seq: int
    at: dt.datetime
    verb: str
    detail: str


NO_CHANGES = CallChanges()
