"""espeak-ng: the always-available, last-resort TTS provider (robotic, local, free)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from wirexa.config import Settings
from wirexa.media.tts.base import failed

# Twilio voice names -> espeak-ng voice variants.
_VARIANT = {"man": "", "alice": "+f3", "woman": "+f3"}


def espeak_voice(voice: str, language: str) -> str:
    """'woman', 'en-US' -> 'en-us+f3'; provider voices (polly.Joanna) fall back to the language."""
    lang = (language or "en-US").lower()
    base = {"en-us": "en-us", "en-gb": "en-gb", "es-es": "es", "es-mx": "es-419", "fr-fr": "fr", "de-de": "de"}.get(
        lang, lang.split("-")[0]
    )
    variant = _VARIANT.get(
        voice.lower(), "+f3" if voice.lower().endswith(("joanna", "jennyneural", "rachel", "-f")) else ""
    )
    return base + variant


class EspeakTts:
    name = "espeak"

    def __init__(self, binary: str = "espeak-ng", ffmpeg: str = "ffmpeg") -> None:
        self.binary = binary
        self.ffmpeg = ffmpeg

    @classmethod
    def from_settings(cls, s: Settings) -> EspeakTts:
        return cls(s.tts_espeak_binary)

    def configured(self) -> bool:
        return shutil.which(self.binary) is not None and shutil.which(self.ffmpeg) is not None

    available = configured

    def default_voice(self, gender: str, language: str) -> str:
        return "man" if gender == "male" else "woman"

    async def aclose(self) -> None:
        return None

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        raw = out.with_suffix(".raw.wav")
        await _run(self.binary, "-v", espeak_voice(voice, language), "-s", "165", "-w", str(raw), "--", text)
        try:
            await _run(
                self.ffmpeg,
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(raw),
                "-ar",
                "8000",
                "-ac",
                "1",
                "-sample_fmt",
                "s16",
                str(out),
            )
        finally:
            raw.unlink(missing_ok=True)


async def _run(*argv: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise failed(f"cannot run {argv[0]}: {exc}") from exc
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:  # the chain's timeout: do not leave the process behind
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise failed(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace').strip()[:300]}")
