"""Vosk: an offline recognizer for whoever installs a Vosk model (any language Vosk has one for).

Configured when `stt_vosk_model_path` names a directory. The `vosk` package (a dependency: its
wheel is small, the models are what is big, and none is shipped) is imported on first use, so an
engine that does not use Vosk never loads its library; a missing package, or a directory
that is not a Vosk model, is ProviderError 13343 with the reason, and the chain moves on. The
model is loaded once (on a worker thread: a large model takes seconds) and shared by every
session; each session is a KaldiRecognizer at 8 kHz (Vosk resamples for the model) on its own
decoding thread, like pocketsphinx's (pocketsphinx.ThreadedSession): partial results while
audio is fed, the final result at `finish`. The language is the model's: Vosk cannot say which
it is, so any language is accepted. Hints are not used (a Vosk grammar restricts the model to
the listed phrases, which a hint does not): the Recognition says so in its notes. Confidence is
the mean of the words' confidences.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from pathlib import Path
from typing import Any

from wirexa.config import Settings
from wirexa.media.stt.base import (
    CODE_MODEL,
    CODE_PROVIDER,
    SAMPLE_RATE,
    SPEECH_MODELS,
    PartialCallback,
    ProviderError,
    Recognition,
    SpeechOptions,
)
from wirexa.media.stt.pocketsphinx import _CANCEL, _FINISH, PARTIAL_EVERY_S, ThreadedSession
from wirexa.media.stt.profanity import mask

PARTIAL_BYTES = int(SAMPLE_RATE * PARTIAL_EVERY_S) * 2


def load_model(path: str) -> Any:
    """The vosk.Model at `path`, or ProviderError(13343) saying what is wrong. Blocking."""
    try:
        import vosk
    except ImportError as exc:
        raise ProviderError(CODE_PROVIDER, "the vosk package is not installed (pip install vosk)") from exc
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ProviderError(CODE_PROVIDER, f"stt_vosk_model_path {str(directory)!r} is not a directory")
    if not (directory / "am").is_dir() and not (directory / "final.mdl").exists():
        raise ProviderError(CODE_PROVIDER, f"{str(directory)!r} is not a Vosk model directory (no am/ in it)")
    vosk.SetLogLevel(-1)
    try:
        return vosk.Model(str(directory))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise ProviderError(CODE_PROVIDER, f"Vosk could not load the model in {str(directory)!r}: {exc}") from exc


class VoskSession(ThreadedSession):
    provider = "vosk"

    def __init__(self, model: Any, options: SpeechOptions, on_partial: PartialCallback | None) -> None:
        super().__init__(on_partial)
        self._model = model
        self._options = options

    def _decode(self, chunks: queue.Queue[object]) -> Recognition | None:
        import vosk

        rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        rec.SetWords(True)
        finals: list[dict[str, Any]] = []
        since_partial = 0
        while True:
            item = chunks.get()
            if item is _CANCEL:
                return None
            if item is _FINISH:
                break
            assert isinstance(item, bytes)
            if rec.AcceptWaveform(item):
                finals.append(json.loads(rec.Result()))
            since_partial += len(item)
            if since_partial >= PARTIAL_BYTES and self._on_partial is not None:
                since_partial = 0
                partial = json.loads(rec.PartialResult()).get("partial", "")
                self._partial_threadsafe(" ".join([*(f.get("text", "") for f in finals), partial]).strip())
        finals.append(json.loads(rec.FinalResult()))
        text = " ".join(f.get("text", "") for f in finals if f.get("text")).strip()
        confs = [w["conf"] for f in finals for w in f.get("result", []) if "conf" in w]
        confidence = sum(confs) / len(confs) if confs else None
        if self._options.profanity_filter:
            text = mask(text)
        notes = (
            ("vosk: hints are not used (a Vosk grammar would restrict the answer to them)",)
            if self._options.hints
            else ()
        )
        return Recognition(text, confidence if text else None, self.provider, notes=notes)


class VoskStt:
    name = "vosk"

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._model: Any | None = None
        self._loading: asyncio.Future[Any] | None = None
        self._lock = threading.Lock()
        self._sessions: set[VoskSession] = set()

    @classmethod
    def from_settings(cls, s: Settings) -> VoskStt:
        return cls(s.stt_vosk_model_path)

    def configured(self) -> bool:
        return bool(self.model_path) and Path(self.model_path).expanduser().is_dir()

    async def _get_model(self) -> Any:
        if self._model is not None:
            return self._model
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            self._loading = asyncio.ensure_future(asyncio.to_thread(load_model, self.model_path))
        self._model = await asyncio.shield(self._loading)
        return self._model

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> VoskSession:
        if not self.model_path:
            raise ProviderError(CODE_PROVIDER, "not configured (stt_vosk_model_path is empty)")
        if options.model not in SPEECH_MODELS:
            raise ProviderError(CODE_MODEL, f"unknown speechModel {options.model!r}")
        model = await self._get_model()
        session = VoskSession(model, options, on_partial)
        self._sessions.add(session)
        session._result.add_done_callback(lambda _f: self._sessions.discard(session))
        session.start()
        return session

    async def aclose(self) -> None:
        sessions = list(self._sessions)
        for session in sessions:
            await session.cancel()
        await asyncio.gather(*(s.join() for s in sessions))
        self._model = None
