"""Amazon Transcribe streaming over its WebSocket API, PCM at 8000 Hz.

Why the WebSocket API and not amazon-transcribe (AWS's Python streaming SDK): that SDK runs on
awscrt (a native HTTP/2 stack of its own, a second event loop) and is marked experimental; the
WebSocket API is a presigned GET and binary frames, which aiohttp and botocore (already ours for
Polly) cover: botocore's SigV4QueryAuth signs the URL (service "transcribe"), botocore's
eventstream decodes the answers. Audio goes out as AWS event-stream messages (`AudioEvent`)
that `encode_event` frames here: prelude (total and header lengths, CRC32), string headers,
payload, message CRC32. An empty AudioEvent ends the stream; Transcribe then sends its last
results and closes.

Answers: `TranscriptEvent` JSON. A result with IsPartial true is the current segment's
hypothesis (on_partial: finals so far plus it; the stable part is the finals plus the leading
items Transcribe marks Stable, partial-results stabilization being on); IsPartial false ends a
segment, whose transcript joins the text. Confidence is the mean of the final items'.
Exceptions come as `exception` messages (BadRequestException, LimitExceededException, ...)
and become ProviderError; a refused handshake (403: the signature or the keys) too.

Not per request: vocabularies (hints) and profanity filters exist only as resources created
beforehand in the AWS account. So hints are not used (a note on the Recognition says so) and
the profanity filter is applied here (profanity.py), the way Twilio masks (`f***`).
"""

from __future__ import annotations

import asyncio
import binascii
import json
import struct
import urllib.parse
from typing import Any

import aiohttp
import yarl

from wirexa.config import Settings
from wirexa.media.stt.base import SAMPLE_RATE, PartialCallback, Recognition, Recognizing, SpeechOptions
from wirexa.media.stt.profanity import mask
from wirexa.media.stt.vendorws import StreamSession, failed, join, language_refused, mean, model_refused

PATH = "/stream-transcription-websocket"
PRESIGN_EXPIRES_S = 300  # the longest Transcribe accepts
# Twilio's speechModel values Transcribe can honour: it has one model per language (no choice).
MODELS = frozenset(
    {"default", "phone_call", "numbers_and_commands", "experimental_conversations", "experimental_utterances"}
)
_AUTH_ERRORS = (
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "ForbiddenException",
)
_STRING = 7  # event-stream header value type: string


