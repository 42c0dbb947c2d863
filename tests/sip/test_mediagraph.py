"""The media graph on its own (no pjsua2): each operation's link changes, as tables."""

from __future__ import annotations

import itertools

import pytest

from wirexa.sip.mediagraph import (
    DEVICE,
    SILENCE,
    Change,
    Connect,
    Disconnect,
    Link,
    MediaGraph,
    Node,
    call_port,
    feed,
    player,
    recorder,
    recorder_out,
    relay,
    remote,
    room_recorder,
    tap,
)

A, B, C = call_port("A"), call_port("B"), call_port("C")
R = recorder("A", "R1")
RO = recorder_out("A", "R1")
PA = player("A")


def on(*links: tuple[Node, Node]) -> list[Change]:
    return [Connect(Link(s, t)) for s, t in links]


def off(*links: tuple[Node, Node], gone: bool = False) -> list[Change]:
    return [Disconnect(Link(s, t), gone) for s, t in links]


def made(g: MediaGraph) -> set[tuple[Node, Node]]:
    return {(link.src, link.sink) for link in g.links}


def graph(*calls: str) -> MediaGraph:
    g = MediaGraph()
    for sid in calls:
        g.add_call(sid)
    return g


def test_node_names_read_as_paths() -> None:
    assert [str(n) for n in (A, PA, R, RO, tap("A", "amd"), relay("A", "X"), SILENCE)] == [
        "call:A",
        "player:A",
        "recorder:A:R1",
        "recorder_out:A:R1",
        "tap:A:amd",
        "relay:A:X",
        "silence",
    ]
    assert str(Link(A, DEVICE)) == "call:A->device"


def test_a_call_is_connected_to_the_device_and_leaves_gone() -> None:
    g = MediaGraph()
    assert g.add_call("A") == on((A, DEVICE))
    assert g.add_call("A") == []
    assert g.play("A") == on((PA, A))
    assert g.remove_call("A") == off((A, DEVICE), (PA, A), gone=True)
    assert g.links == {} and g.remove_call("A") == []


def test_nothing_happens_to_a_call_without_live_audio() -> None:
    g = graph("A")
    for op in (
        lambda: g.play("B"),
        lambda: g.bridge("A", "B"),
        lambda: g.start_recording("B", "R1"),
        lambda: g.start_tap("B", "amd"),
        lambda: g.open_relay("B", "X"),
        lambda: g.join("room", B),
        lambda: g.bridge("A", "A"),
    ):
        assert op() == []
    assert made(g) == {(A, DEVICE)}


def test_prompt_plays_into_its_call_and_stops() -> None:
    g = graph("A")
    assert g.play("A") == on((PA, A))
    assert g.play("A") == []
    assert g.stop_play("A") == off((PA, A))
    assert g.stop_play("A") == []


def test_a_feed_plays_beside_the_prompt_is_in_the_outbound_track_and_leaves_with_its_call() -> None:
    """A bidirectional stream's server audio (a feed) goes into the call with any prompt, and an
    outbound tap or recording takes it; the call ending takes it away with gone links."""
    g = graph("A")
    FA = feed("A", "MZ1")
    assert g.start_feed("A", "MZ1") == on((FA, A))
    g.play("A")
    assert g.start_tap("A", "out", "outbound") == on((PA, tap("A", "out")), (FA, tap("A", "out")))
    assert g.start_feed("B", "MZ2") == []  # no live audio: nothing
    assert g.stop_feed("A", "MZ1") == off((FA, A), (FA, tap("A", "out")))
    g.start_feed("A", "MZ1")
    assert set(g.remove_call("A")) == set(
        off((A, DEVICE), (PA, A), (FA, A), (PA, tap("A", "out")), (FA, tap("A", "out")), gone=True)
    )
    assert g.feeds == {}


def test_bridge_is_both_ways_and_unbridge_takes_both_down() -> None:
    g = graph("A", "B")
    assert g.bridge("A", "B") == on((B, A), (A, B))
    assert g.bridge("B", "A") == []
    assert g.peers("A") == ["B"] and g.peers("B") == ["A"]
    assert g.unbridge("B", "A") == off((B, A), (A, B))
    assert g.peers("A") == []


