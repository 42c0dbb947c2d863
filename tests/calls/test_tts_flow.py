"""<Say> through the TTS port: providers that fell back become warning notifications on the
call (the call goes on), a render that fails everywhere is an error and the next verb runs, and
every <Say> of a document starts rendering as soon as the document is loaded."""

from __future__ import annotations

from tests.calls.conftest import Flow
from tests.fakes.tts import FakeFallback
from wirexa.errors import TtsError
from wirexa.store import repo


async def notes(flow: Flow, sid: str) -> list[tuple[int, int, str]]:
    return [(n.error_code, n.log_level, n.message_text) for n in await flow.store.read(repo.list_notifications, sid)]


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
    assert flow.tts.spoken[:1] == [("One", "man", "en-US")]  # while the first prompt plays, or before
    await flow.wait_status(call.sid, ("completed",), timeout=15)