def encode_event(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: string headers and a payload, with both CRC32s."""
    head = b""
    for key, value in headers.items():
        k, v = key.encode("utf-8"), value.encode("utf-8")
        head += struct.pack("!B", len(k)) + k + struct.pack("!BH", _STRING, len(v)) + v
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack("!I", binascii.crc32(message))


def audio_event(pcm: bytes) -> bytes:
    return encode_event(
        {":content-type": "application/octet-stream", ":event-type": "AudioEvent", ":message-type": "event"}, pcm
    )


def presigned_url(
    endpoint_url: str, region: str, access_key_id: str, secret_access_key: str, query: dict[str, str]
) -> str:
    """The SigV4 query-signed URL of the streaming WebSocket (`ws[s]://...`)."""
    parts = urllib.parse.urlsplit(endpoint_url.rstrip("/"))
    # Signed as http(s) (botocore knows those schemes' default ports); the scheme is not signed.
    http_scheme = "https" if parts.scheme in ("wss", "https") else "http"
    url = f"{http_scheme}://{parts.netloc}{PATH}?{urllib.parse.urlencode(query)}"
    # botocore is imported on first use: ~0.1 s that start-up need not pay when Amazon is unused.
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(access_key_id, secret_access_key), "transcribe", region, PRESIGN_EXPIRES_S).add_auth(
        request
    )
    signed: str = request.url
    return ("wss" if http_scheme == "https" else "ws") + signed[len(http_scheme) :]


class AmazonStt:
    name = "amazon"

    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        endpoint_url: str = "",
        timeout_s: float = 3.0,
    ) -> None:
        self.region = region or "us-east-1"
        self.endpoint_url = endpoint_url or f"wss://transcribestreaming.{self.region}.amazonaws.com:8443"
        self.timeout_s = timeout_s
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> AmazonStt:
        return cls(
            access_key_id=s.stt_amazon_access_key_id,
            secret_access_key=s.stt_amazon_secret_access_key,
            region=s.stt_amazon_region,
            endpoint_url=s.stt_amazon_endpoint_url,
            timeout_s=s.stt_timeout_s,
        )

    def configured(self) -> bool:
        return bool(self._access_key_id and self._secret_access_key)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> Recognizing:
        if options.model not in MODELS:
            raise model_refused(options.model, "Amazon Transcribe")
        query = {
            "language-code": options.language,
            "media-encoding": "pcm",
            "sample-rate": str(SAMPLE_RATE),
            "enable-partial-results-stabilization": "true",
            "partial-results-stability": "medium",
        }
        url = presigned_url(self.endpoint_url, self.region, self._access_key_id, self._secret_access_key, query)
        signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("X-Amz-Signature", [""])[0]
        secrets = (self._access_key_id, self._secret_access_key, signature)  # aiohttp's errors may quote the URL
        session = _AmazonSession(options, timeout_s=self.timeout_s, on_partial=on_partial, secrets=secrets)
        try:
            session.ws = await asyncio.wait_for(
                self._client().ws_connect(yarl.URL(url, encoded=True), autoping=True, max_msg_size=1 << 22),
                self.timeout_s,
            )
        except TimeoutError:
            raise failed(f"no WebSocket handshake within {self.timeout_s:g} s") from None
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise failed(f"credentials refused (HTTP {exc.status})") from None
            message = session.redact(exc.message or "")
            if exc.status == 400 and "language" in message.lower():
                raise language_refused(f"language {options.language!r} refused (HTTP 400: {message})") from None
            raise failed(f"WebSocket handshake refused (HTTP {exc.status}: {message})") from None
        except aiohttp.ClientError as exc:
            raise failed(session.redact(f"connection failed: {type(exc).__name__}: {exc}")) from None
        if options.hints:
            session.notes.append(
                "Amazon Transcribe takes no per-request hints (only a custom vocabulary created in the AWS account); recognized without them"
            )
        if options.enhanced:
            session.notes.append(
                "enhanced applies to Google's phone_call speechModel only; Amazon Transcribe recognized without it"
            )
        session.start()
        return session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _AmazonSession(StreamSession):
    provider = "amazon"
    ws: aiohttp.ClientWebSocketResponse

    def __init__(self, options: SpeechOptions, **kw: Any) -> None:
        super().__init__(**kw)
        self.options = options
        self.finals: list[str] = []
        self.confidences: list[float] = []

    async def run(self) -> Recognition:
        from botocore.eventstream import EventStreamBuffer, ParserError

        sender = asyncio.create_task(self._send())
        buffer = EventStreamBuffer()
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    buffer.add_data(msg.data)
                    for event in buffer:
                        self._event(event)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    break
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise failed(f"connection failed: {self.ws.exception()!r}")
            if not sender.done():
                # Closed before our end of stream and with no exception message: a cut connection.
                raise failed(f"the stream was closed early (WebSocket close {self.ws.close_code})")
        except ParserError as exc:
            raise failed(f"unreadable event-stream message: {exc}") from None
        finally:
            sender.cancel()
            await self.ws.close()
        text = join(self.finals)
        if self.options.profanity_filter:
            text = mask(text)
        return Recognition(text, mean(self.confidences), "amazon", notes=tuple(self.notes))

    def partial(self, text: str, stable: str = "") -> None:
        if self.options.profanity_filter:
            text, stable = mask(text), mask(stable)
        super().partial(text, stable)

    async def _send(self) -> None:
        try:
            async for chunk in self.audio():
                await self.ws.send_bytes(audio_event(chunk))
            await self.ws.send_bytes(audio_event(b""))  # the end of the audio stream
        except (ConnectionError, aiohttp.ClientError):
            pass  # the reader sees the close

    def _event(self, event: Any) -> None:
        """One decoded event-stream message (botocore's EventStreamMessage: headers, payload)."""
        headers = event.headers
        kind = headers.get(":message-type")
        if kind == "exception":
            name = str(headers.get(":exception-type", "exception"))
            try:
                message = str(json.loads(event.payload).get("Message", ""))
            except (ValueError, AttributeError):
                message = event.payload.decode("utf-8", errors="replace")
            message = self.redact(message)[:300]
            if name in _AUTH_ERRORS:
                raise failed(f"credentials refused ({name})")
            if name == "BadRequestException" and "language" in message.lower():
                raise language_refused(f"language {self.options.language!r} refused ({name}: {message})")
            raise failed(f"{name}: {message}")
        if kind != "event" or headers.get(":event-type") != "TranscriptEvent":
            return
        results = json.loads(event.payload)["Transcript"]["Results"]
        partial: list[str] = []
        stable: list[str] = []
        for result in results:
            if not result.get("Alternatives"):
                continue
            alt = result["Alternatives"][0]
            if result.get("IsPartial"):
                partial.append(alt.get("Transcript", ""))
                stable.append(_stable_prefix(alt.get("Items") or []))
            else:
                self.finals.append(alt.get("Transcript", ""))
                self.confidences += [
                    float(i.get("Confidence") or 0) for i in alt.get("Items") or [] if i.get("Type") == "pronunciation"
                ]
        self.partial(join(self.finals + partial), join(self.finals + stable[:1]))


def _stable_prefix(items: list[dict[str, Any]]) -> str:
    """The words of the leading items Transcribe marked Stable (punctuation joins its word)."""
    text = ""
    for item in items:
        if not item.get("Stable"):
            break
        content = str(item.get("Content", ""))
        text += content if item.get("Type") == "punctuation" or not text else " " + content
    return text
