"""The recognizer chain: the requested provider, then the configured order; pocketsphinx ends it.

Theory of operation. `open(options, on_partial)` builds the order: a provider named by
`options.provider`, or implied by a provider-specific speechModel (`googlev2_*` -> google,
`deepgram_*` -> deepgram), goes first; then every provider of `stt_providers` in its order.
A requested provider that is not configured (or not in the chain at all) becomes a Fallback
("not configured"); unconfigured providers nobody asked for are skipped silently. The first
provider that opens (within stt_timeout_s) gets the audio.

The returned ChainRecognizing keeps everything fed. When the current provider fails (a
ProviderError from open or finish, or no result within the timeout after the end of speech),
it records a Fallback, opens the next provider and replays the whole buffer into it, then asks
it for the result: the caller's words are never lost to a vendor outage, they only arrive
later. Recognition.fallbacks lists who passed the audio on, for the engine's notifications.
Partial results reach `on_partial` only from the provider currently holding the session.

Local recognizers (vosk, pocketsphinx) decode on this machine's CPU: the time they may take
after the end of speech grows with the audio (a transcription of a long recording is decoded
at finish when it was fed all at once), so their finish timeout is LOCAL_FLOOR_S plus
LOCAL_S_PER_AUDIO_S per second of audio, never less than stt_timeout_s.

Loop-only, like every provider.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from wirexa.config import Settings
from wirexa.errors import ConfigError
from wirexa.media.stt.amazon import AmazonStt
from wirexa.media.stt.azure import AzureStt
from wirexa.media.stt.base import (
    CODE_PROVIDER,
    SAMPLE_BYTES,
    SAMPLE_RATE,
    Fallback,
    Partial,
    PartialCallback,
    ProviderError,
    Recognition,
    Recognizing,
    SpeechOptions,
    SttProvider,
)
from wirexa.media.stt.deepgram import DeepgramStt
from wirexa.media.stt.google import GoogleStt
from wirexa.media.stt.pocketsphinx import PocketsphinxStt
from wirexa.media.stt.vosk import VoskStt

log = logging.getLogger(__name__)

# Explicit registry (no entry points: a frozen binary would not see them). The order of the chain
# is the `stt_providers` setting's, not this dict's.
REGISTRY: dict[str, Callable[[Any], SttProvider]] = {
    "google": GoogleStt.from_settings,
    "amazon": AmazonStt.from_settings,
    "azure": AzureStt.from_settings,
    "deepgram": DeepgramStt.from_settings,
    "vosk": VoskStt.from_settings,
    "pocketsphinx": PocketsphinxStt.from_settings,
}
LOCAL = frozenset({"vosk", "pocketsphinx"})
LOCAL_FLOOR_S = 10.0
LOCAL_S_PER_AUDIO_S = 1.0
# speechModel prefixes that only one provider serves.
MODEL_PROVIDERS = {"googlev2_": "google", "deepgram_": "deepgram"}


def requested_provider(options: SpeechOptions) -> str:
    """The provider the options ask for first: `provider`, else the one a speechModel implies."""
    if options.provider:
        return options.provider
    for prefix, name in MODEL_PROVIDERS.items():
        if options.model.startswith(prefix):
            return name
    return ""


class SttFailed(ProviderError):
    """No provider could recognize; `fallbacks` says why each failed."""

    def __init__(self, reason: str, fallbacks: tuple[Fallback, ...]) -> None:
        super().__init__(CODE_PROVIDER, reason)
        self.fallbacks = fallbacks


class SttChain:
    """Loop-only. `open` -> ChainRecognizing; `recognize` for a whole utterance."""

    def __init__(self, providers: list[SttProvider], *, timeout_s: float = 3.0) -> None:
        self.providers = providers
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, s: Settings) -> SttChain:
        """The providers named by stt_providers, in its order; ConfigError names an unknown one."""
        names = [n.strip().lower() for n in s.stt_providers.split(",") if n.strip()]
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ConfigError(
                f"stt.providers: unknown speech provider {', '.join(map(repr, unknown))} (known: {', '.join(REGISTRY)})"
            )
        return cls([REGISTRY[n](s) for n in dict.fromkeys(names)], timeout_s=s.stt_timeout_s)

    def configured(self) -> list[str]:
        return [p.name for p in self.providers if p.configured()]

    def order(self, options: SpeechOptions) -> tuple[list[SttProvider], list[Fallback]]:
        """The providers to try, in order, and the Fallbacks decided before any is tried."""
        wanted = requested_provider(options)
        fallbacks: list[Fallback] = []
        order = [p for p in self.providers if p.configured()]
        if wanted:
            first = [p for p in order if p.name == wanted]
            if first:
                order = first + [p for p in order if p.name != wanted]
            else:
                fallbacks.append(Fallback(wanted, CODE_PROVIDER, "not configured"))
                log.warning("stt: %s was asked for but is not configured", wanted)
        return order, fallbacks

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None = None) -> ChainRecognizing:
        order, fallbacks = self.order(options)
        session = ChainRecognizing(self, options, on_partial, order, fallbacks)
        await session.start()
        return session

    async def recognize(self, pcm: bytes, options: SpeechOptions) -> Recognition:
        """Recognize a whole utterance (transcriptions, `wirexa stt test`)."""
        session = await self.open(options)
        try:
            session.feed(pcm)
            return await session.finish()
        except BaseException:
            await session.cancel()
            raise

    def finish_timeout(self, provider: SttProvider, audio_s: float) -> float:
        if provider.name in LOCAL:
            return max(self.timeout_s, LOCAL_FLOOR_S + LOCAL_S_PER_AUDIO_S * audio_s)
        return self.timeout_s

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()


class ChainRecognizing:
    """A Recognizing over the chain: buffers the audio, falls back and replays it. Loop-only."""

    def __init__(
        self,
        chain: SttChain,
        options: SpeechOptions,
        on_partial: PartialCallback | None,
        order: list[SttProvider],
        fallbacks: list[Fallback],
    ) -> None:
        self._chain = chain
        self._options = options
        self._on_partial = on_partial
        self._pending = list(order)
        self.fallbacks = fallbacks
        self._buffer = bytearray()
        self._current: Recognizing | None = None
        self._provider: SttProvider | None = None
        self._generation = 0
        self._closed = False

    @property
    def provider(self) -> str:
        """The provider holding the session now ("" before one opened)."""
        return self._provider.name if self._provider is not None else ""

    async def start(self) -> None:
        """Open the first provider that will; SttFailed when none did."""
        while self._pending:
            provider = self._pending.pop(0)
            self._generation += 1
            try:
                async with asyncio.timeout(self._chain.timeout_s):
                    session = await provider.open(self._options, self._partial_for(self._generation))
            except ProviderError as exc:
                self._fail(provider, exc.code, exc.reason)
                continue
            except TimeoutError:
                self._fail(provider, CODE_PROVIDER, f"did not connect within {self._chain.timeout_s:g} s")
                continue
            self._current, self._provider = session, provider
            if self._buffer:
                session.feed(bytes(self._buffer))
            return
        reasons = "; ".join(f"{f.provider}: {f.reason}" for f in self.fallbacks) or "no speech provider configured"
        raise SttFailed(f"no speech provider could recognize the speech: {reasons}", tuple(self.fallbacks))

    def _fail(self, provider: SttProvider, code: int, reason: str) -> None:
        self.fallbacks.append(Fallback(provider.name, code, reason))
        log.warning("stt: %s failed (%s): %s", provider.name, code, reason)

    def _partial_for(self, generation: int) -> PartialCallback | None:
        if self._on_partial is None:
            return None
        on_partial = self._on_partial

        def forward(partial: Partial) -> None:
            if generation == self._generation and not self._closed:
                on_partial(partial)

        return forward

    def feed(self, pcm: bytes) -> None:
        if self._closed or not pcm:
            return
        self._buffer += pcm
        if self._current is not None:
            self._current.feed(pcm)

    async def finish(self) -> Recognition:
        """The result of the first provider that gives one; SttFailed when none did."""
        if self._closed:
            raise ProviderError(CODE_PROVIDER, "the recognition was cancelled")
        audio_s = len(self._buffer) / (SAMPLE_RATE * SAMPLE_BYTES)
        while self._current is not None and self._provider is not None:
            session, provider = self._current, self._provider
            timeout = self._chain.finish_timeout(provider, audio_s)
            try:
                async with asyncio.timeout(timeout):
                    result = await session.finish()
            except ProviderError as exc:
                self._fail(provider, exc.code, exc.reason)
            except TimeoutError:
                self._fail(provider, CODE_PROVIDER, f"no result within {timeout:g} s of the end of speech")
            else:
                self._closed = True
                return dataclasses.replace(result, fallbacks=tuple(self.fallbacks) + result.fallbacks)
            self._current = self._provider = None
            await session.cancel()
            await self.start()  # raises SttFailed when nobody is left
        raise ProviderError(CODE_PROVIDER, "the recognition was not opened")  # pragma: no cover - start() raised

    async def cancel(self) -> None:
        self._closed = True
        session, self._current = self._current, None
        if session is not None:
            await session.cancel()
