"""The recognizer chain (media/stt/chain.py) with small fake providers: it is pure ordering,
timing and buffering logic. The real providers are tested in test_offline.py and test_cloud.py."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from wirexa import config
from wirexa.errors import ConfigError
from wirexa.media.stt.base import (
    CODE_LANGUAGE,
    CODE_PROVIDER,
    Partial,
    PartialCallback,
    ProviderError,
    Recognition,
    SpeechOptions,
)
from wirexa.media.stt.chain import REGISTRY, SttChain, SttFailed, requested_provider


@dataclasses.dataclass
class Fake:
    """A provider: `fail_open`/`fail_finish` raise ProviderError, `hang_*` never answer."""

    name: str
    configured_: bool = True
    fail_open: ProviderError | None = None
    fail_finish: ProviderError | None = None
    hang_open: bool = False
    hang_finish: bool = False
    partials: tuple[str, ...] = ()
    opened: int = 0
    fed: bytearray = dataclasses.field(default_factory=bytearray)
    cancelled: int = 0
    closed: bool = False

    def configured(self) -> bool:
        return self.configured_

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> FakeSession:
        self.opened += 1
        if self.hang_open:
            await asyncio.sleep(3600)
        if self.fail_open is not None:
            raise self.fail_open
        return FakeSession(self, on_partial)

    async def aclose(self) -> None:
        self.closed = True


class FakeSession:
    def __init__(self, provider: Fake, on_partial: PartialCallback | None) -> None:
        self.provider = provider
        self.on_partial = on_partial

    def feed(self, pcm: bytes) -> None:
        self.provider.fed += pcm
        if self.on_partial is not None:
            for text in self.provider.partials:
                self.on_partial(Partial(text))

    async def finish(self) -> Recognition:
        if self.provider.hang_finish:
            await asyncio.sleep(3600)
        if self.provider.fail_finish is not None:
            raise self.provider.fail_finish
        return Recognition(f"heard {len(self.provider.fed)} bytes", 0.5, self.provider.name)

    async def cancel(self) -> None:
        self.provider.cancelled += 1


def chain(*providers: Fake, timeout_s: float = 0.2) -> SttChain:
    return SttChain(list(providers), timeout_s=timeout_s)  # type: ignore[arg-type]


async def test_first_configured_provider_recognizes_and_unconfigured_ones_are_skipped_silently() -> None:
    a, b, c = Fake("google", configured_=False), Fake("deepgram"), Fake("pocketsphinx")
    ch = chain(a, b, c)
    assert ch.configured() == ["deepgram", "pocketsphinx"]
    session = await ch.open(SpeechOptions())
    session.feed(b"\x01\x00" * 10)
    result = await session.finish()
    assert (result.provider, result.text, result.fallbacks) == ("deepgram", "heard 20 bytes", ())
    assert a.opened == 0 and c.opened == 0


async def test_failure_at_finish_replays_the_whole_buffer_into_the_next_provider() -> None:
    a = Fake("google", fail_finish=ProviderError(CODE_PROVIDER, "vendor said 500"))
    b = Fake("pocketsphinx")
    session = await chain(a, b).open(SpeechOptions())
    for piece in (b"ab", b"cd", b"ef"):
        session.feed(piece)
    result = await session.finish()
    assert bytes(b.fed) == b"abcdef" == bytes(a.fed)
    assert result.provider == "pocketsphinx" and result.text == "heard 6 bytes"
    assert [(f.provider, f.code, f.reason) for f in result.fallbacks] == [("google", CODE_PROVIDER, "vendor said 500")]
    assert a.cancelled == 1


async def test_failure_at_open_moves_on_before_any_audio_and_keeps_the_code() -> None:
    a = Fake("google", fail_open=ProviderError(CODE_LANGUAGE, "language 'xx-XX' not supported"))
    b = Fake("pocketsphinx")
    session = await chain(a, b).open(SpeechOptions(language="xx-XX"))
    session.feed(b"1234")
    result = await session.finish()
    assert result.provider == "pocketsphinx"
    assert result.fallbacks[0].code == CODE_LANGUAGE and "xx-XX" in result.fallbacks[0].reason


async def test_timeouts_at_open_and_at_finish_are_fallbacks() -> None:
    a = Fake("google", hang_open=True)
    b = Fake("deepgram", hang_finish=True)
    c = Fake("pocketsphinx")
    loop = asyncio.get_running_loop()
    started = loop.time()
    session = await chain(a, b, c, timeout_s=0.2).open(SpeechOptions())
    session.feed(b"xy")
    result = await session.finish()
    assert result.provider == "pocketsphinx" and bytes(c.fed) == b"xy"
    assert [f.provider for f in result.fallbacks] == ["google", "deepgram"]
    assert "0.2 s" in result.fallbacks[0].reason and "0.2 s" in result.fallbacks[1].reason
    assert loop.time() - started < 2.0


async def test_requested_provider_goes_first_and_one_not_configured_is_a_fallback() -> None:
    a, b = Fake("google"), Fake("deepgram")
    result = await chain(a, b).recognize(b"zz", SpeechOptions(provider="deepgram"))
    assert result.provider == "deepgram" and result.fallbacks == ()
    a2, b2 = Fake("google"), Fake("deepgram", configured_=False)
    result = await chain(a2, b2).recognize(b"zz", SpeechOptions(provider="deepgram"))
    assert result.provider == "google"
    assert [(f.provider, f.reason) for f in result.fallbacks] == [("deepgram", "not configured")]
    result = await chain(Fake("pocketsphinx")).recognize(b"zz", SpeechOptions(provider="azure"))
    assert [(f.provider, f.reason) for f in result.fallbacks] == [("azure", "not configured")]


async def test_provider_specific_models_route_to_their_provider() -> None:
    assert requested_provider(SpeechOptions(model="deepgram_nova-3")) == "deepgram"
    assert requested_provider(SpeechOptions(model="googlev2_telephony")) == "google"
    assert requested_provider(SpeechOptions(model="phone_call")) == ""
    assert requested_provider(SpeechOptions(model="deepgram_nova-3", provider="google")) == "google"
    a, b = Fake("google"), Fake("deepgram")
    result = await chain(a, b).recognize(b"zz", SpeechOptions(model="deepgram_nova-3"))
    assert result.provider == "deepgram"
    result = await chain(Fake("google"), Fake("pocketsphinx")).recognize(b"zz", SpeechOptions(model="deepgram_nova-3"))
    assert result.provider == "google"
    assert [(f.provider, f.reason) for f in result.fallbacks] == [("deepgram", "not configured")]


async def test_every_provider_failing_raises_with_every_reason() -> None:
    a = Fake("google", fail_finish=ProviderError(CODE_PROVIDER, "refused"))
    b = Fake("pocketsphinx", fail_open=ProviderError(CODE_LANGUAGE, "en-US only"))
    session = await chain(a, b).open(SpeechOptions())
    session.feed(b"ab")
    with pytest.raises(SttFailed) as info:
        await session.finish()
    assert [f.provider for f in info.value.fallbacks] == ["google", "pocketsphinx"]
    assert "refused" in info.value.reason and "en-US only" in info.value.reason
    with pytest.raises(SttFailed, match="no speech provider configured"):
        await chain(Fake("google", configured_=False)).open(SpeechOptions())


async def test_partials_come_only_from_the_provider_holding_the_session() -> None:
    a = Fake("google", partials=("from google",), fail_finish=ProviderError(CODE_PROVIDER, "dropped"))
    b = Fake("pocketsphinx", partials=("from pocketsphinx",))
    got: list[str] = []
    session = await chain(a, b).open(SpeechOptions(), lambda p: got.append(p.text))
    session.feed(b"ab")
    assert got == ["from google"]
    await session.finish()
    assert got == ["from google", "from pocketsphinx"]  # the replay's partials, from the new holder


async def test_cancel_stops_feeding_and_finish_after_cancel_raises() -> None:
    a = Fake("pocketsphinx")
    session = await chain(a).open(SpeechOptions())
    session.feed(b"ab")
    await session.cancel()
    await session.cancel()
    session.feed(b"cd")
    assert bytes(a.fed) == b"ab" and a.cancelled == 1
    with pytest.raises(ProviderError):
        await session.finish()


async def test_from_settings_keeps_the_order_and_names_an_unknown_provider() -> None:
    s = dataclasses.replace(config.Settings(), stt_providers="pocketsphinx, vosk")
    ch = SttChain.from_settings(s)
    assert [p.name for p in ch.providers] == ["pocketsphinx", "vosk"]
    assert ch.configured() == ["pocketsphinx"]  # vosk: no model directory
    assert ch.timeout_s == s.stt_timeout_s
    with pytest.raises(ConfigError, match="'nuance'"):
        SttChain.from_settings(dataclasses.replace(s, stt_providers="vosk,nuance,pocketsphinx"))
    assert {"vosk", "pocketsphinx"} <= set(REGISTRY)
    await ch.aclose()


def test_local_providers_get_time_for_the_audio_they_decode_at_finish() -> None:
    ch = chain(Fake("google"), timeout_s=3.0)
    assert ch.finish_timeout(Fake("google"), 120.0) == 3.0  # type: ignore[arg-type]
    assert ch.finish_timeout(Fake("pocketsphinx"), 0.5) == 10.5  # type: ignore[arg-type]
    assert ch.finish_timeout(Fake("pocketsphinx"), 120.0) == 130.0  # type: ignore[arg-type]
