"""The Media Streams of a worker's calls: their ports on the bridge, their sockets, their events.

Theory of operation. A stream (the start_stream command) is a WebSocket to the customer's server
in Twilio's protocol, opened by the worker that holds the call, so the audio never crosses to
the engine process (issue 24: no Python hop per frame there). Its parts:
- one StreamTapPort per track it carries (ports.py), wired by the media graph as a tap of the
  call's inbound or outbound track: 20 ms frames from the clock thread to StreamHandle.push;
- for a bidirectional stream (<Connect><Stream>), a FeedPort, wired as the call's feed: the
  clock thread takes each 20 ms frame from the stream's Playout (the server's media, its marks);
- the hub's thread (stream_hub.py): the socket, the encoding, the server's messages.
This class runs on the main thread: it opens and closes streams, hands DTMF to the bidirectional
one, and in the worker's tick turns the hub's events into `stream` events for the engine. A
stream's ports leave the bridge when its "stopped" comes, or with its call (the call's end closes
its streams; their "stopped" still goes out, the last word on each).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from wirexa.sip import mediagraph as mg
from wirexa.sip import protocol as proto
from wirexa.sip.applier import Applier
from wirexa.sip.dialogs import Dialog
from wirexa.sip.endpoint import Sink, describe
from wirexa.sip.ports import FeedPort, StreamTapPort
from wirexa.sip.stream_hub import StreamHandle, StreamHub, StreamSpec

log = logging.getLogger(__name__)

PORT_FAILED = 31900  # a stream whose ports pjmedia refused (Twilio's generic "Stream" error family)


@dataclass(slots=True)
class _Running:
    call_sid: str
    handle: StreamHandle
    nodes: list[mg.Node] = field(default_factory=list)
    ports: list[Any] = field(default_factory=list)
    call_gone: bool = False


class Streams:
    """Every Media Stream of one worker. Main thread only; the hub starts on the first stream."""

    def __init__(
        self, graph: mg.MediaGraph, applier: Applier, bury: Callable[[Any], None], wake: Callable[[], None], emit: Sink
    ) -> None:
        self.graph = graph
        self.applier = applier
        self.bury = bury
        self.wake = wake
        self.emit = emit
        self.hub: StreamHub | None = None
        self.running: dict[str, _Running] = {}  # by stream_sid

    def _hub(self) -> StreamHub:
        if self.hub is None:
            self.hub = StreamHub(self.wake)
        return self.hub

    def start(self, st: Dialog, cmd: proto.StartStream) -> None:
        """Open the stream (the call's audio is up): the hub connects; the ports join now, so no
        frame of the call is lost while the socket opens (the hub drops what comes before)."""
        if cmd.stream_sid in self.running:
            self.emit(proto.failure(cmd, f"stream {cmd.stream_sid} is already running"))
            return
        sid = st.call_sid
        spec = StreamSpec(
            call_sid=sid,
            account_sid=cmd.account_sid,
            stream_sid=cmd.stream_sid,
            url=cmd.url,
            tracks=tuple(cmd.tracks),
            bidirectional=cmd.bidirectional,
            parameters=tuple(cmd.parameters),
            headers=tuple(cmd.headers),
        )
        handle = self._hub().open(spec)
        run = _Running(sid, handle)
        self.running[cmd.stream_sid] = run
        try:
            for track in spec.tracks:
                tap_port = StreamTapPort(handle, track)
                tap_port.create(f"ms-{cmd.stream_sid}-{track}")
                node = mg.tap(sid, f"{cmd.stream_sid}:{track}")
                self.applier.add(node, tap_port)
                run.nodes.append(node)
                run.ports.append(tap_port)
                graph_track: mg.Track = "inbound" if track == "inbound" else "outbound"
                self.applier.apply(self.graph.start_tap(sid, node.name, graph_track), strict=True)
            if spec.bidirectional and handle.playout is not None:
                feed_port = FeedPort(handle.playout)
                feed_port.create(f"ms-{cmd.stream_sid}-feed")
                node = mg.feed(sid, cmd.stream_sid)
                self.applier.add(node, feed_port)
                run.nodes.append(node)
                run.ports.append(feed_port)
                self.applier.apply(self.graph.start_feed(sid, cmd.stream_sid), strict=True)
        except pj.Error as exc:
            log.error("[%s] stream %s: its ports could not join the bridge: %s", sid, cmd.stream_sid, describe(exc))
            self.emit(proto.Stream(sid, cmd.stream_sid, "error", PORT_FAILED, f"media ports: {describe(exc)}"))
            self._unwire(run, cmd.stream_sid)
            self._hub().close(cmd.stream_sid)  # its "stopped" follows

    def stop(self, st: Dialog, stream_sid: str) -> None:
        run = self.running.get(stream_sid)
        if run is not None and run.call_sid == st.call_sid and self.hub is not None:
            self.hub.close(stream_sid)

    def digit(self, st: Dialog, digit: str) -> None:
        for run in self.running.values():
            if run.call_sid == st.call_sid and run.handle.spec.bidirectional and not run.call_gone:
                run.handle.dtmf(digit)

    def hangup(self, st: Dialog) -> None:
        """The call ended (its port is out of the bridge, the graph has forgotten its nodes):
        close its streams; their ports go to the graveyard now."""
        for stream_sid, run in self.running.items():
            if run.call_sid != st.call_sid or run.call_gone:
                continue
            run.call_gone = True
            for node in run.nodes:
                self.applier.drop(node)
            for port in run.ports:
                self.bury(port)
            run.ports.clear()
            run.nodes.clear()
            if self.hub is not None:
                self.hub.close(stream_sid)

    def poll(self) -> None:
        """Main thread, each tick: the hub's events out as `stream` events; a stopped stream's
        ports leave the bridge."""
        if self.hub is None:
            return
        for ev in self.hub.events():
            self.emit(proto.Stream(ev.call_sid, ev.stream_sid, ev.kind, ev.code, ev.message))
            if ev.kind == "stopped":
                run = self.running.pop(ev.stream_sid, None)
                if run is not None:
                    self._unwire(run, ev.stream_sid)

    def _unwire(self, run: _Running, stream_sid: str) -> None:
        for node in run.nodes:
            if node.kind == "tap":
                self.applier.apply(self.graph.stop_tap(node.call_sid, node.name))
            else:
                self.applier.apply(self.graph.stop_feed(node.call_sid, node.name))
            self.applier.drop(node)
        for port in run.ports:
            self.bury(port)
        run.nodes.clear()
        run.ports.clear()

    def shutdown(self) -> None:
        if self.hub is not None:
            self.hub.shutdown()
