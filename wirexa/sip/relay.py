"""Audio relayed between two worker processes on loopback, for a <Dial> leg that could not get a
slot in its parent's worker (pool.py places it in another one).

The wheel holds 4 calls per process and a bridge needs both calls in one conference bridge, so
each side gets a RelayPort: a conference port that is not a call (it takes no call slot). What
the bridge gives the port (the local call's audio, 20 ms frames of 16-bit 8 kHz mono PCM) goes
as one UDP datagram to the peer worker's port; what arrives from the peer is played into the
bridge. Each port has its own socket on 127.0.0.1 at a port the pool chose (the tail of the
worker's RTP block, which pjsua never uses).

Threading: onFrameReceived/onFrameRequested run on the null sound device's clock thread, which
serves every call of the worker, so they only do a non-blocking sendto/recv and a memmove (a few
microseconds) and never raise. Both workers' clocks tick every 20 ms but are not in phase: a
small queue (at most QUEUE_FRAMES) absorbs the drift; an empty queue plays silence, a full one
drops its oldest frame, so the relay adds 20-60 ms of delay and never grows.

The commands (relay_open, relay_close) travel on the same JSON-lines channel as protocol.py's;
CommandLoop parses them (relay_commands.py) and hands them to the owner's on_relay.
"""

from __future__ import annotations

import ctypes
import logging
import socket
from collections import deque
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj

from wirexa.sip.endpoint import audio_format, frame_bytes, hold_thread_state
from wirexa.sip.relay_commands import RelayClose, RelayOpen

log = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms at 8 kHz, 16-bit mono
QUEUE_FRAMES = 3

__all__ = ["RelayClose", "RelayHub", "RelayOpen", "RelayPort"]


class RelayPort(pj.AudioMediaPort):  # type: ignore[misc]
    """One side of a cross-worker bridge (see the module docstring)."""

    def __init__(self, listen_port: int, peer_port: int, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, listen_port))
        self.sock.setblocking(False)
        self.peer = (host, peer_port)
        self.queue: deque[bytes] = deque(maxlen=QUEUE_FRAMES)
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
        start = ctypes.c_void_p.from_address(int(self.out.this)).value
        if not start:
            frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
            return
        ctypes.memmove(start, data, FRAME_BYTES)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.out
        frame.size = FRAME_BYTES

    def close(self) -> None:
        self.sock.close()


@dataclass
class _Relay:
    sid: str
    peer: str
    port: RelayPort
    media: Any  # the local call's AudioMedia


class RelayHub:
    """The relays of one worker, by (local call, remote call). Main thread only.

    `bury` is CommandLoop.bury: a port is dropped outside any callback, after the bridge has
    let go of it."""

    def __init__(self, bury: Any) -> None:
        self.bury = bury
        self.relays: dict[tuple[str, str], _Relay] = {}

    def open(self, cmd: RelayOpen, media: Any) -> None:
        """Connect the call's audio both ways to a new RelayPort. Raises pj.Error or OSError."""
        if media is None:
            raise ValueError(f"call {cmd.sid} has no audio to relay")
        self.close(cmd.sid, cmd.peer)
        port = RelayPort(cmd.listen_port, cmd.peer_port)
        try:
            port.create(f"relay-{cmd.sid[-8:]}-{cmd.peer[-8:]}")
            media.startTransmit(port)
            port.startTransmit(media)
        except Exception:
            port.close()
            self.bury(port)
            raise
        self.relays[(cmd.sid, cmd.peer)] = _Relay(cmd.sid, cmd.peer, port, media)

    def close(self, sid: str, peer: str, media_gone: bool = False) -> None:
        relay = self.relays.pop((sid, peer), None)
        if relay is None:
            return
        if not media_gone:
            for a, b in ((relay.media, relay.port), (relay.port, relay.media)):
                try:
                    a.stopTransmit(b)
                except pj.Error:
                    pass
        relay.port.close()
        self.bury(relay.port)
        log.info("[%s] relay to %s closed: %d frames out, %d in", sid, peer, relay.port.sent, relay.port.received)

    def close_call(self, sid: str, media_gone: bool = True) -> None:
        """The call ended: its conference port is gone (never stopTransmit on it)."""
        for key in [k for k in self.relays if k[0] == sid]:
            self.close(*key, media_gone=media_gone)

    def ports_of(self, sid: str) -> list[RelayPort]:
        """The relay ports bridged to `sid`: what its outbound track hears from other workers."""
        return [r.port for k, r in self.relays.items() if k[0] == sid]

    def media_of(self, sid: str, peer: str | None) -> Any:
        """The relayed audio of `peer` as heard by `sid` (to mix into a recording), or None."""
        relay = self.relays.get((sid, peer or ""))
        return relay.port if relay is not None else None
