"""Every piece of a media worker that runs on the conference bridge's clock thread: the
AudioMediaPorts whose frame callbacks pjmedia calls (a streamed prompt, a tap, a relay to
another worker).

Threading: the null sound device's clock thread serves every call of the worker, 50 times a
second per port at the bridge's 20 ms (a tap's port: 10 times, see TapPort). A stall here
stalls every call's audio, so each callback does a copy or a non-blocking socket call and
returns; `endpoint.hold_thread_state()` comes first in each (docs/PJSUA2_FINDINGS.md: it keeps
the thread's Python state between callbacks). No callback touches a pjsua2 object but its
frame; anything the main thread must act on is an attribute written here, then the wake
packet (CommandLoop.wake).
"""

from __future__ import annotations

import ctypes
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from wirexa.sip.endpoint import audio_format, frame_bytes, hold_thread_state
from wirexa.sip.tap import Tap

FRAME_BYTES = 320  # 20 ms at 8 kHz, 16-bit mono


def _vector_address(vector: Any) -> int:
    """Where a pjsua2 ByteVector's storage starts (a memmove target)."""
    return int(ctypes.c_void_p.from_address(int(vector.this)).value or 0)


class StreamPort(pj.AudioMediaPort):  # type: ignore[misc]
    """A prompt that is still arriving: plays headerless 8 kHz 16-bit mono PCM from a file the
    engine is appending to (TTS streamed by a provider), 20 ms a frame, silence while the next
    bytes are not there yet. `total` (set by stream_end from the main thread) is the final size;
    `finished` flips once that many bytes have been played, and the main thread's tick reports it.

    onFrameRequested reads the file in 8 kB pieces (one small read every 256 ms), takes each
    frame at an offset into that piece, and copies 320 bytes into a ByteVector made once (a
    memmove into its storage, not a per-byte SWIG copy)."""

    FRAME = FRAME_BYTES
    CHUNK = 8192

    def __init__(self, path: str, wake: Callable[[], None]) -> None:
        super().__init__()
        self.wake = wake  # the main thread's tick ends the play: wake it rather than wait for its poll
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close() when the play ends
        self.buf = b""
        self.at = 0  # where the next frame starts in buf (sliced once per refill, not per frame)
        self.pos = 0  # bytes handed to the bridge
        self.total: int | None = None
        self.finished = False
        self.vector = pj.ByteVector(self.FRAME)
        self.addr = _vector_address(self.vector)

    def onFrameRequested(self, frame: Any) -> None:
        hold_thread_state()
        data = b""
        if not self.finished:
            if len(self.buf) - self.at < self.FRAME:  # refill: what is left plus the next piece
                self.buf = self.buf[self.at :] + self.file.read(self.CHUNK)
                self.at = 0
            data = self.buf[self.at : self.at + self.FRAME]
            if self.total is not None and self.pos + len(data) >= self.total:
                data = data[: max(0, self.total - self.pos)]
                self.finished = True
                self.wake()
            elif len(data) < self.FRAME and self.total is None:
                data = data[: len(data) & ~1]  # whole samples only; the rest waits for its pair
            self.at += len(data)
            self.pos += len(data)
        ctypes.memmove(self.addr, data.ljust(self.FRAME, b"\0"), self.FRAME)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.vector
        frame.size = self.FRAME

    def close(self) -> None:
        self.file.close()


def stream_port(call_sid: str, play_id: str, path: str, wake: Callable[[], None]) -> StreamPort:
    port = StreamPort(path, wake)
    fmt = audio_format()
    try:
        port.createPort(f"tts-{call_sid}-{play_id}"[:60], fmt)
    except pj.Error:
        port.close()
        raise
    return port


