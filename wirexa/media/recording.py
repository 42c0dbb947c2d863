"""Recording files: WAV -> MP3 with ffmpeg (off the loop), silence trimming, and repairing a WAV
whose writer died."""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
from pathlib import Path

log = logging.getLogger(__name__)


MP3_ARGS = ("-codec:a", "libmp3lame", "-qscale:a", "4")


async def _ffmpeg_to(src: Path, out: Path, what: str, *args: str, ffmpeg: str = "ffmpeg") -> bool:
    """Run ffmpeg on `src` with `args`, writing `out` beside its final place as a temporary file
    first, so `out` appears whole or not at all. A subprocess: the loop never blocks. False (and
    one log line naming `what`) when ffmpeg cannot start or fails; `out` is then untouched."""
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    try:
        proc = await asyncio.create_subprocess_exec(
            shutil.which(ffmpeg) or ffmpeg,
            *("-nostdin", "-loglevel", "error", "-y", "-i", str(src)),
            *args,
            str(tmp),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
    except OSError as exc:
        log.error("%s of %s could not start: %s", what, src, exc)
        return False
    if proc.returncode != 0:
        log.error("%s of %s failed: %s", what, src, err.decode(errors="replace").strip())
        tmp.unlink(missing_ok=True)
        return False
    tmp.replace(out)
    return True


async def merge_channels(left: Path, right: Path, out: Path, ffmpeg: str = "ffmpeg") -> bool:
    """Two mono WAVs recorded side by side (a dual-channel call recording's tracks) as one
    2-channel 8 kHz 16-bit WAV, `left` on the first channel; as long as the shorter one (they
    start in the same bridge tick and both keep time with silence). False on failure."""
    args = ("-i", str(right), "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]")
    return await _ffmpeg_to(left, out, "channel merge", *args, "-ar", "8000", "-sample_fmt", "s16", ffmpeg=ffmpeg)


async def convert_mp3(wav: Path, mp3: Path, ffmpeg: str = "ffmpeg") -> bool:
    """Encode `wav` to `mp3` (appears whole or not at all). False on failure."""
    return await _ffmpeg_to(wav, mp3, "mp3 conversion", *MP3_ARGS, ffmpeg=ffmpeg)


class Mp3Converter:
    """On-request MP3s for recordings the media job never converted (rows from before it, or an
    engine run without it); loop-only.

    `state(wav)` answers "ready" (MP3 exists), "converting" (a conversion runs: the API answers
    202) or "failed"; `start(wav)` begins a conversion if none runs. The MP3 sits beside the WAV.
    """

    def __init__(self, ffmpeg: str = "ffmpeg") -> None:
        self.ffmpeg = ffmpeg
        self._tasks: dict[Path, asyncio.Task[bool]] = {}

    @staticmethod
    def mp3_path(wav: str | Path) -> Path:
        return Path(wav).with_suffix(".mp3")

    def state(self, wav: str | Path) -> str:
        mp3 = self.mp3_path(wav)
        task = self._tasks.get(mp3)
        if task is not None and not task.done():
            return "converting"
        if task is not None and task.done() and not task.result():
            return "failed"
        if mp3.exists() and Path(wav).exists():
            return "ready"
        return "missing"

    def start(self, wav: str | Path) -> None:
        mp3 = self.mp3_path(wav)
        if mp3 in self._tasks and not self._tasks[mp3].done():
            return
        self._tasks[mp3] = asyncio.get_running_loop().create_task(self._convert(Path(wav), mp3))

    async def _convert(self, wav: Path, mp3: Path) -> bool:
        ok = await convert_mp3(wav, mp3, self.ffmpeg)
        if ok:
            self._tasks.pop(mp3, None)
        return ok


async def repair_in_thread(path: Path) -> float | None:
    """repair_wav() off the event loop."""
    return await asyncio.to_thread(repair_wav, path)


def repair_wav(path: Path) -> float | None:
    """Make the header of a WAV whose writer died (engine or worker killed) describe the audio
    actually in the file: RIFF and data sizes from the file's length, a partial last frame cut
    off. Returns the duration in seconds, or None when there is no audio to keep (no file, not a
    RIFF/WAVE file, no fmt or data chunk, no whole frame). Blocking file I/O: run it in a thread.

    A header that already matches the file (a clean close) is left as it is."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with path.open("r+b") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos, fmt, data_at, declared = 12, b"", 0, 0
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                data_at, declared = pos + 8, chunk_size
                break
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_size, 16))
            pos += 8 + chunk_size + (chunk_size & 1)
        if len(fmt) < 16 or not data_at:
            return None
        byte_rate, block_align = (int(v) for v in struct.unpack("<8xIH2x", fmt))
        if byte_rate == 0 or block_align == 0:
            return None
        if 0 < declared and data_at + declared + (declared & 1) == size:
            return float(declared) / byte_rate  # closed cleanly
        data_len = size - data_at
        data_len -= data_len % block_align
        if data_len <= 0:
            return None
        f.truncate(data_at + data_len)
        f.seek(4)
        f.write(struct.pack("<I", data_at + data_len - 8))
        f.seek(data_at - 4)
        f.write(struct.pack("<I", data_len))
    return float(data_len) / byte_rate


# Leading silence, then (reversed) trailing silence. Peak detection: the default RMS detector
# drops a whole recording that starts with sound at its first sample.
_CUT = "silenceremove=start_periods=1:start_threshold=-45dB:detection=peak"
TRIM_FILTER = f"{_CUT},areverse,{_CUT},areverse"


async def trim_silence(wav: Path, ffmpeg: str = "ffmpeg") -> float | None:
    """Cut leading and trailing silence from a WAV in place (Twilio's trim-silence).

    Returns the new duration in seconds, or None when ffmpeg failed (the file is untouched).
    """
    import wave

    args = ("-af", TRIM_FILTER, "-ar", "8000", "-sample_fmt", "s16")  # channels as recorded (dual stays 2)
    if not await _ffmpeg_to(wav, wav, "trim", *args, ffmpeg=ffmpeg):
        return None
    with wave.open(str(wav)) as w:
        return float(w.getnframes()) / float(w.getframerate())
