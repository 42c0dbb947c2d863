"""The provider chain: render through the first available provider, cache on disk by text."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from wirexa.errors import TtsError
from wirexa.media.tts.base import TtsProvider, cache_key
from wirexa.media.tts.espeak import EspeakTts

log = logging.getLogger(__name__)

# Explicit registry (no entry points: a frozen binary would not see them). The product doc's
# order is Polly -> Google -> ElevenLabs -> Azure -> espeak; cloud providers come in a later
# issue and slot in ahead of espeak here.
REGISTRY: dict[str, type[EspeakTts]] = {"espeak": EspeakTts}


class TtsChain:
    """Loop-only. render() returns the path of a cached 8 kHz mono WAV for the text."""

    def __init__(self, cache_dir: Path, providers: list[TtsProvider]) -> None:
        self.cache_dir = cache_dir
        self.providers = providers
        self._inflight: dict[str, asyncio.Future[Path]] = {}

    async def render(self, text: str, voice: str, language: str) -> Path:
        errors: list[str] = []
        for provider in self.providers:
            if not provider.available():
                errors.append(f"{provider.name}: unavailable")
                continue
            key = cache_key(provider.name, text, voice, language)
            path = self.cache_dir / f"{key}.wav"
            if path.exists():
                return path
            if key in self._inflight:
                return await asyncio.shield(self._inflight[key])
            fut: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
            self._inflight[key] = fut
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.wav")
                await provider.render(text, voice, language, tmp)
                tmp.replace(path)
                fut.set_result(path)
                return path
            except TtsError as exc:
                log.warning("tts provider %s failed: %s", provider.name, exc)
                errors.append(f"{provider.name}: {exc}")
                fut.set_exception(exc)
                fut.exception()  # retrieved: waiters re-raise, nobody logs "never retrieved"
            finally:
                self._inflight.pop(key, None)
        raise TtsError("no TTS provider could render the text: " + "; ".join(errors))
