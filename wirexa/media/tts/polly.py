"""Amazon Polly through boto3's `synthesize_speech`, asking for `pcm` at 8000 Hz.

boto3 is AWS's own client and signs requests (SigV4), so we use it rather than a REST call.
It is blocking and slow to import, so it is imported on the first render only (start-up stays
fast when Polly is not configured) and every call runs on a worker thread (STYLE §3). The
client gets region, endpoint URL and credentials from Settings explicitly, one attempt (the
chain falls back instead of retrying) and socket timeouts equal to the chain's timeout.

`stream` reads the same answer's AudioStream on a worker thread as Polly sends it (Polly
synthesizes while it answers), handing each chunk to the loop: the chain plays it at once.

Voices: `Joanna` uses the engine from settings (standard by default); Twilio's `Joanna-Neural`,
`Ruth-Generative` and `Danielle-LongForm` pick the engine from the suffix.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

from wirexa.config import Settings
from wirexa.media.tts.base import TELEPHONE_RATE, failed, redact, voice_rejected, write_wav
from wirexa.media.tts.voices import POLLY_DEFAULTS, table_default

STREAM_READ_BYTES = 8192  # at most ~0.5 s of audio per chunk; read1 answers with what is there
_ENGINES = {"neural": "neural", "generative": "generative", "longform": "long-form", "standard": "standard"}
_VOICE_ERRORS = ("EngineNotSupportedException", "LanguageNotSupportedException")
_AUTH_ERRORS = (
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
)


def split_voice(voice: str, default_engine: str) -> tuple[str, str]:
    """'Joanna-Neural' -> ('Joanna', 'neural'); 'Joanna' -> ('Joanna', default_engine)."""
    name, dash, suffix = voice.partition("-")
    engine = _ENGINES.get(suffix.lower().replace("-", "")) if dash else None
    return (name, engine) if engine else (voice, default_engine)


class PollyTts:
    name = "polly"

    def __init__(
        self,
        *,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        endpoint_url: str = "",
        engine: str = "standard",
        voice_woman: str = "",
        voice_man: str = "",
        timeout_s: float = 3.0,
    ) -> None:
        self.region = region or "us-east-1"
        self.endpoint_url = endpoint_url
        self.engine = engine
        self.voice_woman = voice_woman
        self.voice_man = voice_man
        self.timeout_s = timeout_s
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: Settings) -> PollyTts:
        return cls(
            region=s.tts_polly_region,
            access_key_id=s.tts_polly_access_key_id,
            secret_access_key=s.tts_polly_secret_access_key,
            endpoint_url=s.tts_polly_endpoint_url,
            engine=s.tts_polly_engine,
            voice_woman=s.tts_polly_voice_woman,
            voice_man=s.tts_polly_voice_man,
            timeout_s=s.tts_timeout_s,
        )

    def configured(self) -> bool:
        return bool(self._access_key_id and self._secret_access_key)

    def default_voice(self, gender: str, language: str) -> str:
        override = self.voice_man if gender == "male" else self.voice_woman
        return override or table_default(POLLY_DEFAULTS, gender, language)

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        voice_id, engine = split_voice(voice, self.engine)
        pcm = await asyncio.to_thread(self._synthesize_threadsafe, text, voice_id, engine)
        write_wav(out, pcm, TELEPHONE_RATE)

    def _client_threadsafe(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "polly",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url or None,
                    aws_access_key_id=self._access_key_id,
                    aws_secret_access_key=self._secret_access_key,
                    config=Config(
                        connect_timeout=self.timeout_s,
                        read_timeout=self.timeout_s,
                        retries={"total_max_attempts": 1},
                    ),
                )
            return self._client

    def _synthesize_threadsafe(self, text: str, voice_id: str, engine: str) -> bytes:
        return b"".join(self._chunks_threadsafe(text, voice_id, engine, threading.Event(), 1 << 20))

    def _chunks_threadsafe(
        self, text: str, voice_id: str, engine: str, stop: threading.Event, size: int
    ) -> Iterator[bytes]:
        """The PCM of one `synthesize_speech`, read as Polly sends it: up to `size` bytes at a
        time, each as soon as some bytes are there (urllib3's read1), until `stop` is set."""
        import urllib3.exceptions
        from botocore.exceptions import BotoCoreError, ClientError

        secrets = (self._access_key_id, self._secret_access_key)
        try:
            response = self._client_threadsafe().synthesize_speech(
                Text=text,
                TextType="text",
                VoiceId=voice_id,
                Engine=engine,
                OutputFormat="pcm",
                SampleRate=str(TELEPHONE_RATE),
            )
            body = response["AudioStream"]  # botocore's StreamingBody over urllib3's response
            raw = getattr(body, "_raw_stream", None)
            # StreamingBody.read(n) waits for n bytes; urllib3's read1 answers with what came.
            read = raw.read1 if raw is not None and hasattr(raw, "read1") else body.read
            try:
                while not stop.is_set():
                    chunk = read(size)
                    if not chunk:
                        break
                    yield bytes(chunk)
            finally:
                body.close()
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), redact(str(err.get("Message", "")), secrets)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            if code in _AUTH_ERRORS or status in (401, 403):
                raise failed(f"credentials refused ({code or status})") from exc
            # A 400 about the voice either names it (AWS: "Value 'X' at 'voiceId' failed to
            # satisfy constraint") or lists the valid ids (moto: "Not one of Aditi, Amy, ...").
            if code in _VOICE_ERRORS or (status == 400 and ("voice" in message.lower() or "Joanna" in message)):
                raise voice_rejected(f"voice {voice_id!r} ({engine}) rejected: {code}: {message[:200]}") from exc
            raise failed(f"HTTP {status}: {code}: {message[:200]}") from exc
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise failed(redact(f"request failed: {type(exc).__name__}: {exc}", secrets)) from exc

    async def stream(self, text: str, voice: str, language: str) -> AsyncGenerator[bytes, None]:
        """Polly's AudioStream read on a worker thread; each chunk is handed to the loop as it
        arrives. Leaving the iteration early stops the thread at its next chunk."""
        voice_id, engine = split_voice(voice, self.engine)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def put_threadsafe(item: bytes | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                stop.set()

        def run_threadsafe() -> None:
            try:
                for chunk in self._chunks_threadsafe(text, voice_id, engine, stop, STREAM_READ_BYTES):
                    put_threadsafe(chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the loop, raised there
                put_threadsafe(exc)
            else:
                put_threadsafe(None)

        reader = loop.run_in_executor(None, run_threadsafe)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if reader.done():
                reader.result()

    async def aclose(self) -> None:
        self._client = None
