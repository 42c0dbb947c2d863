"""<Gather input="speech"> end to end (issue 26): `wirexa serve` with twilio-python, the sandbox
callees as speakers (recorded utterances they play: tests/conftest.py SANDBOX_UTTERANCES) and the
offline recognizer. What only the whole stack shows: the callee's answer arrives at the action as
SpeechResult with a Confidence; speech barges into a long prompt (the prompt stops, partial
results are posted while the caller speaks); keys first win a "dtmf speech" Gather; silence with
actionOnEmptyResult requests the action with neither input; a <Record transcribe> message comes
back as a transcription at transcribeCallback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.test_streams_e2e import heard
from tests.e2e.webapp import WebApp
from wirexa.media.audio import rms_dbfs

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)
YES = "+15005550040"  # answers a prompt with "yes" (flite)
SALES = "+15005550041"  # says "sales please" (flite) 2.5 s after answering
KEYS = "+15005550042"  # presses 3 after the prompt, never speaks
SILENT = "+15005550031"
MESSAGE = "+15005550043"  # leaves "please call me back tomorrow morning" after the beep

HANGUP = "<Response><Hangup/></Response>"
Placed = dict[str, tuple[str, float]]
LONG_PROMPT = (
    "Thank you for calling. Please listen carefully, as our menu options have changed. "
    "You can say sales, support or billing at any time, or stay on the line for an operator."
)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    for path in ("/answer", "/menu", "/keys", "/empty", "/partial", "/transcribed", "/recorded"):
        app.docs[path] = HANGUP
    yield app
    app.close()


@pytest.fixture(scope="module")
def placed(engine: LiveServer, web: WebApp) -> dict[str, tuple[str, float]]:
    """Every test's call, placed at once (they run side by side on the shared engine; each test
    then waits for its own): name -> (CallSid, when it was created)."""
    twimls = {
        "yes": (
            YES,
            '<Response><Pause length="1"/><Gather input="speech" hints="yes, no" speechTimeout="auto"'
            f' action="{web.url("/answer")}"><Say>Shall we continue? Please say yes or no.</Say></Gather>'
            "<Say>No answer.</Say></Response>",
        ),
        "barge": (
            SALES,
            '<Response><Pause length="1"/><Gather input="speech" hints="sales, support, billing" speechTimeout="1"'
            f' action="{web.url("/menu")}" partialResultCallback="{web.url("/partial")}">'
            f"<Say>{LONG_PROMPT}</Say></Gather><Say>No answer.</Say></Response>",
        ),
        "keys": (
            KEYS,
            f'<Response><Pause length="1"/><Gather input="dtmf speech" numDigits="1" action="{web.url("/keys")}">'
            "<Say>Press or say a number.</Say></Gather></Response>",
        ),
        "empty": (
            SILENT,
            f'<Response><Gather input="speech" timeout="2" actionOnEmptyResult="true" action="{web.url("/empty")}">'
            "<Say>Anyone there?</Say></Gather></Response>",
        ),
        "message": (
            MESSAGE,
            '<Response><Say>Leave a message after the beep.</Say><Record maxLength="8" timeout="2"'
            f' transcribeCallback="{web.url("/transcribed")}" action="{web.url("/recorded")}"/></Response>',
        ),
    }
    return {name: (create(engine, to=to, twiml=twiml).sid, time.monotonic()) for name, (to, twiml) in twimls.items()}


def test_a_spoken_yes_arrives_as_speech_result(engine: LiveServer, web: WebApp, placed: Placed) -> None:
    sid, _ = placed["yes"]
    [hit] = web.wait("/answer", sid, timeout=40)
    assert hit.form["SpeechResult"].lower().strip(" .") == "yes", hit.form
    assert 0.0 < float(hit.form["Confidence"]) <= 1.0
    assert "Digits" not in hit.form
    assert wait_final(engine.client(), sid).status == "completed"


def test_speech_barges_into_the_prompt_with_partial_results(engine: LiveServer, web: WebApp, placed: Placed) -> None:
    sid, started = placed["barge"]
    [hit] = web.wait("/menu", sid, timeout=40)
    assert "sales" in hit.form["SpeechResult"].lower(), hit.form
    # The prompt alone lasts ~12 s from 1 s after the answer; the caller spoke 2.5 s after it, for
    # ~1 s, then 1 s of silence ended it: the action came before the prompt could have ended.
    assert hit.t - started < 10.0
    partials = web.to("/partial", sid)
    assert partials and [int(p.form["SequenceNumber"]) for p in partials] == list(range(1, len(partials) + 1))
    assert all("UnstableSpeechResult" in p.form and "StableSpeechResult" in p.form for p in partials)
    assert all(p.t <= hit.t for p in partials)
    wait_final(engine.client(), sid)
    pcm = heard(engine, sid)  # what the callee heard: the prompt, then nothing once it spoke
    second = 16000
    assert rms_dbfs(pcm[int(1.5 * second) : int(2.5 * second)]) > -40  # the prompt plays...
    assert rms_dbfs(pcm[int(3.5 * second) : int(5.0 * second)]) < -50  # ...and stopped once the caller spoke


def test_keys_first_win_a_dtmf_speech_gather(web: WebApp, placed: Placed) -> None:
    [hit] = web.wait("/keys", placed["keys"][0], timeout=40)
    assert hit.form["Digits"] == "3" and "SpeechResult" not in hit.form


def test_silence_with_action_on_empty_result_requests_the_action_with_neither(web: WebApp, placed: Placed) -> None:
    [hit] = web.wait("/empty", placed["empty"][0], timeout=40)
    assert "SpeechResult" not in hit.form and "Digits" not in hit.form and "Confidence" not in hit.form


def test_a_recorded_message_is_transcribed_to_transcribe_callback(
    engine: LiveServer, web: WebApp, placed: Placed
) -> None:
    sid, _ = placed["message"]
    [rec] = web.wait("/recorded", sid, timeout=40)
    [hit] = web.wait("/transcribed", sid, timeout=60)
    form = hit.form
    assert form["TranscriptionStatus"] == "completed", form
    assert form["RecordingSid"] == rec.form["RecordingSid"]
    words = set(form["TranscriptionText"].lower().split())
    assert len(words & {"please", "call", "me", "back", "tomorrow", "morning"}) >= 3, form
    transcription = engine.client().transcriptions(form["TranscriptionSid"]).fetch()
    assert transcription.status == "completed" and transcription.recording_sid == rec.form["RecordingSid"]
