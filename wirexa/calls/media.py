"""Preparing what a live call plays or runs next: TTS for <Say>, audio for <Play>, and the
customer's documents (with the call's fallback URL). Each function is awaited in a helper
task of the session and returns what the session feeds the interpreter; failures become
results, never exceptions, so a bad document or a failed render never stops a call.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from wirexa.calls.ports import AudioSource, Fetcher, TtsPort
from wirexa.calls.records import CallRecord, NewNotification
from wirexa.errors import DocumentError, TtsError
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml.parse import parse_document

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt ready to play (`path`), or why there is none (`notice`)."""

    op_id: int
    loop: int
    path: Path | None = None
    notice: NewNotification | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded:
    """The event a document fetch ends with (DocumentLoaded or FetchFailed), and the notices
    the customer should see (a failed primary fetch that the fallback URL then served)."""

    event: E.Event
    notices: tuple[NewNotification, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class MediaPrep:
    fetcher: Fetcher
    tts: TtsPort
    audio: AudioSource

    async def say(self, call: CallRecord, action: A.Say) -> Prompt:
        try:
            path = await self.tts.render(action.text, action.voice, action.language)
        except TtsError as exc:
            log.error("[%s] TTS failed: %s", call.sid, exc)
            return Prompt(action.op_id, action.loop, notice=_notice(call, 13520, f"Say: text could not be rendered: {exc}"))
        return Prompt(action.op_id, action.loop, path=path)

    async def play(self, call: CallRecord, action: A.PlayAudio) -> Prompt:
        try:
            path = await self.audio.get(action.url)
        except DocumentError as exc:
            return Prompt(action.op_id, action.loop, notice=_notice(call, exc.code, exc.message, action.url))
        return Prompt(action.op_id, action.loop, path=path)

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
                return Loaded(await self._load(fallback, call.fallback_method, params, auth_token, action.op_id), notices)
            except DocumentError as exc2:
                error = exc2
        return Loaded(E.FetchFailed(action.op_id, error.code, error.message, error.url or action.url), notices)

    async def _load(
        self, url: str, method: str, params: tuple[tuple[str, str], ...], auth_token: str, op_id: int
    ) -> E.Event:
        fetched = await self.fetcher.fetch(url, method, params, auth_token)
        document = parse_document(fetched.body, fetched.content_type, url=fetched.url)
        return E.DocumentLoaded(op_id, document, fetched.url)


def _notice(call: CallRecord, code: int, message: str, url: str | None = None, *, warning: bool = False) -> NewNotification:
    return NewNotification(
        account_sid=call.account_sid, call_sid=call.sid, error_code=code, message_text=message,
        request_url=url, log_level=1 if warning else 0,
    )
