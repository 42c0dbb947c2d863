"""Transcribing <Record transcribe> recordings: the recording's audio through the speech-to-text
chain, the Transcription row and its transcribeCallback; and reading any WAV as the chain's PCM.

Theory of operation: the transcriptions table is the queue. The transaction that saves a
<Record transcribe> recording inserts its Transcription `in-progress` (store/calls.py), and
wakes this job; the job takes the rows in progress oldest first, one at a time (a recognizer
on the CPU, pocketsphinx, is not run twice at once beside the calls), reads the recording's
WAV (the local file, else its copy in the bucket), runs `recognize(pcm, SpeechOptions())` and
commits the result and the callback in one transaction (TranscriptionRows.finished). A row
stays in progress until that commit, so an engine that stops before it (or dies in the middle)
transcribes it again at its next start: the job looks at the table when it starts, after every
wake and every `poll_s`.

Twilio's rules: a recording over MAX_DURATION_S (120 s) is not transcribed: the transcription
fails with a 13617 notification on the call. A recording whose audio is gone (deleted files,
an unreadable WAV) or that no recognizer could read fails with a notification saying why.
Both post TranscriptionStatus=failed to the transcribeCallback, as Twilio does.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wirexa.calls.statuses import TranscriptionStatus
from wirexa.errors import AudioError, WirexaError
from wirexa.media.jobs import Job
from wirexa.media.storage import Locator, recording_key
from wirexa.media.stt.base import SAMPLE_RATE, Recognition, SpeechOptions
from wirexa.notices import Notice

if TYPE_CHECKING:
    from wirexa.calls.records import RecordingRecord, TranscriptionRecord

log = logging.getLogger(__name__)

MAX_DURATION_S = 120  # Twilio transcribes recordings of two minutes or less
DUE_PAGE = 50

Recognize = Callable[[bytes, SpeechOptions], Awaitable[Recognition]]


async def read_pcm_8k(path: Path, ffmpeg: str = "ffmpeg") -> bytes:
    """The audio of the WAV (or any file ffmpeg reads) at `path` as 8 kHz mono s16le PCM, the
    recognizers' format. A WAV already in that format is read directly; anything else goes
    through ffmpeg (a subprocess: the loop never blocks). Raises AudioError saying why."""
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype()) == (SAMPLE_RATE, 1, 2, "NONE"):
                return w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError):
        pass  # not a plain PCM WAV (a float or mu-law WAV, an MP3 ...): ffmpeg decides
    try:
        proc = await asyncio.create_subprocess_exec(
            shutil.which(ffmpeg) or ffmpeg,
            *("-nostdin", "-loglevel", "error", "-i", str(path)),
            *("-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    except OSError as exc:
        raise AudioError(f"{path}: ffmpeg could not start: {exc}") from exc
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise AudioError(f"{path}: not audio ffmpeg can read ({lines[-1] if lines else 'ffmpeg failed'})")
    return out


class TranscriptionRows(Protocol):
    """The store side of the job (store.transcriptions.StoreTranscriptions); loop-only
    coroutines, each one transaction."""

    async def due(self, limit: int) -> list[TranscriptionRecord]: ...

    async def recording(self, sid: str) -> RecordingRecord | None: ...

    async def finished(
        self,
        sid: str,
        status: TranscriptionStatus,
        *,
        text: str | None,
        duration_s: int | None,
        provider: str | None,
        error: tuple[int, str] | None,
    ) -> TranscriptionRecord | None: ...


class TranscriptionJob(Job):
    """The transcriptions' job (see the module docstring): `async with TranscriptionJob(rows,
    recognize) as job:` runs it; `job.wake()` after a recording is saved (loop-only)."""

    NAME = "transcriptions"

    def __init__(
        self,
        rows: TranscriptionRows,
        recognize: Recognize,
        *,
        locate: Locator | None = None,
        ffmpeg: str = "ffmpeg",
        poll_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.recognize = recognize
        self.locate = locate
        self.ffmpeg = ffmpeg
        self.poll_s = poll_s

    async def run_once(self) -> int:
        """Transcribe every row in progress now; returns how many were finished."""
        done, seen = 0, set[str]()
        while True:
            due = [t for t in await self.rows.due(DUE_PAGE) if t.sid not in seen]
            if not due:
                return done
            for tr in due:
                seen.add(tr.sid)  # one try per pass: a row whose commit failed waits for the next
                if await self.transcribe(tr) is not None:
                    done += 1

    async def transcribe(self, tr: TranscriptionRecord) -> TranscriptionRecord | None:
        """Transcribe one row and commit the outcome (None: the row or its recording is gone)."""
        rec = await self.rows.recording(tr.recording_sid)
        if rec is None:
            return None  # deleted meanwhile: its transcriptions went with it
        seconds = rec.duration_s or 0
        if seconds > MAX_DURATION_S:
            why = f"Record: the recording is {seconds} s long; transcription is for {MAX_DURATION_S} s or less"
            return await self._failed(tr, seconds, Notice.RECORD_TRANSCRIPTION_LENGTH, why)
        started = time.monotonic()
        try:
            pcm = await self._audio(rec)
        except AudioError as exc:
            log.error("[%s] transcription %s: the audio of %s: %s", tr.call_sid, tr.sid, rec.sid, exc)
            return await self._failed(tr, seconds, Notice.INTERNAL_FAILURE, f"Record: transcription failed: {exc}")
        try:
            result = await self.recognize(pcm, SpeechOptions())
        except WirexaError as exc:  # the chain's ProviderError: no recognizer could be used
            code = int(getattr(exc, "code", Notice.INTERNAL_FAILURE))
            log.error("[%s] transcription %s: no recognizer could transcribe %s: %s", tr.call_sid, tr.sid, rec.sid, exc)
            return await self._failed(tr, seconds, code, f"Record: transcription failed: {exc}")
        for fallback in result.fallbacks:
            log.warning("[%s] transcription %s: %s", tr.call_sid, tr.sid, fallback.message)
        log.info(
            "[%s] transcription %s of %s (%d s) by %s in %.2f s",
            tr.call_sid,
            tr.sid,
            rec.sid,
            seconds,
            result.provider,
            time.monotonic() - started,
        )
        return await self.rows.finished(
            tr.sid,
            TranscriptionStatus.COMPLETED,
            text=result.text,
            duration_s=seconds,
            provider=result.provider,
            error=None,
        )

    async def _failed(self, tr: TranscriptionRecord, seconds: int, code: int, why: str) -> TranscriptionRecord | None:
        return await self.rows.finished(
            tr.sid, TranscriptionStatus.FAILED, text=None, duration_s=seconds, provider=None, error=(code, why)
        )

    async def _audio(self, rec: RecordingRecord) -> bytes:
        """The recording's PCM: its local WAV, else the bucket's copy (fetched into a temporary
        file, removed after)."""
        wav = Path(rec.wav_path) if rec.wav_path else None
        if wav is not None and wav.exists():
            return await read_pcm_8k(wav, self.ffmpeg)
        if not rec.storage_url or self.locate is None:
            raise AudioError("its files are gone")
        with tempfile.TemporaryDirectory(prefix="wirexa-tr-") as folder:
            local = Path(folder) / f"{rec.sid}.wav"
            try:
                await self.locate(rec.storage_url).get(recording_key(rec.account_sid, rec.sid, ".wav"), local)
            except Exception as exc:  # noqa: BLE001 - botocore's errors and ours, mapped at this edge
                raise AudioError(f"it could not be fetched from {rec.storage_url}: {exc}") from exc
            return await read_pcm_8k(local, self.ffmpeg)
