"""Every parameter of Twilio's OpenAPI for the operations Wirexa serves, and what Wirexa does with
it: supported, partial (how) or refused (a 400 naming it, never accepted and ignored). The routes
refuse through `refuse`; README's "Twilio parameters" table is `markdown()`; tests/api/
test_parameters.py walks Twilio's parameter lists against this table and the running API.

A refused parameter with an empty value (an SDK clearing a setting), or with its `harmless`
value (the one that asks for nothing), is accepted: there is nothing to do."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from enum import StrEnum

from wirexa.errors import ApiCode, BadRequest


class Support(StrEnum):
    SUPPORTED = "supported"
    PARTIAL = "partial"
    REFUSED = "refused"


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    name: str
    support: Support
    note: str = ""
    harmless: str | None = None  # REFUSED: the one value that is accepted (it asks for nothing)
    code: int = ApiCode.INVALID_PARAMETER  # REFUSED: Twilio's code of the 400


S, P, R = Support.SUPPORTED, Support.PARTIAL, Support.REFUSED


def _params(*rows: tuple[str, Support, str] | tuple[str, Support, str, str | None]) -> tuple[Param, ...]:
    return tuple(Param(*row) for row in rows)


_CALLBACK = "POSTed (or GET) with Twilio's parameters, signed, retried from the outbox"
_PAGING = _params(
    ("PageSize", S, "capped at the page size limit, as Twilio"),
    ("Page", S, ""),
    ("PageToken", S, "as the list's next_page_uri gives it"),
)


def _time_filter(name: str, what: str) -> tuple[Param, ...]:
    return _params(
        (name, S, f"{what} on that day (YYYY-MM-DD) or at that time"),
        (f"{name}<", S, f"{what} on or before"),
        (f"{name}>", S, f"{what} on or after"),
    )


_RECORDING_OPTIONS = _params(
    ("RecordingChannels", S, "`mono` or `dual` (caller and callee on two channels)"),
    ("RecordingTrack", S, "`inbound`, `outbound` or `both`"),
    ("RecordingStatusCallback", S, _CALLBACK),
    ("RecordingStatusCallbackMethod", S, ""),
    ("RecordingStatusCallbackEvent", S, "`in-progress`, `completed`, `absent`"),
    ("Trim", S, "`trim-silence` trims leading and trailing silence, `do-not-trim`"),
)
_AMD = _params(
    ("MachineDetection", S, "`Enable` or `DetectMessageEnd`: Wirexa's own classifier, Twilio's AnsweredBy values"),
    ("MachineDetectionTimeout", S, "seconds, 3-59"),
    ("MachineDetectionSpeechThreshold", S, "milliseconds, 1000-6000"),
    ("MachineDetectionSpeechEndThreshold", S, "milliseconds, 500-5000"),
    ("MachineDetectionSilenceTimeout", S, "milliseconds, 2000-10000"),
    ("AsyncAmd", S, "the call's document runs at once; the result is POSTed to AsyncAmdStatusCallback"),
    ("AsyncAmdStatusCallback", S, _CALLBACK),
    ("AsyncAmdStatusCallbackMethod", S, ""),
)
_CALL_DOCUMENT = _params(
    ("Url", S, "fetched when the call answers"),
    ("Method", S, ""),
    (
        "Twiml",
        S,
        "4000 characters at most, checked as TwiML (21205); on create, Url wins when both are given, as on Twilio",
    ),
    ("FallbackUrl", S, "fetched when Url fails (11200-class errors), as on Twilio"),
    ("FallbackMethod", S, ""),
    ("StatusCallback", S, _CALLBACK),
    ("StatusCallbackMethod", S, ""),
    ("TimeLimit", S, "seconds, 1-86400 (default 14400)"),
)

CALL_CREATE = (
    _params(
        ("To", S, "an E.164 number (through the SIP trunk, or to the sandbox) or a `sip:` URI, dialed as given"),
        ("From", S, "E.164, `sip:` or `client:`; the SIP From user (a trunk may restrict it to its caller ids)"),
        ("ApplicationSid", S, "runs the Application's voice URLs; Url, Twiml and the callbacks are then refused"),
        ("StatusCallbackEvent", S, "`initiated`, `ringing`, `answered`, `completed`"),
        ("SendDigits", S, "DTMF after the answer: 0-9, A-D, `#`, `*`, `w` (half a second), `W` (a second); 32 at most"),
        ("Timeout", S, "seconds of ringing, 1-600"),
        ("Record", S, "records the whole call (source OutboundAPI)"),
        ("CallerId", S, "the caller id presented (the SIP From user) in place of From"),
    )
    + _CALL_DOCUMENT
    + _RECORDING_OPTIONS
    + _AMD
    + (
        Param("SipAuthUsername", S, "digest username for a To that is a sip: URI (with SipAuthPassword)"),
        Param("SipAuthPassword", S, "digest password for a To that is a sip: URI (never shown in the API)"),
        Param("Byoc", R, "Wirexa has no BYOC trunks: calls leave through its [sip] trunk"),
        Param("CallReason", R, "Wirexa has no Branded Calling"),
        Param("CallToken", R, "Wirexa issues no call tokens (an inbound call's caller id is forwarded by <Dial>)"),
        Param("ClientNotificationUrl", R, "Wirexa has no Voice SDK clients to notify"),
    )
)
CALL_UPDATE = _params(("Status", S, "`canceled` (a call not answered yet) or `completed` (any call)")) + _CALL_DOCUMENT
CALL_LIST = (
    _params(
        ("To", S, ""),
        ("From", S, ""),
        ("ParentCallSid", S, "the <Dial> legs of a call"),
        ("Status", S, "Twilio's statuses"),
    )
    + _time_filter("StartTime", "started")
    + _time_filter("EndTime", "ended")
    + _PAGING
)
CALL_RECORDING_CREATE = _RECORDING_OPTIONS
CALL_RECORDING_UPDATE = _params(
    ("Status", S, "`paused`, `in-progress` (resume) or `stopped`"),
    ("PauseBehavior", S, "`silence` (the default, as Twilio) or `skip`"),
)
_SOFT_DELETED = ("IncludeSoftDeleted", S, "true or false: Wirexa deletes recordings at once, none is soft-deleted")
RECORDING_LIST = (
    _time_filter("DateCreated", "created")
    + _params(
        ("CallSid", S, "the call's recordings"),
        ("ConferenceSid", S, "the conference's recordings (<Conference record>)"),
        _SOFT_DELETED,
    )
    + _PAGING
)
RECORDING_FETCH = _params(_SOFT_DELETED)
CALL_RECORDING_LIST = _time_filter("DateCreated", "created") + _PAGING
_WHOLE_ROOM = "a conference recording runs from the room's start to its end: it is not paused, resumed or stopped"
CONFERENCE_RECORDING_UPDATE = _params(("Status", R, _WHOLE_ROOM), ("PauseBehavior", R, _WHOLE_ROOM))

_NUMBER_REFUSED = (
    Param("SmsUrl", R, "Wirexa does not handle messaging"),
    Param("SmsMethod", R, "Wirexa does not handle messaging"),
    Param("SmsFallbackUrl", R, "Wirexa does not handle messaging"),
    Param("SmsFallbackMethod", R, "Wirexa does not handle messaging"),
    Param("SmsApplicationSid", R, "Wirexa does not handle messaging"),
    Param("TrunkSid", R, "Wirexa has no Elastic SIP Trunks; set VoiceUrl or VoiceApplicationSid"),
    Param("EmergencyStatus", R, "Wirexa does not register numbers for emergency calling", "Inactive"),
    Param("EmergencyAddressSid", R, "Wirexa does not register numbers for emergency calling"),
    Param("AddressSid", R, "Wirexa keeps no regulatory addresses"),
    Param("IdentitySid", R, "Wirexa keeps no regulatory identities"),
    Param("BundleSid", R, "Wirexa keeps no regulatory bundles"),
    Param("VoiceReceiveMode", R, "Wirexa receives voice calls only, not fax", "voice"),
)
_NUMBER_VOICE = _params(
    ("FriendlyName", S, "64 characters at most; empty: the formatted number"),
    ("ApiVersion", P, "`2010-04-01` only (anything else: 400)"),
    ("VoiceUrl", S, "fetched for each inbound call to the number"),
    ("VoiceMethod", S, ""),
    ("VoiceFallbackUrl", S, "needs a VoiceUrl (21405)"),
    ("VoiceFallbackMethod", S, ""),
    ("StatusCallback", S, "the inbound calls' status callbacks"),
    ("StatusCallbackMethod", S, ""),
    ("VoiceApplicationSid", S, "inbound calls run the Application's URLs; empty removes it"),
    ("VoiceCallerIdLookup", P, "`false` only: Wirexa has no caller-name lookup (true: 400)"),
)
NUMBER_CREATE = (
    _params(("PhoneNumber", S, "registered with the project (nothing is bought); one project per number (21422)"))
    + (
        Param(
            "AreaCode",
            R,
            "Wirexa buys no numbers; register one of your carrier's with PhoneNumber",
            code=ApiCode.NO_NUMBERS_IN_AREA_CODE,
        ),
    )
    + _NUMBER_VOICE
    + _NUMBER_REFUSED
)
NUMBER_UPDATE = (
    _params(("AccountSid", P, "the number's own project only: a number cannot move to another project (400)"))
    + _NUMBER_VOICE
    + _NUMBER_REFUSED
)
NUMBER_LIST = (
    _params(
        ("PhoneNumber", S, "a part of the number; `*` matches any digits"),
        ("FriendlyName", S, ""),
        ("Origin", S, "every number is `hosted` (`twilio`: an empty page)"),
        ("Beta", S, "true or false: no number is new to Twilio, all match"),
    )
    + _PAGING
)

STREAM_CREATE = _params(
    ("Url", S, "`wss://` or `ws://` (Twilio: `wss` only); the call's worker opens it"),
    ("Name", S, "unique among the call's running streams; stops it by name"),
    ("Track", S, "`inbound_track` (default), `outbound_track` or `both_tracks`"),
    ("StatusCallback", S, "stream-started, stream-stopped, stream-error: " + _CALLBACK),
    ("StatusCallbackMethod", S, "GET or POST"),
) + tuple(
    Param(f"Parameter{n}.{part}", S, "name and value pairs in start.customParameters, in number order")
    for n in range(1, 100)
    for part in ("Name", "Value")
)
STREAM_UPDATE = _params(("Status", S, "`stopped` (the only value, as Twilio)"))

QUEUE_CREATE = _params(
    ("FriendlyName", S, "required, 64 characters at most, unique in the project (what <Enqueue> names)"),
    ("MaxSize", S, "1-5000, default 1000"),
)
QUEUE_UPDATE = _params(
    ("FriendlyName", S, "64 characters at most, unique in the project"),
    ("MaxSize", S, "1-5000; callers already waiting stay"),
)
MEMBER_UPDATE = _params(
    ("Url", S, "required: the member leaves the queue (QueueResult redirected) and runs this document"),
    ("Method", S, "GET or POST (default)"),
)

CONFERENCE_LIST = (
    _time_filter("DateCreated", "created")
    + _time_filter("DateUpdated", "last changed")
    + _params(
        ("FriendlyName", S, "the room's name"),
        ("Status", S, "`init`, `in-progress` or `completed`"),
    )
    + _PAGING
)
_ANNOUNCE = _params(
    (
        "AnnounceUrl",
        P,
        "a document (Play, Say, Pause, Redirect) played over the room to those in it (waiting or held"
        " participants hear their music: not them); announcement-end or -fail; audio files are not played",
    ),
    ("AnnounceMethod", S, ""),
)
CONFERENCE_UPDATE = (
    _params(("Status", S, "`completed` (the only value): everyone leaves, conference-ended-via-api")) + _ANNOUNCE
)
PARTICIPANT_LIST = (
    _params(("Muted", S, "true or false"), ("Hold", S, "true or false"), ("Coaching", S, "true or false")) + _PAGING
)
_MUSIC = "held and waiting participants hear Wirexa's built-in music; other hold or wait audio is not there yet"
PARTICIPANT_UPDATE = (
    _params(
        ("Muted", S, "`true` mutes; any other value unmutes, as Twilio"),
        ("Hold", S, "true: out of the room, hearing the built-in hold music; false: back in"),
        ("HoldUrl", R, _MUSIC),
        ("HoldMethod", R, _MUSIC),
        ("WaitUrl", R, _MUSIC),
        ("WaitMethod", R, _MUSIC),
        ("BeepOnExit", S, "true or false"),
        ("EndConferenceOnExit", S, "true or false"),
        ("Coaching", S, "true (needs CallSidToCoach) or false"),
        ("CallSidToCoach", S, "another participant's CallSid: only it hears this one"),
    )
    + _ANNOUNCE
)
_AS_CALL = "as on Calls create: the participant is an outbound call"
PARTICIPANT_CREATE = _params(
    ("From", S, "required; " + _AS_CALL),
    ("To", S, "required; " + _AS_CALL),
    ("StatusCallback", S, "the call's status callbacks"),
    ("StatusCallbackMethod", S, ""),
    ("StatusCallbackEvent", S, "`initiated`, `ringing`, `answered`, `completed`"),
    ("Label", S, "participantLabel: 128 characters at most, unique in the room (16025 when the call joins)"),
    ("Timeout", S, "seconds of ringing, 1-600"),
    ("Record", S, "records the whole call"),
    ("Muted", S, "true or false"),
    ("Beep", S, "`true`, `false`, `onEnter`, `onExit`"),
    ("StartConferenceOnEnter", S, "true or false"),
    ("EndConferenceOnExit", S, "true or false"),
    ("WaitUrl", S, "the wait document; empty: silence"),
    ("WaitMethod", S, ""),
    ("EarlyMedia", R, "the call is put in the room when answered; nothing is heard before", "false"),
    ("MaxParticipants", S, "2-250"),
    (
        "ConferenceRecord",
        S,
        "`true`/`record-from-start` records the room (its start to its end), `false`/`do-not-record`",
    ),
    ("ConferenceTrim", S, "the room's recording: `trim-silence` or `do-not-trim`"),
    ("ConferenceStatusCallback", S, "the room's statusCallback (the first participant's counts)"),
    ("ConferenceStatusCallbackMethod", S, ""),
    ("ConferenceStatusCallbackEvent", S, "`start end join leave mute hold modify speaker announcement`"),
    ("RecordingChannels", S, "the call's recording: `mono` or `dual`"),
    ("RecordingStatusCallback", S, _CALLBACK),
    ("RecordingStatusCallbackMethod", S, ""),
    ("SipAuthUsername", S, "digest username for a To that is a sip: URI"),
    ("SipAuthPassword", S, "digest password for a To that is a sip: URI"),
    ("Region", R, "a Wirexa engine has one region, itself"),
    ("ConferenceRecordingStatusCallback", S, "the room's recordingStatusCallback"),
    ("ConferenceRecordingStatusCallbackMethod", S, ""),
    ("RecordingStatusCallbackEvent", S, "`in-progress`, `completed`, `absent`"),
    ("ConferenceRecordingStatusCallbackEvent", S, "`in-progress`, `completed`, `absent`"),
    ("Coaching", S, "true needs CallSidToCoach"),
    ("CallSidToCoach", S, "a participant's CallSid: only it hears this one (13240 when it is not in the room)"),
    ("JitterBufferSize", R, "each call's jitter buffer is pjmedia's adaptive one"),
    ("Byoc", R, "Wirexa has no BYOC trunks: calls leave through its [sip] trunk"),
    ("CallerId", S, "the caller id presented in place of From"),
    ("CallReason", R, "Wirexa has no Branded Calling"),
    ("RecordingTrack", S, "`inbound`, `outbound` or `both`"),
    ("TimeLimit", S, "the call's: seconds, 1-86400"),
    ("MachineDetection", S, "`Enable` or `DetectMessageEnd`"),
    ("MachineDetectionTimeout", S, "seconds, 3-59"),
    ("MachineDetectionSpeechThreshold", S, "milliseconds, 1000-6000"),
    ("MachineDetectionSpeechEndThreshold", S, "milliseconds, 500-5000"),
    ("MachineDetectionSilenceTimeout", S, "milliseconds, 2000-10000"),
    ("AmdStatusCallback", S, "the result, POSTed as Calls create's AsyncAmdStatusCallback"),
    ("AmdStatusCallbackMethod", S, ""),
    ("Trim", S, "the call's recording: `trim-silence` or `do-not-trim`"),
    ("CallToken", R, "Wirexa issues no call tokens"),
    ("ClientNotificationUrl", R, "Wirexa has no Voice SDK clients to notify"),
    ("CallerDisplayName", R, "Wirexa sets no caller display name"),
)

# Twilio's operationId -> (where it is in README's table, its parameters).
OPERATIONS: dict[str, tuple[str, tuple[Param, ...]]] = {
    "CreateCall": ("Calls: create", CALL_CREATE),
    "UpdateCall": ("Calls: update", CALL_UPDATE),
    "ListCall": ("Calls: list", CALL_LIST),
    "CreateCallRecording": ("Call Recordings: create", CALL_RECORDING_CREATE),
    "UpdateCallRecording": ("Call Recordings: update", CALL_RECORDING_UPDATE),
    "ListCallRecording": ("Call Recordings: list", CALL_RECORDING_LIST),
    "ListConferenceRecording": ("Conference Recordings: list", CALL_RECORDING_LIST),
    "UpdateConferenceRecording": ("Conference Recordings: update", CONFERENCE_RECORDING_UPDATE),
    "CreateStream": ("Call Streams: create", STREAM_CREATE),
    "UpdateStream": ("Call Streams: update (stop)", STREAM_UPDATE),
    "ListRecording": ("Recordings: list", RECORDING_LIST),
    "FetchRecording": ("Recordings: fetch", RECORDING_FETCH),
    "ListTranscription": ("Transcriptions: list", _PAGING),
    "ListRecordingTranscription": ("Recording Transcriptions: list", _PAGING),
    "CreateIncomingPhoneNumber": ("IncomingPhoneNumbers (and /Local, /Mobile, /TollFree): create", NUMBER_CREATE),
    "UpdateIncomingPhoneNumber": ("IncomingPhoneNumbers: update", NUMBER_UPDATE),
    "ListIncomingPhoneNumber": ("IncomingPhoneNumbers (and /Local, /Mobile, /TollFree): list", NUMBER_LIST),
    "CreateQueue": ("Queues: create", QUEUE_CREATE),
    "UpdateQueue": ("Queues: update", QUEUE_UPDATE),
    "ListQueue": ("Queues: list", _PAGING),
    "ListMember": ("Queue Members: list", _PAGING),
    "UpdateMember": ("Queue Members: update (dequeue; `Front` names the first)", MEMBER_UPDATE),
    "ListConference": ("Conferences: list (live and recently ended rooms)", CONFERENCE_LIST),
    "UpdateConference": ("Conferences: update", CONFERENCE_UPDATE),
    "ListParticipant": ("Participants: list", PARTICIPANT_LIST),
    "UpdateParticipant": ("Participants: update (by CallSid or label)", PARTICIPANT_UPDATE),
    "CreateParticipant": (
        "Participants: create (an outbound call joining the room; by CF sid or name)",
        PARTICIPANT_CREATE,
    ),
}
# Twilio operations that take the parameters of another one here, but for those named.
SAME_AS: dict[str, tuple[str, frozenset[str]]] = {
    f"{verb}IncomingPhoneNumber{kind}": (f"{verb}IncomingPhoneNumber", frozenset({"AreaCode"}))
    for verb in ("Create", "List")
    for kind in ("Local", "Mobile", "TollFree")
}
# Resources of Twilio's API that Wirexa does not have: every operation answers 404.
ABSENT: dict[str, str] = {}


def parameters(operation: str) -> tuple[Param, ...]:
    """The parameters of a Twilio operationId (KeyError: not one Wirexa serves)."""
    same, without = SAME_AS.get(operation, (operation, frozenset()))
    return tuple(p for p in OPERATIONS[same][1] if p.name not in without)


def refuse(form: Mapping[str, str], operation: str) -> None:
    """400 naming the first REFUSED parameter of `operation` that the form gives with a value
    other than empty or its harmless one (Twilio's code for it, else 20001)."""
    for param in parameters(operation):
        if param.support is not Support.REFUSED:
            continue
        value = (form.get(param.name) or "").strip()
        if value and value != param.harmless:
            raise BadRequest(f"{param.name} is not supported: {param.note}", code=param.code)


_NUMBERED = re.compile(r"^Parameter([0-9]+)\.(Name|Value)$")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """README's table: one row per parameter of each operation (a numbered family such as
    Parameter1.Name ... Parameter99.Value on one row), then the absent resources."""
    lines = ["| Operation | Parameter | Wirexa |", "|---|---|---|"]
    for where, params in OPERATIONS.values():
        for i, p in enumerate(params):
            family = _NUMBERED.match(p.name)
            if family is not None and family.group(1) != "1":
                continue  # on the family's first row
            if family is not None and p.name.endswith(".Name"):
                last = [q.name for q in params if _NUMBERED.match(q.name)][-1]
                p = dataclasses.replace(p, name=f"{p.name}` ... `{last}")
            elif family is not None:
                continue
            if p.support is Support.REFUSED:
                how = f"refused (400 / {int(p.code)}"
                how += f"; `{p.harmless}` is accepted): " if p.harmless else "): "
            else:
                how = f"{p.support}: " if p.note else str(p.support)
            lines.append(f"| {where if i == 0 else ''} | `{p.name}` | {_cell(how + p.note)} |")
    for resource, why in ABSENT.items():
        lines.append(f"| {resource} | all | {_cell(why)} |")
    return "\n".join(lines) + "\n"
