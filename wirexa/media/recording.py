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
