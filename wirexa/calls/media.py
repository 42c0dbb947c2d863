"""Preparing what a live call plays or runs next: TTS for <Say>, audio for <Play>, and the
customer's documents (with the call's fallback URL). Each function is awaited in a helper
task of the session and returns what the session feeds the interpreter; failures become
results, never exceptions, so a bad document or a failed render never stops a call.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from wirexa.calls.ports import AudioSource, Fetcher, SpeechStream, TtsFallback, TtsPort
from wirexa.calls.records import CallRecord, NewNotification
from wirexa.errors import DocumentError, TtsError
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import Document, Gather, Say
from wirexa.notices import Notice

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt ready to play (`path`, None when there is none), and what the customer should
    be told about it (a TTS provider that fell back, a file that could not be fetched).
    With `stream`, `path` is speech still being synthesized (headerless PCM that grows): the
    session plays it as a stream and awaits `MediaPrep.stream_done` for its end."""

    op_id: int
    loop: int
    path: Path | None = None
    notices: tuple[NewNotification, ...] = ()
    stream: SpeechStream | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StreamDone:
    """A streamed prompt's synthesis ended: the session sends end_stream(size). `notices`: a
    provider that stopped before the end of the text (the prompt was cut short)."""

    op_id: int
    size: int
    notices: tuple[NewNotification, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """The event a document fetch ends with (DocumentLoaded or FetchFailed), and the notices
    the customer should see (a failed primary fetch that the fallback URL then served)."""

    event: E.Event
    notices: tuple[NewNotification, ...] = ()


class MediaPrep:
    """Loop-only. Each method returns a result for the session's queue, never raises."""

    def __init__(self, fetcher: Fetcher, tts: TtsPort, audio: AudioSource) -> None:
        self.fetcher = fetcher
        self.tts = tts
        self.audio = audio

    async def say(self, call: CallRecord, action: A.Say) -> Prompt:
        """The rendered <Say>. A single play (loop 1) of a text not cached yet streams when the
        provider can: the Prompt comes with the first audio. A looped <Say> waits for the
        complete WAV (a stream plays once), which the other loops replay."""
        try:
            speech = await self.tts.synthesize(action.text, action.voice, action.language, stream=action.loop == 1)
        except TtsError as exc:
            log.error("[%s] TTS failed: %s", call.sid, exc)
            notices = _fallback_notices(call, getattr(exc, "fallbacks", ()))
            failed = _notice(call, Notice.SAY_INVALID_TEXT, f"Say: text could not be rendered: {exc}")
            return Prompt(action.op_id, action.loop, notices=(*notices, failed))
        notices = _fallback_notices(call, speech.fallbacks)
        return Prompt(action.op_id, action.loop, path=speech.path, notices=notices, stream=speech.stream)

    async def stream_done(self, call: CallRecord, prompt: Prompt) -> StreamDone:
        """Wait for the end of a streamed prompt's synthesis."""
        assert prompt.stream is not None
        end = await prompt.stream.wait()
        notices: tuple[NewNotification, ...] = ()
        if end.failure is not None:
            log.warning("[%s] TTS stream cut short: %s", call.sid, end.failure.message)
            notices = (_notice(call, end.failure.code, end.failure.message, warning=True),)
        return StreamDone(prompt.op_id, end.size, notices)

    async def play(self, call: CallRecord, action: A.PlayAudio) -> Prompt:
        try:
            path = await self.audio.get(action.url)
        except DocumentError as exc:
            return Prompt(action.op_id, action.loop, notices=(_notice(call, exc.code, exc.message, action.url),))
        return Prompt(action.op_id, action.loop, path=path)

    def warm(self, document: Document) -> None:
        """Start rendering every <Say> of a document now (those inside <Gather> too), so the
        first prompt does not wait on the later ones: the chain shares a render in progress
        with the <Say> that asks for it, and caches the result."""
        for verb in document.verbs:
            for say in (verb, *verb.children) if isinstance(verb, Gather) else (verb,):
                if isinstance(say, Say) and say.text.strip():
                    self.tts.prepare(say.text, say.voice, say.language)

    async def document(self, call: CallRecord, action: A.FetchDocument, auth_token: str) -> Loaded:
        """Fetch and parse; on failure of the answer or a live-update document, try the call's
        FallbackUrl with ErrorCode and ErrorUrl (Twilio's fallback request)."""
        try:
            return Loaded(await self._load(action.url, str(action.method), action.params, auth_token, action.op_id))
        except DocumentError as exc:
            error = exc
        log.warning("[%s] fetch of %s failed: %s", call.sid, action.url, error)
        notices: tuple[NewNotification, ...] = ()
        fallback = call.fallback_url
        if fallback and action.reason in (A.FetchReason.INITIAL, A.FetchReason.LIVE_UPDATE):
            notices = (_notice(call, error.code, error.message, action.url),)
            params = (*action.params, ("ErrorCode", str(error.code)), ("ErrorUrl", action.url))
            try:
                return Loaded(
                    await self._load(fallback, call.fallback_method, params, auth_token, action.op_id), notices
                )
            except DocumentError as exc2:
                error = exc2
        return Loaded(E.FetchFailed(action.op_id, error.code, error.message, error.url or action.url), notices)

    async def _load(
        self, url: str, method: str, params: tuple[tuple[str, str], ...], auth_token: str, op_id: int
    ) -> E.Event:
        fetched = await self.fetcher.fetch(url, method, params, auth_token)
        document = parse_document(fetched.body, fetched.content_type, url=fetched.url)
        self.warm(document)
        return E.DocumentLoaded(op_id, document, fetched.url)


def _fallback_notices(call: CallRecord, fallbacks: Sequence[TtsFallback]) -> tuple[NewNotification, ...]:
    return tuple(_notice(call, fb.code, fb.message, warning=True) for fb in fallbacks)


def _notice(
    call: CallRecord, code: int, message: str, url: str | None = None, *, warning: bool = False
) -> NewNotification:
    return NewNotification(
        account_sid=call.account_sid,
        call_sid=call.sid,
        error_code=code,
        message_text=message,
        request_url=url,
        log_level=1 if warning else 0,
    )
