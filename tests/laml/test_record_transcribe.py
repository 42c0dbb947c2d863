"""<Record transcribe transcribeCallback>: parsed with Twilio's manners (a transcribeCallback turns
transcription on; a bad transcribe is 13614 and false) and carried by StartRecording, the callback
resolved against the document's URL."""

from __future__ import annotations

import pytest

from wirexa.laml import actions as act
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import DocumentWarning, Record
from wirexa.notices import Notice

from .helpers import run


def record(attrs: str) -> tuple[Record, tuple[DocumentWarning, ...]]:
    document = parse_document(f"<Response><Record {attrs}/></Response>", "text/xml")
    (verb,) = document.verbs
    assert isinstance(verb, Record)
    return verb, document.warnings


@pytest.mark.parametrize(
    ("attrs", "transcribe", "callback"),
    [
        ("", False, None),
        ('transcribe="true"', True, None),
        ('transcribe="TRUE"', True, None),
        ('transcribe="false"', False, None),
        ('transcribeCallback="/t"', True, "/t"),
        ('transcribe="false" transcribeCallback=" https://x.example/t "', True, "https://x.example/t"),
        ('transcribe="true" transcribeCallback=""', True, None),
    ],
)
def test_transcribe_attributes(attrs: str, transcribe: bool, callback: str | None) -> None:
    verb, warnings = record(attrs)
    assert warnings == ()
    assert (verb.transcribe, verb.transcribe_callback) == (transcribe, callback)


def test_bad_transcribe_is_13614_and_false() -> None:
    verb, warnings = record('transcribe="yes"')
    assert verb.transcribe is False
    assert [w.code for w in warnings] == [Notice.RECORD_INVALID_TRANSCRIBE]
    assert "transcribe" in warnings[0].message


def test_start_recording_carries_transcription_with_the_callback_resolved() -> None:
    xml = '<Response><Record transcribe="true" transcribeCallback="/t?x=1"/></Response>'
    (start,) = run(xml)
    assert isinstance(start, act.StartRecording)
    assert (start.transcribe, start.transcribe_callback) == (True, "https://app.example/t?x=1")
    (plain,) = run("<Response><Record/></Response>")
    assert isinstance(plain, act.StartRecording)
    assert (plain.transcribe, plain.transcribe_callback) == (False, None)


def test_unresolvable_transcribe_callback_is_a_warning_and_still_transcribes() -> None:
    notify, start = run('<Response><Record transcribeCallback="/t"/></Response>', url=None)
    assert isinstance(notify, act.Notify) and notify.code == Notice.INVALID_URL
    assert notify.level == act.NotifyLevel.WARNING and "transcribeCallback" in notify.message
    assert isinstance(start, act.StartRecording)
    assert (start.transcribe, start.transcribe_callback) == (True, None)
