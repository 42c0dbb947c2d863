"""The product doc's example backends (Flask minimal XML, FastAPI IVR with <Transfer>), run as calls.

Each backend below returns exactly the documents the doc's handlers return; the simulated caller
presses the given keys during each <Gather>'s prompt (or nothing), every prompt plays to the end,
every timer fires, and a <Dial>/<Transfer> is answered and completed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import pytest

from wirexa.laml import actions as act
from wirexa.laml.events import (
    DialCallStatus,
    DialEnded,
    DigitReceived,
    DocumentLoaded,
    Event,
    PlaybackFinished,
    TimerFired,
)
from wirexa.laml.interpreter import Interpreter
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import Dial, Document

from .helpers import CALL, flow

PUBLIC = "https://your-backend.example.com"
Backend = Callable[[str, Mapping[str, str]], str]

FLASK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
<Say>Hello! This call is being recorded.</Say>
<Gather numDigits="1" timeout="5" action="/gather">
<Say>Press 1 for sales, 2 for support.</Say>
</Gather>
<Hangup/>
</Response>"""

FASTAPI_MACHINE = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
<Say>Please call us back at our office. Thank you.</Say>
<Hangup/>
</Response>"""

FASTAPI_MENU = f"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
<Say>Hello, thank you for answering.</Say>
<Gather numDigits="1" timeout="7"
action="{PUBLIC}/gather" method="POST">
<Say>
Press 1 for sales.
Press 2 for support.
Press 9 to be removed from our list.
</Say>
</Gather>
<Say>We did not receive your selection. Goodbye.</Say>
<Hangup/>
</Response>"""

FASTAPI_SALES = """<Response>
<Say>Connecting you to sales. Please hold.</Say>
<Transfer timeout="30">+13125550100</Transfer>
</Response>"""

FASTAPI_SUPPORT = """<Response>
<Say>Our support team will email you shortly. Goodbye.</Say>
<Hangup/>
</Response>"""

FASTAPI_REMOVED = """<Response>
<Say>You have been removed from our list. Goodbye.</Say>
<Hangup/>
</Response>"""

FASTAPI_INVALID = f"""<Response>
<Gather numDigits="1" timeout="7"
action="{PUBLIC}/gather" method="POST">
<Say>Invalid option. Press 1 for sales, 2 for support.</Say>
</Gather>
<Hangup/>
</Response>"""


def flask_backend(url: str, form: Mapping[str, str]) -> str:
    if urlsplit(url).path == "/xml":
        return FLASK_XML
    digit = form.get("Digits", "")
    return f"<Response><Say>You pressed {digit}.</Say><Hangup/></Response>"


def fastapi_backend(url: str, form: Mapping[str, str]) -> str:
    if urlsplit(url).path == "/xml":
        return FASTAPI_MACHINE if form.get("AnsweredBy") == "machine_start" else FASTAPI_MENU
    digits = form.get("Digits", "")
    return {"1": FASTAPI_SALES, "2": FASTAPI_SUPPORT, "9": FASTAPI_REMOVED}.get(digits, FASTAPI_INVALID)


def answer(action: act.Action, backend: Backend) -> Event:
    """What the world answers to the last started operation of a batch."""
    match action:
        case act.Say(op_id=op) | act.PlayAudio(op_id=op) | act.PlayDigits(op_id=op):
            return PlaybackFinished(op)
        case act.StartTimer(op_id=op):
            return TimerFired(op)
        case act.FetchDocument(op_id=op, url=url, params=params):
            body = backend(url, dict(params))
            return DocumentLoaded(op, parse_document(body, "text/xml; charset=utf-8"))
        case act.Dial(op_id=op):
            return DialEnded(op, DialCallStatus.COMPLETED, "CA" + "7" * 32, 95, True)
    raise AssertionError(f"nothing answers {action!r}")


def call(backend: Backend, keys: list[str], **params: str) -> list[act.Action]:
    """Place a call to PUBLIC/xml; keys[i] is pressed during the i-th <Gather> prompt."""
    interpreter = Interpreter({**CALL, **params}, None)
    batch = interpreter.start(f"{PUBLIC}/xml")
    actions = list(batch)
    presses = iter(keys)
    while not interpreter.finished:
        pressed = next(presses, "") if any(isinstance(a, act.StartGather) for a in batch) else ""
        if pressed:
            events: list[Event] = [DigitReceived(key) for key in pressed]
        else:
            started = [a for a in batch if hasattr(a, "op_id")]
            events = [answer(started[-1], backend)]
        batch = [a for event in events for a in interpreter.feed(event)]
        actions += batch
    return actions