def test_a_bridged_call_ending_leaves_its_peer_with_gone_links_only() -> None:
    g = graph("A", "B")
    g.bridge("A", "B")
    assert g.remove_call("B") == off((B, A), (B, DEVICE), (A, B), gone=True)
    assert made(g) == {(A, DEVICE)} and g.rooms == {}


@pytest.mark.parametrize("n", [3, 5])
def test_a_room_of_n_each_member_hears_all_others(n: int) -> None:
    sids = [f"C{i}" for i in range(n)]
    g = graph(*sids)
    for sid in sids:
        g.join("room", call_port(sid))
    pairs = {(call_port(x), call_port(y)) for x, y in itertools.permutations(sids, 2)}
    assert made(g) == pairs | {(call_port(s), DEVICE) for s in sids}
    # one leaves: only its links go, both ways
    changes = g.leave("room", call_port("C0"))
    assert {(c.link.src, c.link.sink) for c in changes} == {p for p in pairs if call_port("C0") in p} and all(
        isinstance(c, Disconnect) and not c.gone for c in changes
    )


def test_a_room_across_workers_relays_hear_local_members_not_each_other() -> None:
    # worker 1 holds A and B; C is in worker 2, D in worker 3: one relay port each
    x, y = relay("A", "w2"), relay("A", "w3")
    g = graph("A", "B")
    for m in (A, B, x, y):
        g.join("room", m)
    assert made(g) - {(A, DEVICE), (B, DEVICE)} == {
        (B, A),
        (x, A),
        (y, A),
        (A, B),
        (x, B),
        (y, B),
        (A, x),
        (B, x),
        (A, y),
        (B, y),
    }
    # the relays are A's to own: A ending takes them too
    g.remove_call("A")
    assert made(g) == {(B, DEVICE)}


def test_mute_stops_others_hearing_the_member_only() -> None:
    g = graph("A", "B", "C")
    for m in (A, B, C):
        g.join("room", m)
    assert g.mute(A) == off((A, B), (A, C))
    assert (B, A) in made(g) and (C, A) in made(g)
    assert g.mute(A, False) == on((A, B), (A, C))


# --- conference rooms: one home worker, remote members over relays ----------------------------

X, Y = remote("X", "conf"), remote("Y", "conf")


def test_a_remote_member_joins_only_once_its_port_is_open() -> None:
    g = graph("A")
    assert g.join("conf", X) == []
    assert g.open_remote("X", "conf") == []
    assert str(X) == "remote:X:conf"
    assert g.join("conf", A) == []
    assert g.join("conf", X) == on((X, A), (A, X))


def test_remote_members_hear_each_other_and_the_local_ones() -> None:
    # home worker holds A and B; X and Y are calls of two other workers
    g = graph("A", "B")
    g.open_remote("X", "conf")
    g.open_remote("Y", "conf")
    assert g.join("conf", A) == []
    assert g.join("conf", X) == on((X, A), (A, X))
    assert g.join("conf", Y) == on((Y, A), (Y, X), (A, Y), (X, Y))
    assert g.join("conf", B) == on((B, A), (A, B), (X, B), (Y, B), (B, X), (B, Y))
    # the room is nobody's call: A ending leaves the others (its links gone), the room stays
    assert g.remove_call("A") == off((A, DEVICE), (X, A), (Y, A), (B, A), (A, B), (A, X), (A, Y), gone=True)
    assert g.members("conf") == [X, Y, B]


def test_a_remote_member_muted_then_closed() -> None:
    g = graph("A")
    g.open_remote("X", "conf")
    g.open_remote("Y", "conf")
    for m in (A, X, Y):
        g.join("conf", m)
    assert g.mute(X) == off((X, A), (X, Y))
    assert g.close_remote("X", "conf") == off((A, X), (Y, X))  # not gone: the port is still there
    assert X not in g.muted and g.members("conf") == [A, Y]
    assert g.close_remote("X", "conf") == []


