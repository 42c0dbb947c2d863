"""Recording files: where WAVs live, and WAV -> MP3 conversion with ffmpeg (off the loop)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


class Mp3Converter:
    """Converts WAV recordings to MP3 once, in the background; loop-only.

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
        if mp3.exists() and Path(wav).exists() and mp3 not in self._tasks:
            return "ready"
        task = self._tasks.get(mp3)
        if task is not None and not task.done():
            return "converting"
        if task is not None and task.done() and not task.result():
            return "failed"
        return "missing"

    def start(self, wav: str | Path) -> None:
        mp3 = self.mp3_path(wav)
        if mp3 in self._tasks and not self._tasks[mp3].done():
            return
        self._tasks[mp3] = asyncio.get_running_loop().create_task(self._convert(Path(wav), mp3))

    async def _convert(self, wav: Path, mp3: Path) -> bool:
        tmp = mp3.with_suffix(".part.mp3")
        binary = shutil.which(self.ffmpeg) or self.ffmpeg
        try:
            proc = await asyncio.create_subprocess_exec(
                binary, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
                "-codec:a", "libmp3lame", "-qscale:a", "4", str(tmp),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
        except OSError as exc:
            log.error("mp3 conversion of %s could not start: %s", wav, exc)
            return False
        if proc.returncode != 0:
            log.error("mp3 conversion of %s failed: %s", wav, err.decode(errors="replace").strip())
            tmp.unlink(missing_ok=True)
            return False
        tmp.replace(mp3)
        self._tasks.pop(mp3, None)
        return True


# Leading silence, then (reversed) trailing silence. Peak detection: the default RMS detector
# drops a whole recording that starts with sound at its first sample.
_CUT = "silenceremove=start_periods=1:start_threshold=-45dB:detection=peak"
TRIM_FILTER = f"{_CUT},areverse,{_CUT},areverse"


async def trim_silence(wav: Path, ffmpeg: str = "ffmpeg") -> float | None:
    """Cut leading and trailing silence from a WAV in place (Twilio's trim-silence).

    Returns the new duration in seconds, or None when ffmpeg failed (the file is untouched).
    """
    import wave

    tmp = wav.with_suffix(".trim.wav")
    try:
        proc = await asyncio.create_subprocess_exec(
            shutil.which(ffmpeg) or ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
            "-af", TRIM_FILTER, "-ar", "8000", "-ac", "1", "-sample_fmt", "s16", str(tmp),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
    except OSError as exc:
        log.error("trim of %s could not start: %s", wav, exc)
        return None
    if proc.returncode != 0:
        log.error("trim of %s failed: %s", wav, err.decode(errors="replace").strip())
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(wav)
    with wave.open(str(wav)) as w:
        return float(w.getnframes()) / float(w.getframerate())
