"""PURE: a recording's waveform picture: the peaks of a 16-bit PCM WAV, and the SVG path of them."""

from __future__ import annotations

import array
import io
import sys
import wave


def peaks(wav: bytes, buckets: int = 480) -> list[tuple[float, float]]:
    """(min, max) of each of `buckets` equal slices of the first channel, in -1..1. A file
    shorter than `buckets` samples gives one pair per sample. ValueError for what is not a
    16-bit PCM WAV (the engine records those; anything else gets no picture)."""
    try:
        with wave.open(io.BytesIO(wav)) as w:
            if w.getsampwidth() != 2:
                raise ValueError(f"{w.getsampwidth() * 8}-bit samples: only 16-bit PCM is drawn")
            channels = w.getnchannels()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV: {exc}") from None
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    first = samples[::channels] if channels > 1 else samples
    n = len(first)
    if n == 0 or buckets <= 0:
        return []
    count = min(buckets, n)
    out = []
    for i in range(count):
        chunk = first[i * n // count : (i + 1) * n // count] or first[i * n // count : i * n // count + 1]
        out.append((min(chunk) / 32768.0, max(chunk) / 32768.0))
    return out


def path(pairs: list[tuple[float, float]], width: float, height: float) -> str:
    """An SVG path drawing each (min, max) pair as a vertical stroke, left to right."""
    if not pairs:
        return ""
    mid = height / 2
    step = width / len(pairs)
    parts = []
    for i, (lo, hi) in enumerate(pairs):
        x = round(i * step + step / 2, 2)
        top = round(mid - max(hi, 0.0) * mid, 2)
        bottom = round(mid - min(lo, 0.0) * mid, 2)
        if bottom - top < 0.5:
            bottom = top + 0.5
        parts.append(f"M{x} {top}V{bottom}")
    return "".join(parts)
