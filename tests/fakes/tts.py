"""FakeTts: renders any text as a short tone WAV (a seam fake for flow tests)."""

from __future__ import annotations

from pathlib import Path

from wirexa.media.audio import tone_pcm, wav_bytes


class FakeTts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spoken: list[tuple[str, str, str]] = []

    async def render(self, text: str, voice: str, language: str) -> Path:
        self.spoken.append((text, voice, language))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"say{len(self.spoken)}.wav"
        path.write_bytes(wav_bytes(tone_pcm(300, 100)))
        return path
