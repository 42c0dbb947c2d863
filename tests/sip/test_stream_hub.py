"""The worker's Media Streams client against real WebSocket servers on 127.0.0.1.

The servers run on the test's loop; the hub runs its own thread. The test plays the worker's main
thread (open, close, dtmf, events) and its clock thread (push, playout.take_frame)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import importlib.util
import json
import logging
import socket
import ssl
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from tests.backends import free_port
from wirexa.media.audio import tone_pcm
from wirexa.media.streams import FRAME_BYTES, pcm_to_ulaw, ulaw_to_pcm
from wirexa.sip.stream_hub import HubEvent, StreamHub, StreamSpec

ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "1" * 32
TONE = tone_pcm(1000, 200)  # 10 frames
TONE_FRAMES = [TONE[i : i + FRAME_BYTES] for i in range(0, len(TONE), FRAME_BYTES)]


async def until(pred: Callable[[], Any], timeout: float = 3.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.005)


class Agent:
    """A Media Streams server: records every message (parsed) with its arrival time."""

    def __init__(self, answer: int = 101, read: bool = True) -> None:
        self.answer = answer
        self.read = read
        self.messages: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.headers: dict[str, str] = {}
        self.ws: web.WebSocketResponse | None = None
        self.closed = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.headers = dict(request.headers)
        if self.answer != 101:
            return web.Response(status=self.answer, text="no stream here")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        if not self.read:
            await asyncio.sleep(3600)
        async for msg in ws:
            assert msg.type == WSMsgType.TEXT
            self.arrivals.append(time.perf_counter())
            self.messages.append(json.loads(msg.data))
        self.closed.set()
        return ws

    def events(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == event]

    async def send(self, message: dict[str, Any] | str) -> None:
        assert self.ws is not None
        await self.ws.send_str(message if isinstance(message, str) else json.dumps(message))


class Main:
    """The worker's main thread: wake() sets a flag; the test drains hub.events()."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.events: list[HubEvent] = []
        self.hub: StreamHub

    def wake(self) -> None:
        self.woken.set()

    def drain(self) -> list[HubEvent]:
        self.woken.clear()
        self.events += self.hub.events()
        return self.events

    async def event(self, kind: str, sid: str, timeout: float = 3.0) -> HubEvent:
        def find() -> HubEvent | None:
            return next((e for e in self.drain() if e.kind == kind and e.stream_sid == sid), None)

        event: HubEvent = await until(find, timeout, f"{kind} of {sid}")
        return event

    def of(self, sid: str) -> list[tuple[str, int]]:
        return [(e.kind, e.code) for e in self.drain() if e.stream_sid == sid]


_n = iter(range(10**6))


def spec(url: str, bidirectional: bool = True, tracks: tuple[str, ...] = ("inbound",), **kw: Any) -> StreamSpec:
    return StreamSpec(
        call_sid=CALL,
        account_sid=ACCOUNT,
        stream_sid=f"MZ{next(_n):032x}",
        url=url,
        tracks=tracks,
        bidirectional=bidirectional,
        **kw,
    )


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


@pytest.fixture
async def main() -> AsyncIterator[Main]:
    m = Main()
    m.hub = StreamHub(m.wake, connect_timeout_s=1.0)
    yield m
    # The servers live on this loop: shut the hub down from another thread so they can answer.
    started = time.monotonic()
    await asyncio.to_thread(m.hub.shutdown)
    assert time.monotonic() - started < 2.5


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Agent, str]]:
    a = Agent()
    app = web.Application()
    app.router.add_get("/ws", a.handler)
    runner, port = await serve(app)
    yield a, f"ws://127.0.0.1:{port}/ws"
    await runner.cleanup()


async def opened(main: Main, s: StreamSpec, a: Agent) -> Any:
    handle = main.hub.open(s)
    await main.event("started", s.stream_sid)
    await until(lambda: len(a.messages) >= 2, what="connected and start")
    return handle


# The stream's messages -------------------------------------------------------------------------


