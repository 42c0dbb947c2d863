"""Deepgram live transcription over its WebSocket API (`/v1/listen`), linear16 at 8000 Hz.

Why not deepgram-sdk: it is a generated client on httpx and websockets (a second network stack
beside aiohttp) for one WebSocket. The options are query parameters of the handshake; the key
goes in `Authorization: Token <key>` (never in the URL). Audio goes out as binary frames while
the caller speaks; finish sends `{"type": "CloseStream"}`, after which Deepgram flushes its last
results, sends its Metadata and closes.

Answers: `Results` messages. One with is_final false is the current piece's interim hypothesis
(on_partial: the final pieces so far plus it, the finals being the stable part); is_final true
fixes a piece, and the final pieces joined are the text, their mean confidence the confidence.

Models (Twilio's speechModel -> Deepgram): deepgram_nova-2 -> nova-2, deepgram_nova-3 ->
nova-3, phone_call and numbers_and_commands -> nova-2-phonecall (trained on 8 kHz calls;
nova-3 has no phone-call variant), default and the experimental_* models -> nova-3 (Deepgram's
general model); googlev2_* are Google's and refused (13334). Hints: nova-3 takes `keyterm`, the
older models `keywords` (one parameter per hint). Google's class tokens ($OOV_CLASS_...) mean
nothing to Deepgram: they are left out and a note says so. `punctuate=true` because Twilio's
SpeechResult is punctuated; `profanity_filter` is Deepgram's own.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import aiohttp
from multidict import CIMultiDict

from wirexa.config import Settings
from wirexa.media.stt.base import (
    CODE_MODEL,
    SAMPLE_RATE,
    PartialCallback,
    ProviderError,
    Recognition,
    Recognizing,
    SpeechOptions,
)
from wirexa.media.stt.vendorws import StreamSession, failed, join, language_refused, mean, model_refused

MODELS = {
    "default": "nova-3",
    "phone_call": "nova-2-phonecall",
    "numbers_and_commands": "nova-2-phonecall",
    "experimental_conversations": "nova-3",
    "experimental_utterances": "nova-3",
    "deepgram_nova-2": "nova-2",
    "deepgram_nova-3": "nova-3",
}
CLOSE_STREAM = json.dumps({"type": "CloseStream"})


def listen_query(options: SpeechOptions) -> tuple[list[tuple[str, str]], list[str]]:
    """The /v1/listen query for `options`, and the notes on what could not be used."""
    model = MODELS.get(options.model)
    if model is None:
        raise model_refused(options.model, "Deepgram")
    query = [
        ("encoding", "linear16"),
        ("sample_rate", str(SAMPLE_RATE)),
        ("channels", "1"),
        ("interim_results", "true"),
        ("punctuate", "true"),
        ("language", options.language),
        ("model", model),
        ("profanity_filter", "true" if options.profanity_filter else "false"),
    ]
    notes: list[str] = []
    tokens = [h for h in options.hints if h.startswith("$")]
    if tokens:
        notes.append(f"Deepgram has no class tokens; hints {', '.join(tokens)} were not used")
    hint_param = "keyterm" if model.startswith("nova-3") else "keywords"
    query += [(hint_param, h) for h in options.hints if not h.startswith("$")]
    if options.enhanced:
        notes.append("enhanced applies to Google's phone_call speechModel only; Deepgram recognized without it")
    return query, notes


class DeepgramStt:
    name = "deepgram"

    def __init__(self, *, api_key: str, endpoint_url: str = "wss://api.deepgram.com", timeout_s: float = 3.0) -> None:
        self.endpoint_url = (endpoint_url or "wss://api.deepgram.com").rstrip("/")
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> DeepgramStt:
        return cls(api_key=s.stt_deepgram_api_key, endpoint_url=s.stt_deepgram_endpoint_url, timeout_s=s.stt_timeout_s)

    def configured(self) -> bool:
        return bool(self._api_key)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> Recognizing:
        query, notes = listen_query(options)
        url = f"{self.endpoint_url}/v1/listen?{urllib.parse.urlencode(query)}"
        session = _DeepgramSession(timeout_s=self.timeout_s, on_partial=on_partial, secrets=(self._api_key,))
        session.notes += notes
        try:
            session.ws = await asyncio.wait_for(
                self._client().ws_connect(
                    url, headers={"Authorization": f"Token {self._api_key}"}, max_msg_size=1 << 22
                ),
                self.timeout_s,
            )
        except TimeoutError:
            raise failed(f"no WebSocket handshake within {self.timeout_s:g} s") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise self._handshake_error(exc, options, session) from None
        except aiohttp.ClientError as exc:
            raise failed(session.redact(f"connection failed: {type(exc).__name__}: {exc}")) from None
        session.start()
        return session

    @staticmethod
    def _handshake_error(
        exc: aiohttp.WSServerHandshakeError, options: SpeechOptions, session: StreamSession
    ) -> Exception:
        if exc.status in (401, 403):
            return failed(f"credentials refused (HTTP {exc.status})")
        # Deepgram puts its reason in the dg-error header (the body is not readable here).
        header = CIMultiDict(exc.headers or ()).get("dg-error", "")
        reason = session.redact(str(header) or exc.message or "")[:300]
        if exc.status == 400:
            lowered = reason.lower()
            # "No such model/language/tier combination found.": the language when the model was
            # not asked for, the model when it was.
            if "model" in lowered and options.model != "default":
                return ProviderError(
                    CODE_MODEL, f"speechModel {options.model!r} refused for {options.language!r} (HTTP 400: {reason})"
                )
            if "language" in lowered or "model" in lowered:
                return language_refused(f"language {options.language!r} refused (HTTP 400: {reason})")
        return failed(f"WebSocket handshake refused (HTTP {exc.status}: {reason})")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _DeepgramSession(StreamSession):
    provider = "deepgram"
    ws: aiohttp.ClientWebSocketResponse

    async def run(self) -> Recognition:
        sender = asyncio.create_task(self._send())
        finals: list[str] = []
        confidences: list[float] = []
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    doc: dict[str, Any] = json.loads(msg.data)
                    kind = doc.get("type")
                    if kind == "Error":
                        raise failed(f"Deepgram error: {doc.get('description') or doc.get('message') or doc}"[:300])
                    if kind != "Results":
                        continue
                    alt = (doc.get("channel", {}).get("alternatives") or [{}])[0]
                    transcript = str(alt.get("transcript", ""))
                    if doc.get("is_final"):
                        if transcript.strip():
                            finals.append(transcript)
                            confidences.append(float(alt.get("confidence") or 0))
                        self.partial(join(finals), join(finals))
                    else:
                        self.partial(join([*finals, transcript]), join(finals))
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    code = self.ws.close_code
                    if code not in (1000, None) or not sender.done():
                        reason = msg.extra if msg.type == aiohttp.WSMsgType.CLOSE and msg.extra else ""
                        raise failed(
                            f"Deepgram closed the stream (WebSocket close {code}{': ' if reason else ''}{reason})"
                        )
                    break
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise failed(f"connection failed: {self.ws.exception()!r}")
        finally:
            sender.cancel()
            await self.ws.close()
        return Recognition(join(finals), mean(confidences), "deepgram", notes=tuple(self.notes))

    async def _send(self) -> None:
        try:
            async for chunk in self.audio():
                await self.ws.send_bytes(chunk)
            await self.ws.send_str(CLOSE_STREAM)
        except (ConnectionError, aiohttp.ClientError):
            pass  # the reader sees the close
