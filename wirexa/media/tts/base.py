"""The TTS provider Protocol, the error a provider raises, and helpers every provider shares.

Every provider writes the same thing: an 8 kHz, 16-bit, mono WAV at the path it is given,
asking its vendor for telephone-rate audio directly wherever the vendor can give it, so nothing
is resampled twice. A failure is a ProviderError carrying the Twilio code the chain reports and
a reason that never holds a credential (see `redact`).

Codes. Twilio's dictionary has two <Say> codes that fit: 13511 "Say: Invalid voice" (the
vendor does not know the voice) and 13520 "Say: Invalid text" (the text could not be spoken).
It has no code for "the speech vendor is down"; on Twilio that is internal. We report those
cases (not configured, refused credentials, vendor error, timeout) as 13520 too, at warning
level: it is the code customers already see when a <Say> could not be rendered (calls/session
uses it when every provider failed), and unlike 12400 "internal failure" (an error) it does not
suggest the call failed, since the chain goes on to the next provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import wave
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path
from typing import Protocol

from wirexa.errors import TtsError
from wirexa.media.audio import wav_bytes
from wirexa.notices import Notice

CODE_INVALID_VOICE = Notice.SAY_INVALID_VOICE
CODE_NOT_RENDERED = Notice.SAY_INVALID_TEXT
TELEPHONE_RATE = 8000


class TtsProvider(Protocol):
    """One speech vendor. Loop-only; `render` may run blocking SDK calls on a worker thread.

    `configured()` says whether the settings hold what the vendor needs (credentials, binary);
    the chain never calls `render` on an unconfigured provider. `default_voice(gender, language)`
    is the voice used for `woman`/`man`/`alice` and when another provider's voice fell back here.
    `render` writes the WAV at `out` or raises ProviderError. `aclose` releases HTTP sessions.
    """

    name: str

    def configured(self) -> bool: ...

    def default_voice(self, gender: str, language: str) -> str: ...

    async def render(self, text: str, voice: str, language: str, out: Path) -> None: ...

    async def aclose(self) -> None: ...


class StreamingTtsProvider(TtsProvider, Protocol):
    """A provider whose vendor sends audio while it synthesizes (Polly, ElevenLabs, Azure).

    `stream` yields 8 kHz 16-bit little-endian mono PCM (no header) as the vendor sends it,
    converted chunk by chunk (mu-law is expanded, a header is never asked for); a chunk may end
    in the middle of a sample (the chain re-cuts at sample boundaries). It raises ProviderError
    like `render`, before the first chunk or after any. The chain plays the chunks as they come.
    """

    def stream(self, text: str, voice: str, language: str) -> AsyncGenerator[bytes, None]: ...


def streaming(provider: TtsProvider) -> StreamingTtsProvider | None:
    """`provider` if it can stream (has a `stream` method), else None."""
    return provider if callable(getattr(provider, "stream", None)) else None  # type: ignore[return-value]


class ProviderError(TtsError):
    """One provider could not render; `code` is 13511 or 13520, `reason` has no credential."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def voice_rejected(reason: str) -> ProviderError:
    return ProviderError(CODE_INVALID_VOICE, reason)


def failed(reason: str) -> ProviderError:
    return ProviderError(CODE_NOT_RENDERED, reason)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-trivial secret replaced by ****: vendor messages and URLs may echo one."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "****")
    return text


def cache_key(provider: str, text: str, voice: str, language: str) -> str:
    h = hashlib.sha256("\x00".join((provider, voice, language, text)).encode("utf-8"))
    return h.hexdigest()[:40]


def write_wav(out: Path, pcm: bytes, rate: int = TELEPHONE_RATE) -> None:
    """Write 16-bit mono little-endian PCM at `rate` as a WAV (an odd trailing byte is dropped)."""
    out.write_bytes(wav_bytes(pcm[: len(pcm) - len(pcm) % 2], rate))


def pcm_from_wav(data: bytes, expect_rate: int = TELEPHONE_RATE) -> bytes:
    """The 16-bit mono PCM inside a vendor's WAV answer; ProviderError if it is anything else."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, expect_rate):
                raise failed(
                    f"vendor sent {w.getnchannels()} ch, {8 * w.getsampwidth()} bit, {w.getframerate()} Hz;"
                    f" asked for mono 16 bit {expect_rate} Hz"
                )
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise failed(f"vendor sent no WAV audio: {exc}") from exc


class SampleCutter:
    """Re-cuts a stream of 16-bit PCM bytes at sample boundaries: an odd trailing byte waits
    for the next chunk."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        if self._carry:
            data = self._carry + data
        cut = len(data) - len(data) % 2
        self._carry = data[cut:]
        return data[:cut]


def _ulaw_table() -> tuple[int, ...]:
    # G.711 mu-law expansion (ITU-T G.711), as a 256-entry table: audioop is deprecated.
    out = []
    for byte in range(256):
        u = ~byte & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        out.append((0x84 - t) if u & 0x80 else (t - 0x84))
    return tuple(out)


_ULAW = _ulaw_table()
_ULAW_LE = tuple(v.to_bytes(2, "little", signed=True) for v in _ULAW)


def ulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 mu-law bytes -> 16-bit little-endian PCM (same sample rate)."""
    return b"".join(map(_ULAW_LE.__getitem__, data))


async def decode_with_ffmpeg(ffmpeg: str, data: bytes, out: Path) -> None:
    """Decode compressed audio (MP3) to an 8 kHz 16-bit mono WAV at `out` with ffmpeg."""
    try:
        proc = await asyncio.create_subprocess_exec(
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            "pipe:0",
            "-ar",
            str(TELEPHONE_RATE),
            "-ac",
            "1",
            "-sample_fmt",
            "s16",
            "-f",
            "wav",
            str(out),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise failed(f"cannot run {ffmpeg}: {exc}") from exc
    try:
        _, err = await proc.communicate(data)
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise failed(f"{ffmpeg} could not decode the audio: {err.decode(errors='replace').strip()[:200]}")