def test_a_room_recording_takes_the_mix_of_every_member_heard_and_outlives_them() -> None:
    MIX = room_recorder("RE1")
    assert str(MIX) == "room_recorder:RE1"
    g = graph("A", "B", "C")
    g.open_remote("X", "conf")
    for m in (A, B, C, X):
        g.join("conf", m)
    g.mute(B)
    g.coach(C, A)
    # the mix: the members a non-member hears (not the muted one, not the coach), remote ones included
    assert g.start_room_recording("conf", "RE1") == on((A, MIX), (X, MIX), (SILENCE, MIX))
    assert g.mute(B, False) == on((B, A), (B, C), (B, X), (B, MIX))
    assert g.coach(C, None) == on((C, B), (C, X), (C, MIX))
    # a member's call ends: its links are gone; a remote member closes: its links come down
    assert (Link(A, MIX) in g.links) and Disconnect(Link(A, MIX), True) in g.remove_call("A")
    assert Disconnect(Link(X, MIX)) in g.close_remote("X", "conf")
    g.leave("conf", B)
    g.leave("conf", C)
    assert g.members("conf") == [] and made(g) == {(SILENCE, MIX), (B, DEVICE), (C, DEVICE)}
    # the room made again under the same name (nothing else outlives it): its members are in the mix
    assert g.join("conf", B) == on((B, MIX))
    assert g.stop_room_recording("RE1") == off((B, MIX), (SILENCE, MIX))
    assert g.stop_room_recording("RE1") == []


def test_a_coach_is_heard_by_the_coached_member_only() -> None:
    g = graph("A", "B", "C")
    g.open_remote("X", "conf")
    for m in (A, B, C, X):
        g.join("conf", m)
    assert g.coach(C, A) == off((C, B), (C, X))
    assert g.heard_by(A) == [B, C, X] and C not in g.heard_by(B)
    assert g.coach(X, C) == off((X, A), (X, B))  # a remote coach, a coach coached
    assert g.coach(C, None) == on((C, B), (C, X))
    assert g.leave("conf", X) == off((X, C), (A, X), (B, X), (C, X))
    assert g.coaching == {}


def test_a_coach_whose_call_ends_or_whose_coached_leaves_is_heard_by_all_again() -> None:
    g = graph("A", "B", "C")
    for m in (A, B, C):
        g.join("conf", m)
    g.coach(C, A)
    assert g.leave("conf", A) == off((B, A), (C, A), (A, B), (A, C)) + on((C, B))
    g.join("conf", A)
    g.coach(A, B)
    assert g.remove_call("B") == off((B, A), (B, DEVICE), (C, B), (A, B), (B, C), gone=True) + on((A, C))


def test_relay_to_another_worker_is_a_room_of_the_call_and_its_port() -> None:
    x = relay("A", "B")
    g = graph("A")
    assert g.open_relay("A", "B") == on((x, A), (A, x))
    assert g.outbound("A") == [x]
    assert g.close_relay("A", "B") == off((x, A), (A, x))


def test_relay_closed_by_the_call_ending_is_gone() -> None:
    g = graph("A")
    g.open_relay("A", "B")
    assert g.remove_call("A") == off((A, DEVICE), (relay("A", "B"), A), (A, relay("A", "B")), gone=True)


# --- recordings: the rules worker.py has always wired --------------------------------------------

# (track, whole, dual, paused, with a prompt and a bridged B) -> the recorder links of recording R1
RECORDING_TABLE: list[tuple[str, bool, bool, str, set[tuple[Node, Node]]]] = [
    ("inbound", False, False, "", {(A, R)}),
    ("inbound", True, False, "", {(A, R), (SILENCE, R)}),
    ("outbound", True, False, "", {(PA, R), (B, R), (SILENCE, R)}),
    ("both", True, False, "", {(A, R), (PA, R), (B, R), (SILENCE, R)}),
    ("both", True, True, "", {(A, R), (PA, RO), (B, RO), (SILENCE, R), (SILENCE, RO)}),
    ("outbound", True, True, "", {(PA, RO), (B, RO), (SILENCE, R), (SILENCE, RO)}),
    ("both", True, False, "silence", {(SILENCE, R)}),
    ("both", True, True, "silence", {(SILENCE, R), (SILENCE, RO)}),
    ("both", True, True, "skip", set()),
    ("inbound", True, False, "skip", set()),
]


