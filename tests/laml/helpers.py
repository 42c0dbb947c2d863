"""Drive the LaML interpreter in memory: run(xml, events) -> actions, as STYLE §2 asks.

Results of the interpreter's own actions need the op_id it chose; the script shorthands below
(Played, Fired, Loaded, Failed, Saved, Empty, DialDone) take it from the latest action of the
matching kind, so scripts read like the call: "prompt played, caller pressed 1, doc loaded".
Real events may be mixed in to test stale op_ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wirexa.laml import actions as act
from wirexa.laml.events import (
    CallHungUp,
    DialCallStatus,
    DialEnded,
    DigitReceived,
    DocumentLoaded,
    Event,
    FetchFailed,
    PlaybackFinished,
    RecordingEmpty,
    RecordingSaved,
    SpeechRecognized,
    SpeechStarted,
    TimerFired,
)
from wirexa.laml.interpreter import Interpreter
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import Document

DOC_URL = "https://app.example/voice/xml"
CALL: Mapping[str, str] = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "2" * 32,
    "From": "+15550001111",
    "To": "+15550002222",
    "Direction": "outbound-api",
    "CallStatus": "in-progress",
    "ApiVersion": "2010-04-01",
}


@dataclass(frozen=True)
class Played:
    """The latest Say/PlayAudio/PlayDigits finished."""


@dataclass(frozen=True)
class Fired:
    """The latest StartTimer fired."""


@dataclass(frozen=True)
class Loaded:
    """The latest FetchDocument returned this body."""

    body: str
    content_type: str = "text/xml"
    url: str | None = None


@dataclass(frozen=True)
class Failed:
    """The latest FetchDocument failed."""

    code: int = 11200
    message: str = "HTTP retrieval failure"


@dataclass(frozen=True)
class Saved:
    """The latest StartRecording produced a file."""

    digits: str = ""
    duration_s: int = 7


@dataclass(frozen=True)
class Empty:
    """The latest StartRecording produced nothing."""


@dataclass(frozen=True)
class DialDone:
    """The latest Dial ended."""

    status: DialCallStatus = DialCallStatus.COMPLETED
    bridged: bool = True
    duration_s: int | None = 42


@dataclass(frozen=True)
class Spoke:
    """The caller started speaking during the latest StartListening."""


@dataclass(frozen=True)
class Heard:
    """The latest StartListening's result."""

    text: str
    confidence: float | None = 0.9


Script = Event | Played | Fired | Loaded | Failed | Saved | Empty | DialDone | Spoke | Heard


def press(keys: str) -> list[Event]:
    return [DigitReceived(key) for key in keys]


Started = act.Say | act.PlayAudio | act.PlayDigits | act.StartTimer | act.StartRecording | act.Dial | act.FetchDocument


def _latest(actions: list[act.Action], kinds: tuple[type[Started], ...]) -> int:
    for action in reversed(actions):
        if isinstance(action, kinds):
            return action.op_id
    raise AssertionError(f"no {kinds} action to answer in {actions}")


def _event(step: Script, actions: list[act.Action]) -> Event:
    match step:
        case Played():
            return PlaybackFinished(_latest(actions, (act.Say, act.PlayAudio, act.PlayDigits)))
        case Fired():
            return TimerFired(_latest(actions, (act.StartTimer,)))
        case Loaded(body, content_type, url):
            op = _latest(actions, (act.FetchDocument,))
            return DocumentLoaded(op, parse_document(body, content_type, url), url)
        case Failed(code, message):
            return FetchFailed(_latest(actions, (act.FetchDocument,)), code, message)
        case Saved(digits, duration_s):
            op = _latest(actions, (act.StartRecording,))
            return RecordingSaved(op, "RE1", "https://engine/rec/RE1", duration_s, digits)
        case Empty():
            return RecordingEmpty(_latest(actions, (act.StartRecording,)))
        case DialDone(status, bridged, duration_s):
            op = _latest(actions, (act.Dial,))
            return DialEnded(op, status, "CA" + "9" * 32, duration_s, bridged)
        case Spoke():
            return SpeechStarted(_listening(actions))
        case Heard(text, confidence):
            return SpeechRecognized(_listening(actions), text, confidence)
    return step


def _listening(actions: list[act.Action]) -> int:
    for action in reversed(actions):
        if isinstance(action, act.StartListening):
            return action.listen_op
    raise AssertionError(f"no StartListening in {actions}")


def drive(interpreter: Interpreter, first: list[act.Action], events: Iterable[Script]) -> list[act.Action]:
    actions = list(first)
    for step in events:
        actions += interpreter.feed(_event(step, actions))
    return actions


def run(
    xml: str | Document,
    events: Iterable[Script] = (),
    *,
    call_params: Mapping[str, str] = CALL,
    url: str | None = DOC_URL,
    max_fetches: int = 20,
) -> list[act.Action]:
    """Run an inline document (fetched from `url`, its base) through the events; all actions."""
    interpreter = Interpreter(call_params, url, max_fetches)
    document = xml if isinstance(xml, Document) else parse_document(xml, "text/xml")
    return drive(interpreter, interpreter.start(document), events)


def run_url(url: str, events: Iterable[Script] = (), *, call_params: Mapping[str, str] = CALL) -> list[act.Action]:
    """Start a call by fetching `url`, then apply the events."""
    interpreter = Interpreter(call_params, None)
    return drive(interpreter, interpreter.start(url), events)


def show(action: act.Action) -> str:
    """A compact, readable form of one action for flow assertions."""
    match action:
        case act.Say(text=text, loop=loop):
            return f"say:{text}" + (f" x{loop}" if loop != 1 else "")
        case act.PlayAudio(url=url, loop=loop):
            return f"play:{url}" + (f" x{loop}" if loop != 1 else "")
        case act.PlayDigits(digits=digits):
            return f"digits:{digits}"
        case act.StartTimer(delay_s=delay_s):
            return f"timer:{delay_s:g}"
        case act.Dial(targets=targets):
            return "dial:" + ",".join(target.value for target in targets)
        case act.FetchDocument(url=url, method=method, params=params):
            extra = "&".join(f"{k}={v}" for k, v in params if k not in CALL)
            return f"fetch:{method} {url}" + (f"?{extra}" if extra else "")
        case act.Reject(reason=reason):
            return f"reject:{reason}"
        case act.Notify(code=code):
            return f"notify:{code}"
    names = {
        act.Answer: "answer",
        act.StopPrompts: "stop-prompts",
        act.CancelTimer: "cancel-timer",
        act.StartGather: "gather",
        act.StopGather: "end-gather",
        act.StartRecording: "record",
        act.StopRecording: "stop-record",
        act.StopDial: "stop-dial",
        act.Hangup: "hangup",
        act.Finished: "finished",
        act.LeaveQueue: "leave-queue",
        act.StartListening: "listen",
        act.StopListening: "stop-listen",
    }
    return names[type(action)]


def flow(actions: list[act.Action]) -> list[str]:
    return [show(action) for action in actions]


__all__ = [
    "CALL",
    "DOC_URL",
    "CallHungUp",
    "DialDone",
    "Empty",
    "Failed",
    "Fired",
    "Loaded",
    "Played",
    "Saved",
    "Heard",
    "Spoke",
    "drive",
    "flow",
    "press",
    "run",
    "run_url",
    "show",
]
