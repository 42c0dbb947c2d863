"""The provider chain: the requested provider, then the others in the product doc's order; cached.

Theory of operation. `synthesize(text, voice, language)` parses the voice (voices.parse_voice).
A provider voice (`polly.Joanna`) is tried on its provider first; then every other provider in
REGISTRY order (Polly -> Google -> ElevenLabs -> Azure -> gTTS -> espeak) with that provider's
default voice of the requested voice's gender for the language. `woman`/`man`/`alice` start at
the first provider in that order. Each attempt first looks in the cache (keyed by provider,
voice, language and text), else renders with a per-provider timeout. A requested provider that
is not configured, and any provider that fails, times out or rejects the voice, adds a Fallback
(provider, Twilio code, credential-free reason) and the text moves on; unconfigured providers
the user did not ask for are skipped silently. espeak, always configured, ends the chain.

Concurrency: identical requests (text, voice, language) in flight at once share one task, so a
text is synthesized once; the task is shielded, so a caller that goes away (a hangup) does not
cancel the render the others wait for, and a render nobody awaits any more still fills the cache.
Loop-only, like every method here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wirexa.config import Settings
from wirexa.errors import TtsError
from wirexa.media.tts.azure import AzureTts
from wirexa.media.tts.base import CODE_INVALID_VOICE, CODE_NOT_RENDERED, TtsProvider, cache_key
from wirexa.media.tts.cache import LruCache
from wirexa.media.tts.elevenlabs import ElevenLabsTts
from wirexa.media.tts.espeak import EspeakTts
from wirexa.media.tts.google import GoogleTts
from wirexa.media.tts.gtts import GttsTts
from wirexa.media.tts.polly import PollyTts
from wirexa.media.tts.voices import parse_voice

log = logging.getLogger(__name__)

# Explicit registry, in fallback order (no entry points: a frozen binary would not see them).
REGISTRY: dict[str, Callable[[Any], TtsProvider]] = {
    "polly": PollyTts.from_settings,
    "google": GoogleTts.from_settings,
    "elevenlabs": ElevenLabsTts.from_settings,
    "azure": AzureTts.from_settings,
    "gtts": GttsTts.from_settings,
    "espeak": EspeakTts.from_settings,
}
# espeak is local and the last resort: it gets a longer leash than the network providers.
LOCAL_TIMEOUT_FLOOR_S = 30.0
DEFAULT_CACHE_MAX_BYTES = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Fallback:
    """One provider passed the text on: `code` 13511 (voice rejected) or 13520 (anything else)."""

    provider: str
    code: int
    reason: str

    @property
    def message(self) -> str:
        return f"Say: TTS provider {self.provider} could not render the text ({self.reason}); used the next provider"


@dataclasses.dataclass(frozen=True, slots=True)
class Synthesis:
    """A rendered <Say>: the 8 kHz mono WAV, who rendered it (with which voice), who fell back."""

    path: Path
    provider: str
    voice: str
    fallbacks: tuple[Fallback, ...] = ()
    cached: bool = False


class SynthesisFailed(TtsError):
    """No provider could render the text; `fallbacks` says why each one failed."""

    def __init__(self, message: str, fallbacks: tuple[Fallback, ...] = ()) -> None:
        super().__init__(message)
        self.fallbacks = fallbacks


class TtsChain:
    """Loop-only; implements calls.ports.TtsPort: `synthesize()` -> Synthesis."""

    def __init__(
        self,
        cache_dir: Path,
        providers: list[TtsProvider],
        *,
        timeout_s: float = 3.0,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
    ) -> None:
        self.cache_dir = cache_dir
        self.providers = providers
        self.timeout_s = timeout_s
        self.cache = LruCache(cache_dir, cache_max_bytes)
        self._inflight: dict[tuple[str, str, str], asyncio.Task[Synthesis]] = {}
        self._tmp_ids = itertools.count()

    @classmethod
    def from_settings(cls, s: Settings, cache_dir: Path | None = None) -> TtsChain:
        """Every provider of REGISTRY, in order, built from Settings."""
        return cls(
            cache_dir if cache_dir is not None else s.data_path / "cache" / "tts",
            [factory(s) for factory in REGISTRY.values()],
            timeout_s=s.tts_timeout_s,
            cache_max_bytes=s.tts_cache_max_bytes,
        )

    def status(self) -> list[tuple[str, bool]]:
        """(provider name, configured) in chain order; never a credential."""
        return [(p.name, p.configured()) for p in self.providers]

    async def synthesize(self, text: str, voice: str, language: str) -> Synthesis:
        """Render `text` (cached). Raises SynthesisFailed when no provider could."""
        return await asyncio.shield(self._start(text, voice, language))

    def prepare(self, text: str, voice: str, language: str) -> None:
        """Start rendering `text` now without waiting; a synthesize() of the same text, voice
        and language while it runs shares the render, and a later one finds it cached."""
        self._start(text, voice, language)

    def _start(self, text: str, voice: str, language: str) -> asyncio.Task[Synthesis]:
        key = (text, voice, language)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._synthesize(text, voice, language))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        return task

    def _done(self, key: tuple[str, str, str], task: asyncio.Task[Synthesis]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaits any more is not "never retrieved"

    async def _synthesize(self, text: str, voice: str, language: str) -> Synthesis:
        if not text.strip():
            raise SynthesisFailed("Say text is empty")
        request = parse_voice(voice)
        fallbacks: list[Fallback] = []
        if request.unknown:
            fallbacks.append(
                Fallback(voice.partition(".")[0] or "voice", CODE_INVALID_VOICE, f"unknown voice {voice!r}")
            )
        order = self.providers
        if request.provider is not None:
            order = [p for p in self.providers if p.name == request.provider] + [
                p for p in self.providers if p.name != request.provider
            ]
            if not any(p.name == request.provider for p in self.providers):
                fallbacks.append(Fallback(request.provider, CODE_NOT_RENDERED, "not configured"))
        for provider in order:
            explicit = provider.name == request.provider
            if not provider.configured():
                if explicit:
                    fallbacks.append(Fallback(provider.name, CODE_NOT_RENDERED, "not configured"))
                    log.warning("tts: %s was asked for but is not configured", provider.name)
                continue
            pvoice = request.voice_id if explicit else provider.default_voice(request.gender, language)
            try:
                path, cached = await self._render_cached(provider, text, pvoice, language)
            except TtsError as exc:
                code = getattr(exc, "code", CODE_NOT_RENDERED)
                fallbacks.append(Fallback(provider.name, code, str(exc)))
            except TimeoutError:
                fallbacks.append(
                    Fallback(provider.name, CODE_NOT_RENDERED, f"timed out after {self._timeout(provider):g} s")
                )
            except OSError as exc:
                fallbacks.append(Fallback(provider.name, CODE_NOT_RENDERED, f"{type(exc).__name__}: {exc.strerror}"))
            else:
                return Synthesis(path, provider.name, pvoice, tuple(fallbacks), cached)
            log.warning("tts: %s failed (%s): %s", provider.name, fallbacks[-1].code, fallbacks[-1].reason)
        reasons = "; ".join(f"{f.provider}: {f.reason}" for f in fallbacks) or "no provider configured"
        raise SynthesisFailed(f"no TTS provider could render the text: {reasons}", tuple(fallbacks))

    def _timeout(self, provider: TtsProvider) -> float:
        return max(self.timeout_s, LOCAL_TIMEOUT_FLOOR_S) if provider.name == "espeak" else self.timeout_s

    async def _render_cached(self, provider: TtsProvider, text: str, voice: str, language: str) -> tuple[Path, bool]:
        key = cache_key(provider.name, text, voice, language)
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.path_for(key).with_suffix(f".{os.getpid()}.{next(self._tmp_ids)}.tmp.wav")
        try:
            async with asyncio.timeout(self._timeout(provider)):
                await provider.render(text, voice, language, tmp)
            return self.cache.put(tmp, key), False
        finally:
            tmp.unlink(missing_ok=True)

    async def aclose(self) -> None:
        """Cancel renders in flight and close the providers' HTTP sessions."""
        for task in list(self._inflight.values()):
            task.cancel()
        for provider in self.providers:
            await provider.aclose()
