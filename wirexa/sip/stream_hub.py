"""The media worker's Media Streams client: one thread with an asyncio loop and one aiohttp session
holding every WebSocket of the worker's streams (Twilio's protocol, media/streams.py).

Theory of operation. A worker holds up to 4 calls; each may have streams (issue 24). Three threads
touch a stream, and each does only its part:
- the MAIN thread (pjsua2's) opens and closes streams (`StreamHub.open`, `close`, `shutdown`),
  sends DTMF (`StreamHandle.dtmf`), and drains the hub's events (`StreamHub.events`) when `wake()`
  has told it some are ready. It never waits on the network (shutdown waits <= 2 s, once);
- the CLOCK thread (pjmedia's, clocking every call of the worker 50 times a second) pushes each
  20 ms frame of a carried track (`StreamHandle.push`: a copy into a bounded deque and, only when no
  wakeup is already on its way, one `loop.call_soon_threadsafe` for all the streams pushed in that
  tick), and takes the server's audio from a bidirectional stream's `Playout.take_frame`. Neither
  blocks: a slow server loses the oldest frames (counted), never the clock's time. A media
  message's timestamp counts every frame pushed since the socket opened, so a server sees the
  gap where frames were lost;
- the HUB thread (started by the first `open`) runs the loop. Per stream, one task (`_run`)
  connects, sends `connected` and `start`, then runs a sender (the only writer of the socket: it
  encodes every message just before sending it, so sequence numbers are in wire order) and a
  reader (the server's media, mark and clear into the Playout; a mark's echo is sent when the
  Playout reports its audio taken). Any exception ends that stream only (logged).

Events (HubEvent, in order per stream): "started" once connected; "warning" 31924 (protocol
error) and 31931 (media discarded), each at most once per stream; "error" with Twilio's connect
code (31901 timeout, 31902 refused/DNS/other connect error, 31910 TLS, 31920 handshake status other
than 101, 31922 URL scheme not ws/wss) when the socket could not be opened; and exactly one
"stopped", always the last: "stopped" (close() or shutdown(); `stop` was sent after every frame
pushed before it; "stopped (the server was not reading: ...)" when it could not be sent within
STOP_GRACE_S), "closed by the server", "connection lost: ..." (the socket failed mid-stream: Twilio defines no 319xx code for it,
so it is a stop with its cause, not an error), or "internal error: ..." (a bug, logged).
Wirexa does not send `stop` when the server closed the socket: the close handshake has begun
and Twilio's behaviour there is undocumented (Twilio's WebSocket messages reference says nothing of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

import aiohttp

from wirexa.media.streams import (
    FRAME_MS,
    MAX_BUFFER_S,
    TRACKS,
    Encoder,
    Playout,
    ProtocolError,
    ServerClear,
    ServerMark,
    ServerMedia,
    parse_server_message,
)

log = logging.getLogger(__name__)

# Twilio's Media Streams error codes (https://www.twilio.com/docs/api/errors/<code>).
WS_TIMEOUT = 31901
WS_CONNECT_FAILED = 31902
WS_TLS_FAILED = 31910
WS_HANDSHAKE_FAILED = 31920
WS_URL_SCHEME = 31922
PROTOCOL_ERROR = 31924
MEDIA_DISCARDED = 31931

QUEUE_FRAMES = 10 * 1000 // FRAME_MS  # 10 s of frames per stream: a server that far behind loses the oldest
STOP_GRACE_S = 0.5  # close(): how long the sender may take to flush and send `stop` to a slow server
CLOSE_TIMEOUT_S = 0.5  # how long the server may take to answer our close frame
SHUTDOWN_JOIN_S = 2.0
# A server's media message may be of any size, up to the 10 minutes the Playout holds (base64: 4/3).
MAX_MESSAGE_BYTES = MAX_BUFFER_S * 8000 * 4 // 3 + 64 * 1024

EventKind: TypeAlias = Literal["started", "stopped", "error", "warning"]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What to open: the call's ids, the server's URL (ws:// or wss://), the tracks carried
    (bidirectional: inbound only), `parameters` for start.customParameters, and `headers` sent
    as given on the upgrade request (e.g. X-Twilio-Signature, computed by the control process)."""

    call_sid: str
    account_sid: str
    stream_sid: str
    url: str
    tracks: tuple[str, ...]
    bidirectional: bool
    parameters: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.tracks or len(set(self.tracks)) != len(self.tracks) or any(t not in TRACKS for t in self.tracks):
            raise ValueError(f"tracks must be inbound and/or outbound, got {self.tracks!r}")
        if self.bidirectional and self.tracks != ("inbound",):
            raise ValueError("a bidirectional stream carries the inbound track only")


