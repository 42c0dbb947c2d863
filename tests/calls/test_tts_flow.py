"""<Say> through the TTS port: providers that fell back become warning notifications on the
call (the call goes on), a render that fails everywhere is an error and the next verb runs, and
every <Say> of a document starts rendering as soon as the document is loaded. An uncached <Say>
of a streaming provider (the real chain over a local ElevenLabs) plays while it is synthesized
and ends at the size synthesized; one cut short leaves a warning; a looped one plays the WAV."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.calls.conftest import Flow
from tests.fakes.tts import FakeFallback
from tests.media.tts.vendors import Audio, ElevenVendor, Pace, make_audio, serve
from wirexa import config
from wirexa.errors import TtsError
from wirexa.media.tts.base import ulaw_to_pcm16
from wirexa.media.tts.chain import TtsChain
from wirexa.store.repo.notifications import list_notifications

SECRET = "sk-TEST-flow-0123456789"


async def notes(flow: Flow, sid: str) -> list[tuple[int, int, str]]:
    return [(n.error_code, n.log_level, n.message_text) for n in await flow.store.read(list_notifications, sid)]


async def test_a_provider_that_fell_back_leaves_a_warning(flow: Flow) -> None:
    flow.tts.fallbacks = (
        FakeFallback(13520, "Say: TTS provider polly could not render the text (401); used the next provider"),
    )
    call = await flow.create(twiml='<Response><Say voice="polly.Joanna">Hi</Say><Hangup/></Response>')
    await flow.wait_status(call.sid, ("completed",))
    assert await notes(flow, call.sid) == [(13520, 1, flow.tts.fallbacks[0].message)]
    assert flow.tts.spoken == [("Hi", "polly.Joanna", "en-US")]


class Failed(TtsError):
    fallbacks = (FakeFallback(13511, "Say: TTS provider azure rejected voice X; used the next provider"),)


async def test_no_provider_at_all_is_an_error_and_the_call_goes_on(flow: Flow) -> None:
    flow.tts.failure = Failed("no TTS provider could render the text")
    call = await flow.create(
        twiml="<Response><Say>Hi</Say><Play>/beep.wav</Play><Hangup/></Response>", url=flow.backend.url("/xml")
    )
    await flow.wait_status(call.sid, ("completed",))
    got = await notes(flow, call.sid)
    assert [(code, level) for code, level, _ in got] == [(13511, 1), (13520, 0)]
    assert [path for _, path, _ in flow.sip.calls[call.sid].plays][-1].endswith(".wav")  # <Play> still ran


async def test_every_say_of_a_loaded_document_starts_rendering_at_once(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        "<Response><Say>One</Say><Gather numDigits='1' timeout='1'><Say>Two</Say></Gather>"
        "<Say voice='woman'>Three</Say></Response>"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: len(flow.tts.prepared) == 3)
    assert flow.tts.prepared == [("One", "man", "en-US"), ("Two", "man", "en-US"), ("Three", "woman", "en-US")]
    await flow.wait_for(lambda: bool(flow.tts.spoken))  # the first prompt's render may come a moment later
    assert flow.tts.spoken[:1] == [("One", "man", "en-US")]  # while the first prompt plays, or before
    await flow.hurry(call.sid, ("completed",))


# --- streaming: the real chain over a local ElevenLabs server ------------------------------------


@pytest.fixture(scope="module")
def vendor_audio(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    return make_audio(tmp_path_factory.mktemp("tts-flow-audio"))


@pytest.fixture
async def eleven(flow: Flow, vendor_audio: Audio, tmp_path: Path) -> AsyncIterator[ElevenVendor]:
    """A local ElevenLabs, and the flow's <Say> rendered by the real chain pointed at it."""
    with serve(ElevenVendor(vendor_audio, SECRET)) as vendor:
        settings = config.load(
            env={},
            overrides={
                "data_dir": str(tmp_path / "chain"),
                "tts_elevenlabs_api_key": SECRET,
                "tts_elevenlabs_endpoint_url": vendor.url,
            },
        )
        chain = TtsChain.from_settings(settings)
        flow.dispatcher.deps.media.tts = chain
        yield vendor
        await chain.aclose()


