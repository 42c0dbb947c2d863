"""Applies the media graph's link changes (mediagraph.py) to the worker's conference bridge.

Main thread only: it calls startTransmit / stopTransmit on the pjsua2 media objects it was
given for the graph's nodes (a call's AudioMedia, a player, a recorder, a tap, relay or
stream port, the null device's two ports)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pjsua2 as pj

from wirexa.sip.endpoint import describe
from wirexa.sip.mediagraph import Change, Connect, Node

log = logging.getLogger(__name__)


class Applier:
    """The media object of each node, and apply(changes)."""

    def __init__(self) -> None:
        self.ports: dict[Node, Any] = {}

    def add(self, node: Node, media: Any) -> None:
        self.ports[node] = media

    def drop(self, node: Node) -> Any:
        """Forget the node; its media object (to bury), or None."""
        return self.ports.pop(node, None)

    def drop_call(self, call_sid: str) -> None:
        """Forget every node of an ended call (their owners bury the objects they made)."""
        self.ports = {n: m for n, m in self.ports.items() if n.call_sid != call_sid}

    def apply(self, changes: Iterable[Change], *, strict: bool = False) -> None:
        """Disconnect, then connect, in the order given. A disconnect that fails (the link was
        never made) is ignored, and a `gone` one is not attempted: its port has left the bridge.
        A connect that fails raises pj.Error when `strict` (the caller undoes its operation),
        else is logged and the rest still apply."""
        for change in changes:
            link = change.link
            src, sink = self.ports.get(link.src), self.ports.get(link.sink)
            if isinstance(change, Connect):
                if src is None or sink is None:
                    log.warning("link %s has no port", link)
                    continue
                try:
                    src.startTransmit(sink)
                except pj.Error as exc:
                    if strict:
                        raise
                    log.warning("link %s not made: %s", link, describe(exc))
            elif not change.gone and src is not None and sink is not None:
                try:
                    src.stopTransmit(sink)
                except pj.Error:
                    pass
