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

Streaming. A provider that can stream (base.StreamingTtsProvider: Polly, ElevenLabs, Azure) is
asked to on a cache miss. Its PCM goes into a growing headerless file beside the cache
(`<key>.<pid>.<n>.tmp.pcm`, 8 kHz s16le mono); as soon as the first bytes are on disk, a caller
that asked `synthesize(..., stream=True)` gets a Synthesis whose `path` is that file and whose
`stream` (PcmStream) says, once the vendor is done, how many bytes it holds (StreamEnd): the SIP
worker plays the file as it grows and stops at that size. The complete text then goes into the
cache as a WAV under the same key as a non-streamed render, so the next call plays the cache.
The first chunk must come within the provider timeout and each next one within the timeout of
the previous (a long text may take longer than the timeout in all). A provider that fails
before its first chunk falls back exactly as a non-streaming one. One that fails after it
ends the stream at the bytes written (StreamEnd.failure: a warning for the call that heard the
prompt cut short); the render itself goes on to the next provider, as a non-streamed one does, for those who
wait for the complete WAV (and the cache). Callers that did not ask to stream, and every caller
when the render comes from the cache or a non-streaming provider, get the complete WAV.
A streamed file is deleted STREAM_KEEP_S after its stream ended (a player that opened it keeps
reading it); the cache's start-up sweep removes those left by a crash.

