"""Local servers that speak each cloud speech-to-text vendor's wire protocol, on 127.0.0.1.

- Google: a gRPC server (grpc.aio, a generic handler for
  /google.cloud.speech.v1.Speech/StreamingRecognize) that decodes the requests with
  google-cloud-speech's own message types and checks the x-goog-api-key metadata.
- Amazon Transcribe: an aiohttp WebSocket server that verifies the presigned URL's SigV4
  signature (computed here from AWS's documented steps, not with botocore), decodes the
  event-stream AudioEvents with botocore's decoder and answers TranscriptEvents.
- Azure: an aiohttp server for the REST API for short audio that reads the chunked WAV body as
  it arrives.
- Deepgram: an aiohttp WebSocket server for /v1/listen checking `Authorization: Token`.

"Recognition" is scripted: every server recognizes `transcript` (set by the test) whatever the
audio, and keeps the audio it received (`audio`, bytes) so a test can check it arrived whole and
while the caller spoke. The streaming ones send an interim result every `partial_every` bytes of
audio (the first k words). `audio` and `ended` are the latest session's. A request that breaks the documented contract is recorded in
`problems` (a test asserts it is empty). `mode` makes the server misbehave: "ok", "hang" (takes
the audio, never answers), "error" (fails in the middle of the stream, its message echoing the
key as some services do, so a test proves the client redacts it). A language outside
LANGUAGES and (Google, Deepgram) a model outside MODELS are refused as the vendor does.

The servers run in a thread with their own event loop, so code under test on another loop (or
the CLI's asyncio.run) reaches them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc
from aiohttp import WSMsgType, web
from botocore.eventstream import EventStreamBuffer
from google.cloud.speech_v1.types import cloud_speech as cs

from wirexa.media.stt.amazon import encode_event

LANGUAGES = frozenset({"en-US", "en-GB", "es-ES", "fr-FR"})


class SttVendor:
    """Common state: the script, what arrived, contract problems, misbehaviour mode."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "ok"
        self.transcript = "hello world how are you"
        self.confidence = 0.87
        self.partial_every = 1600  # bytes of audio (100 ms) between interim results
        self.audio = bytearray()
        self.ended = False  # the client ended its audio
        self.sessions = 0
        self.seen: list[dict[str, Any]] = []  # per session: what the client asked (query / config / headers)
        self.problems: list[str] = []
        self.url = ""
        self.released: asyncio.Event | None = None  # made on the server's loop; set when it stops
        self.stopped = threading.Event()  # the same for the gRPC server's threads

    async def hang(self) -> None:
        """Never answer (until the server stops)."""
        assert self.released is not None
        await self.released.wait()

    def begin(self) -> bytearray:
        """A new session: its own audio buffer (which `audio` shows until the next session)."""
        self.sessions += 1
        self.ended = False
        self.audio = bytearray()
        return self.audio

    def words(self, received: int) -> str:
        """The interim hypothesis after `received` bytes: one word per `partial_every` bytes."""
        k = received // self.partial_every
        return " ".join(self.transcript.split()[:k])

    def routes(self) -> list[web.RouteDef]:
        return []


