"""A customer's Media Streams server for end-to-end tests: an aiohttp WebSocket app in a
background thread (its own loop), so sync SDK code can drive the calls. Each path runs a script
(an async function of the connection); every message the engine sends is kept with the time
it arrived, and `send` is there for the scripts' replies."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from wirexa.media.streams import pcm_to_ulaw, ulaw_to_pcm


@dataclass
class Conn:
    """One WebSocket the engine opened: its path, request headers and every message."""

    path: str
    headers: dict[str, str]
    ws: web.WebSocketResponse
    loop: asyncio.AbstractEventLoop
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed_at: float | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("event") == kind]

    def times(self, kind: str) -> list[float]:
        return [t for t, m in self.messages if m.get("event") == kind]

    def audio(self, track: str = "inbound") -> bytes:
        """The PCM of every media message of `track`, in order."""
        return b"".join(
            ulaw_to_pcm(base64.b64decode(m["media"]["payload"]))
            for m in self.events("media")
            if m["media"]["track"] == track
        )

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events(kind)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.path}: {count} {kind} not received; got {[m for _, m in self.messages][:5]}"
                )
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 0.2)
            except TimeoutError:
                pass

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send_str(msg if isinstance(msg, str) else json.dumps(msg))

    async def send_audio(self, pcm: bytes, chunk_ms: int = 20) -> None:
        """PCM as mu-law media messages of chunk_ms each, all at once (faster than real time)."""
        sid = self.events("start")[0]["streamSid"]
        step = chunk_ms * 16
        for i in range(0, len(pcm), step):
            payload = base64.b64encode(pcm_to_ulaw(pcm[i : i + step])).decode()
            await self.send({"event": "media", "streamSid": sid, "media": {"payload": payload}})


Script = Callable[[Conn], Awaitable[None]]


async def listen(conn: Conn) -> None:
    """The default script: take everything until the engine closes the socket."""
    return None


class Agent:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.conns: list[Conn] = []
        self.statuses: dict[str, int] = {}  # path -> an HTTP status instead of the upgrade
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agent", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        if path in self.statuses:
            return web.Response(status=self.statuses[path], text="no agent here")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(path, dict(request.headers), ws, self.loop)
        self.conns.append(conn)
        script = asyncio.ensure_future(self.scripts.get(path, listen)(conn))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.messages.append((time.monotonic(), json.loads(msg.data)))
                conn.arrived.set()
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
        conn.closed_at = time.monotonic()
        conn.arrived.set()
        if not script.done():
            script.cancel()
        return ws

    def conn(self, path: str, timeout: float = 20.0) -> Conn:
        """The first connection to `path` (waiting for it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.conns if c.path == path]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no WebSocket to {path}")
            time.sleep(0.05)

    def close(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def tone_level(pcm: bytes, freq_hz: float, rate: int = 8000) -> float:
    """The power of `freq_hz` in the PCM relative to its total power (Goertzel), 0..1: ~1 for a
    pure tone of that frequency, ~0 for speech or silence."""
    n = len(pcm) // 2
    if n == 0:
        return 0.0
    samples = struct.unpack(f"<{n}h", pcm[: n * 2])
    coeff = 2 * math.cos(2 * math.pi * freq_hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    total = sum(x * x for x in samples) * n / 2
    return power / total if total else 0.0


def tone_seconds(pcm: bytes, freq_hz: float, rate: int = 8000, window_ms: int = 20) -> float:
    """How long the PCM carries `freq_hz` (windows where it dominates and is not silent)."""
    step = rate * window_ms // 1000 * 2
    hits = 0
    for i in range(0, len(pcm) - step + 1, step):
        window = pcm[i : i + step]
        n = len(window) // 2
        samples = struct.unpack(f"<{n}h", window)
        if max(abs(s) for s in samples) > 1000 and tone_level(window, freq_hz, rate) > 0.6:
            hits += 1
    return hits * window_ms / 1000
