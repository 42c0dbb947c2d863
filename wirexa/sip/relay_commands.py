"""The two commands of a cross-worker bridge (relay.py), as the engine sends them.

relay_open(sid, peer, listen_port, peer_port): relay the audio of call `sid` (in this worker) to
and from call `peer` (in another worker): listen on 127.0.0.1:listen_port, send to peer_port.
relay_close(sid, peer): stop that relay. Neither has a reply; a relay_open that fails is
answered with protocol.py's error event (op "relay_open", the call's sid).

They are not in protocol.py's registry: only the pool sends them, and only a media worker's
CommandLoop reads them (endpoint.py), so the sandbox carrier and protocol.py stay as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class RelayOpen:
    NAME: ClassVar[str] = "relay_open"
    sid: str
    peer: str
    listen_port: int
    peer_port: int

    def to_json(self) -> bytes:
        return (json.dumps({"op": self.NAME, **asdict(self)}, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True, slots=True)
class RelayClose:
    NAME: ClassVar[str] = "relay_close"
    sid: str
    peer: str

    def to_json(self) -> bytes:
        return (json.dumps({"op": self.NAME, **asdict(self)}, separators=(",", ":")) + "\n").encode()


RelayCommand = RelayOpen | RelayClose


def relay_command_from_json(line: bytes) -> RelayCommand | None:
    """The relay command on this line, or None when it is none of them."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    try:
        if obj.get("op") == RelayOpen.NAME:
            return RelayOpen(str(obj["sid"]), str(obj["peer"]), int(obj["listen_port"]), int(obj["peer_port"]))
        if obj.get("op") == RelayClose.NAME:
            return RelayClose(str(obj["sid"]), str(obj["peer"]))
    except (KeyError, TypeError, ValueError):
        return None
    return None
