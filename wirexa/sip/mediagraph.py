"""PURE: the media of one worker's calls as data, and the link changes each change to it needs.

Theory of operation. A worker's conference bridge is a set of ports and one-way links
(`src` transmits into `sink`). This module holds those ports as `Node`s and the wanted links as
a function of a few facts: which calls have live audio, which prompt plays to which call, which
rooms exist and who is in them (and muted), which recordings and taps run and how. Every
operation changes the facts, recomputes the wanted links and answers with the difference: the
`Disconnect`s first, then the `Connect`s, each in a stable order. The worker applies them
(applier.py: startTransmit / stopTransmit on its main thread); nothing here touches a port.

The rules (what the worker has always wired):
- a live call's port transmits into the null playback device (RFC 2833 digits flow only while
  the port is connected);
- a prompt transmits into its call, and so does a feed (the audio a bidirectional Media Stream's
  server sends: it plays beside any prompt, as Twilio's does);
- in a room each member hears every other unmuted member. Members are call ports and relay
  ports (the audio of calls in other workers); relays never hear relays, since every worker
  of a room relays its own members to every other one. A bridge of two calls is a room of two;
  a relay to a call in another worker is a room of the local call and its relay;
- a conference room lives in one worker (its home); a participant whose call is in another
  worker is a `remote` member there: a relay port owned by no local call (opened and closed by
  the pool), heard by and hearing every other member, remote ones included (unlike relays,
  nothing else carries their audio to each other). Its call's own worker holds the call and a
  relay port in a room of two. A coaching member is heard only by the member it coaches;
- a call's inbound track is its own port (what the far end says); its outbound track is every
  source transmitting into the call (its prompt, its feeds and whom it hears in rooms);
- a recording takes its track(s) ("inbound", "outbound", "both"; dual channel writes the
  outbound track to a second recorder) and, for <Record>/<Dial record>, the port it is mixed
  with. A call recording (`whole`) also takes the null device's silence (conference slot 0)
  into each of its recorders, so its files keep time while nothing else is connected. Paused
  with "silence" it keeps only that silence; paused with "skip" it takes nothing at all (a
  recorder with no source is given no frames, so the paused time is left out);
- a tap takes its call's inbound track, outbound track, or both;
- a room recording (<Conference record>) takes the room's mix: every member heard in the room
  (not muted, not coaching: what a listener who is no member would hear), remote members
  included, and the silence that keeps its file in time. It belongs to no call and outlives
  the room's members: it ends only when stopped.
A call that ends takes every node it owns with it, and the links that touched them come back
with `gone` set: pjsua has already taken the call's port out of the bridge, and the owner
drops the other ports, so nothing is to be disconnected by hand (touching a dead call's port
asserts in pjmedia).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

NodeKind: TypeAlias = Literal[
    "call", "player", "feed", "recorder", "recorder_out", "room_recorder", "tap", "relay", "remote", "silence", "device"
]
Track: TypeAlias = Literal["inbound", "outbound", "both"]
Pause: TypeAlias = Literal["", "skip", "silence"]


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """One port of the bridge: its kind, the call it belongs to ("" for the worker's own) and
    its name within the call (a recording id, a tap name, the peer of a relay)."""

    kind: NodeKind
    call_sid: str = ""
    name: str = ""

    def __str__(self) -> str:
        return ":".join(p for p in (self.kind, self.call_sid, self.name) if p)


SILENCE = Node("silence")  # conference slot 0, the null sound device's capture: silence every 20 ms
DEVICE = Node("device")  # the null sound device's playback port


def call_port(call_sid: str) -> Node:
    return Node("call", call_sid)


def player(call_sid: str) -> Node:
    return Node("player", call_sid)


def feed(call_sid: str, name: str) -> Node:
    """Audio from outside the bridge played into the call (a Media Stream's server's)."""
    return Node("feed", call_sid, name)


def recorder(call_sid: str, rec_id: str) -> Node:
    return Node("recorder", call_sid, rec_id)


def recorder_out(call_sid: str, rec_id: str) -> Node:
    """The second recorder of a dual-channel recording: the outbound track."""
    return Node("recorder_out", call_sid, rec_id)


def room_recorder(rec_id: str) -> Node:
    """The recorder of a room's mix (owned by no call)."""
    return Node("room_recorder", "", rec_id)


def tap(call_sid: str, name: str) -> Node:
    return Node("tap", call_sid, name)


def relay(call_sid: str, peer: str) -> Node:
    """The relay port carrying `call_sid`'s audio to, and `peer`'s from, another worker."""
    return Node("relay", call_sid, peer)


def remote(call_sid: str, room: str) -> Node:
    """The relay port carrying `call_sid`'s audio (a call in another worker) into `room` of this
    worker, and the room's to it."""
    return Node("remote", call_sid, room)


@dataclass(frozen=True, slots=True, order=True)
class Link:
    src: Node
    sink: Node

    def __str__(self) -> str:
        return f"{self.src}->{self.sink}"


@dataclass(frozen=True, slots=True)
class Connect:
    link: Link


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Take a link down; with `gone`, one of its ports is already out of the bridge: forget it."""

    link: Link
    gone: bool = False


Change: TypeAlias = Connect | Disconnect


@dataclass(slots=True)
class _Recording:
    call_sid: str
    rec_id: str
    track: Track
    whole: bool
    dual: bool
    mixed: Node | None
    paused: Pause = ""


@dataclass(slots=True)
class _Tap:
    call_sid: str
    name: str
    track: Track


@dataclass(slots=True)
class _Room:
    members: list[Node] = field(default_factory=list)  # in the order they joined


def _pair_room(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"bridge:{x}:{y}"


def _relay_room(call_sid: str, peer: str) -> str:
    return f"relay:{call_sid}:{peer}"


class MediaGraph:
    """The facts and the links of one worker's bridge. Every operation returns the changes
    (possibly none) that bring the bridge from the links before it to the links after it.
    Operations naming a call without live audio change nothing (the worker holds such
    commands until the call's media is up). Not thread-safe: the worker's main thread owns it."""

    def __init__(self) -> None:
        self.calls: list[str] = []  # calls with live audio, in the order it came up
        self.players: set[str] = set()
        self.feeds: dict[tuple[str, str], None] = {}  # (call, name), in the order they started
        self.rooms: dict[str, _Room] = {}
        self.muted: set[Node] = set()
        self.remotes: dict[Node, None] = {}  # open remote members' ports, in the order they opened
        self.coaching: dict[Node, Node] = {}  # coach -> the member it coaches (heard only by it)
        self.recordings: dict[tuple[str, str], _Recording] = {}
        self.taps: dict[tuple[str, str], _Tap] = {}
        self.room_recordings: dict[str, str] = {}  # rec_id -> the room whose mix it records
        self.links: dict[Link, None] = {}  # wanted and (once applied) made, in a stable order

    # --- queries --------------------------------------------------------------------------------

    def live(self, call_sid: str) -> bool:
        return call_sid in self.calls

    def members(self, room: str) -> list[Node]:
        r = self.rooms.get(room)
        return list(r.members) if r is not None else []

    def heard_by(self, node: Node) -> list[Node]:
        """The room members `node` hears, in a stable order, each once."""
        heard: dict[Node, None] = {}
        for r in self.rooms.values():
            if node not in r.members:
                continue
            for m in r.members:
                if m == node or m in self.muted or (m.kind == "relay" and node.kind == "relay"):
                    continue
                if m in self.coaching and self.coaching[m] != node:
                    continue
                heard[m] = None
        return list(heard)

    def outbound(self, call_sid: str) -> list[Node]:
        """What the call is sent: its prompt, then whom it hears."""
        sources = [player(call_sid)] if call_sid in self.players else []
        sources += [feed(c, n) for c, n in self.feeds if c == call_sid]
        return sources + self.heard_by(call_port(call_sid))

    def peers(self, call_sid: str) -> list[str]:
        """The local calls `call_sid` shares a room with."""
        me = call_port(call_sid)
        found: dict[str, None] = {}
        for r in self.rooms.values():
            if me in r.members:
                for m in r.members:
                    if m.kind == "call" and m != me:
                        found[m.call_sid] = None
        return list(found)

    # --- calls ----------------------------------------------------------------------------------

    def add_call(self, call_sid: str) -> list[Change]:
        """The call's audio is up."""
        if call_sid in self.calls:
            return []
        self.calls.append(call_sid)
        return self._update()

    def remove_call(self, call_sid: str) -> list[Change]:
        """The call ended: it and everything it owns (prompt, recordings, taps, relays, its
        place in rooms) leave; their links come back as `Disconnect(gone=True)`."""
        if call_sid not in self.calls:
            return []
        self.calls.remove(call_sid)
        self.players.discard(call_sid)
        self.feeds = {k: None for k in self.feeds if k[0] != call_sid}
        self.recordings = {k: r for k, r in self.recordings.items() if r.call_sid != call_sid}
        self.taps = {k: t for k, t in self.taps.items() if t.call_sid != call_sid}
        for name in list(self.rooms):
            if name.startswith(_relay_room(call_sid, "")):
                del self.rooms[name]
        for name, r in list(self.rooms.items()):
            r.members = [m for m in r.members if m.call_sid != call_sid]
            if name.startswith("bridge:") and len(r.members) < 2:
                del self.rooms[name]
            elif not r.members:
                del self.rooms[name]
        self.muted = {m for m in self.muted if m.call_sid != call_sid}
        self._drop_coaching(lambda node: node.kind != "remote" and node.call_sid == call_sid)
        for rec in self.recordings.values():
            if rec.mixed is not None and rec.mixed.call_sid == call_sid:
                rec.mixed = None
        return self._update(gone=call_sid)

    # --- prompts --------------------------------------------------------------------------------

    def play(self, call_sid: str) -> list[Change]:
        """A prompt (the call's player node) starts playing to the call."""
        if call_sid not in self.calls:
            return []
        self.players.add(call_sid)
        return self._update()

    def stop_play(self, call_sid: str) -> list[Change]:
        self.players.discard(call_sid)
        return self._update()

    def start_feed(self, call_sid: str, name: str) -> list[Change]:
        """A feed (its `feed` node) starts playing into the call, beside any prompt."""
        if call_sid not in self.calls:
            return []
        self.feeds[(call_sid, name)] = None
        return self._update()

    def stop_feed(self, call_sid: str, name: str) -> list[Change]:
        self.feeds.pop((call_sid, name), None)
        return self._update()

    # --- rooms ----------------------------------------------------------------------------------

    def bridge(self, a: str, b: str) -> list[Change]:
        """Each of two local calls hears the other (a room of two)."""
        if a == b or a not in self.calls or b not in self.calls:
            return []
        room = _pair_room(a, b)
        if room not in self.rooms:
            self.rooms[room] = _Room([call_port(a), call_port(b)])
        return self._update()

    def unbridge(self, a: str, b: str) -> list[Change]:
        self.rooms.pop(_pair_room(a, b), None)
        return self._update()

    def join(self, room: str, member: Node) -> list[Change]:
        """`member` (a live call's port, a relay, or an open remote member) joins `room`, created
        on first use."""
        if member.kind == "remote":
            if member not in self.remotes:
                return []
        elif member.call_sid not in self.calls or member.kind not in ("call", "relay"):
            return []
        r = self.rooms.setdefault(room, _Room())
        if member not in r.members:
            r.members.append(member)
        return self._update()

    def leave(self, room: str, member: Node) -> list[Change]:
        """`member` leaves `room` (deleted once empty); it coaches nobody any more, nor is coached."""
        r = self.rooms.get(room)
        if r is not None and member in r.members:
            r.members.remove(member)
            if not r.members:
                del self.rooms[room]
        self._drop_coaching(lambda node: node == member)
        return self._update()

    def coach(self, member: Node, coached: Node | None) -> list[Change]:
        """`member` is heard only by `coached` (None: by everyone again)."""
        if coached is None or coached == member:
            self.coaching.pop(member, None)
        else:
            self.coaching[member] = coached
        return self._update()

    def _drop_coaching(self, matches: Callable[[Node], bool]) -> None:
        self.coaching = {c: d for c, d in self.coaching.items() if not matches(c) and not matches(d)}

    def open_remote(self, call_sid: str, room: str) -> list[Change]:
        """A remote member's port is in the bridge (not yet in its room: join() it)."""
        self.remotes[remote(call_sid, room)] = None
        return []

    def close_remote(self, call_sid: str, room: str) -> list[Change]:
        """The remote member leaves its room and its port goes: every link to it comes down."""
        node = remote(call_sid, room)
        if node not in self.remotes:
            return []
        del self.remotes[node]
        self.muted.discard(node)
        return self.leave(room, node)

    def mute(self, member: Node, muted: bool = True) -> list[Change]:
        """A muted member is heard by nobody in its rooms (it still hears them)."""
        if muted:
            self.muted.add(member)
        else:
            self.muted.discard(member)
        return self._update()

    def open_relay(self, call_sid: str, peer: str) -> list[Change]:
        """A relay port to `peer` (a call in another worker) and the call hear each other."""
        if call_sid not in self.calls:
            return []
        self.rooms[_relay_room(call_sid, peer)] = _Room([call_port(call_sid), relay(call_sid, peer)])
        return self._update()

    def close_relay(self, call_sid: str, peer: str) -> list[Change]:
        """The relay leaves; a recording mixed with it loses that source."""
        self.rooms.pop(_relay_room(call_sid, peer), None)
        gone = relay(call_sid, peer)
        for rec in self.recordings.values():
            if rec.mixed == gone:
                rec.mixed = None
        return self._update()

    # --- recordings -----------------------------------------------------------------------------

    def start_recording(
        self,
        call_sid: str,
        rec_id: str,
        *,
        track: Track = "inbound",
        whole: bool = False,
        dual: bool = False,
        mixed: Node | None = None,
    ) -> list[Change]:
        """A recording (its `recorder` node, and `recorder_out` when `dual`) starts."""
        if call_sid not in self.calls:
            return []
        self.recordings[(call_sid, rec_id)] = _Recording(call_sid, rec_id, track, whole, dual, mixed)
        return self._update()

    def pause_recording(self, call_sid: str, rec_id: str, behavior: Literal["skip", "silence"]) -> list[Change]:
        rec = self.recordings.get((call_sid, rec_id))
        if rec is None or rec.paused:
            return []
        rec.paused = behavior
        return self._update()

    def resume_recording(self, call_sid: str, rec_id: str) -> list[Change]:
        rec = self.recordings.get((call_sid, rec_id))
        if rec is None or not rec.paused:
            return []
        rec.paused = ""
        return self._update()

    def stop_recording(self, call_sid: str, rec_id: str) -> list[Change]:
        self.recordings.pop((call_sid, rec_id), None)
        return self._update()

    def start_room_recording(self, room: str, rec_id: str) -> list[Change]:
        """A recording of `room`'s mix (its `room_recorder` node) starts; the room need not
        exist yet, nor have members (the file then holds silence)."""
        self.room_recordings[rec_id] = room
        return self._update()

    def stop_room_recording(self, rec_id: str) -> list[Change]:
        self.room_recordings.pop(rec_id, None)
        return self._update()

    def mix(self, room: str) -> list[Node]:
        """The members heard in `room` by a listener who is no member: not muted, not coaching."""
        return [m for m in self.members(room) if m not in self.muted and m not in self.coaching]

    # --- taps -----------------------------------------------------------------------------------

    def start_tap(self, call_sid: str, name: str, track: Track = "inbound") -> list[Change]:
        if call_sid not in self.calls:
            return []
        self.taps[(call_sid, name)] = _Tap(call_sid, name, track)
        return self._update()

    def stop_tap(self, call_sid: str, name: str) -> list[Change]:
        self.taps.pop((call_sid, name), None)
        return self._update()

    # --- the links ------------------------------------------------------------------------------

    def wanted(self) -> list[Link]:
        """Every link the facts call for, in a stable order."""
        links: dict[Link, None] = {}

        def add(src: Node, sink: Node) -> None:
            links[Link(src, sink)] = None

        for sid in self.calls:
            add(call_port(sid), DEVICE)
            if sid in self.players:
                add(player(sid), call_port(sid))
            for c, n in self.feeds:
                if c == sid:
                    add(feed(c, n), call_port(sid))
            for heard in self.heard_by(call_port(sid)):
                add(heard, call_port(sid))
        for r in self.rooms.values():
            for m in r.members:
                if m.kind in ("relay", "remote"):
                    for heard in self.heard_by(m):
                        add(heard, m)
        for rec in self.recordings.values():
            for src, sink in self._recording_links(rec):
                add(src, sink)
        for rec_id, room in self.room_recordings.items():
            sink = room_recorder(rec_id)
            for member in self.mix(room):
                add(member, sink)
            add(SILENCE, sink)
        for t in self.taps.values():
            sink = tap(t.call_sid, t.name)
            if t.track in ("inbound", "both"):
                add(call_port(t.call_sid), sink)
            if t.track in ("outbound", "both"):
                for src in self.outbound(t.call_sid):
                    add(src, sink)
        return list(links)

    def _recording_links(self, rec: _Recording) -> list[tuple[Node, Node]]:
        if rec.paused == "skip":
            return []
        sid = rec.call_sid
        main = recorder(sid, rec.rec_id)
        out = recorder_out(sid, rec.rec_id) if rec.dual else main
        links: list[tuple[Node, Node]] = []
        if not rec.paused:
            if rec.track in ("inbound", "both"):
                links.append((call_port(sid), main))
            if rec.mixed is not None:
                links.append((rec.mixed, main))
            if rec.track in ("outbound", "both"):
                links += [(src, out) for src in self.outbound(sid)]
        if rec.whole:
            links.append((SILENCE, main))
            if rec.dual:
                links.append((SILENCE, out))
        return links

    def _update(self, gone: str | None = None) -> list[Change]:
        want = self.wanted()
        want_set = set(want)
        changes: list[Change] = []
        for link in self.links:
            if link not in want_set:
                dead = gone is not None and gone in (link.src.call_sid, link.sink.call_sid)
                changes.append(Disconnect(link, dead))
        have = self.links
        changes += [Connect(link) for link in want if link not in have]
        self.links = dict.fromkeys(want)
        return changes
