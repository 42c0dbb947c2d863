"""calls/speech.py's SpeechListener with a recording SIP port and a scripted recognizer (the
listener's own logic: what the recognizer is fed and when, what the interpreter hears, what is
notified and posted). The real recognizers are tested in tests/media/stt; the whole path over
SIP in tests/e2e/test_speech_e2e.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from wirexa.calls.ports import AudioHeard, CallSid
from wirexa.calls.speech import SpeechListener
from wirexa.laml import events as E
from wirexa.laml.verbs import HttpMethod, Speech
from wirexa.media.stt.base import Fallback, Partial, ProviderError, Recognition, SpeechOptions
from wirexa.media.stt.endpoint import FRAME_BYTES

SID = CallSid("CA" + "1" * 32)


@dataclass
class Sip:
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def listen(self, call_sid: CallSid, listen_id: str) -> None:
        self.calls.append(("listen", listen_id))

    async def unlisten(self, call_sid: CallSid, listen_id: str) -> None:
        self.calls.append(("unlisten", listen_id))


@dataclass
class Session:
    result: Recognition | ProviderError
    fed: list[bytes] = field(default_factory=list)
    finished: bool = False
    canceled: bool = False

    def feed(self, pcm: bytes) -> None:
        self.fed.append(pcm)

    async def finish(self) -> Recognition:
        self.finished = True
        if isinstance(self.result, ProviderError):
            raise self.result
        return self.result

    async def cancel(self) -> None:
        self.canceled = True


@dataclass
class Stt:
    session: Session
    options: list[SpeechOptions] = field(default_factory=list)
    on_partial: object = None

    async def open(self, options: SpeechOptions, on_partial: object = None) -> Session:
        self.options.append(options)
        self.on_partial = on_partial
        return self.session


class Harness:
    def __init__(self, result: Recognition | ProviderError, speech: Speech, partial_url: str | None = None) -> None:
        self.sip, self.stt = Sip(), Stt(Session(result))
        self.delivered: list[E.Event] = []
        self.notices: list[tuple[int, str, int]] = []
        self.posted: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.listener = SpeechListener(
            SID,
            7,
            speech,
            partial_url,
            sip=self.sip,  # type: ignore[arg-type]
            stt=self.stt,  # type: ignore[arg-type]
            deliver=self.delivered.append,
            notify=self.notify,
            post_partial=self.post,
        )

    async def notify(self, code: int, message: str, level: int) -> None:
        self.notices.append((code, message, level))

    async def post(self, url: str, method: str, extra: list[tuple[str, str]]) -> None:
        self.posted.append((url, method, extra))

    async def hear(self, pattern: str) -> None:
        """100 ms blocks: each character of `pattern` is one 20 ms frame, "1" voiced, "0" not."""
        for start in range(0, len(pattern), 5):
            flags = pattern[start : start + 5]
            pcm = b"".join(bytes([int(f) + 1]) * FRAME_BYTES for f in flags)
            await self.listener.heard(AudioHeard(SID, "7", pcm, tuple(f == "1" for f in flags)))
            await asyncio.sleep(0)

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


async def test_speech_is_fed_from_its_preroll_and_the_result_delivered_after_the_pause() -> None:
    h = Harness(Recognition("yes", 0.8, "pocketsphinx"), Speech(speech_timeout_s=1, hints=("yes", "no")))
    await h.listener.start()
    await h.hear("00000" * 4 + "11111" * 4 + "00000" * 10)  # 0.4 s quiet, 0.4 s speech, 1 s pause
    await h.settle()
    assert h.delivered == [E.SpeechStarted(7), E.SpeechRecognized(7, "yes", 0.8)]
    assert h.sip.calls == [("listen", "7"), ("unlisten", "7")]
    assert h.stt.options == [SpeechOptions(hints=("yes", "no"))]
    audio = b"".join(h.stt.session.fed)
    assert audio.count(b"\x02") == 20 * FRAME_BYTES  # every voiced frame
    assert audio.startswith(b"\x01" * FRAME_BYTES * 14)  # the pre-roll: quiet frames before the start
    assert (
        len(audio) == (20 + 20 + 50) * FRAME_BYTES - 6 * FRAME_BYTES
    )  # the start's window and the pause, up to the end
    assert h.notices == []


async def test_nothing_is_recognized_before_speech_and_short_noise_does_not_start_it() -> None:
    h = Harness(Recognition("x", 0.5, "p"), Speech(speech_timeout_s=1))
    await h.listener.start()
    await h.hear("00100" * 10)  # clicks
    await h.settle()
    assert h.delivered == [] and h.stt.options == []


async def test_stop_drops_the_recognition_and_delivers_nothing() -> None:
    h = Harness(Recognition("yes", 0.8, "p"), Speech(speech_timeout_s=1))
    await h.listener.start()
    await h.hear("11111" * 3)
    await h.settle()
    await h.listener.stop()
    await h.settle()
    await h.hear("00000" * 20)
    await h.listener.stop()  # idempotent
    assert h.delivered == [E.SpeechStarted(7)]
    assert h.stt.session.canceled and not h.stt.session.finished
    assert h.sip.calls == [("listen", "7"), ("unlisten", "7")]


async def test_a_failed_chain_is_an_error_notification_and_an_empty_result() -> None:
    h = Harness(ProviderError(13343, "vendor down"), Speech(speech_timeout_s=1))
    await h.listener.start()
    await h.hear("11111" * 3 + "00000" * 10)
    await h.settle()
    assert h.delivered == [E.SpeechStarted(7), E.SpeechRecognized(7, "", None)]
    assert h.notices == [(13343, "Gather: the speech could not be recognized (vendor down)", 0)]


async def test_fallbacks_and_notes_are_warnings() -> None:
    result = Recognition(
        "no", None, "pocketsphinx", (Fallback("deepgram", 13343, "not configured"),), ("hints unused",)
    )
    h = Harness(result, Speech(speech_timeout_s=None))  # auto: a 0.7 s pause ends it
    await h.listener.start()
    await h.hear("11111" * 3 + "00000" * 7)
    await h.settle()
    assert h.delivered[-1] == E.SpeechRecognized(7, "no", None)
    assert [(code, level) for code, _, level in h.notices] == [(13343, 1), (13343, 1)]
    assert "deepgram" in h.notices[0][1] and h.notices[1][1] == "Gather: hints unused"


async def test_max_speech_time_ends_a_long_utterance() -> None:
    h = Harness(Recognition("blah", 0.5, "p"), Speech(speech_timeout_s=5, max_speech_time_s=1))
    await h.listener.start()
    await h.hear("11111" * 15)
    await h.settle()
    assert h.delivered[-1] == E.SpeechRecognized(7, "blah", 0.5)


async def test_partials_are_posted_in_sequence_and_a_failed_listen_is_an_empty_result() -> None:
    speech = Speech(speech_timeout_s=1, partial_result_callback="/p", partial_result_callback_method=HttpMethod.GET)
    h = Harness(Recognition("one two", 0.9, "p"), speech, "https://app/p")
    await h.listener.start()
    await h.hear("11111" * 3)
    await h.settle()
    h.stt.on_partial(Partial("one", ""))  # type: ignore[operator]
    h.stt.on_partial(Partial("one two", "one"))  # type: ignore[operator]
    await h.settle()
    assert [extra for _, _, extra in h.posted] == [
        [("UnstableSpeechResult", "one"), ("StableSpeechResult", ""), ("SequenceNumber", "1")],
        [("UnstableSpeechResult", "one two"), ("StableSpeechResult", "one"), ("SequenceNumber", "2")],
    ]
    assert {(url, method) for url, method, _ in h.posted} == {("https://app/p", "GET")}

    failed = Harness(Recognition("x", 0.5, "p"), Speech())
    await failed.listener.start()
    failed.listener.failed("no port")
    await failed.settle()
    assert failed.delivered == [E.SpeechRecognized(7, "", None)]
    assert failed.notices[0][0] == 13343