def streamed(flow: Flow, sid: str) -> dict[str, int]:
    call = flow.sip.calls.get(sid)
    return dict(call.streams) if call is not None else {}


async def test_an_uncached_say_plays_while_it_is_synthesized(flow: Flow, eleven: ElevenVendor) -> None:
    gate = threading.Event()
    eleven.pace = Pace(chunks=8, gate_after=3, gate=gate)
    try:
        call = await flow.create(twiml='<Response><Say voice="eleven.Rachel">Streaming now.</Say></Response>')
        await flow.wait_for(lambda: bool(streamed(flow, call.sid)))
        # The prompt is playing while the vendor is stopped in the middle of its answer.
        assert list(streamed(flow, call.sid).values()) == [-1] and eleven.streams_done == 0
        (play_id, path, loop) = flow.sip.calls[call.sid].plays[0]
        assert path.endswith(".tmp.pcm") and loop == 1
    finally:
        gate.set()
    full = len(ulaw_to_pcm16(eleven.audio.ulaw8k))
    await flow.wait_for(lambda: streamed(flow, call.sid) == {play_id: full})  # end_stream with every byte
    await flow.wait_status(call.sid, ("completed",))
    assert await notes(flow, call.sid) == []
    again = await flow.create(twiml='<Response><Say voice="eleven.Rachel">Streaming now.</Say></Response>')
    await flow.wait_status(again.sid, ("completed",))
    assert streamed(flow, again.sid) == {}  # the cache's WAV: a plain play
    assert flow.sip.calls[again.sid].plays[0][1].endswith(".wav")
    assert len(eleven.synth_requests()) == 1


async def test_a_stream_cut_short_ends_the_prompt_with_a_warning(flow: Flow, eleven: ElevenVendor) -> None:
    eleven.pace = Pace(chunks=8, cut_after=3)
    call = await flow.create(twiml='<Response><Say voice="eleven.Rachel">Cut off.</Say></Response>')
    await flow.wait_status(call.sid, ("completed",))
    [(_, size)] = streamed(flow, call.sid).items()
    assert 0 < size < len(ulaw_to_pcm16(eleven.audio.ulaw8k))
    [(code, level, message)] = await notes(flow, call.sid)
    assert (code, level) == (13520, 1) and "elevenlabs stopped after" in message and SECRET not in message


async def test_a_looped_say_waits_for_the_complete_wav(flow: Flow, eleven: ElevenVendor) -> None:
    call = await flow.create(twiml='<Response><Say voice="eleven.Rachel" loop="2">Twice.</Say></Response>')
    await flow.wait_status(call.sid, ("completed",))
    assert streamed(flow, call.sid) == {}
    [(_, path, loop)] = flow.sip.calls[call.sid].plays
    assert path.endswith(".wav") and loop == 2


async def test_a_key_press_stops_a_streaming_prompt_before_its_synthesis_ends(flow: Flow, eleven: ElevenVendor) -> None:
    gate = threading.Event()
    eleven.pace = Pace(chunks=8, gate_after=1, gate=gate)
    flow.backend.docs["/done"] = "<Response><Hangup/></Response>"
    try:
        call = await flow.create(
            twiml=f'<Response><Gather numDigits="1" action="{flow.backend.url("/done")}">'
            '<Say voice="eleven.Rachel">Press a key any time.</Say></Gather></Response>'
        )
        await flow.wait_for(lambda: bool(streamed(flow, call.sid)))
        flow.sip.press(call.sid, "7")
        await flow.wait_for(lambda: bool(flow.backend.requests_to("/done")))
        assert flow.backend.requests_to("/done")[0]["Digits"] == "7"
        assert eleven.streams_done == 0  # the vendor was still in the middle of its answer
    finally:
        gate.set()
    await flow.wait_status(call.sid, ("completed",))
    await flow.wait_for(lambda: eleven.streams_done == 1)  # the render went on (for the cache)
