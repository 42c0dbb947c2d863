"""The WAV files the sandbox programs play (the carrier's callees, the caller's --play and
--say): 8 kHz mono 16-bit PCM, what the media bridge plays as it is; ffmpeg makes one of
anything else."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path


def is_8k_pcm(path: Path) -> bool:
    """Whether `path` is an 8 kHz mono 16-bit PCM WAV (False for another format or no WAV)."""
    try:
        with wave.open(str(path)) as w:
            return (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype()) == (8000, 1, 2, "NONE")
    except (wave.Error, EOFError, OSError):
        return False  # another WAV format (float, extensible, mu-law), or not a WAV: ffmpeg decides


def convert_8k(src: Path, dst: Path) -> str | None:
    """Write `src` (anything ffmpeg reads) to `dst` as an 8 kHz mono 16-bit PCM WAV. None when
    it worked, else ffmpeg's last error line (and no `dst`). Blocking."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
        + ["-ar", "8000", "-ac", "1", "-c:a", "pcm_s16le", str(dst)],
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    dst.unlink(missing_ok=True)
    return last_line(done.stderr, done.returncode)


def last_line(stderr: str, code: int) -> str:
    """A failed program's last non-blank line of stderr, else `exit CODE`."""
    return next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), f"exit {code}")