@dataclass(frozen=True, slots=True)
class HubEvent:
    call_sid: str
    stream_sid: str
    kind: EventKind
    code: int = 0
    message: str = ""


class _ConnectFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Waker:
    """Clock thread -> loop: one call_soon_threadsafe (a write to the loop's self-pipe) per batch
    of pushes, whichever streams they were for. The clock thread pushes every stream of the
    worker in one tick: one wakeup then, not one per stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: deque[StreamHandle] = deque()
        self.scheduled = False

    def wake_threadsafe(self, handle: StreamHandle) -> None:
        # Append, then test the flag; the loop clears the flag, then drains: no handle is missed.
        self.ready.append(handle)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.scheduled = False
        ready = self.ready
        while ready:
            ready.popleft()._wakeup.set()


class StreamHandle:
    """One stream, as the worker's threads see it. `spec` and `playout` (bidirectional only: the
    feed port calls playout.take_frame on the clock thread) are fixed. Counters, readable from any
    thread: frames_sent, frames_received (the server's media messages), frames_dropped (pushed
    while the socket was not open, or the oldest lost to a full queue), frames_ignored (pushed
    for a track the stream does not carry), max_queue (the most frames ever waiting to be sent)."""

    def __init__(self, spec: StreamSpec, waker: _Waker, queue_frames: int = QUEUE_FRAMES) -> None:
        self.spec = spec
        self.playout: Playout | None = Playout(self._marks_done_threadsafe) if spec.bidirectional else None
        self.frames_sent = 0
        self.frames_received = 0
        self.frames_dropped = 0
        self.frames_ignored = 0
        self.max_queue = 0
        self._loop = waker.loop
        self._waker = waker
        # Clock thread -> loop: (track, pcm, timestamp_ms). deque.append/popleft are atomic.
        self._frames: deque[tuple[str, bytes, int]] = deque(maxlen=queue_frames)
        self._pushed = dict.fromkeys(spec.tracks, 0)  # clock thread: frames per track since the socket opened
        self._open = False  # loop writes; the clock thread reads
        self._wakeup_scheduled = False
        self._wakeup = asyncio.Event()  # loop only (set from elsewhere through call_soon_threadsafe)
        # Loop only.
        self._control: deque[tuple[str, str]] = deque()  # ("dtmf", digit) | ("mark", name)
        self._task: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._connecting = False
        self._stop_requested = False
        self._stopped = False
        self._warned: set[int] = set()

    def push(self, track: str, pcm: bytes) -> None:
        """CLOCK THREAD: one 20 ms frame of `track`. Copies it and wakes the hub's loop (once per
        batch); never blocks, never raises."""
        try:
            if not self._open:
                self.frames_dropped += 1
                return
            count = self._pushed.get(track)
            if count is None:
                self.frames_ignored += 1
                return
            self._pushed[track] = count + 1
            frames = self._frames
            waiting = len(frames)
            if waiting == frames.maxlen:
                self.frames_dropped += 1
            elif waiting >= self.max_queue:
                self.max_queue = waiting + 1
            # The timestamp counts every frame since the socket opened, so a server sees the gap
            # when frames are lost to a full queue.
            frames.append((track, bytes(pcm), count * FRAME_MS))
            if not self._wakeup_scheduled:
                self._wakeup_scheduled = True
                self._waker.wake_threadsafe(self)
        except Exception:  # the loop is closed (shutdown raced the clock): the frame is lost
            self.frames_dropped += 1

    def dtmf(self, digit: str) -> None:
        """MAIN THREAD: a key the caller pressed, as a `dtmf` message. Twilio sends dtmf on
        bidirectional streams only: on a unidirectional one this does nothing, by the protocol."""
        if self.spec.bidirectional:
            with contextlib.suppress(RuntimeError):  # the hub has shut down
                self._loop.call_soon_threadsafe(self._queue_control, "dtmf", digit)

    def _marks_done_threadsafe(self) -> None:
        """Playout's notify (clock thread or loop): a mark's audio has all been taken."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def _queue_control(self, kind: str, value: str) -> None:
        if self._open and not self._stop_requested:
            self._control.append((kind, value))
            self._wakeup.set()


