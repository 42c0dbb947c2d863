"""Turn a fetched LaML/TwiML response (body + Content-Type) into a verbs.Document, safely.

Fatal problems raise errors.DocumentError with Twilio's call-flow code: body over 64 kB (11750),
unparsable XML or a DTD/entity (12100), root not <Response> (12102), unusable Content-Type (12300).

Everything else follows Twilio, which logs invalid attribute values as WARNINGS and carries on:
the attribute falls back to its default, an unrunnable verb or unknown element is skipped, and a
verbs.DocumentWarning records the code. Codes used (Twilio's where its dictionary has one; 12200,
"schema validation warning", where it does not):

    12200  unknown verb/attribute/child, speech-only <Gather>, <Play> with URL and digits,
           bad trim / recordingStatusCallbackEvent / reason / bargeIn / statusCallbackEvent,
           empty <Redirect>/<Play>, <Conference> attributes Wirexa does not act on
           (jitterBufferSize, region, eventCallbackUrl, recordingConfigurationId), a room
           name missing or over 128 characters, <Dial> attributes that do not apply to it,
           TaskRouter's workflowSid/<Task>/reservationSid/postWorkActivitySid, a queue name
           missing or over 64 characters, <Dial> attributes that do not apply to <Queue>
    13210 Dial method   13212 Dial timeout   13213 hangupOnStar   13214 callerId
    13216 timeLimit     13217 Dial record    13221 Number method  13222 sendDigits
    13223 target number format
    13310 Gather finishOnKey   13312 method   13313 timeout   13314 numDigits
    13320 bad nested verb in Gather           13338 actionOnEmptyResult
    13410 Play loop     13510 Say loop       13520 Say text (empty or over 4096 chars)
    13610 Record method 13611 timeout        13612 maxLength  13613 finishOnKey  13616 playBeep
    13614 Record transcribe
    13710 Redirect method                    13910 Pause length
    31922 <Stream> url missing or its scheme not wss/ws/https/http (error: the verb is skipped)
    31923 <Stream> url malformed: no host, white space, bad brackets (error: the verb is skipped)
    31941 <Stream track> not inbound_track in <Connect>, or unknown in <Start> (error: skipped)

<Start>/<Connect>/<Stop> and their <Stream> nouns: a <Stream> whose url or track is refused is
skipped (inside <Connect>, the whole <Connect>); what else they carry that Wirexa does not do
(connectorName, audioFormat/sampleRate other than 8 kHz mu-law, <Start action>, a <Parameter>
without a name or at Twilio's 500-character limit, a second noun in <Connect>, a nameless
<Stream> in <Stop>) is a 12200 warning. <Connect> with any noun but <Stream> (Room,
ConversationRelay, VirtualAgent ...) is Unsupported(noun); other nouns of <Start>/<Stop>
(Siprec, Transcription ...) are reported the same way when the verb runs.

Pure: no I/O; defusedxml refuses DTDs, entities and external references.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import defusedxml
import defusedxml.ElementTree as DET

from wirexa.calls.statuses import RECORDING_CALLBACK_EVENTS
from wirexa.errors import DocumentError
from wirexa.laml.verbs import (
    SPEECH_MODELS,
    Beep,
    ConferenceRecord,
    Connect,
    Dial,
    DialConference,
    DialQueue,
    DialRecord,
    DialTarget,
    Document,
    DocumentWarning,
    Enqueue,
    Gather,
    Hangup,
    HttpMethod,
    Leave,
    Pause,
    Play,
    Prompt,
    Record,
    Redirect,
    Reject,
    RejectReason,
    Say,
    Speech,
    Start,
    Stop,
    Stream,
    StreamTrack,
    TargetKind,
    Trim,
    Unsupported,
    Verb,
)
from wirexa.notices import Notice

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_SAY_CHARS = 4096
# Real documents nest five deep or so (<Response><Gather><Say><prosody><emphasis>); 64 kB of
# "<s>" would nest 9,000 deep, past Python's recursion limit in the SSML walk: refused (12100).
MAX_DEPTH = 32

XML_CONTENT_TYPES = frozenset({"text/xml", "application/xml", "text/html"})

# Real TwiML verbs (and SignalWire additions) that Wirexa knows but does not run.
UNSUPPORTED_VERBS = frozenset(
    {
        "Conference", "Echo", "Pay", "Prompt", "Queue",
        "Refer", "Sms", "Siprec", "Transcription", "Denoise", "Message",
    }
)  # fmt: skip

_T = TypeVar("_T")
_E = TypeVar("_E", bound=str)

_DTMF_KEYS = "0123456789*#"
_SEND_DIGITS = re.compile(r"^[0-9*#wW]+$")
_NUMBER = re.compile(r"^\+?[0-9*#]+$")
_NUMBER_FORMATTING = re.compile(r"[\s\-().]")
_WS = re.compile(r"\s+")

# SSML elements after which a word boundary must be kept when the tags are stripped.
_SSML_BREAKS = frozenset({"break", "p", "s"})

_DIAL_ATTRS = frozenset(
    {
        "action", "method", "timeout", "callerId", "timeLimit", "hangupOnStar", "record",
        "answerOnBridge", "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "trim", "ringTone", "recordingTrack", "sequential",
        "referUrl", "referMethod", "events", "callReason", "callerName", "recordingStorageUrl",
    }
)  # fmt: skip
_TARGET_ATTRS = frozenset(
    {
        "sendDigits", "url", "method", "statusCallback", "statusCallbackMethod",
        "statusCallbackEvent", "byoc", "machineDetection", "machineDetectionTimeout",
        "machineDetectionSpeechThreshold", "machineDetectionSpeechEndThreshold",
        "machineDetectionSilenceTimeout", "amdStatusCallback", "amdStatusCallbackMethod",
        "username", "password", "codecs", "sessionTimeout",
    }
)  # fmt: skip
_GATHER_ATTRS = frozenset(
    {
        "input", "action", "method", "timeout", "finishOnKey", "numDigits", "speechTimeout",
        "maxSpeechTime", "partialResultCallback", "partialResultCallbackMethod", "language",
        "hints", "profanityFilter", "bargeIn", "actionOnEmptyResult", "speechModel",
        "enhanced", "debug",
    }
)  # fmt: skip
_SPEECH_ATTRS = frozenset(
    {
        "speechTimeout", "maxSpeechTime", "partialResultCallback", "partialResultCallbackMethod", "language",
        "hints", "profanityFilter", "speechModel", "enhanced",
    }
)  # fmt: skip
MAX_HINTS = 500  # Twilio: at most 500 hints of 100 characters each
MAX_HINT_CHARS = 100
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})+$")  # a BCP-47 tag with a region: en-US, cmn-Hans-CN
_RECORD_ATTRS = frozenset(
    {
        "action", "method", "timeout", "silence", "finishOnKey", "maxLength", "playBeep",
        "trim", "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "transcribe", "transcribeCallback", "storageUrl",
    }
)  # fmt: skip
_ENQUEUE_ATTRS = frozenset({"action", "method", "waitUrl", "waitUrlMethod", "maxQueueSize", "workflowSid"})
_QUEUE_ATTRS = frozenset({"url", "method", "reservationSid", "postWorkActivitySid"})
# <Dial> attributes that mean nothing when it takes a caller from a queue (no call is placed,
# nothing rings, the bridge is not recorded): warned about, never silently dropped.
_DIAL_ATTRS_NOT_FOR_QUEUE = (
    "callerId", "answerOnBridge", "record", "recordingStatusCallback", "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent", "trim", "ringTone", "recordingTrack", "sequential", "timeLimit",
)  # fmt: skip
_CONFERENCE_ATTRS = frozenset(
    {
        "muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "participantLabel",
        "jitterBufferSize", "waitUrl", "waitMethod", "maxParticipants", "record", "region", "trim",
        "coach", "statusCallbackEvent", "statusCallback", "statusCallbackMethod",
        "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent",
        "eventCallbackUrl", "recordingConfigurationId",
    }
)  # fmt: skip
# <Conference> attributes Wirexa parses but does not act on, and why (each a notification).
_CONFERENCE_NOT_DONE = {
    "jitterBufferSize": "each call's jitter buffer is pjmedia's adaptive one",
    "region": "a Wirexa engine has one region, itself",
    "eventCallbackUrl": "the deprecated conference-record-end event is not sent; use recordingStatusCallback",
    "recordingConfigurationId": "Wirexa has no recording configurations",
}
# <Dial> attributes with no effect on <Conference> (Twilio: callerId and timeout do nothing; the
# rest place, ring or record a call, and no call is placed): warned about, never silently dropped.
_DIAL_ATTRS_NOT_FOR_CONFERENCE = ("timeout",) + tuple(attr for attr in _DIAL_ATTRS_NOT_FOR_QUEUE if attr != "timeLimit")
CONFERENCE_EVENTS = frozenset({"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"})
MAX_CONFERENCE_NAME = 128  # a conference's friendly_name is 128 characters or fewer
MAX_PARTICIPANT_LABEL = 128
MAX_PARTICIPANTS = 250
MAX_QUEUE_NAME = 64  # Twilio: a queue name is 64 characters or fewer
MAX_QUEUE_SIZE = 5000  # Twilio's MaxSize limit, also maxQueueSize's
_STREAM_ATTRS = frozenset(
    {
        "url", "name", "track", "statusCallback", "statusCallbackMethod", "connectorName",
        "audioFormat", "sampleRate",
    }
)  # fmt: skip
_STREAM_TRACKS: dict[str, StreamTrack] = {
    "inbound_track": "inbound_track",
    "outbound_track": "outbound_track",
    "both_tracks": "both_tracks",
}
# http(s) stream URLs are accepted and become ws(s) once resolved (interpreter.py).
STREAM_URL_SCHEMES = frozenset({"wss", "ws", "https", "http"})
# Twilio: "each parameter's name plus value must be under 500 characters".
MAX_PARAMETER_CHARS = 500
_CALLBACK_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
_RECORDING_EVENTS = frozenset(str(e) for e in RECORDING_CALLBACK_EVENTS)


def parse_document(body: bytes | str, content_type: str | None, url: str | None = None) -> Document:
    """Parse one fetched response into a Document, or raise errors.DocumentError.

    `content_type` is the raw header (parameters such as charset are ignored); None means
    inline TwiML (treated as XML). text/plain becomes Say(text)+Hangup; audio/* becomes
    Play(url)+Hangup, for which `url` (the URL the audio was fetched from) is required.

    Wirexa extension: a text/plain body that is an XML document (starts with `<?xml` or
    `<Response`) is parsed as TwiML. The product doc's FastAPI backend returns its XML with
    PlainTextResponse, and the doc promises that backend works; Twilio would speak the markup.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentError(Notice.RESPONSE_TOO_LARGE, f"response body is {len(raw)} bytes; the limit is 64 kB", url)
    media_type = "text/xml" if content_type is None else content_type.split(";")[0].strip().lower()
    if media_type in XML_CONTENT_TYPES or (media_type == "text/plain" and _looks_like_twiml(raw)):
        return _Parser().document(raw, url)
    if media_type == "text/plain":
        text = _collapse(raw.decode("utf-8", errors="replace"))
        return Document((Say(text), Hangup()) if text else (Hangup(),))
    if media_type.startswith("audio/"):
        if url is None:
            raise ValueError("parse_document needs the fetched url for an audio/* response")
        return Document((Play(url), Hangup()))
    raise DocumentError(Notice.INVALID_CONTENT_TYPE, f"invalid Content-Type {content_type!r}", url)


def _looks_like_twiml(raw: bytes) -> bool:
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:64]
    return head.startswith((b"<?xml", b"<Response"))


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _too_deep(root: ET.Element) -> bool:
    """Whether any element is more than MAX_DEPTH deep (walked without recursion)."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _local(tag: str) -> str:
    """Element name without a namespace."""
    return tag.rpartition("}")[2]


def _spoken_text(element: ET.Element) -> str:
    """The text of a <Say>, SSML tags removed (<sub alias> speaks its alias)."""
    parts = [element.text or ""]
    for child in element:
        name = _local(child.tag)
        alias = child.get("alias")
        if name == "sub" and alias is not None:
            parts.append(alias)
        else:
            parts.append(_spoken_text(child))
        if name in _SSML_BREAKS:
            parts.append(" ")
        parts.append(child.tail or "")
    return "".join(parts)


class _Parser:
    """One parse: walks the tree, collects warnings, builds verbs."""

    def __init__(self) -> None:
        self.warnings: list[DocumentWarning] = []
        self._verbs: dict[str, Callable[[ET.Element], Verb | None]] = {
            "Say": self._say,
            "Play": self._play,
            "Pause": self._pause,
            "Gather": self._gather,
            "Record": self._record,
            "Dial": self._dial,
            "Transfer": self._dial,
            "Redirect": self._redirect,
            "Hangup": self._hangup,
            "Reject": self._reject,
            "Connect": self._connect,
            "Start": self._start,
            "Stop": self._stop,
            "Enqueue": self._enqueue,
            "Leave": self._leave,
        }

    def document(self, raw: bytes, url: str | None) -> Document:
        try:
            root = DET.fromstring(raw.lstrip(), forbid_dtd=True)
        except (ET.ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
            raise DocumentError(Notice.DOCUMENT_PARSE_FAILURE, f"document parse failure: {exc}", url) from exc
        if _too_deep(root):
            raise DocumentError(
                Notice.DOCUMENT_PARSE_FAILURE, f"document parse failure: elements nest over {MAX_DEPTH} deep", url
            )
        if _local(root.tag) != "Response":
            raise DocumentError(
                Notice.INVALID_ROOT_ELEMENT, f"root element must be <Response>, not <{_local(root.tag)}>", url
            )
        verbs: list[Verb] = []
        for element in root:
            verb = self._verb(element)
            if verb is not None:
                verbs.append(verb)
        return Document(tuple(verbs), tuple(self.warnings))

    # --- helpers ----------------------------------------------------------------------------

    def warn(self, code: int, message: str, error: bool = False) -> None:
        self.warnings.append(DocumentWarning(code, message, error))

    def _verb(self, element: ET.Element) -> Verb | None:
        name = _local(element.tag)
        parse = self._verbs.get(name)
        if parse is not None:
            return parse(element)
        if name in UNSUPPORTED_VERBS:
            return Unsupported(name)
        if name in ("Stream", "Parameter"):
            self.warn(Notice.SCHEMA_WARNING, f"<{name}> outside <Start>/<Connect>/<Stop> skipped")
            return None
        self.warn(Notice.SCHEMA_WARNING, f"unknown verb <{name}> skipped")
        return None

    def _check_attrs(self, element: ET.Element, known: frozenset[str]) -> None:
        for name in element.attrib:
            if name not in known and not name.startswith("{"):
                self.warn(Notice.SCHEMA_WARNING, f"<{_local(element.tag)}>: unknown attribute {name!r} ignored")

    def _no_children(self, element: ET.Element) -> None:
        for child in element:
            self.warn(Notice.SCHEMA_WARNING, f"<{_local(element.tag)}>: nested <{_local(child.tag)}> ignored")

    def _bad(self, element: ET.Element, attr: str, code: int, value: str, default: object) -> None:
        self.warn(code, f"<{_local(element.tag)}>: invalid {attr} {value!r}; using {default!r}")

    def _int(
        self,
        element: ET.Element,
        attr: str,
        default: _T,
        code: int,
        minimum: int = 0,
        maximum: int | None = None,
    ) -> int | _T:
        value = element.get(attr)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            self._bad(element, attr, code, value, default)
            return default
        if number < minimum:
            self._bad(element, attr, code, value, default)
            return default
        if maximum is not None and number > maximum:
            self._bad(element, attr, code, value, maximum)
            return maximum
        return number

    def _bool(self, element: ET.Element, attr: str, default: bool, code: int) -> bool:
        value = element.get(attr)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self._bad(element, attr, code, value, default)
        return default

    def _choice(self, element: ET.Element, attr: str, enum: type[_E], default: _E, code: int) -> _E:
        value = element.get(attr)
        if value is None:
            return default
        try:
            return enum(value.strip().lower() if enum is not HttpMethod else value.strip().upper())
        except ValueError:
            self._bad(element, attr, code, value, str(default))
            return default

    def _method(self, element: ET.Element, attr: str, code: int) -> HttpMethod:
        return self._choice(element, attr, HttpMethod, HttpMethod.POST, code)

    def _events(self, element: ET.Element, attr: str, allowed: frozenset[str]) -> tuple[str, ...]:
        value = element.get(attr)
        if value is None:
            return ("completed",)
        events = tuple(value.replace(",", " ").split())
        if not events or any(event not in allowed for event in events):
            self._bad(element, attr, Notice.SCHEMA_WARNING, value, "completed")
            return ("completed",)
        return events

    def _url(self, element: ET.Element, attr: str) -> str | None:
        value = element.get(attr)
        if value is None or not value.strip():
            return None
        return value.strip()

    def _keys(self, element: ET.Element, attr: str, default: str, code: int, single: bool) -> str:
        value = element.get(attr)
        if value is None:
            return default
        value = value.strip()
        if any(key not in _DTMF_KEYS for key in value) or (single and len(value) > 1):
            self._bad(element, attr, code, value, default)
            return default
        return value

    # --- verbs ------------------------------------------------------------------------------

    def _say(self, element: ET.Element) -> Say | None:
        self._check_attrs(element, frozenset({"voice", "language", "loop"}))
        text = _collapse(_spoken_text(element))
        if not text:
            self.warn(Notice.SAY_INVALID_TEXT, "<Say> has no text; skipped")
            return None
        if len(text) > MAX_SAY_CHARS:
            self.warn(Notice.SAY_INVALID_TEXT, f"<Say> text is {len(text)} characters; truncated to {MAX_SAY_CHARS}")
            text = text[:MAX_SAY_CHARS]
        return Say(
            text=text,
            voice=(element.get("voice") or "man").strip() or "man",
            language=(element.get("language") or "en-US").strip() or "en-US",
            loop=self._int(element, "loop", 1, Notice.SAY_INVALID_LOOP),
        )

    def _play(self, element: ET.Element) -> Play | None:
        self._check_attrs(element, frozenset({"loop", "digits"}))
        self._no_children(element)
        url = (element.text or "").strip() or None
        loop = self._int(element, "loop", 1, Notice.PLAY_INVALID_LOOP)
        digits_attr = element.get("digits")
        digits = None
        if digits_attr is not None:
            if _SEND_DIGITS.match(digits_attr.strip()):
                digits = digits_attr.strip()
            else:
                self._bad(element, "digits", Notice.SCHEMA_WARNING, digits_attr, None)
        if digits is not None:
            if url is not None:
                self.warn(Notice.SCHEMA_WARNING, "<Play> has both digits and a URL; the URL is ignored")
            return Play(url=None, loop=loop, digits=digits)
        if url is None:
            self.warn(Notice.SCHEMA_WARNING, "<Play> has neither a URL nor digits; skipped")
            return None
        return Play(url=url, loop=loop)

    def _pause(self, element: ET.Element) -> Pause:
        self._check_attrs(element, frozenset({"length"}))
        self._no_children(element)
        return Pause(self._int(element, "length", 1, Notice.PAUSE_INVALID_LENGTH))

    def _prompt(self, element: ET.Element) -> Prompt | None:
        name = _local(element.tag)
        if name == "Say":
            return self._say(element)
        if name == "Play":
            return self._play(element)
        if name == "Pause":
            return self._pause(element)
        self.warn(Notice.GATHER_INVALID_NESTED_VERB, f"<Gather> cannot nest <{name}>; skipped")
        return None

    def _gather(self, element: ET.Element) -> Gather:
        self._check_attrs(element, _GATHER_ATTRS)
        raw = element.get("input")
        modes = tuple(dict.fromkeys(m for m in (raw or "dtmf").lower().split() if m in ("dtmf", "speech")))
        if not modes or len(modes) != len((raw or "dtmf").split()):
            self._bad(element, "input", Notice.SCHEMA_WARNING, raw or "", "dtmf")
            modes = modes or ("dtmf",)
        timeout_s = self._int(element, "timeout", 5, Notice.GATHER_INVALID_TIMEOUT, minimum=1)
        speech = self._speech(element, timeout_s) if "speech" in modes else None
        if speech is None:
            for attr in sorted(_SPEECH_ATTRS & set(element.attrib)):
                self.warn(Notice.SCHEMA_WARNING, f"<Gather>: {attr} applies to speech input only; ignored")
        if element.get("debug") is not None:
            self.warn(Notice.SCHEMA_WARNING, "<Gather>: debug is not supported; ignored")
        children = tuple(p for p in (self._prompt(child) for child in element) if p is not None)
        return Gather(
            input=modes,
            speech=speech,
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.GATHER_INVALID_METHOD),
            timeout_s=timeout_s,
            finish_on_key=self._keys(element, "finishOnKey", "#", Notice.GATHER_INVALID_FINISH_ON_KEY, single=True),
            num_digits=self._int(element, "numDigits", None, Notice.GATHER_INVALID_NUM_DIGITS, minimum=1),
            action_on_empty_result=self._bool(
                element, "actionOnEmptyResult", False, Notice.GATHER_INVALID_ACTION_ON_EMPTY_RESULT
            ),
            barge_in=self._bool(element, "bargeIn", True, Notice.SCHEMA_WARNING),
            children=children,
        )

    def _speech(self, element: ET.Element, timeout_s: int) -> Speech:
        """The speech attributes of a <Gather input="speech">; a bad value is its code's warning
        and the default."""
        value = (element.get("speechTimeout") or "").strip()
        speech_timeout: int | None = timeout_s  # Twilio: speechTimeout defaults to timeout
        if value.lower() == "auto":
            speech_timeout = None
        elif value:
            speech_timeout = self._int(element, "speechTimeout", timeout_s, Notice.GATHER_INVALID_SPEECH_TIMEOUT, 1)
        model = (element.get("speechModel") or "default").strip()
        if model not in SPEECH_MODELS:
            self._bad(element, "speechModel", Notice.GATHER_INVALID_MODEL, model, "default")
            model = "default"
        language = (element.get("language") or "en-US").strip()
        if not _LANGUAGE_TAG.match(language):
            self._bad(element, "language", Notice.GATHER_INVALID_LANGUAGE, language, "en-US")
            language = "en-US"
        hints = tuple(h.strip() for h in (element.get("hints") or "").split(",") if h.strip())
        if len(hints) > MAX_HINTS or any(len(h) > MAX_HINT_CHARS for h in hints):
            self.warn(
                Notice.GATHER_INVALID_HINTS,
                f"<Gather>: hints may hold {MAX_HINTS} phrases of {MAX_HINT_CHARS} characters at most; the rest ignored",
            )
            hints = tuple(h[:MAX_HINT_CHARS] for h in hints[:MAX_HINTS])
        return Speech(
            speech_timeout_s=speech_timeout,
            max_speech_time_s=self._int(
                element, "maxSpeechTime", 60, Notice.GATHER_INVALID_MAX_SPEECH_TIME, minimum=1, maximum=60
            ),
            language=language,
            hints=hints,
            model=model,
            profanity_filter=self._bool(element, "profanityFilter", True, Notice.SCHEMA_WARNING),
            enhanced=self._bool(element, "enhanced", False, Notice.GATHER_INVALID_ENHANCED),
            partial_result_callback=self._url(element, "partialResultCallback"),
            partial_result_callback_method=self._method(
                element, "partialResultCallbackMethod", Notice.GATHER_INVALID_METHOD
            ),
        )

    def _record(self, element: ET.Element) -> Record:
        self._check_attrs(element, _RECORD_ATTRS)
        self._no_children(element)
        timeout_attr = "timeout" if "timeout" in element.attrib else "silence"
        transcribe_callback = self._url(element, "transcribeCallback")
        return Record(
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.RECORD_INVALID_METHOD),
            timeout_s=self._int(element, timeout_attr, 5, Notice.RECORD_INVALID_TIMEOUT),
            finish_on_key=self._keys(
                element, "finishOnKey", "1234567890*#", Notice.RECORD_INVALID_FINISH_ON_KEY, single=False
            ),
            max_length_s=self._int(
                element, "maxLength", 3600, Notice.RECORD_INVALID_MAX_LENGTH, minimum=1, maximum=86400
            ),
            play_beep=self._bool(element, "playBeep", True, Notice.RECORD_INVALID_PLAY_BEEP),
            trim=self._choice(element, "trim", Trim, Trim.TRIM_SILENCE, Notice.SCHEMA_WARNING),
            recording_status_callback=self._url(element, "recordingStatusCallback"),
            recording_status_callback_method=self._method(
                element, "recordingStatusCallbackMethod", Notice.RECORD_INVALID_METHOD
            ),
            recording_status_callback_event=self._events(element, "recordingStatusCallbackEvent", _RECORDING_EVENTS),
            # Twilio: a transcribeCallback turns transcription on, whatever transcribe says.
            transcribe=self._bool(element, "transcribe", False, Notice.RECORD_INVALID_TRANSCRIBE)
            or transcribe_callback is not None,
            transcribe_callback=transcribe_callback,
        )

    def _dial_record(self, element: ET.Element) -> DialRecord:
        value = (element.get("record") or "").strip().lower()
        if value == "true":
            return DialRecord.RECORD_FROM_ANSWER
        if value == "false":
            return DialRecord.DO_NOT_RECORD
        return self._choice(element, "record", DialRecord, DialRecord.DO_NOT_RECORD, Notice.DIAL_INVALID_RECORD)

    def _number(self, text: str) -> str | None:
        """The dialable form of a phone number (formatting removed), or None with a warning."""
        number = _NUMBER_FORMATTING.sub("", text)
        if _NUMBER.match(number):
            return number
        self.warn(Notice.DIAL_INVALID_PHONE_NUMBER, f"<Dial>: invalid phone number {text.strip()!r} skipped")
        return None

    def _target(self, element: ET.Element, kind: TargetKind) -> DialTarget | None:
        self._check_attrs(element, _TARGET_ATTRS)
        if kind is TargetKind.CLIENT:
            identity = element.find("Identity")
            text = (identity.text if identity is not None else element.text) or ""
        else:
            text = element.text or ""
        value: str | None = text.strip()
        if kind is TargetKind.NUMBER:
            value = self._number(text)
            if value is None:
                return None
        elif not value:
            self.warn(Notice.DIAL_INVALID_PHONE_NUMBER, f"<{_local(element.tag)}> is empty; skipped")
            return None
        send_digits = element.get("sendDigits")
        if send_digits is not None and not _SEND_DIGITS.match(send_digits.strip()):
            self._bad(element, "sendDigits", Notice.NUMBER_INVALID_SEND_DIGITS, send_digits, None)
            send_digits = None
        return DialTarget(
            kind=kind,
            value=value,
            send_digits=send_digits.strip() if send_digits is not None else None,
            url=self._url(element, "url"),
            method=self._method(element, "method", Notice.NUMBER_INVALID_METHOD),
            status_callback=self._url(element, "statusCallback"),
            status_callback_method=self._method(element, "statusCallbackMethod", Notice.NUMBER_INVALID_METHOD),
            status_callback_event=self._events(element, "statusCallbackEvent", _CALLBACK_EVENTS),
            username=element.get("username"),
            password=element.get("password"),
        )

    def _dial(self, element: ET.Element) -> Dial:
        self._check_attrs(element, _DIAL_ATTRS)
        kinds = {"Number": TargetKind.NUMBER, "Sip": TargetKind.SIP, "Client": TargetKind.CLIENT}
        targets: list[DialTarget] = []
        bare = (element.text or "").strip()
        if bare:
            number = self._number(bare)
            if number is not None:
                targets.append(DialTarget(TargetKind.NUMBER, number))
        queue: DialQueue | None = None
        conference: DialConference | None = None
        conferences = 0
        for child in element:
            name = _local(child.tag)
            if name == "Conference":
                conferences += 1
                if conferences > 1:
                    self.warn(
                        Notice.DIAL_INVALID_NESTED_ELEMENT, "<Dial> takes one <Conference>; the extra one skipped"
                    )
                else:
                    conference = self._conference(child)
                continue
            if name == "Queue":
                if queue is not None:
                    self.warn(Notice.DIAL_INVALID_NESTED_ELEMENT, "<Dial> takes one <Queue>; the extra one skipped")
                else:
                    queue = self._queue(child)
                continue
            kind = kinds.get(name)
            if kind is None:
                self.warn(Notice.DIAL_INVALID_NESTED_ELEMENT, f"<Dial> cannot nest <{name}>; skipped")
                continue
            target = self._target(child, kind)
            if target is not None:
                targets.append(target)
        if conferences:
            return self._dial_conference(element, conference, bool(targets or queue is not None))
        if queue is not None and targets:
            self.warn(Notice.DIAL_INVALID_NESTED_ELEMENT, "<Dial><Queue> takes no other noun; the numbers are skipped")
            targets = []
        if queue is not None:
            for attr in _DIAL_ATTRS_NOT_FOR_QUEUE:
                if attr in element.attrib:
                    self.warn(
                        Notice.SCHEMA_WARNING, f"<Dial {attr}> does not apply to <Queue> (no call is placed); ignored"
                    )
        caller_id = element.get("callerId")
        if caller_id is not None and not caller_id.strip():
            self._bad(element, "callerId", Notice.DIAL_INVALID_CALLER_ID, caller_id, None)
            caller_id = None
        dial = Dial(
            targets=tuple(targets),
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.DIAL_INVALID_METHOD),
            timeout_s=self._int(element, "timeout", 30, Notice.DIAL_INVALID_TIMEOUT, minimum=1, maximum=600),
            queue=queue,
            caller_id=caller_id.strip() if caller_id is not None else None,
            time_limit_s=self._int(
                element, "timeLimit", 14400, Notice.DIAL_INVALID_TIME_LIMIT, minimum=1, maximum=86400
            ),
            hangup_on_star=self._bool(element, "hangupOnStar", False, Notice.DIAL_INVALID_HANGUP_ON_STAR),
            record=self._dial_record(element),
            answer_on_bridge=self._bool(element, "answerOnBridge", False, Notice.SCHEMA_WARNING),
            recording_status_callback=self._url(element, "recordingStatusCallback"),
            recording_status_callback_method=self._method(
                element, "recordingStatusCallbackMethod", Notice.DIAL_INVALID_METHOD
            ),
            recording_status_callback_event=self._events(element, "recordingStatusCallbackEvent", _RECORDING_EVENTS),
        )
        if queue is not None:  # what was warned about above takes no part (the defaults)
            dial = Dial((), dial.action, dial.method, dial.timeout_s, queue, hangup_on_star=dial.hangup_on_star)
        return dial

    def _dial_conference(self, element: ET.Element, conference: DialConference | None, others: bool) -> Dial:
        """<Dial><Conference>: only action, method, hangupOnStar and timeLimit apply (Twilio);
        other nouns and attributes are warned about. A room that could not be named (warned)
        leaves a <Dial> with nothing to dial: it fails at once, as an empty <Dial> does."""
        if others:
            self.warn(
                Notice.DIAL_INVALID_NESTED_ELEMENT, "<Dial><Conference> takes no other noun; the others are skipped"
            )
        for attr in _DIAL_ATTRS_NOT_FOR_CONFERENCE:
            if attr in element.attrib:
                self.warn(Notice.SCHEMA_WARNING, f"<Dial {attr}> has no effect on <Conference>; ignored")
        return Dial(
            targets=(),
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.DIAL_INVALID_METHOD),
            conference=conference,
            time_limit_s=self._int(
                element, "timeLimit", 14400, Notice.DIAL_INVALID_TIME_LIMIT, minimum=1, maximum=86400
            ),
            hangup_on_star=self._bool(element, "hangupOnStar", False, Notice.DIAL_INVALID_HANGUP_ON_STAR),
        )

    def _conference(self, element: ET.Element) -> DialConference | None:
        """The <Conference> noun of <Dial>, or None (warned) when it names no room."""
        self._check_attrs(element, _CONFERENCE_ATTRS)
        self._no_children(element)
        for attr, why in _CONFERENCE_NOT_DONE.items():
            value = element.get(attr)
            if value is not None:
                self.warn(Notice.SCHEMA_WARNING, f"<Conference {attr}={value.strip()!r}>: {why}; ignored")
        name = (element.text or "").strip()
        if not name:
            self.warn(Notice.SCHEMA_WARNING, "<Dial><Conference> names no room; skipped")
            return None
        if len(name) > MAX_CONFERENCE_NAME:
            message = f"<Dial><Conference>: a room name is {MAX_CONFERENCE_NAME} characters or fewer; skipped"
            self.warn(Notice.SCHEMA_WARNING, message)
            return None
        label = element.get("participantLabel")
        if label is not None:
            label = label.strip() or None
        if label is not None and len(label) > MAX_PARTICIPANT_LABEL:
            self._bad(element, "participantLabel", Notice.SCHEMA_WARNING, label, None)
            label = None
        coach = element.get("coach")
        wait_url = element.get("waitUrl")
        return DialConference(
            name=name,
            muted=self._bool(element, "muted", False, Notice.SCHEMA_WARNING),
            beep=self._beep(element),
            start_conference_on_enter=self._bool(element, "startConferenceOnEnter", True, Notice.SCHEMA_WARNING),
            end_conference_on_exit=self._bool(element, "endConferenceOnExit", False, Notice.SCHEMA_WARNING),
            participant_label=label,
            wait_url=wait_url.strip() if wait_url is not None else None,
            wait_method=self._method(element, "waitMethod", Notice.SCHEMA_WARNING),
            max_participants=self._int(
                element, "maxParticipants", MAX_PARTICIPANTS, Notice.SCHEMA_WARNING, minimum=2, maximum=MAX_PARTICIPANTS
            ),
            record=self._choice(
                element, "record", ConferenceRecord, ConferenceRecord.DO_NOT_RECORD, Notice.SCHEMA_WARNING
            ),
            trim=self._choice(element, "trim", Trim, Trim.TRIM_SILENCE, Notice.SCHEMA_WARNING),
            coach=(coach.strip() or None) if coach is not None else None,
            status_callback=self._url(element, "statusCallback"),
            status_callback_method=self._method(element, "statusCallbackMethod", Notice.SCHEMA_WARNING),
            status_callback_event=self._conference_events(element),
            recording_status_callback=self._url(element, "recordingStatusCallback"),
            recording_status_callback_method=self._method(
                element, "recordingStatusCallbackMethod", Notice.SCHEMA_WARNING
            ),
            recording_status_callback_event=self._events(element, "recordingStatusCallbackEvent", _RECORDING_EVENTS),
        )

    def _beep(self, element: ET.Element) -> Beep:
        value = element.get("beep")
        if value is None:
            return Beep.TRUE
        for beep in Beep:
            if value.strip().lower() == beep.value.lower():
                return beep
        self._bad(element, "beep", Notice.SCHEMA_WARNING, value, str(Beep.TRUE))
        return Beep.TRUE

    def _conference_events(self, element: ET.Element) -> tuple[str, ...]:
        """statusCallbackEvent's known events in order, each unknown one warned about and dropped."""
        value = element.get("statusCallbackEvent")
        if value is None:
            return ()
        events: list[str] = []
        for event in value.replace(",", " ").split():
            if event not in CONFERENCE_EVENTS:
                message = f"<Conference statusCallbackEvent>: unknown event {event!r} ignored"
                self.warn(Notice.SCHEMA_WARNING, message)
            elif event not in events:
                events.append(event)
        return tuple(events)

    def _queue(self, element: ET.Element) -> DialQueue | None:
        """The <Queue> noun of <Dial>, or None (warned) when it names no queue."""
        self._check_attrs(element, _QUEUE_ATTRS)
        self._no_children(element)
        for attr in ("reservationSid", "postWorkActivitySid"):
            if element.get(attr) is not None:
                message = f"<Queue {attr}> is TaskRouter's; Wirexa has no TaskRouter: ignored"
                self.warn(Notice.SCHEMA_WARNING, message)
        name = self._queue_name(element, "<Dial><Queue>")
        if name is None:
            return None
        return DialQueue(name, self._url(element, "url"), self._method(element, "method", Notice.SCHEMA_WARNING))

    def _queue_name(self, element: ET.Element, where: str) -> str | None:
        name = (element.text or "").strip()
        if not name:
            self.warn(Notice.SCHEMA_WARNING, f"{where} names no queue; skipped")
            return None
        if len(name) > MAX_QUEUE_NAME:
            self.warn(Notice.SCHEMA_WARNING, f"{where}: a queue name is {MAX_QUEUE_NAME} characters or fewer; skipped")
            return None
        return name

    def _enqueue(self, element: ET.Element) -> Enqueue | None:
        self._check_attrs(element, _ENQUEUE_ATTRS)
        workflow = element.get("workflowSid")
        if workflow is not None:
            self.warn(
                Notice.SCHEMA_WARNING,
                f"<Enqueue workflowSid={workflow.strip()!r}> is TaskRouter's; Wirexa has no TaskRouter:"
                " the call waits in the queue named by the text",
            )
        for child in element:  # <Task> (TaskRouter's attributes) is the only noun Twilio has
            self.warn(Notice.SCHEMA_WARNING, f"<Enqueue><{_local(child.tag)}> is TaskRouter's; ignored")
        name = self._queue_name(element, "<Enqueue>")
        if name is None:
            return None
        wait_url = element.get("waitUrl")
        return Enqueue(
            name=name,
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.SCHEMA_WARNING),
            wait_url=wait_url.strip() if wait_url is not None else None,
            wait_url_method=self._method(element, "waitUrlMethod", Notice.SCHEMA_WARNING),
            max_queue_size=self._int(
                element, "maxQueueSize", None, Notice.SCHEMA_WARNING, minimum=1, maximum=MAX_QUEUE_SIZE
            ),
        )

    def _leave(self, element: ET.Element) -> Leave:
        self._check_attrs(element, frozenset())
        self._no_children(element)
        return Leave()

    def _redirect(self, element: ET.Element) -> Redirect | None:
        self._check_attrs(element, frozenset({"method"}))
        self._no_children(element)
        url = (element.text or "").strip()
        if not url:
            self.warn(Notice.SCHEMA_WARNING, "<Redirect> has no URL; skipped")
            return None
        return Redirect(url, self._method(element, "method", Notice.REDIRECT_INVALID_METHOD))

    def _hangup(self, element: ET.Element) -> Hangup:
        self._check_attrs(element, frozenset())
        return Hangup()

    def _reject(self, element: ET.Element) -> Reject:
        self._check_attrs(element, frozenset({"reason"}))
        self._no_children(element)
        return Reject(self._choice(element, "reason", RejectReason, RejectReason.REJECTED, Notice.SCHEMA_WARNING))

    # --- Media Streams: <Connect>, <Start>, <Stop> and their <Stream> -----------------------------

    def _stream_url(self, element: ET.Element, where: str) -> str | None:
        """The <Stream url> as written, or None (with a 31922/31923 error) when it cannot be one."""
        raw = element.get("url")
        url = (raw or "").strip()
        if not url:
            self.warn(Notice.STREAM_INVALID_URL_SCHEME, f"{where} has no url; skipped", error=True)
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme and parts.scheme.lower() not in STREAM_URL_SCHEMES:
            message = f"{where}: url scheme {parts.scheme!r} is not supported (wss, ws, https or http); skipped"
            self.warn(Notice.STREAM_INVALID_URL_SCHEME, message, error=True)
            return None
        if parts is None or _WS.search(url) or (parts.scheme and not parts.hostname):
            self.warn(Notice.STREAM_MALFORMED_URL, f"{where}: malformed url {url!r}; skipped", error=True)
            return None
        return url

    def _parameters(self, stream: ET.Element) -> tuple[tuple[str, str], ...]:
        """The <Parameter name value/> children, in order; bad ones are warned about and dropped."""
        parameters: list[tuple[str, str]] = []
        for child in stream:
            if _local(child.tag) != "Parameter":
                self.warn(Notice.SCHEMA_WARNING, f"<Stream>: nested <{_local(child.tag)}> ignored")
                continue
            self._check_attrs(child, frozenset({"name", "value"}))
            self._no_children(child)
            name = child.get("name") or ""
            value = child.get("value") or ""
            if not name.strip():
                self.warn(Notice.SCHEMA_WARNING, "<Parameter> has no name; skipped")
            elif len(name) + len(value) >= MAX_PARAMETER_CHARS:
                message = (
                    f"<Parameter name={name[:40]!r}>: name and value are {len(name) + len(value)} characters;"
                    f" they must be under {MAX_PARAMETER_CHARS}; skipped"
                )
                self.warn(Notice.SCHEMA_WARNING, message)
            else:
                if any(seen == name for seen, _ in parameters):
                    message = f"<Parameter name={name!r}> given twice; start.customParameters keeps the last value"
                    self.warn(Notice.SCHEMA_WARNING, message)
                parameters.append((name, value))
        return tuple(parameters)

    def _stream(self, element: ET.Element, verb: str) -> Stream | None:
        """One <Stream> of <Start> or <Connect> (`verb`), or None when it has to be skipped."""
        self._check_attrs(element, _STREAM_ATTRS)
        where = f"<{verb}><Stream>"
        connector = element.get("connectorName")
        if connector is not None:
            message = f"{where}: connectorName {connector!r} ignored (Stream Connectors are Twilio's); the url is used"
            self.warn(Notice.SCHEMA_WARNING, message)
        audio_format = element.get("audioFormat")
        if audio_format is not None and audio_format.strip().lower() != "audio/x-mulaw":
            message = f"{where}: audioFormat {audio_format!r} is not supported; audio/x-mulaw is streamed"
            self.warn(Notice.SCHEMA_WARNING, message)
        sample_rate = element.get("sampleRate")
        if sample_rate is not None and sample_rate.strip() != "8000":
            message = f"{where}: sampleRate {sample_rate!r} is not supported; 8000 Hz is streamed"
            self.warn(Notice.SCHEMA_WARNING, message)
        url = self._stream_url(element, where)
        raw_track = element.get("track")
        track = _STREAM_TRACKS.get((raw_track or "inbound_track").strip().lower())
        if track is None or (verb == "Connect" and track != "inbound_track"):
            allowed = "inbound_track" if verb == "Connect" else "inbound_track, outbound_track or both_tracks"
            message = f"{where}: track {raw_track!r} is not supported here ({allowed}); skipped"
            self.warn(Notice.STREAM_INVALID_TRACK, message, error=True)
            return None
        parameters = self._parameters(element)
        if url is None:
            return None
        return Stream(
            url=url,
            name=(element.get("name") or "").strip(),
            track=track,
            status_callback=self._url(element, "statusCallback"),
            status_callback_method=self._method(element, "statusCallbackMethod", Notice.SCHEMA_WARNING),
            parameters=parameters,
        )

    def _connect(self, element: ET.Element) -> Connect | Unsupported | None:
        self._check_attrs(element, frozenset({"action", "method"}))
        nouns = list(element)
        if not nouns:
            self.warn(Notice.SCHEMA_WARNING, "<Connect> has no noun; skipped")
            return None
        noun = _local(nouns[0].tag)
        if noun != "Stream":
            return Unsupported(noun)
        for extra in nouns[1:]:
            self.warn(Notice.SCHEMA_WARNING, f"<Connect> takes one noun; the extra <{_local(extra.tag)}> ignored")
        stream = self._stream(nouns[0], "Connect")
        if stream is None:
            return None
        return Connect(
            stream=stream,
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.SCHEMA_WARNING),
        )

    def _start(self, element: ET.Element) -> Start | None:
        self._check_attrs(element, frozenset({"action", "method"}))
        for attr in ("action", "method"):
            value = element.get(attr)
            if value is not None:
                message = f"<Start {attr}={value!r}>: not used by Wirexa (<Start> goes on at once); ignored"
                self.warn(Notice.SCHEMA_WARNING, message)
        streams: list[Stream] = []
        unsupported: list[str] = []
        for child in element:
            name = _local(child.tag)
            if name != "Stream":
                unsupported.append(name)
                continue
            stream = self._stream(child, "Start")
            if stream is not None:
                streams.append(stream)
        if len(element) == 0:
            self.warn(Notice.SCHEMA_WARNING, "<Start> has no noun; skipped")
        if not streams and not unsupported:
            return None
        return Start(
            streams=tuple(streams),
            action=self._url(element, "action"),
            method=self._method(element, "method", Notice.SCHEMA_WARNING),
            unsupported=tuple(unsupported),
        )

    def _stop(self, element: ET.Element) -> Stop | None:
        self._check_attrs(element, frozenset())
        names: list[str] = []
        unsupported: list[str] = []
        for child in element:
            noun = _local(child.tag)
            if noun != "Stream":
                unsupported.append(noun)
                continue
            for attr in child.attrib:
                if attr != "name" and not attr.startswith("{"):
                    message = f"<Stop><Stream>: attribute {attr!r} ignored (a stream is stopped by its name)"
                    self.warn(Notice.SCHEMA_WARNING, message)
            self._no_children(child)
            name = (child.get("name") or "").strip()
            if name:
                names.append(name)
            else:
                self.warn(Notice.SCHEMA_WARNING, "<Stop><Stream> has no name: nothing to stop; skipped")
        if len(element) == 0:
            self.warn(Notice.SCHEMA_WARNING, "<Stop> has no noun; skipped")
        if not names and not unsupported:
            return None
        return Stop(tuple(names), tuple(unsupported))