@pytest.mark.parametrize(("track", "whole", "dual", "paused", "links"), RECORDING_TABLE)
def test_recording_sources(track: str, whole: bool, dual: bool, paused: str, links: set[tuple[Node, Node]]) -> None:
    g = graph("A", "B")
    g.play("A")
    g.bridge("A", "B")
    base = made(g)
    g.start_recording("A", "R1", track=track, whole=whole, dual=dual)  # type: ignore[arg-type]
    if paused:
        g.pause_recording("A", "R1", paused)  # type: ignore[arg-type]
    assert made(g) - base == links
    g.resume_recording("A", "R1")
    g.stop_recording("A", "R1")
    assert made(g) == base


def test_record_mixed_with_another_call() -> None:
    g = graph("A", "B")
    assert g.start_recording("A", "R1", mixed=B) == on((A, R), (B, R))
    # the mixed call ending takes its link (gone) and only that
    assert g.remove_call("B") == off((B, DEVICE), (B, R), gone=True)
    assert made(g) == {(A, DEVICE), (A, R)}


def test_record_mixed_with_a_relay_loses_it_when_the_relay_closes() -> None:
    x = relay("A", "B")
    g = graph("A")
    g.open_relay("A", "B")
    assert g.start_recording("A", "R1", mixed=x) == on((A, R), (x, R))
    assert g.close_relay("A", "B") == off((x, A), (A, x), (x, R))
    assert g.open_relay("A", "B") == on((x, A), (A, x))  # not mixed again


def test_outbound_recording_follows_prompts_bridges_and_relays() -> None:
    g = graph("A", "B")
    assert g.start_recording("A", "R1", track="outbound", whole=True) == on((SILENCE, R))
    assert g.play("A") == on((PA, A), (PA, R))
    assert g.stop_play("A") == off((PA, A), (PA, R))
    assert g.bridge("A", "B") == on((B, A), (A, B), (B, R))
    assert g.open_relay("A", "X") == on((relay("A", "X"), A), (A, relay("A", "X")), (relay("A", "X"), R))
    assert g.unbridge("A", "B") == off((B, A), (A, B), (B, R))


def test_pause_and_resume_switch_between_the_rules() -> None:
    g = graph("A")
    g.play("A")
    g.start_recording("A", "R1", track="both", whole=True)
    assert g.pause_recording("A", "R1", "silence") == off((A, R), (PA, R))
    assert g.pause_recording("A", "R1", "skip") == []  # already paused
    assert g.resume_recording("A", "R1") == on((A, R), (PA, R))
    assert g.resume_recording("A", "R1") == []
    assert g.pause_recording("A", "R1", "skip") == off((A, R), (PA, R), (SILENCE, R))
    assert g.resume_recording("A", "R1") == on((A, R), (PA, R), (SILENCE, R))
    assert g.pause_recording("A", "nope", "skip") == [] and g.resume_recording("A", "nope") == []


def test_recordings_of_an_ended_call_are_gone() -> None:
    g = graph("A")
    g.start_recording("A", "R1", whole=True, dual=True, track="both")
    assert g.remove_call("A") == off((A, DEVICE), (A, R), (SILENCE, R), (SILENCE, RO), gone=True)
    assert g.recordings == {}


# --- taps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("track", "links"),
    [
        ("inbound", {(A, tap("A", "t"))}),
        ("outbound", {(PA, tap("A", "t")), (B, tap("A", "t"))}),
        ("both", {(A, tap("A", "t")), (PA, tap("A", "t")), (B, tap("A", "t"))}),
    ],
)
def test_tap_tracks(track: str, links: set[tuple[Node, Node]]) -> None:
    g = graph("A", "B")
    g.play("A")
    g.bridge("A", "B")
    base = made(g)
    g.start_tap("A", "t", track)  # type: ignore[arg-type]
    assert made(g) - base == links
    assert {(c.link.src, c.link.sink) for c in g.stop_tap("A", "t")} == links


def test_amd_tap_on_the_inbound_track() -> None:
    g = graph("A")
    assert g.start_tap("A", "amd") == on((A, tap("A", "amd")))
    assert g.stop_tap("A", "amd") == off((A, tap("A", "amd")))
    assert g.stop_tap("A", "amd") == []


def test_changes_disconnect_before_they_connect() -> None:
    g = graph("A", "B")
    g.play("A")
    g.players.add("B")  # a fact changed without its update: the next one carries both kinds
    assert g.stop_play("A") == [*off((PA, A)), *on((player("B"), B))]