async def test_connected_start_media_and_stop(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(
        url,
        bidirectional=False,
        tracks=("inbound", "outbound"),
        parameters=(("FirstName", "Jane"), ("LastName", "Doe")),
        headers=(("X-Twilio-Signature", "c2lnbmF0dXJl"),),
    )
    handle = main.hub.open(s)
    assert handle.playout is None
    handle.push("inbound", TONE_FRAMES[0])  # before the socket is open: dropped, counted
    await main.event("started", s.stream_sid)
    assert handle.frames_dropped == 1
    for frame in TONE_FRAMES:
        handle.push("inbound", frame)
    for frame in TONE_FRAMES[:3]:
        handle.push("outbound", frame)
    await until(lambda: len(a.events("media")) == 13, what="13 media messages")
    main.hub.close(s.stream_sid)
    stopped = await main.event("stopped", s.stream_sid)
    assert stopped.message == "stopped"
    await asyncio.wait_for(a.closed.wait(), 2)

    assert a.headers["X-Twilio-Signature"] == "c2lnbmF0dXJl"
    assert a.messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert a.messages[1] == {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": s.stream_sid,
            "callSid": CALL,
            "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane", "LastName": "Doe"},
        },
        "streamSid": s.stream_sid,
    }
    media = a.messages[2:-1]
    assert [m["sequenceNumber"] for m in a.messages[1:]] == [str(i) for i in range(1, 16)]
    assert all(m["streamSid"] == s.stream_sid for m in a.messages[1:])
    inbound = [m["media"] for m in media if m["media"]["track"] == "inbound"]
    outbound = [m["media"] for m in media if m["media"]["track"] == "outbound"]
    assert [(m["chunk"], m["timestamp"]) for m in inbound] == [(str(i + 1), str(i * 20)) for i in range(10)]
    assert [(m["chunk"], m["timestamp"]) for m in outbound] == [("1", "0"), ("2", "20"), ("3", "40")]
    # The audio: mu-law of the tone, 160 bytes a frame, decoding to the tone (within G.711's steps).
    heard = b"".join(base64.b64decode(m["payload"]) for m in inbound)
    assert len(heard) == 1600 and heard == pcm_to_ulaw(TONE)
    assert ulaw_to_pcm(heard) == ulaw_to_pcm(pcm_to_ulaw(TONE))
    assert a.messages[-1] == {
        "event": "stop",
        "sequenceNumber": "15",
        "stop": {"accountSid": ACCOUNT, "callSid": CALL},
        "streamSid": s.stream_sid,
    }
    assert main.of(s.stream_sid) == [("started", 0), ("stopped", 0)]
    assert (handle.frames_sent, handle.frames_dropped) == (13, 1)
    handle.push("inbound", TONE_FRAMES[0])  # after the stop
    assert handle.frames_dropped == 2


async def test_frames_for_a_track_not_carried_are_ignored(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url, bidirectional=False, tracks=("outbound",))
    handle = await opened(main, s, a)
    handle.push("inbound", TONE_FRAMES[0])
    handle.push("outbound", TONE_FRAMES[1])
    await until(lambda: a.events("media"), what="media")
    await asyncio.sleep(0.05)
    assert [m["media"]["track"] for m in a.events("media")] == ["outbound"]
    assert handle.frames_ignored == 1


async def test_every_pushed_frame_reaches_the_server_in_order(main: Main, agent: tuple[Agent, str]) -> None:
    """push() on the clock thread to the message at the server: every frame, in order (the
    latency is printed for a person; it is measured by bench/streams_bench.py, not asserted)."""
    a, url = agent
    s = spec(url, bidirectional=False)
    handle = await opened(main, s, a)
    pushed: list[float] = []
    for i in range(100):
        pushed.append(time.perf_counter())
        handle.push("inbound", TONE_FRAMES[i % 10])
        await asyncio.sleep(0.005)
    await until(lambda: len(a.events("media")) == 100, what="100 media")
    arrivals = a.arrivals[2:]  # after connected and start
    latencies = sorted((arrivals[i] - pushed[i]) * 1000 for i in range(100))
    p50, p99 = statistics.median(latencies), latencies[98]
    print(f"push -> server: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms")
    chunks = [int(m["media"]["chunk"]) for m in a.events("media")]
    assert chunks == list(range(1, 101))


# Bidirectional: the server's audio, marks, clear, dtmf -------------------------------------------


def media_message(pcm: bytes) -> dict[str, Any]:
    return {"event": "media", "media": {"payload": base64.b64encode(pcm_to_ulaw(pcm)).decode()}}


def frame_of(value: int) -> bytes:
    """A frame that survives mu-law unchanged (a G.711 decoded level)."""
    return ulaw_to_pcm(bytes([value]) * 160)