class StreamHub:
    """Every Media Stream of one worker process. MAIN THREAD for open/close/events/shutdown;
    `wake()` (called from the hub thread when events are ready) must be thread-safe.
    `ssl_context` replaces the default verification of wss:// servers (tests pass their CA)."""

    def __init__(
        self,
        wake: Callable[[], None],
        connect_timeout_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self.wake = wake
        self.connect_timeout_s = connect_timeout_s
        self.ssl_context = ssl_context
        self.queue_frames = queue_frames
        self._handles: dict[str, StreamHandle] = {}  # main thread: open streams, until their "stopped" is drained
        self._events: list[HubEvent] = []
        self._events_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._waker: _Waker | None = None
        self._session: aiohttp.ClientSession | None = None  # loop only
        self._running: set[StreamHandle] = set()  # loop only

    # Main thread ---------------------------------------------------------------------------------

    def open(self, spec: StreamSpec) -> StreamHandle:
        """Start connecting `spec` (non-blocking); its events follow. ValueError for a
        stream_sid already open."""
        if spec.stream_sid in self._handles:
            raise ValueError(f"stream {spec.stream_sid} is already open")
        loop = self._start()
        if self._waker is None or self._waker.loop is not loop:
            self._waker = _Waker(loop)
        handle = StreamHandle(spec, self._waker, self.queue_frames)
        self._handles[spec.stream_sid] = handle
        loop.call_soon_threadsafe(self._begin, handle)
        return handle

    def close(self, stream_sid: str) -> None:
        """Stop a stream: `stop` is sent after the frames already pushed, then the socket closes;
        "stopped" follows. A stream that is not open (or already stopping) is left alone."""
        handle = self._handles.get(stream_sid)
        if handle is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop, handle)

    def events(self) -> list[HubEvent]:
        """The events since the last call, in order (main thread, after wake())."""
        with self._events_lock:
            events, self._events = self._events, []
        for ev in events:
            if ev.kind == "stopped":
                self._handles.pop(ev.stream_sid, None)
        return events

    def shutdown(self) -> None:
        """Stop every stream (each sends `stop`), close the session and join the thread (<= 2 s
        in all). Their "stopped" events wait in events(). The hub may be opened again later."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        deadline = time.monotonic() + SHUTDOWN_JOIN_S
        try:
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            done.result(timeout=SHUTDOWN_JOIN_S - 0.25)
        except Exception:
            log.exception("stream hub: shutdown did not finish cleanly")
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.error("stream hub: the thread did not stop within %.1f s", SHUTDOWN_JOIN_S)
        self._loop = self._thread = None

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._thread_main, args=(loop,), name="stream-hub", daemon=True)
            self._loop, self._thread = loop, thread
            thread.start()
        return self._loop

    # Hub thread ----------------------------------------------------------------------------------

    def _thread_main(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # Streams still running (a shutdown that ran out of time) end here, each with its "stopped".
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            if self._session is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(self._session.close())
                self._session = None
            for _ in range(3):  # as in _shutdown: the closed transports' last callbacks
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _emit(self, handle: StreamHandle, kind: EventKind, code: int = 0, message: str = "") -> None:
        if handle._stopped:
            return
        if kind == "stopped":
            handle._stopped = True
        spec = handle.spec
        with self._events_lock:
            self._events.append(HubEvent(spec.call_sid, spec.stream_sid, kind, code, message))
        try:
            self.wake()
        except Exception:
            log.exception("stream hub: wake() failed")

    def _warn_once(self, handle: StreamHandle, code: int, message: str) -> None:
        if code not in handle._warned:
            handle._warned.add(code)
            log.warning("[%s] stream %s: %d %s", handle.spec.call_sid, handle.spec.stream_sid, code, message)
            self._emit(handle, "warning", code, message)

    def _begin(self, handle: StreamHandle) -> None:
        self._running.add(handle)
        handle._task = asyncio.get_running_loop().create_task(self._run(handle))

    def _stop(self, handle: StreamHandle) -> None:
        if handle._stopped or handle._stop_requested:
            return
        handle._stop_requested = True
        if not handle._open:
            # Connecting: give up on it. Not started yet: _run sees the request (a task cancelled
            # before its first step would never run its `finally`, and "stopped" would be lost).
            if handle._connecting and handle._task is not None:
                handle._task.cancel()
            return
        handle._wakeup.set()
        # A server that reads nothing leaves the sender stuck in a send: stop waiting for it.
        asyncio.get_running_loop().call_later(STOP_GRACE_S, self._give_up, handle)

    def _give_up(self, handle: StreamHandle) -> None:
        sender = handle._sender
        if sender is not None and not sender.done():
            log.warning("[%s] stream %s: the server is not reading; closing without `stop`", *self._ids(handle))
            sender.cancel()

    @staticmethod
    def _ids(handle: StreamHandle) -> tuple[str, str]:
        return handle.spec.call_sid, handle.spec.stream_sid

    async def _shutdown(self) -> None:
        running = list(self._running)
        for handle in running:
            self._stop(handle)
        tasks = [h._task for h in running if h._task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S + CLOSE_TIMEOUT_S + 0.25)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=0.25)
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Closed transports report connection_lost on the loop's next rounds: let them, or the
        # stopped loop leaves them "closing" (a ResourceWarning when they are collected).
        for _ in range(3):
            await asyncio.sleep(0)

    async def _run(self, handle: StreamHandle) -> None:
        """One stream, from connect to its "stopped"."""
        spec = handle.spec
        reason = "stopped"
        ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        try:
            if handle._stop_requested:
                return
            handle._connecting = True
            try:
                ws = await self._connect(spec)
            except _ConnectFailed as exc:
                log.warning("[%s] stream %s: %d %s", spec.call_sid, spec.stream_sid, exc.code, exc.message)
                self._emit(handle, "error", exc.code, exc.message)
                reason = exc.message
                return
            encoder = Encoder(spec.stream_sid, spec.account_sid, spec.call_sid, spec.tracks, spec.parameters)
            await ws.send_str(encoder.connected())
            await ws.send_str(encoder.start())
            log.info("[%s] stream %s: connected to %s", spec.call_sid, spec.stream_sid, spec.url)
            self._emit(handle, "started")
            handle._open, handle._connecting = True, False
            reason = await self._stream(handle, ws, encoder)
        except asyncio.CancelledError:
            reason = "stopped"  # close() while connecting, or a shutdown out of time
        except Exception as exc:
            log.exception("[%s] stream %s: failed", spec.call_sid, spec.stream_sid)
            reason = f"internal error: {exc!r}"
        finally:
            handle._open = handle._connecting = False
            handle._frames.clear()
            try:
                if ws is not None:
                    await self._close_ws(ws)
            finally:  # even when a shutdown out of time cancels the close: "stopped" is the last word
                self._running.discard(handle)
                log.info("[%s] stream %s: %s", spec.call_sid, spec.stream_sid, reason)
                self._emit(handle, "stopped", 0, reason)

    async def _stream(self, handle: StreamHandle, ws: aiohttp.ClientWebSocketResponse[bool], encoder: Encoder) -> str:
        """The open stream until it ends; returns the reason for "stopped"."""
        loop = asyncio.get_running_loop()
        sender = handle._sender = loop.create_task(self._send(handle, ws, encoder))
        reader = loop.create_task(self._receive(handle, ws))
        try:
            await asyncio.wait((sender, reader), return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                return reader.result()
            if sender.cancelled():
                return "stopped (the server was not reading: `stop` could not be sent)"
            exc = sender.exception()
            if exc is not None:
                if isinstance(exc, aiohttp.ClientError | OSError):
                    return f"connection lost: {exc}"
                raise exc
            return "stopped"
        finally:
            sender.cancel()
            # Closing ends the reader (aiohttp lets another task close a socket being read).
            await self._close_ws(ws)
            reader.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)

    async def _send(self, handle: StreamHandle, ws: aiohttp.ClientWebSocketResponse[bool], encoder: Encoder) -> None:
        """The socket's only writer: control messages, mark echoes, then media, in that order each
        round; after a stop request, everything pushed before it and then `stop`."""
        frames, control, playout, wakeup = handle._frames, handle._control, handle.playout, handle._wakeup
        while True:
            await wakeup.wait()
            wakeup.clear()
            handle._wakeup_scheduled = False
            while True:
                if control:
                    kind, value = control.popleft()
                    await ws.send_str(encoder.dtmf(value) if kind == "dtmf" else encoder.mark(value))
                elif playout is not None and (names := playout.done_marks()):
                    for name in names:
                        await ws.send_str(encoder.mark(name))
                elif frames:
                    track, pcm, timestamp_ms = frames.popleft()
                    await ws.send_str(encoder.media(track, pcm, timestamp_ms))
                    handle.frames_sent += 1
                else:
                    break
            if handle._stop_requested:
                await ws.send_str(encoder.stop())
                return

    async def _receive(self, handle: StreamHandle, ws: aiohttp.ClientWebSocketResponse[bool]) -> str:
        """The server's messages until the socket ends; returns the reason for "stopped"."""
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._on_message(handle, msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self._warn_once(handle, PROTOCOL_ERROR, "a binary frame: Media Streams messages are JSON text frames")
            elif msg.type == aiohttp.WSMsgType.ERROR:
                return f"connection lost: {msg.data}"
        if handle._stop_requested:
            return "stopped"
        if ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
            return "connection lost: the connection closed without a close frame"
        return "closed by the server"

    def _on_message(self, handle: StreamHandle, text: str) -> None:
        playout = handle.playout
        if playout is None:
            self._warn_once(
                handle,
                PROTOCOL_ERROR,
                f"a unidirectional stream accepts no messages from the server (got {text[:60]!r})",
            )
            return
        parsed = parse_server_message(text, handle.spec.stream_sid)
        if isinstance(parsed, ServerMedia):
            handle.frames_received += 1
            if not playout.add_audio(parsed.pcm):
                self._warn_once(
                    handle,
                    MEDIA_DISCARDED,
                    f"more than {MAX_BUFFER_S // 60} minutes of audio buffered: media discarded",
                )
        elif isinstance(parsed, ServerMark):
            playout.add_mark(parsed.name)
        elif isinstance(parsed, ServerClear):
            for name in playout.clear():
                handle._control.append(("mark", name))
            handle._wakeup.set()
        elif isinstance(parsed, ProtocolError):
            self._warn_once(handle, PROTOCOL_ERROR, parsed.message)

    async def _connect(self, spec: StreamSpec) -> aiohttp.ClientWebSocketResponse[bool]:
        url = spec.url
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("ws", "wss"):
            raise _ConnectFailed(WS_URL_SCHEME, f"{url}: the URL scheme must be wss (or ws), not {scheme!r}")
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        sslarg: ssl.SSLContext | bool = self.ssl_context if self.ssl_context is not None else True
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await self._session.ws_connect(
                    url,
                    headers=list(spec.headers),
                    ssl=sslarg,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
                    autoping=True,
                    compress=0,
                    max_msg_size=MAX_MESSAGE_BYTES,
                )
        except TimeoutError as exc:
            raise _ConnectFailed(
                WS_TIMEOUT, f"{url}: no WebSocket connection within {self.connect_timeout_s:g} s"
            ) from exc
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status != 101:
                message = f"{url}: the server answered HTTP {exc.status} {exc.message} instead of 101"
            else:
                message = f"{url}: WebSocket handshake failed: {exc.message}"
            raise _ConnectFailed(WS_HANDSHAKE_FAILED, message) from exc
        except (aiohttp.ClientSSLError, ssl.SSLError, ssl.CertificateError) as exc:
            raise _ConnectFailed(WS_TLS_FAILED, f"{url}: TLS failed: {exc}") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise _ConnectFailed(WS_CONNECT_FAILED, f"{url}: could not connect: {exc}") from exc

    async def _close_ws(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        """Close the socket, waiting CLOSE_TIMEOUT_S at most for the server's part."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.close()
        except asyncio.CancelledError:
            _abort(ws)
            raise
        except Exception:
            _abort(ws)


def _abort(ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
    """Drop the connection now. aiohttp has no public abort, and a transport closed with unsent
    bytes (a server that reads nothing) would stay open until the server read them."""
    transport = getattr(getattr(ws, "_writer", None), "transport", None)
    if transport is not None:
        transport.abort()
