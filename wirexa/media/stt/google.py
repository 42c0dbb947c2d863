"""Google Cloud Speech-to-Text v1 `StreamingRecognize` over gRPC, LINEAR16 at 8000 Hz.

Why gRPC and not REST: streaming recognition (audio sent while the caller speaks, interim
results back) exists only as a bidirectional gRPC stream. Why not google-cloud-speech's client:
it brings google-api-core, google-auth, proto-plus and protobuf (and their PyInstaller hooks)
for one method. We call the method by its path on a grpc.aio channel and write its few messages
ourselves (`encode_config`, `audio_request`, `decode_response`: protobuf's wire format for the
fields of google/cloud/speech/v1/cloud_speech.proto we send and read; other fields in answers
are skipped, as protobuf does). tests/media/stt/vendors.py's server decodes what we send, and
test_cloud.py checks what we read, with google-cloud-speech's own message types.

Session: one call per recognition; the first message carries the StreamingRecognitionConfig
(interim results on), then audio messages as the caller speaks; finish half-closes the stream
and Google answers the last final results and ends it. Interim results go to on_partial: the
text is the finals so far plus the interim pieces; the stable part is the finals plus the
leading interim pieces whose `stability` is at least STABLE.

Auth: an API key in the `x-goog-api-key` metadata. The endpoint is `host:port` (TLS, the
system roots) or `http://host:port` (plaintext, the local test server). The channel is opened
on first use and kept for the provider's life (one TLS handshake, HTTP/2 streams after).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import struct
from collections.abc import Iterator
from typing import Any

import grpc
import grpc.aio

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
from wirexa.media.stt.vendorws import (
    StreamSession,
    failed,
    join,
    language_refused,
    mean,
    model_refused,
    redact,
)

METHOD = "/google.cloud.speech.v1.Speech/StreamingRecognize"
STABLE = 0.8  # interim pieces at least this stable count as the stable prefix
CHUNK_BYTES = 3200  # 200 ms per message (Google's limit is 25 KB; it advises 100 ms)
LINEAR16 = 1  # RecognitionConfig.AudioEncoding
_CORE_INTERNAL = "Internal error from Core"  # grpc.aio's status for a write that failed
# After a failed connection gRPC waits before the next attempt, up to 120 s by default: with the
# chain passing on after timeout_s, a Google back from an outage would stay unused that long.
_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 250), ("grpc.max_reconnect_backoff_ms", 2000))

# Twilio's speechModel -> Google v1 model (googlev2_* are Speech v2 models; v1 has the same).
MODELS = {
    "default": "default",
    "phone_call": "phone_call",
    "numbers_and_commands": "command_and_search",
    "experimental_conversations": "latest_long",
    "experimental_utterances": "latest_short",
    "googlev2_long": "latest_long",
    "googlev2_short": "latest_short",
    "googlev2_telephony": "telephony",
    "googlev2_telephony_short": "telephony_short",
}


# --- protobuf wire format (PURE) ----------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(data)) + data


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value) if value else b""  # proto3: 0 is not sent


def _str_field(number: int, value: str) -> bytes:
    return _len_field(number, value.encode("utf-8")) if value else b""


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    """The RecognitionConfig we send (cloud_speech.proto field numbers in `encode_config`)."""

    language_code: str
    model: str
    profanity_filter: bool
    use_enhanced: bool
    phrases: tuple[str, ...]
    twilio_model: str = "default"  # the speechModel asked for (`model` is Google's name for it)


def recognition_config(options: SpeechOptions) -> Config:
    """The config for `options` (ProviderError 13334 for a model Google does not serve)."""
    model = MODELS.get(options.model)
    if model is None:
        raise model_refused(options.model, "Google")
    return Config(
        language_code=options.language,
        model=model,
        profanity_filter=options.profanity_filter,
        use_enhanced=options.enhanced and model == "phone_call",
        phrases=options.hints,  # class tokens ($OOV_CLASS_...) as given
        twilio_model=options.model,
    )


def encode_config(config: Config, *, interim_results: bool = True) -> bytes:
    """StreamingRecognizeRequest{streaming_config: StreamingRecognitionConfig{config, interim_results}}."""
    context = b"".join(_str_field(1, p) for p in config.phrases)  # SpeechContext.phrases = 1
    rc = b"".join(
        (
            _int_field(1, LINEAR16),  # encoding
            _int_field(2, SAMPLE_RATE),  # sample_rate_hertz
            _str_field(3, config.language_code),  # language_code
            _int_field(4, 1),  # max_alternatives
            _int_field(5, config.profanity_filter),  # profanity_filter
            _len_field(6, context) if config.phrases else b"",  # speech_contexts
            _int_field(7, 1),  # audio_channel_count
            _int_field(11, True),  # enable_automatic_punctuation: Twilio's SpeechResult is punctuated
            _str_field(13, config.model),  # model
            _int_field(14, config.use_enhanced),  # use_enhanced
        )
    )
    streaming = _len_field(1, rc) + _int_field(3, interim_results)  # config = 1, interim_results = 3
    return _len_field(1, streaming)  # streaming_config = 1


def audio_request(pcm: bytes) -> bytes:
    return _len_field(2, pcm)  # StreamingRecognizeRequest.audio_content = 2


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: an int, bytes, or 4/8 raw bytes."""
    i, end = 0, len(data)

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            if i >= end or shift > 63:
                raise ValueError("truncated varint")
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while i < end:
        key = varint()
        number, wire = key >> 3, key & 7
        value: Any
        if wire == _VARINT:
            value = varint()
        elif wire == _LEN:
            size = varint()
            if i + size > end:
                raise ValueError("truncated field")
            value, i = data[i : i + size], i + size
        elif wire in (_I32, _I64):
            size = 4 if wire == _I32 else 8
            if i + size > end:
                raise ValueError("truncated field")
            value, i = data[i : i + size], i + size
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    transcript: str
    confidence: float
    is_final: bool
    stability: float


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A StreamingRecognizeResponse: its results (first alternative each) and its error, if any."""

    results: tuple[Result, ...] = ()
    error_code: int = 0
    error_message: str = ""


def _float(wire: int, value: Any) -> float:
    return float(struct.unpack("<f", value)[0]) if wire == _I32 else 0.0


def decode_response(data: bytes) -> Answer:
    """StreamingRecognizeResponse: error = 1 (google.rpc.Status: code = 1, message = 2), results = 2
    (StreamingRecognitionResult: alternatives = 1 (transcript = 1, confidence = 2), is_final = 2,
    stability = 3). ValueError when it does not parse."""
    results: list[Result] = []
    code, message = 0, ""
    for number, wire, value in _fields(data):
        if number == 1 and wire == _LEN:
            for n, w, v in _fields(value):
                if n == 1 and w == _VARINT:
                    code = v
                elif n == 2 and w == _LEN:
                    message = v.decode("utf-8", errors="replace")
        elif number == 2 and wire == _LEN:
            alternatives: list[tuple[str, float]] = []
            is_final, stability = False, 0.0
            for n, w, v in _fields(value):
                if n == 1 and w == _LEN:
                    transcript, confidence = "", 0.0
                    for an, aw, av in _fields(v):
                        if an == 1 and aw == _LEN:
                            transcript = av.decode("utf-8", errors="replace")
                        elif an == 2:
                            confidence = _float(aw, av)
                    alternatives.append((transcript, confidence))
                elif n == 2 and w == _VARINT:
                    is_final = bool(v)
                elif n == 3:
                    stability = _float(w, v)
            if alternatives:
                results.append(Result(alternatives[0][0], alternatives[0][1], is_final, stability))
    return Answer(tuple(results), code, message)


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _identity(data: bytes) -> bytes:
    return data


# --- the provider -------------------------------------------------------------------------------


class GoogleStt:
    name = "google"

    def __init__(
        self, *, api_key: str, endpoint_url: str = "speech.googleapis.com:443", timeout_s: float = 3.0
    ) -> None:
        self.endpoint_url = endpoint_url or "speech.googleapis.com:443"
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._channel: grpc.aio.Channel | None = None
        self._channel_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> GoogleStt:
        return cls(api_key=s.stt_google_api_key, endpoint_url=s.stt_google_endpoint_url, timeout_s=s.stt_timeout_s)

    def configured(self) -> bool:
        return bool(self._api_key)

    def _open_channel(self) -> grpc.aio.Channel:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._channel_loop is not loop:
            # A channel belongs to the loop it was made on (the CLI runs loops of its own).
            target = self.endpoint_url
            if target.startswith("http://"):
                self._channel = grpc.aio.insecure_channel(target.removeprefix("http://").rstrip("/"), options=_OPTIONS)
            else:
                host = target.removeprefix("https://").rstrip("/")
                self._channel = grpc.aio.secure_channel(host, grpc.ssl_channel_credentials(), options=_OPTIONS)
            self._channel_loop = loop
        return self._channel

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> Recognizing:
        config = recognition_config(options)
        channel = self._open_channel()
        try:
            await asyncio.wait_for(channel.channel_ready(), self.timeout_s)
        except TimeoutError:
            raise failed(f"could not connect to {self.endpoint_url} within {self.timeout_s:g} s") from None
        metadata = (("x-goog-api-key", self._api_key),)
        session = _GoogleSession(
            channel, metadata, config, timeout_s=self.timeout_s, on_partial=on_partial, secrets=(self._api_key,)
        )
        if options.enhanced and config.model != "phone_call":
            session.notes.append("enhanced applies to the phone_call speechModel only; recognized without it")
        session.start()
        return session

    async def aclose(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            try:
                await channel.close()
            except RuntimeError:  # its loop is gone: nothing left to close
                pass


class _GoogleSession(StreamSession):
    provider = "google"

    def __init__(
        self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], config: Config, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.channel = channel
        self.metadata = metadata
        self.config = config
        self.call = channel.stream_stream(METHOD, request_serializer=_identity, response_deserializer=_identity)(
            metadata=metadata
        )

    async def run(self) -> Recognition:
        sender = asyncio.create_task(self._send())
        finals: list[str] = []
        confidences: list[float] = []
        try:
            while True:
                data = await self.call.read()
                if data is grpc.aio.EOF:
                    break
                try:
                    answer = decode_response(data)
                except ValueError as exc:
                    raise failed(f"unreadable answer: {exc}") from None
                if answer.error_code:
                    code = _STATUS_CODES.get(answer.error_code, grpc.StatusCode.UNKNOWN)
                    raise self._status_error(code, answer.error_message)
                interim: list[tuple[str, float]] = []
                for result in answer.results:
                    if result.is_final:
                        finals.append(result.transcript)
                        confidences.append(result.confidence)
                    else:
                        interim.append((result.transcript, result.stability))
                stable = [t for t, _ in itertools.takewhile(lambda p: p[1] >= STABLE, interim)]
                self.partial(join(finals + [t for t, _ in interim]), join(finals + stable))
            if sender.done() and not sender.cancelled() and sender.exception() is not None:
                raise sender.exception()  # type: ignore[misc]
        except grpc.aio.AioRpcError as exc:
            code, details = await self._real_status(exc)
            raise self._status_error(code, details) from None
        finally:
            sender.cancel()
            self.call.cancel()
        return Recognition(join(finals), mean(confidences), "google", notes=tuple(self.notes))

    async def _send(self) -> None:
        try:
            await self.call.write(encode_config(self.config))
            async for chunk in self.audio(CHUNK_BYTES):
                await self.call.write(audio_request(chunk))
            await self.call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass  # the call ended: the reader has its status

    async def _real_status(self, exc: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str]:
        """The status Google ended the call with. When it ends the call (refused key, language
        or model: at the first message) while an audio write is in flight, grpc.aio reports the
        failed write, INTERNAL "Internal error from Core", and the real status is lost. Then we
        ask again with the config alone as a unary call (one batch: its status is the server's):
        a refusal answers the same refusal; anything else leaves the cause unknown."""
        code, details = exc.code(), exc.details() or ""
        if code != grpc.StatusCode.INTERNAL or details != _CORE_INTERNAL or self.cancelled:
            return code, details
        probe = self.channel.unary_unary(METHOD, request_serializer=_identity, response_deserializer=_identity)
        try:
            await probe(
                encode_config(self.config, interim_results=False), metadata=self.metadata, timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as again:
            if again.code() != grpc.StatusCode.INTERNAL:
                return again.code(), again.details() or ""
        return code, "the stream ended while audio was being sent"

    def _status_error(self, code: grpc.StatusCode, details: str) -> Exception:
        details = redact(details, self.secrets)[:300]
        text = f"{code.name}: {details}" if details else code.name
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) or "api key" in details.lower():
            return failed(f"credentials refused ({text})")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            lowered = details.lower()
            # "The requested model is currently not supported for language : xx": the model's fault
            # when one was asked for, the language's when it is Google's default.
            if "model" in lowered and (self.config.twilio_model != "default" or "language" not in lowered):
                return ProviderError(
                    CODE_MODEL, f"speechModel {self.config.twilio_model!r} ({self.config.model}) refused: {text}"
                )
            if "language" in lowered:
                return language_refused(f"language {self.config.language_code!r} refused: {text}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return failed(f"timed out ({text})")
        return failed(text)