class GoogleSttVendor(SttVendor):
    """speech.googleapis.com:443, Speech v1 StreamingRecognize (gRPC), API key in metadata."""

    MODELS = frozenset(
        {"default", "phone_call", "command_and_search", "latest_long", "latest_short", "telephony", "telephony_short"}
    )
    MODEL_LANGUAGES = {"telephony_short": frozenset({"en-US", "es-ES"})}  # the others: every language of LANGUAGES

    def streaming_recognize(
        self, requests: Iterator[cs.StreamingRecognizeRequest], context: grpc.ServicerContext
    ) -> Iterator[cs.StreamingRecognizeResponse]:
        """A synchronous handler on the server's thread pool: grpc.aio keeps to the client (the
        code under test), so no two asyncio loops share grpc's one completion poller."""
        audio = self.begin()
        metadata = dict(context.invocation_metadata() or ())
        if metadata.get("x-goog-api-key") != self.secret:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "API key not valid. Please pass a valid API key.")
        first = True
        sent_words = ""
        for request in requests:
            if first:
                first = False
                if "streaming_config" not in request:
                    self.problems.append("first message has no streaming_config")
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no streaming_config")
                sc = request.streaming_config
                config = sc.config
                self.seen.append({"config": config, "interim_results": sc.interim_results})
                if (config.encoding, config.sample_rate_hertz) != (cs.RecognitionConfig.AudioEncoding.LINEAR16, 8000):
                    self.problems.append(f"audio format {config.encoding} {config.sample_rate_hertz}")
                if config.language_code not in LANGUAGES:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Invalid recognition 'config': bad language code.")
                if config.model not in self.MODELS or config.language_code not in self.MODEL_LANGUAGES.get(
                    config.model, LANGUAGES
                ):
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Invalid recognition 'config': The requested model is currently not supported for language : {config.language_code}.",
                    )
                continue
            if "audio_content" not in request:
                self.problems.append("a later message has no audio_content")
                continue
            audio += request.audio_content
            if self.mode == "error":
                context.abort(grpc.StatusCode.UNAVAILABLE, f"The service is currently unavailable (key {self.secret}).")
            words = self.words(len(audio))
            if words and words != sent_words and self.mode == "ok":
                sent_words = words
                head, _, last = words.rpartition(" ")
                results = (
                    [cs.StreamingRecognitionResult(alternatives=[{"transcript": head}], stability=0.9)] if head else []
                )
                results.append(
                    cs.StreamingRecognitionResult(
                        alternatives=[{"transcript": (" " if head else "") + last}], stability=0.01
                    )
                )
                yield cs.StreamingRecognizeResponse(results=results)
        # The requests also end when the client cancels, and grpc may tell the cancel a moment later.
        for _ in range(5):
            if not context.is_active():
                return  # the client cancelled: its audio did not end
            time.sleep(0.005)
        self.ended = True
        if self.mode == "hang":
            self.stopped.wait()
        yield cs.StreamingRecognizeResponse(
            results=[
                cs.StreamingRecognitionResult(
                    alternatives=[{"transcript": self.transcript, "confidence": self.confidence}], is_final=True
                )
            ],
            total_billed_time={"seconds": 15},
        )