async def test_server_media_plays_in_order_and_marks_echo_after_their_audio(
    main: Main, agent: tuple[Agent, str]
) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    playout = handle.playout
    f1, f2, f3 = frame_of(0x10), frame_of(0x20), frame_of(0x30)
    await a.send(media_message(f1 + f2[:100]))  # any size: 1.3 frames
    await a.send({"event": "media", "streamSid": s.stream_sid, "media": media_message(f2[100:])["media"]})
    await a.send({"event": "mark", "streamSid": s.stream_sid, "mark": {"name": "one"}})
    await a.send(media_message(f3))
    await a.send({"event": "mark", "mark": {"name": "two"}})
    await until(lambda: handle.frames_received == 3 and playout.buffered_ms == 60, what="60 ms buffered")
    await asyncio.sleep(0.05)
    assert a.events("mark") == []
    assert playout.take_frame() == f1
    await asyncio.sleep(0.05)
    assert a.events("mark") == []  # "one" waits for the rest of f2
    assert playout.take_frame() == f2
    await until(lambda: a.events("mark"), what="the echo of one")
    assert [m["mark"]["name"] for m in a.events("mark")] == ["one"]
    assert playout.take_frame() == f3
    await until(lambda: len(a.events("mark")) == 2, what="the echo of two")
    assert playout.take_frame() is None
    await a.send({"event": "mark", "mark": {"name": "three"}})  # nothing buffered: at once
    await until(lambda: len(a.events("mark")) == 3, what="the echo of three")
    echoes = a.events("mark")
    assert [m["mark"]["name"] for m in echoes] == ["one", "two", "three"]
    assert echoes[0] == {"event": "mark", "sequenceNumber": "2", "streamSid": s.stream_sid, "mark": {"name": "one"}}
    assert main.of(s.stream_sid) == [("started", 0)]  # no warning


