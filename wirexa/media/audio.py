"""PURE: small PCM/WAV helpers (tones, levels) on 16-bit mono little-endian audio."""

from __future__ import annotations

import io
import math
import struct
import wave


def tone_pcm(freq_hz: float, duration_ms: int, rate: int = 8000, amplitude: float = 0.5) -> bytes:
    """A sine tone as 16-bit mono PCM."""
    n = int(rate * duration_ms / 1000)
    peak = int(32767 * amplitude)
    return struct.pack(f"<{n}h", *(int(peak * math.sin(2 * math.pi * freq_hz * i / rate)) for i in range(n)))


def wav_bytes(pcm: bytes, rate: int = 8000) -> bytes:
    """Wrap 16-bit mono PCM in a WAV container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dBFS (-inf for silence or no samples)."""
    n = len(pcm) // 2
    if n == 0:
        return float("-inf")
    samples = struct.unpack(f"<{n}h", pcm[: n * 2])
    mean_square = sum(s * s for s in samples) / n
    if mean_square == 0:
        return float("-inf")
    return 20 * math.log10(math.sqrt(mean_square) / 32768)


def wav_header_complete(header: bytes, file_size: int) -> bool:
    """True when a WAV's RIFF size agrees with the file size (the writer has closed it)."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return False
    riff_size = struct.unpack("<I", header[4:8])[0]
    return bool(riff_size + 8 == file_size)