class TapPort(pj.AudioMediaPort):  # type: ignore[misc]
    """The bridge end of a tap (tap.py): the frames the bridge gives it go to Tap.push, a copy
    into the tap's bounded queue; the tap's work runs on the worker's TapThread.

    The port's frames are 100 ms (FRAME_US): the bridge buffers five of the call's 20 ms frames
    per callback, a tenth of the Python callbacks at 20 ms for at most 80 ms more latency
    (docs/PJSUA2_FINDINGS.md). Once the tap has its result (closed), a callback does nothing."""

    FRAME_US = 100_000

    def __init__(self, tap: Tap[Any]) -> None:
        super().__init__()
        self.tap = tap

    def create(self, name: str) -> None:
        self.createPort(name[:60], audio_format(self.FRAME_US))

    def onFrameReceived(self, frame: Any) -> None:
        hold_thread_state()
        tap = self.tap
        if not tap.closed and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            tap.push(frame_bytes(frame.buf))


RELAY_QUEUE_FRAMES = 3


class RelayPort(pj.AudioMediaPort):  # type: ignore[misc]
    """One side of a cross-worker relay (relay.py): what the bridge gives the port goes as one
    UDP datagram to the peer worker's port; what arrives from the peer is played into the
    bridge. Both workers' clocks tick every 20 ms but are not in phase: a small queue (at most
    RELAY_QUEUE_FRAMES) absorbs the drift; an empty queue plays silence, a full one drops its
    oldest frame, so the relay adds 20-60 ms of delay and never grows. Callbacks do only a
    non-blocking sendto/recv and a memmove, and never raise."""

    def __init__(self, listen_port: int, peer_port: int, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, listen_port))
        self.sock.setblocking(False)
        self.peer = (host, peer_port)
        self.queue: deque[bytes] = deque(maxlen=RELAY_QUEUE_FRAMES)
        self.out = pj.ByteVector(FRAME_BYTES)  # reused: filled by memmove, copied by pjsua2
        self.sent = self.received = 0

    def create(self, name: str) -> None:
        fmt = audio_format()
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: Any) -> None:
        hold_thread_state()
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                self.sock.sendto(frame_bytes(frame.buf), self.peer)
                self.sent += 1
        except Exception:  # noqa: BLE001, S110 - a full buffer or a closed socket: drop the frame
            pass

    def onFrameRequested(self, frame: Any) -> None:
        hold_thread_state()
        try:
            while True:
                data = self.sock.recv(2048)
                if len(data) == FRAME_BYTES:
                    self.queue.append(data)
                    self.received += 1
        except Exception:  # noqa: BLE001, S110 - nothing more to read (or closed)
            pass
        if not self.queue:
            frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
            return
        data = self.queue.popleft()
        start = _vector_address(self.out)
        if not start:
            frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
            return
        ctypes.memmove(start, data, FRAME_BYTES)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.out
        frame.size = FRAME_BYTES

    def close(self) -> None:
        self.sock.close()


class StreamTapPort(pj.AudioMediaPort):  # type: ignore[misc]
    """One track of a Media Stream (streaming.py): every 20 ms frame the bridge gives it goes to
    the stream's handle (StreamHandle.push: a copy and a wake of the hub's loop, never a block).
    20 ms frames, not a TapPort's 100 ms: the frame's wait here is the stream's latency."""

    def __init__(self, handle: Any, track: str) -> None:
        super().__init__()
        self.handle = handle
        self.track = track

    def create(self, name: str) -> None:
        self.createPort(name[:60], audio_format())

    def onFrameReceived(self, frame: Any) -> None:
        hold_thread_state()
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self.handle.push(self.track, frame_bytes(frame.buf))


class FeedPort(pj.AudioMediaPort):  # type: ignore[misc]
    """A bidirectional Media Stream's server audio into its call: each 20 ms frame the bridge
    asks for is the next one of the stream's Playout (media.streams: the server's media in
    order, marks echoed as their audio is taken); nothing buffered is no frame (the call hears
    silence, as it does while an agent is thinking)."""

    def __init__(self, playout: Any) -> None:
        super().__init__()
        self.playout = playout
        self.out = pj.ByteVector(FRAME_BYTES)
        self.addr = _vector_address(self.out)

    def create(self, name: str) -> None:
        self.createPort(name[:60], audio_format())

    def onFrameRequested(self, frame: Any) -> None:
        hold_thread_state()
        data = self.playout.take_frame()
        if data is None or not self.addr:
            frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
            return
        ctypes.memmove(self.addr, data, FRAME_BYTES)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.out
        frame.size = FRAME_BYTES
