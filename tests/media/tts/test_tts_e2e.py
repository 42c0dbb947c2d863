"""TTS through the whole engine: `wirexa serve` with the cloud providers pointed at local servers
that speak their APIs, twilio-python creating calls with <Say voice="provider.Voice">, the
sandbox callee hearing speech over real SIP, and a provider that fails leaving a warning
notification on the call while the next provider speaks. A streaming provider that pauses in the
middle of its answer is heard at the callee before it has finished: the callee's recording has
the first half of the speech, the pause as silence, then the rest."""

from __future__ import annotations

import array
import json
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.media.tts.conftest import SECRET
from tests.media.tts.vendors import Audio, AzureVendor, ElevenVendor, GoogleVendor, Pace, Vendor, serve

pytestmark = [pytest.mark.sip, pytest.mark.slow]


@pytest.fixture(scope="module")
def vendors(audio: Audio) -> Iterator[dict[str, Vendor]]:
    with (
        serve(GoogleVendor(audio, SECRET)) as g,
        serve(ElevenVendor(audio, SECRET)) as e,
        serve(AzureVendor(audio, SECRET)) as a,
    ):
        yield {"google": g, "eleven": e, "azure": a}


def vendor_env(request: pytest.FixtureRequest) -> dict[str, str]:
    vendors: dict[str, Vendor] = request.getfixturevalue("vendors")
    return {
        "WIREXA_TTS_GOOGLE_API_KEY": SECRET,
        "WIREXA_TTS_GOOGLE_ENDPOINT_URL": vendors["google"].url,
        "WIREXA_TTS_ELEVENLABS_API_KEY": SECRET,
        "WIREXA_TTS_ELEVENLABS_ENDPOINT_URL": vendors["eleven"].url,
        "WIREXA_TTS_AZURE_KEY": SECRET,
        "WIREXA_TTS_AZURE_ENDPOINT_URL": vendors["azure"].url,
        "WIREXA_TTS_AZURE_REGION": "eastus",
    }


# Its own engine: the cloud providers point at the local vendors.
engine = engine_fixture("tts-engine", env=vendor_env)


def finished(engine: LiveServer, text: str, voice: str) -> Any:
    client = engine.client()
    call = client.calls.create(
        to="+15005550006", from_="+15005550100", twiml=f'<Response><Say voice="{voice}">{text}</Say></Response>'
    )
    deadline = time.monotonic() + 60
    while (call := client.calls(call.sid).fetch()).status not in (
        "completed",
        "failed",
        "busy",
        "no-answer",
        "canceled",
    ):
        assert time.monotonic() < deadline, call.status
        time.sleep(0.25)
    return call


def heard(engine: LiveServer, call_sid: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "sandbox", "show", call_sid, "--json", "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    return json.loads(out.stdout)["audio"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("provider", "voice"),
    [("google", "google.en-US-Wavenet-F"), ("eleven", "eleven.Rachel"), ("azure", "azure.en-US-JennyNeural")],
)
def test_each_provider_speaks_to_the_callee(
    engine: LiveServer, vendors: dict[str, Vendor], provider: str, voice: str
) -> None:
    vendor = vendors[provider]
    before = len(vendor.synth_requests())
    text = f"This is {provider} speaking on a real call."
    call = finished(engine, text, voice)
    assert call.status == "completed"
    assert len(vendor.synth_requests()) == before + 1 and vendor.problems == []
    audio = heard(engine, call.sid)
    assert audio["speech_fraction"] > 0.2 and audio["duration_s"] >= 1.0  # the vendor's audio reached the callee
    assert engine.client().calls(call.sid).notifications.list() == []


def test_a_failing_provider_falls_back_with_a_warning(engine: LiveServer, vendors: dict[str, Vendor]) -> None:
    google, eleven = vendors["google"], vendors["eleven"]
    google.mode = "500"
    try:
        before = len(eleven.synth_requests())
        call = finished(engine, "Google is down, someone else speaks.", "google.en-US-Wavenet-F")
    finally:
        google.mode = "ok"
    assert call.status == "completed"
    assert len(eleven.synth_requests()) == before + 1  # the next configured one in the doc's order
    assert heard(engine, call.sid)["speech_fraction"] > 0.2
    notes = engine.client().calls(call.sid).notifications.list()
    assert [(n.error_code, n.log) for n in notes] == [("13520", "1")]  # a warning: the call went on
    assert "google" in notes[0].message_text and SECRET not in notes[0].message_text


def loud_frames(engine: LiveServer, call_sid: str, threshold: int = 500) -> list[bool]:
    """The callee's recording (saved a moment after the hangup) as 20 ms frames: sound or not."""
    path = engine.data_dir / "sandbox" / f"{call_sid}.wav"
    deadline = time.monotonic() + 30
    while True:
        try:
            events = json.loads((engine.data_dir / "sandbox" / f"{call_sid}.json").read_text())["events"]
        except (OSError, ValueError, KeyError):
            events = []
        if any(e["event"] in ("wav saved", "no audio") for e in events):
            break
        assert time.monotonic() < deadline, "the callee saved no recording"
        time.sleep(0.1)
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), array.array("h", w.readframes(w.getnframes()))
    step = rate // 50
    return [max(map(abs, pcm[i : i + step])) > threshold for i in range(0, len(pcm) - step + 1, step)]


def test_a_streaming_provider_is_heard_before_it_has_finished(engine: LiveServer, vendors: dict[str, Vendor]) -> None:
    eleven = vendors["eleven"]
    # First chunk at once, then a 2 s pause after half the answer (within the 3 s provider timeout).
    eleven.pace = Pace(first_byte_s=0.1, chunks=8, hold_s=2.0, total_s=2.6)
    try:
        before = eleven.streams_done
        call = finished(engine, "Streaming to a real callee.", "eleven.Rachel")
    finally:
        eleven.pace = Pace()
    assert call.status == "completed"
    assert eleven.streams_done == before + 1 and eleven.synth_requests()[-1].path.endswith("/stream")
    frames = loud_frames(engine, call.sid)
    first, last = frames.index(True), len(frames) - 1 - frames[::-1].index(True)
    longest = run = 0
    for loud in frames[first : last + 1]:
        run = 0 if loud else run + 1
        longest = max(longest, run)
    # Had the engine waited for the whole answer, the callee would hear the speech in one piece
    # (its word gaps are well under 0.5 s). It heard the first half, the vendor's pause, the rest.
    assert longest * 0.02 >= 1.0, "".join("#" if f else "." for f in frames)
    assert engine.client().calls(call.sid).notifications.list() == []
