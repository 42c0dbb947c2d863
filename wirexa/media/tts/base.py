"""The TTS provider Protocol and the render cache every provider shares."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol


class TtsProvider(Protocol):
    """Renders text to a WAV file (8 kHz, 16-bit, mono) at `out`. Raises errors.TtsError."""

    name: str

    def available(self) -> bool: ...

    async def render(self, text: str, voice: str, language: str, out: Path) -> None: ...


def cache_key(provider: str, text: str, voice: str, language: str) -> str:
    h = hashlib.sha256("\x00".join((provider, voice, language, text)).encode("utf-8"))
    return h.hexdigest()[:40]
