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


def hold_music_pcm(rate: int = 8000) -> bytes:
    """The built-in hold music of call queues (Twilio's default playlist is on the internet):
    a slow, soft arpeggio (C major, F major, G major, C major chords, each note rising and
    fading) of about 10 s that loops without a click (it starts and ends in silence)."""
    chords = ((261.63, 329.63, 392.0), (349.23, 440.0, 523.25), (392.0, 493.88, 587.33), (261.63, 329.63, 392.0))
    note_ms = 800
    out = bytearray()
    for chord in chords:
        for freq in chord:
            n = int(rate * note_ms / 1000)
            samples = []
            for i in range(n):
                t = i / rate
                envelope = min(1.0, i / (0.05 * rate)) * math.exp(-3.0 * t)  # soft attack, bell-like decay
                tone = math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)
                samples.append(int(9000 * envelope * tone))
            out += struct.pack(f"<{n}h", *samples)
        out += bytes(2 * int(rate * 0.2))  # a breath between chords
    return bytes(out)


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
