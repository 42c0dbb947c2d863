"""Audio relayed between two worker processes on loopback, for a <Dial> leg that could not get a
slot in its parent's worker (pool.py places it in another one).

The wheel holds 4 calls per process and a bridge needs both calls in one conference bridge, so
each side gets a RelayPort (ports.py): a conference port that is not a call (it takes no call
slot), with its own socket on 127.0.0.1 at a port the pool chose (the tail of the worker's RTP
block, which pjsua never uses). RelayHub owns the ports; the media graph (a relay node, in a room
with its call) says how they are linked, and the worker applies that.

The commands (protocol.RelayOpen, RelayClose) come from the pool on the worker's JSON-lines channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from wirexa.sip.ports import RelayPort
from wirexa.sip.protocol import RelayOpen

log = logging.getLogger(__name__)


class RelayHub:
    """The relay ports of one worker, by (local call, remote call). Main thread only.

    `bury` is CommandLoop.bury: a port is dropped outside any callback, after the bridge has
    let go of it."""

    def __init__(self, bury: Callable[[Any], None]) -> None:
        self.bury = bury
        self.ports: dict[tuple[str, str], RelayPort] = {}

    def open(self, cmd: RelayOpen) -> RelayPort:
        """A new port for (sid, peer), in the bridge but linked to nothing. Raises pj.Error or OSError."""
        port = RelayPort(cmd.listen_port, cmd.peer_port)
        try:
            port.create(f"relay-{cmd.call_sid[-8:]}-{cmd.peer[-8:]}")
        except Exception:
            port.close()
            self.bury(port)
            raise
        self.ports[(cmd.call_sid, cmd.peer)] = port
        return port

    def close(self, sid: str, peer: str) -> None:
        """Close and drop the port (its links are down, or gone with its call)."""
        port = self.ports.pop((sid, peer), None)
        if port is None:
            return
        port.close()
        self.bury(port)
        log.info("[%s] relay to %s closed: %d frames out, %d in", sid, peer, port.sent, port.received)

    def peers_of(self, sid: str) -> list[str]:
        return [peer for s, peer in self.ports if s == sid]

    def has(self, sid: str, peer: str | None) -> bool:
        return (sid, peer or "") in self.ports
