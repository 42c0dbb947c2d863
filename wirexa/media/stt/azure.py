"""Azure AI Speech's REST API for short audio, the body uploaded while the caller speaks.

Why REST and not azure-cognitiveservices-speech: the SDK is a 30 MB native library (see
media/tts/azure.py). The REST API for short audio recognizes one utterance (up to 60 s) per
POST to `{endpoint}/speech/recognition/conversation/cognitiveservices/v1?language=..&
format=detailed&profanity=masked|raw`, key in `Ocp-Apim-Subscription-Key`. The request starts
at open with a chunked body (an async generator: a WAV header for 8 kHz 16-bit mono PCM with
unknown lengths, then the audio as it is fed), so the upload is done when the caller stops and
finish only waits for Azure's answer. Azure answers once, at the end: no partials.

Answer: `RecognitionStatus` Success -> NBest[0]'s Display text (masked by Azure when
profanity=masked) and Confidence; NoMatch, InitialSilenceTimeout, BabbleTimeout -> nothing
understood (""); Error -> ProviderError. 401/403: credentials refused; a 400 naming the
language: 13331. The REST API has no phrase lists (the SDK's), so hints are not used (a note
says so), and one model: Twilio's googlev2_*/deepgram_* models are refused (13334).
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from wirexa.config import Settings
from wirexa.media.stt.base import SAMPLE_BYTES, SAMPLE_RATE, PartialCallback, Recognition, Recognizing, SpeechOptions
from wirexa.media.stt.vendorws import StreamSession, failed, language_refused, model_refused

PATH = "/speech/recognition/conversation/cognitiveservices/v1"
CONTENT_TYPE = f"audio/wav; codecs=audio/pcm; samplerate={SAMPLE_RATE}"
MODELS = frozenset(
    {"default", "phone_call", "numbers_and_commands", "experimental_conversations", "experimental_utterances"}
)
_NOTHING = frozenset({"NoMatch", "InitialSilenceTimeout", "BabbleTimeout"})
_UNKNOWN = 0xFFFFFFFF  # the WAV lengths of a stream whose end is not known yet


def streaming_wav_header() -> bytes:
    """A RIFF/WAVE header for 8 kHz 16-bit mono PCM whose RIFF and data lengths are unknown."""
    fmt = struct.pack(
        "<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * SAMPLE_BYTES, SAMPLE_BYTES, SAMPLE_BYTES * 8
    )  # PCM, mono, rate, byte rate, block align, bits per sample
    return (
        b"RIFF"
        + struct.pack("<I", _UNKNOWN)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", _UNKNOWN)
    )


class AzureStt:
    name = "azure"

    def __init__(self, *, key: str, region: str = "", endpoint_url: str = "", timeout_s: float = 3.0) -> None:
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout_s = timeout_s
        self._key = key
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> AzureStt:
        return cls(
            key=s.stt_azure_key,
            region=s.stt_azure_region,
            endpoint_url=s.stt_azure_endpoint_url,
            timeout_s=s.stt_timeout_s,
        )

    def configured(self) -> bool:
        return bool(self._key and (self.region or self.endpoint_url))

    @property
    def url(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url + PATH
        if not self.region:
            raise failed("not configured: stt.azure_region or stt.azure_endpoint_url is required")
        return f"https://{self.region}.stt.speech.microsoft.com{PATH}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> Recognizing:
        if options.model not in MODELS:
            raise model_refused(options.model, "Azure")
        session = _AzureSession(
            self._client(),
            self.url,
            options,
            self._key,
            timeout_s=self.timeout_s,
            on_partial=on_partial,
            secrets=(self._key,),
        )
        if options.hints:
            session.notes.append(
                "Azure's REST API for short audio takes no hints (phrase lists); recognized without them"
            )
        if options.enhanced:
            session.notes.append(
                "enhanced applies to Google's phone_call speechModel only; Azure recognized without it"
            )
        session.start()
        return session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _AzureSession(StreamSession):
    provider = "azure"

    def __init__(self, client: aiohttp.ClientSession, url: str, options: SpeechOptions, key: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.client = client
        self.url = url
        self.options = options
        self.key = key

    async def _body(self) -> AsyncIterator[bytes]:
        yield streaming_wav_header()
        async for chunk in self.audio():
            yield chunk

    async def run(self) -> Recognition:
        params = {
            "language": self.options.language,
            "format": "detailed",
            "profanity": "masked" if self.options.profanity_filter else "raw",
        }
        headers = {
            "Ocp-Apim-Subscription-Key": self.key,
            "Content-Type": CONTENT_TYPE,
            "Accept": "application/json",
            "User-Agent": "wirexa",
        }
        try:
            async with self.client.post(self.url, params=params, headers=headers, data=self._body()) as resp:
                status, body = resp.status, await resp.read()
        except aiohttp.ClientError as exc:
            raise failed(f"connection failed: {type(exc).__name__}: {exc}") from None
        except asyncio.CancelledError:
            raise
        message = self.redact(" ".join(body.decode("utf-8", errors="replace").split()))[:300]
        if status in (401, 403):
            raise failed(f"credentials refused (HTTP {status})")
        if status == 400 and "language" in message.lower():
            raise language_refused(f"language {self.options.language!r} refused (HTTP 400: {message})")
        if status != 200:
            raise failed(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        try:
            doc = json.loads(body)
            outcome = str(doc["RecognitionStatus"])
        except (ValueError, KeyError, TypeError):
            raise failed(f"unreadable answer: {message[:200]}") from None
        if outcome in _NOTHING:
            return Recognition("", None, "azure", notes=tuple(self.notes))
        if outcome != "Success":
            raise failed(f"RecognitionStatus {outcome}")
        best = (doc.get("NBest") or [{}])[0]
        text = str(best.get("Display") or doc.get("DisplayText") or "")
        confidence = best.get("Confidence")
        return Recognition(
            text, float(confidence) if confidence is not None else None, "azure", notes=tuple(self.notes)
        )