MENU_PROMPT = "say:Press 1 for sales. Press 2 for support. Press 9 to be removed from our list."
MENU_START = [
    f"fetch:POST {PUBLIC}/xml",
    "say:Hello, thank you for answering.",
    "gather",
    MENU_PROMPT,
]
BARGE_IN = ["stop-prompts", "end-gather"]


@pytest.mark.parametrize(
    ("keys", "after_menu"),
    [
        (["1"], [*BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=1&FinishedOnKey=",
                 "say:Connecting you to sales. Please hold.", "dial:+13125550100",
                 "hangup", "finished"]),
        (["2"], [*BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=2&FinishedOnKey=",
                 "say:Our support team will email you shortly. Goodbye.", "hangup", "finished"]),
        (["9"], [*BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=9&FinishedOnKey=",
                 "say:You have been removed from our list. Goodbye.", "hangup", "finished"]),
        (["5"], [*BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=5&FinishedOnKey=",
                 "gather", "say:Invalid option. Press 1 for sales, 2 for support.", "timer:7",
                 "end-gather", "hangup", "finished"]),
        (["5", "2"], [*BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=5&FinishedOnKey=",
                      "gather", "say:Invalid option. Press 1 for sales, 2 for support.",
                      *BARGE_IN, f"fetch:POST {PUBLIC}/gather?Digits=2&FinishedOnKey=",
                      "say:Our support team will email you shortly. Goodbye.",
                      "hangup", "finished"]),
        ([], ["timer:7", "end-gather", "say:We did not receive your selection. Goodbye.",
              "hangup", "finished"]),
    ],
)  # fmt: skip
def test_fastapi_ivr(keys: list[str], after_menu: list[str]) -> None:
    assert flow(call(fastapi_backend, keys)) == MENU_START + after_menu


def test_fastapi_transfer_dials_with_its_timeout() -> None:
    dial = next(a for a in call(fastapi_backend, ["1"]) if isinstance(a, act.Dial))
    assert dial.timeout_s == 30
    assert dial.caller_id is None


def test_fastapi_machine_answered() -> None:
    actions = call(fastapi_backend, [], AnsweredBy="machine_start")
    assert flow(actions)[1:] == [
        "say:Please call us back at our office. Thank you.", "hangup", "finished",
    ]  # fmt: skip
    fetch = actions[0]
    assert isinstance(fetch, act.FetchDocument)
    assert ("AnsweredBy", "machine_start") in fetch.params


@pytest.mark.parametrize("key", ["1", "2"])
def test_flask_minimal_backend(key: str) -> None:
    assert flow(call(flask_backend, [key])) == [
        f"fetch:POST {PUBLIC}/xml", "say:Hello! This call is being recorded.", "gather",
        "say:Press 1 for sales, 2 for support.", *BARGE_IN,
        f"fetch:POST {PUBLIC}/gather?Digits={key}&FinishedOnKey=",
        f"say:You pressed {key}.", "hangup", "finished",
    ]  # fmt: skip


def test_flask_minimal_backend_no_key_hangs_up() -> None:
    assert flow(call(flask_backend, []))[-4:] == ["timer:5", "end-gather", "hangup", "finished"]


def test_product_doc_verb_examples_parse_clean() -> None:
    examples = [
        (
            '<Response><Say language="en-US" voice="polly.Joanna" loop="1">Hello! Thank you for '
            "calling.</Say></Response>"
        ),
        '<Response> <Play loop="1">https://example.com/greeting.wav</Play> </Response>',
        (
            '<Response><Gather numDigits="1" timeout="7" '
            'action="https://your-backend.com/gather" method="POST">'
            "<Say>Press 1 for sales, 2 for support, or 3 to repeat.</Say></Gather>"
            "<!-- Fallback if no digits collected: -->"
            "<Say>We did not receive your input. Goodbye.</Say><Hangup/></Response>"
        ),
        (
            "<Response><Say>Please leave your message after the tone.</Say>"
            '<Record maxLength="60" silence="5" action="https://your-backend.com/after-record" '
            'method="POST"/></Response>'
        ),
        '<Response><Dial timeout="30" callerId="+18005550100">\n+13125551234\n</Dial></Response>',
        (
            '<Response> <!-- Pause for 2 seconds --> <Pause length="2"/> <!-- Redirect --> '
            '<Redirect method="GET">https://your-backend.com/next-step</Redirect> <Hangup/> '
            "</Response>"
        ),
        FASTAPI_SALES,
    ]
    for xml in examples:
        document = parse_document(xml, "text/xml")
        assert document.warnings == (), xml
        assert document.verbs


def test_transfer_in_product_doc_is_a_dial() -> None:
    document = parse_document(FASTAPI_SALES, "text/xml")
    assert isinstance(document.verbs[1], Dial)
    assert document == Document(document.verbs)