class AmazonSttVendor(SttVendor):
    """transcribestreaming.<region>.amazonaws.com:8443/stream-transcription-websocket."""

    def __init__(self, secret: str, access_key_id: str = "AKIAWIREXATEST", region: str = "us-east-1") -> None:
        super().__init__(secret)
        self.access_key_id = access_key_id
        self.region = region

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/stream-transcription-websocket", self.stream)]

    def check_signature(self, request: web.Request) -> str | None:
        """None when the presigned URL is signed with our keys (AWS SigV4 query signing, as
        documented for Transcribe: host the only signed header, the empty payload's hash)."""
        q = request.rel_url.query
        try:
            credential = q["X-Amz-Credential"]
            amz_date, signature = q["X-Amz-Date"], q["X-Amz-Signature"]
            if q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or q["X-Amz-SignedHeaders"] != "host":
                return f"algorithm/signed headers {q['X-Amz-Algorithm']} {q['X-Amz-SignedHeaders']}"
            if not 0 < int(q["X-Amz-Expires"]) <= 300:
                return f"X-Amz-Expires {q['X-Amz-Expires']}"
        except KeyError as exc:
            return f"missing {exc}"
        key_id, day, region, service, terminator = credential.split("/")
        if key_id != self.access_key_id:
            return "unknown access key"
        if (region, service, terminator) != (self.region, "transcribe", "aws4_request") or not amz_date.startswith(day):
            return f"credential scope {credential}"
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        if abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) > 300:
            return f"X-Amz-Date {amz_date}"

        def enc(s: str) -> str:
            return urllib.parse.quote(s, safe="-_.~")

        canonical_query = "&".join(
            f"{enc(k)}={enc(v)}" for k, v in sorted((k, v) for k, v in q.items() if k != "X-Amz-Signature")
        )
        canonical_request = "\n".join(
            ["GET", request.path, canonical_query, f"host:{request.host}\n", "host", hashlib.sha256(b"").hexdigest()]
        )
        scope = f"{day}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret).encode()
        for part in (day, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, signature) else "signature does not match"

    async def stream(self, request: web.Request) -> web.StreamResponse:
        audio = self.begin()
        bad = self.check_signature(request)
        if bad is not None:
            if bad not in ("signature does not match", "unknown access key"):
                self.problems.append(bad)
            return web.json_response({"message": "The request signature we calculated does not match"}, status=403)
        q = dict(request.rel_url.query)
        self.seen.append(q)
        expected = {"media-encoding": "pcm", "sample-rate": "8000"}
        if {k: q.get(k) for k in expected} != expected:
            self.problems.append(f"query {q}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if q.get("language-code") not in LANGUAGES:
            await self._exception(
                ws, "BadRequestException", f"The language code {q.get('language-code')} isn't supported."
            )
            return ws
        buffer = EventStreamBuffer()
        sent_words = ""
        result_id = "a1b2c3"
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                self.problems.append(f"a {msg.type} message")
                continue
            buffer.add_data(msg.data)
            for event in buffer:
                h = event.headers
                if (h.get(":message-type"), h.get(":event-type"), h.get(":content-type")) != (
                    "event",
                    "AudioEvent",
                    "application/octet-stream",
                ):
                    self.problems.append(f"event headers {h}")
                if not event.payload:
                    self.ended = True
                    if self.mode == "hang":
                        await self.hang()
                    items = [
                        {"Content": w, "Type": "pronunciation", "Confidence": self.confidence, "Stable": True}
                        for w in self.transcript.split()
                    ]
                    await self._transcript(ws, self.transcript, False, result_id, items)
                    await ws.close()
                    return ws
                audio += event.payload
                if self.mode == "error":
                    await self._exception(
                        ws, "InternalFailureException", f"An internal error occurred (key {self.secret})."
                    )
                    return ws
                words = self.words(len(audio))
                if words and words != sent_words and self.mode == "ok":
                    sent_words = words
                    split = words.split()
                    items = [
                        {"Content": w, "Type": "pronunciation", "Stable": i < len(split) - 1}
                        for i, w in enumerate(split)
                    ]
                    await self._transcript(ws, words, True, result_id, items)
        return ws

    async def _transcript(
        self, ws: web.WebSocketResponse, text: str, partial: bool, rid: str, items: list[Any]
    ) -> None:
        doc = {
            "Transcript": {
                "Results": [
                    {
                        "Alternatives": [{"Transcript": text, "Items": items}],
                        "ChannelId": "ch_0",
                        "StartTime": 0.1,
                        "EndTime": 1.5,
                        "IsPartial": partial,
                        "ResultId": rid,
                    }
                ]
            }
        }
        headers = {":message-type": "event", ":event-type": "TranscriptEvent", ":content-type": "application/json"}
        await ws.send_bytes(encode_event(headers, json.dumps(doc).encode()))

    @staticmethod
    async def _exception(ws: web.WebSocketResponse, name: str, message: str) -> None:
        headers = {":message-type": "exception", ":exception-type": name, ":content-type": "application/json"}
        await ws.send_bytes(encode_event(headers, json.dumps({"Message": message}).encode()))
        await ws.close()


class AzureSttVendor(SttVendor):
    """<region>.stt.speech.microsoft.com: POST /speech/recognition/conversation/cognitiveservices/v1."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/speech/recognition/conversation/cognitiveservices/v1", self.recognize)]

    async def recognize(self, request: web.Request) -> web.Response:
        audio = self.begin()
        q = dict(request.rel_url.query)
        self.seen.append({"query": q, "headers": dict(request.headers)})
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.secret:
            return web.Response(status=401, text="")
        if request.headers.get("Content-Type") != "audio/wav; codecs=audio/pcm; samplerate=8000":
            self.problems.append(f"Content-Type {request.headers.get('Content-Type')}")
        if request.headers.get("Transfer-Encoding") != "chunked":
            self.problems.append(f"Transfer-Encoding {request.headers.get('Transfer-Encoding')}")
        if q.get("format") != "detailed" or q.get("profanity") not in ("masked", "raw", "removed"):
            self.problems.append(f"query {q}")
        if q.get("language") not in LANGUAGES:
            return web.Response(status=400, text=f"Unsupported language {q.get('language')}.")
        header = await request.content.readexactly(44)
        riff, _, wave, fmt, fmt_len, pcm, channels, rate, byte_rate, align, bits, data = struct.unpack(
            "<4sI4s4sIHHIIHH4s", header[:40]
        )
        if (riff, wave, fmt, fmt_len, pcm, channels, rate, byte_rate, align, bits, data) != (
            b"RIFF",
            b"WAVE",
            b"fmt ",
            16,
            1,
            1,
            8000,
            16000,
            2,
            16,
            b"data",
        ):
            self.problems.append(f"WAV header {header!r}")
        async for chunk in request.content.iter_any():
            audio += chunk
            if self.mode == "error":
                return web.json_response({"error": f"internal error (key {self.secret})"}, status=500)
        self.ended = True
        if self.mode == "hang":
            await self.hang()
        if not self.transcript:
            return web.json_response({"RecognitionStatus": "NoMatch", "Offset": 0, "Duration": 0})
        return web.json_response(
            {
                "RecognitionStatus": "Success",
                "Offset": 1000000,
                "Duration": 15000000,
                "DisplayText": self.transcript,
                "NBest": [
                    {
                        "Confidence": self.confidence,
                        "Lexical": self.transcript.lower(),
                        "ITN": self.transcript.lower(),
                        "MaskedITN": self.transcript.lower(),
                        "Display": self.transcript,
                    }
                ],
            }
        )


class DeepgramSttVendor(SttVendor):
    """api.deepgram.com: WebSocket /v1/listen, `Authorization: Token <key>`."""

    MODELS = frozenset({"nova-2", "nova-3", "nova-2-phonecall"})

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/listen", self.listen)]

    async def listen(self, request: web.Request) -> web.StreamResponse:
        audio = self.begin()
        if request.headers.get("Authorization") != f"Token {self.secret}":
            return web.json_response(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."},
                status=401,
                headers={"dg-error": "Invalid credentials."},
            )
        if "token" in request.rel_url.query or self.secret in str(request.rel_url):
            self.problems.append("the key in the URL")
        q = request.rel_url.query
        self.seen.append({"query": [(k, v) for k, v in q.items()]})
        expected = {"encoding": "linear16", "sample_rate": "8000", "channels": "1", "interim_results": "true"}
        if {k: q.get(k) for k in expected} != expected:
            self.problems.append(f"query {dict(q)}")
        if q.get("model") not in self.MODELS or q.get("language") not in LANGUAGES:
            message = "No such model/language/tier combination found."
            return web.json_response(
                {"err_code": "Bad Request", "err_msg": message}, status=400, headers={"dg-error": message}
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sent_words = ""
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                audio += msg.data
                if self.mode == "error":
                    await ws.close(code=1011, message=f"NET-0001 key {self.secret}".encode())
                    return ws
                words = self.words(len(audio))
                if words and words != sent_words and self.mode == "ok":
                    sent_words = words
                    await ws.send_json(self._results(words, False))
            elif msg.type == WSMsgType.TEXT:
                if json.loads(msg.data) != {"type": "CloseStream"}:
                    self.problems.append(f"text message {msg.data}")
                    continue
                self.ended = True
                if self.mode == "hang":
                    await self.hang()
                await ws.send_json(self._results(self.transcript, True))
                await ws.send_json({"type": "Metadata", "request_id": "r1", "duration": len(audio) / 16000})
                await ws.close()
        return ws

    def _results(self, text: str, final: bool) -> dict[str, Any]:
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": 1.0,
            "start": 0.0,
            "is_final": final,
            "speech_final": final,
            "channel": {
                "alternatives": [{"transcript": text, "confidence": self.confidence if final else 0.5, "words": []}]
            },
        }


V = TypeVar("V", bound=SttVendor)


@contextmanager
def serve(vendor: V) -> Iterator[V]:
    """Run the vendor on 127.0.0.1 (a free port) in its own thread and loop until the block ends:
    a gRPC server for Google (url `http://127.0.0.1:PORT`, plaintext), aiohttp for the others."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        vendor.released = asyncio.Event()
        if isinstance(vendor, GoogleSttVendor):
            handler = grpc.method_handlers_generic_handler(
                "google.cloud.speech.v1.Speech",
                {
                    "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                        vendor.streaming_recognize,
                        request_deserializer=cs.StreamingRecognizeRequest.deserialize,
                        response_serializer=cs.StreamingRecognizeResponse.serialize,
                    )
                },
            )
            server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
            server.add_generic_rpc_handlers((handler,))
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            vendor.url = f"http://127.0.0.1:{port}"
            holder["grpc"] = server
            return
        app = web.Application()
        app.add_routes(vendor.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        vendor.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        holder["runner"] = runner

    async def stop() -> None:
        assert vendor.released is not None
        vendor.released.set()
        vendor.stopped.set()
        if "grpc" in holder:
            holder["grpc"].stop(grace=None).wait(5)
        else:
            await holder["runner"].shutdown()
            await holder["runner"].cleanup()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(stop())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield vendor
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