Concurrency: identical requests (text, voice, language) in flight at once share one render, so a
text is synthesized once; the task is shielded, so a caller that goes away (a hangup) does not
cancel the render the others wait for, and a render nobody awaits any more still fills the cache.
Callers that join a streaming render play the same growing file from its start.
Loop-only, like every method here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wirexa.config import Settings
from wirexa.errors import TtsError
from wirexa.media.tts.azure import AzureTts
from wirexa.media.tts.base import (
    CODE_INVALID_VOICE,
    CODE_NOT_RENDERED,
    TELEPHONE_RATE,
    ProviderError,
    SampleCutter,
    StreamingTtsProvider,
    TtsProvider,
    cache_key,
    streaming,
    write_wav,
)
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
# How long a streamed PCM file stays after its stream ended: players open it right after the
# first chunk (a deleted file stays readable for whoever has it open).
STREAM_KEEP_S = 120.0
PCM_BYTES_PER_S = 2 * TELEPHONE_RATE


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
class CutShort:
    """A streaming provider failed after its first chunk: the prompt stopped where its audio did."""

    provider: str
    code: int
    reason: str
    played_s: float

    @property
    def message(self) -> str:
        return (
            f"Say: TTS provider {self.provider} stopped after {self.played_s:.1f} s of audio ({self.reason});"
            " the rest of the text was not spoken"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class StreamEnd:
    """A stream is complete: `size` bytes of PCM in its file; `failure` if the vendor stopped early."""

    size: int
    failure: CutShort | None = None


class PcmStream:
    """A growing PCM file being written by a render. Loop-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0  # bytes written so far
        self._end: asyncio.Future[StreamEnd] = asyncio.get_running_loop().create_future()

    async def wait(self) -> StreamEnd:
        """When the vendor is done (or failed): the final size. Never raises but CancelledError."""
        return await asyncio.shield(self._end)

    @property
    def ended(self) -> bool:
        return self._end.done()

    def end(self, failure: CutShort | None = None) -> None:
        if not self._end.done():
            self._end.set_result(StreamEnd(self.size, failure))


@dataclasses.dataclass(frozen=True, slots=True)
class Synthesis:
    """A rendered <Say>: the 8 kHz mono WAV, who rendered it (with which voice), who fell back.

    With `stream`, `path` is instead the headerless PCM file still being written (see the
    module docstring); `stream.wait()` says when and at which size it is complete."""

    path: Path
    provider: str
    voice: str
    fallbacks: tuple[Fallback, ...] = ()
    cached: bool = False
    stream: PcmStream | None = None


class _Render:
    """One render in flight: the task that ends with the complete WAV, and `first`, which is
    resolved with the streaming Synthesis once a stream's first bytes are on disk, or with
    None when this render will not stream (cache hit, non-streaming provider, failure)."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Synthesis] | None = None
        self.first: asyncio.Future[Synthesis | None] = asyncio.get_running_loop().create_future()

    def announce(self, synthesis: Synthesis | None) -> None:
        if not self.first.done():
            self.first.set_result(synthesis)

    def restart(self) -> None:
        """A stream broke: later joiners wait for the next provider's stream (or the WAV)."""
        if self.first.done():
            self.first = asyncio.get_running_loop().create_future()


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
        stream: bool = True,
    ) -> None:
        self.cache_dir = cache_dir
        self.providers = providers
        self.timeout_s = timeout_s
        self.cache = LruCache(cache_dir, cache_max_bytes)
        self.stream_enabled = stream
        self._inflight: dict[tuple[str, str, str], _Render] = {}
        self._tmp_ids = itertools.count()
        self._stream_files: dict[Path, asyncio.TimerHandle] = {}

    @classmethod
    def from_settings(cls, s: Settings, cache_dir: Path | None = None) -> TtsChain:
        """Every provider of REGISTRY, in order, built from Settings."""
        return cls(
            cache_dir if cache_dir is not None else s.data_path / "cache" / "tts",
            [factory(s) for factory in REGISTRY.values()],
            timeout_s=s.tts_timeout_s,
            cache_max_bytes=s.tts_cache_max_bytes,
            stream=s.tts_stream,
        )

    def status(self) -> list[tuple[str, bool]]:
        """(provider name, configured) in chain order; never a credential."""
        return [(p.name, p.configured()) for p in self.providers]

    async def synthesize(self, text: str, voice: str, language: str, *, stream: bool = False) -> Synthesis:
        """Render `text` (cached). Raises SynthesisFailed when no provider could.

        With `stream`, answer as soon as a streaming provider's first audio is on disk (a
        Synthesis with `stream` set) when the render streams; else the complete WAV."""
        render = self._start(text, voice, language)
        if stream and self.stream_enabled:
            started = await asyncio.shield(render.first)
            if started is not None:
                return started
        assert render.task is not None
        return await asyncio.shield(render.task)

    def prepare(self, text: str, voice: str, language: str) -> None:
        """Start rendering `text` now without waiting; a synthesize() of the same text, voice
        and language while it runs shares the render, and a later one finds it cached."""
        self._start(text, voice, language)

    def _start(self, text: str, voice: str, language: str) -> _Render:
        key = (text, voice, language)
        render = self._inflight.get(key)
        if render is None:
            render = _Render()
            render.task = asyncio.get_running_loop().create_task(self._synthesize(text, voice, language, render))
            self._inflight[key] = render
            render.task.add_done_callback(functools.partial(self._done, key, render))
        return render

    def _done(self, key: tuple[str, str, str], render: _Render, task: asyncio.Task[Synthesis]) -> None:
        if self._inflight.get(key) is render:
            del self._inflight[key]
        render.announce(None)
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaits any more is not "never retrieved"

    async def _synthesize(self, text: str, voice: str, language: str, render: _Render) -> Synthesis:
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
                path, cached = await self._render_cached(provider, text, pvoice, language, render, fallbacks)
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

    async def _render_cached(
        self,
        provider: TtsProvider,
        text: str,
        voice: str,
        language: str,
        render: _Render,
        fallbacks: list[Fallback],
    ) -> tuple[Path, bool]:
        key = cache_key(provider.name, text, voice, language)
        hit = self.cache.get(key)
        if hit is not None:
            render.announce(None)
            return hit, True
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.path_for(key).with_suffix(f".{os.getpid()}.{next(self._tmp_ids)}.tmp.wav")
        streamer = streaming(provider) if self.stream_enabled else None
        try:
            if streamer is None:
                render.announce(None)  # whoever waits for a stream waits for the WAV instead
                async with asyncio.timeout(self._timeout(provider)):
                    await provider.render(text, voice, language, tmp)
            else:
                await self._stream(streamer, text, voice, language, tmp, render, tuple(fallbacks))
            return self.cache.put(tmp, key), False
        finally:
            tmp.unlink(missing_ok=True)

    async def _stream(
        self,
        provider: StreamingTtsProvider,
        text: str,
        voice: str,
        language: str,
        out: Path,
        render: _Render,
        fallbacks: tuple[Fallback, ...],
    ) -> None:
        """Stream `provider`'s PCM into a growing file, announce it at the first bytes, then
        write the complete WAV at `out`. A failure after the first bytes ends the stream (with
        a CutShort) and is raised as a ProviderError, so the chain moves on as for any failure."""
        loop = asyncio.get_running_loop()
        timeout_s = self._timeout(provider)
        pcm = PcmStream(out.with_suffix(".pcm"))
        cutter = SampleCutter()
        chunks = provider.stream(text, voice, language)
        try:
            with pcm.path.open("wb", buffering=0) as f:
                try:
                    async with asyncio.timeout(timeout_s) as deadline:
                        async for chunk in chunks:
                            data = cutter.feed(chunk)
                            if not data:
                                continue
                            f.write(data)
                            pcm.size += len(data)
                            deadline.reschedule(loop.time() + timeout_s)
                            if not render.first.done():
                                render.announce(Synthesis(pcm.path, provider.name, voice, fallbacks, stream=pcm))
                finally:
                    await chunks.aclose()
            if pcm.size == 0:
                raise ProviderError(CODE_NOT_RENDERED, "vendor sent no audio")
        except (TtsError, TimeoutError, OSError) as exc:
            if pcm.size == 0:
                raise
            code = getattr(exc, "code", CODE_NOT_RENDERED)
            if isinstance(exc, TtsError):
                reason = str(exc)
            elif isinstance(exc, TimeoutError):
                reason = f"no audio for {timeout_s:g} s"
            else:
                reason = f"{type(exc).__name__}: {exc.strerror}"
            cut = CutShort(provider.name, code, reason, pcm.size / PCM_BYTES_PER_S)
            pcm.end(cut)
            render.restart()
            raise ProviderError(code, f"stopped after {cut.played_s:.1f} s of audio: {reason}") from exc
        finally:
            pcm.end()  # a no-op once ended; on cancellation: what was written is the stream
            self._forget_later(pcm.path, announced=pcm.size > 0)
        write_wav(out, pcm.path.read_bytes())

    def _forget_later(self, path: Path, *, announced: bool) -> None:
        if not announced:
            path.unlink(missing_ok=True)
            return
        handle = asyncio.get_running_loop().call_later(STREAM_KEEP_S, self._forget, path)
        self._stream_files[path] = handle

    def _forget(self, path: Path) -> None:
        self._stream_files.pop(path, None)
        path.unlink(missing_ok=True)

    async def aclose(self) -> None:
        """Cancel renders in flight (and wait for them: a provider kills its subprocess), close
        the providers' HTTP sessions, and delete the streamed files."""
        tasks = [render.task for render in self._inflight.values() if render.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for path, handle in list(self._stream_files.items()):
            handle.cancel()
            self._forget(path)
        for provider in self.providers:
            await provider.aclose()
