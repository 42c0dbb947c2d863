"""FakeTts: renders any text as a short tone WAV (a seam fake for flow tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from wirexa.errors import TtsError
from wirexa.media.audio import tone_pcm, wav_bytes


@dataclasses.dataclass(frozen=True, slots=True)
class FakeSpeech:
    path: Path
    fallbacks: tuple[FakeFallback, ...] = ()
    stream: None = None  # FakeTts never streams (the flow tests for streaming use the real chain)


class FakeTts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spoken: list[tuple[str, str, str]] = []  # synthesize() calls: the prompts a call played
        self.prepared: list[tuple[str, str, str]] = []  # prepare() calls: documents' <Say>s rendered ahead
        self.fallbacks: tuple[FakeFallback, ...] = ()  # what synthesize() reports providers passed on
        self.failure: TtsError | None = None  # raised by synthesize() instead, when set

    def prepare(self, text: str, voice: str, language: str) -> None:
        self.prepared.append((text, voice, language))

    async def synthesize(self, text: str, voice: str, language: str, *, stream: bool = False) -> FakeSpeech:
        self.spoken.append((text, voice, language))
        if self.failure is not None:
            raise self.failure
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"say{len(self.spoken)}.wav"
        path.write_bytes(wav_bytes(tone_pcm(300, 100)))
        return FakeSpeech(path, self.fallbacks)


@dataclasses.dataclass(frozen=True, slots=True)
class FakeFallback:
    code: int
    message: str