async def test_clear_empties_the_buffer_and_echoes_pending_marks_at_once(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    playout = handle.playout
    await a.send(media_message(TONE[:1600]))
    await a.send({"event": "mark", "mark": {"name": "a"}})
    await a.send(media_message(TONE[1600:]))
    await a.send({"event": "mark", "mark": {"name": "b"}})
    await until(lambda: playout.buffered_ms == 200, what="200 ms buffered")
    assert playout.take_frame() is not None
    await a.send({"event": "clear", "streamSid": s.stream_sid})
    await until(lambda: len(a.events("mark")) == 2, what="both echoes")
    assert [m["mark"]["name"] for m in a.events("mark")] == ["a", "b"]
    assert playout.buffered_ms == 0 and playout.take_frame() is None
    # The stream goes on.
    await a.send(media_message(TONE_FRAMES[0]))
    await until(lambda: playout.buffered_ms == 20, what="new audio")


async def test_dtmf(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    handle.push("inbound", TONE_FRAMES[0])
    await until(lambda: a.events("media"), what="media")
    handle.dtmf("7")
    await until(lambda: a.events("dtmf"), what="dtmf")
    assert a.events("dtmf") == [
        {
            "event": "dtmf",
            "streamSid": s.stream_sid,
            "sequenceNumber": "3",
            "dtmf": {"track": "inbound_track", "digit": "7"},
        }
    ]


async def test_no_dtmf_on_a_unidirectional_stream(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url, bidirectional=False)
    handle = await opened(main, s, a)
    handle.dtmf("7")
    handle.push("inbound", TONE_FRAMES[0])
    await until(lambda: a.events("media"), what="media")
    await asyncio.sleep(0.05)
    assert a.events("dtmf") == []


# Bad servers -----------------------------------------------------------------------------------


async def test_a_malformed_message_is_one_warning_and_the_stream_goes_on(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    await a.send("{not json")
    await a.send({"event": "media", "media": {"payload": base64.b64encode(b"RIFF....WAVE").decode()}})
    assert a.ws is not None
    await a.ws.send_bytes(b"\x00\x01")
    await a.send(media_message(TONE_FRAMES[0]))
    await until(lambda: handle.playout.buffered_ms == 20, what="the good media")
    warning = await main.event("warning", s.stream_sid)
    assert warning.code == 31924 and "not JSON" in warning.message
    await asyncio.sleep(0.05)
    assert main.of(s.stream_sid) == [("started", 0), ("warning", 31924)]


async def test_a_unidirectional_stream_takes_nothing_from_the_server(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url, bidirectional=False)
    handle = await opened(main, s, a)
    await a.send(media_message(TONE_FRAMES[0]))
    await a.send({"event": "clear"})
    warning = await main.event("warning", s.stream_sid)
    assert warning.code == 31924 and "unidirectional" in warning.message
    handle.push("inbound", TONE_FRAMES[0])
    await until(lambda: a.events("media"), what="media still flows")
    assert main.of(s.stream_sid) == [("started", 0), ("warning", 31924)]


async def test_more_than_ten_minutes_buffered_is_one_31931(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    minute = base64.b64encode(bytes([0xFF]) * 8000 * 60).decode()
    for _ in range(11):
        await a.send({"event": "media", "media": {"payload": minute}})
    warning = await main.event("warning", s.stream_sid, timeout=5)
    assert warning.code == 31931
    assert handle.playout.buffered_ms == 600_000
    await a.send({"event": "media", "media": {"payload": minute}})
    await until(lambda: handle.frames_received == 12, what="the 12th minute")
    assert main.of(s.stream_sid) == [("started", 0), ("warning", 31931)]


async def test_the_server_closing_stops_the_stream(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    s = spec(url)
    handle = await opened(main, s, a)
    assert a.ws is not None
    await a.ws.close()
    stopped = await main.event("stopped", s.stream_sid)
    assert stopped.message == "closed by the server"
    assert a.events("stop") == []
    assert main.of(s.stream_sid) == [("started", 0), ("stopped", 0)]
    handle.push("inbound", TONE_FRAMES[0])  # the call's port may push until it is unwired
    main.hub.close(s.stream_sid)  # too late: nothing happens
    await asyncio.sleep(0.05)
    assert main.of(s.stream_sid) == [("started", 0), ("stopped", 0)]


async def test_a_bug_in_one_stream_stops_that_stream_only(main: Main) -> None:
    agents = [Agent(), Agent()]
    app = web.Application()
    app.router.add_get("/0", agents[0].handler)
    app.router.add_get("/1", agents[1].handler)
    runner, port = await serve(app)
    try:
        broken, healthy = spec(f"ws://127.0.0.1:{port}/0"), spec(f"ws://127.0.0.1:{port}/1")
        handles = [await opened(main, broken, agents[0]), await opened(main, healthy, agents[1])]

        def bug(pcm: bytes) -> bool:
            raise RuntimeError("injected")

        handles[0].playout.add_audio = bug  # a bug in the hub thread's handling of this stream
        for a in agents:
            await a.send(media_message(TONE_FRAMES[0]))
        stopped = await main.event("stopped", broken.stream_sid)
        assert stopped.message == "internal error: RuntimeError('injected')"
        await until(lambda: handles[1].playout.buffered_ms == 20, what="the other stream's media")
        handles[1].push("inbound", TONE_FRAMES[0])
        await until(lambda: agents[1].events("media"), what="the other stream's push")
        assert main.of(healthy.stream_sid) == [("started", 0)]
    finally:
        await runner.cleanup()


def stalled_server() -> tuple[socket.socket, int, list[socket.socket]]:
    """Completes the WebSocket handshake, then never reads (small receive buffer)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def run() -> None:
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        stalled.append(conn)  # kept open, never read

    stalled: list[socket.socket] = []
    threading.Thread(target=run, daemon=True).start()
    return listener, listener.getsockname()[1], stalled


async def test_a_server_that_never_reads_does_not_block_push(main: Main) -> None:
    listener, port, stalled = stalled_server()
    try:
        main.hub.queue_frames = 100
        s = spec(f"ws://127.0.0.1:{port}/", bidirectional=False)
        handle = main.hub.open(s)
        await main.event("started", s.stream_sid)
        # Push batches of 50 frames (half the queue) until the socket is full: the sender stops
        # sending, the queue fills and the oldest frames are dropped.
        slowest, sent, since = 0.0, -1, time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for frame in TONE_FRAMES * 5:
                t0 = time.perf_counter()
                handle.push("inbound", frame)
                slowest = max(slowest, time.perf_counter() - t0)
            await asyncio.sleep(0.002)
            if handle.frames_sent != sent:
                sent, since = handle.frames_sent, time.monotonic()
            elif time.monotonic() - since > 0.5:  # nothing sent for 0.5 s: the socket is full
                break
        assert time.monotonic() < deadline, "the socket never filled"
        assert handle.frames_dropped > 0 and handle.max_queue == 100
        print(f"stalled after {sent} frames; slowest push {slowest * 1e3:.2f} ms")
        # A GIL hand-off can cost a push a few ms; a push that blocked on the socket would take seconds.
        assert slowest < 0.05, slowest
        t0 = time.monotonic()
        main.hub.close(s.stream_sid)
        stopped = await main.event("stopped", s.stream_sid)
        assert "not reading" in stopped.message
        assert time.monotonic() - t0 < 1.5
    finally:
        for conn in stalled:
            conn.close()
        listener.close()


async def test_a_stream_closed_at_once_still_ends_with_stopped(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    at_once, connecting = spec(url), spec(url)
    main.hub.open(at_once)
    main.hub.close(at_once.stream_sid)  # before the hub's loop has even begun it
    await main.event("stopped", at_once.stream_sid)
    main.hub.open(connecting)
    await asyncio.sleep(0)  # the hub thread may be anywhere in the connect now
    main.hub.close(connecting.stream_sid)
    await main.event("stopped", connecting.stream_sid)
    assert main.of(at_once.stream_sid) == [("stopped", 0)]
    assert [k for k, _ in main.of(connecting.stream_sid)] in (["stopped"], ["started", "stopped"])
    assert main.hub.open(spec(url)).spec  # the hub goes on


# Connect failures ------------------------------------------------------------------------------


async def failed(main: Main, url: str) -> HubEvent:
    s = spec(url)
    main.hub.open(s)
    stopped = await main.event("stopped", s.stream_sid, timeout=4)
    kinds = main.of(s.stream_sid)
    assert [k for k, _ in kinds] == ["error", "stopped"]
    error = next(e for e in main.events if e.stream_sid == s.stream_sid and e.kind == "error")
    assert url in error.message and stopped.message == error.message
    return error


async def test_connection_refused_is_31902(main: Main) -> None:
    error = await failed(main, f"ws://127.0.0.1:{free_port()}/ws")
    assert error.code == 31902


async def test_a_404_instead_of_101_is_31920(main: Main) -> None:
    a = Agent(answer=404)
    app = web.Application()
    app.router.add_get("/ws", a.handler)
    runner, port = await serve(app)
    try:
        error = await failed(main, f"ws://127.0.0.1:{port}/ws")
        assert error.code == 31920 and "404" in error.message
    finally:
        await runner.cleanup()


async def test_a_server_that_never_answers_is_31901(main: Main) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # the kernel completes TCP; nobody accepts or answers
    try:
        main.hub.connect_timeout_s = 0.3
        t0 = time.monotonic()
        error = await failed(main, f"ws://127.0.0.1:{listener.getsockname()[1]}/ws")
        assert error.code == 31901 and "0.3 s" in error.message
        assert 0.25 < time.monotonic() - t0 < 2
    finally:
        listener.close()


async def test_a_url_that_is_not_ws_is_31922(main: Main) -> None:
    error = await failed(main, "https://127.0.0.1/ws")
    assert error.code == 31922


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
async def tls_agent(tmp_path: Path) -> AsyncIterator[tuple[Agent, int, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    a = Agent()
    app = web.Application()
    app.router.add_get("/ws", a.handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield a, runner.addresses[0][1], cert
    await runner.cleanup()


async def test_tls_to_a_self_signed_server_without_its_ca_is_31910(
    main: Main, tls_agent: tuple[Agent, int, Path]
) -> None:
    _, port, _ = tls_agent
    error = await failed(main, f"wss://127.0.0.1:{port}/ws")
    assert error.code == 31910 and "certificate" in error.message.lower()


async def test_wss_to_a_plain_server_is_31910(main: Main, agent: tuple[Agent, str]) -> None:
    _, url = agent
    error = await failed(main, url.replace("ws://", "wss://"))
    assert error.code == 31910


async def test_wss_with_the_servers_ca(tls_agent: tuple[Agent, int, Path]) -> None:
    a, port, cert = tls_agent
    m = Main()
    m.hub = StreamHub(m.wake, ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        s = spec(f"wss://127.0.0.1:{port}/ws")
        handle = await opened(m, s, a)
        handle.push("inbound", TONE_FRAMES[0])
        await until(lambda: a.events("media"), what="media over TLS")
    finally:
        await asyncio.to_thread(m.hub.shutdown)
    assert [e.kind for e in m.drain()] == ["started", "stopped"]
    assert a.events("stop")


async def test_shutdown_stops_every_stream_and_the_hub_can_start_again(main: Main, agent: tuple[Agent, str]) -> None:
    a, url = agent
    streams = [spec(url), spec(url, bidirectional=False)]
    for s in streams:
        await opened(main, s, a) if s is streams[0] else main.hub.open(s)
    await main.event("started", streams[1].stream_sid)
    slow = spec(f"ws://127.0.0.1:{free_port()}/ws")  # refused, but shutdown may catch it connecting
    main.hub.open(slow)
    await asyncio.to_thread(main.hub.shutdown)
    for s in (*streams, slow):
        assert [k for k, _ in main.of(s.stream_sid)][-1] == "stopped"
    await until(lambda: len(a.events("stop")) == 2, what="two stops")
    again = spec(url)
    await opened(main, again, a)


# The example agent -----------------------------------------------------------------------------


def load_echo_agent() -> Any:
    path = Path(__file__).parent.parent.parent / "examples" / "echo_agent.py"
    module_spec = importlib.util.spec_from_file_location("echo_agent", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def take_all(playout: Any) -> Iterator[bytes]:
    while (frame := playout.take_frame()) is not None:
        yield frame


async def test_the_example_echo_agent(main: Main, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="echo_agent")
    echo_agent = load_echo_agent()
    runner, port = await serve(echo_agent.make_app(reply_delay_s=0.1))
    try:
        s = spec(f"ws://127.0.0.1:{port}/", parameters=(("caller", "test"),))
        handle = main.hub.open(s)
        await main.event("started", s.stream_sid)
        playout = handle.playout
        assert playout is not None
        speech, silence = tone_pcm(440, 400), bytes(FRAME_BYTES)
        for i in range(0, len(speech), FRAME_BYTES):  # an utterance, then silence, in real time
            handle.push("inbound", speech[i : i + FRAME_BYTES])
            await asyncio.sleep(0.02)
        for _ in range(25):
            handle.push("inbound", silence)
            await asyncio.sleep(0.02)
        # The agent echoes the utterance: 400 ms of it, then a mark.
        await until(lambda: playout.buffered_ms >= 400, timeout=3, what="the echo")
        echoed = b"".join(take_all(playout))  # one media message: all of it is there
        # The utterance, with at most the agent's pre-roll and the VAD's hangover of silence around it.
        assert ulaw_to_pcm(pcm_to_ulaw(speech)) in echoed
        assert len(echoed) <= len(speech) + 15 * FRAME_BYTES and echoed.strip(b"\x00") in ulaw_to_pcm(
            pcm_to_ulaw(speech)
        )
        # Barge-in: the agent plays a second echo; the caller speaks over it; the agent clears.
        for i in range(0, len(speech), FRAME_BYTES):
            handle.push("inbound", speech[i : i + FRAME_BYTES])
            await asyncio.sleep(0.02)
        for _ in range(25):
            handle.push("inbound", silence)
            await asyncio.sleep(0.02)
        await until(lambda: playout.buffered_ms >= 400, timeout=3, what="the second echo")
        for i in range(0, len(speech), FRAME_BYTES):  # nobody takes frames: it is still "playing"
            handle.push("inbound", speech[i : i + FRAME_BYTES])
            await asyncio.sleep(0.02)
        await until(lambda: playout.buffered_ms == 0, timeout=3, what="the clear")
        await until(lambda: "reply-2 played (or cleared)" in caplog.text, what="the cleared mark's echo")
        main.hub.close(s.stream_sid)
        await main.event("stopped", s.stream_sid)
        await until(lambda: "the call ended" in caplog.text, what="the agent's stop")
        assert [k for k, _ in main.of(s.stream_sid)] == ["started", "stopped"]
        said = [r.getMessage() for r in caplog.records if r.name == "echo_agent"]
        assert said[0] == f"call {CALL}: stream {s.stream_sid}, parameters {{'caller': 'test'}}"
        assert [m for m in said if m.startswith(("reply", "barge"))] == [
            "reply-1 played (or cleared)",
            "barge-in: clear",
            "reply-2 played (or cleared)",
        ]
    finally:
        await runner.cleanup()
