"""The conference and queue benches' own parts (bench/conference_bench.py, bench/queue_bench.py):
the room layouts put members where they say (packed: the home's worker full; spread: one member
per worker), SIPp's message trace gives each CallSid its RTP port, the RTP peer (real UDP
sockets on 127.0.0.1) hears tagged clicks once each with their room and latency and counts
missing ones, talks for its talkers only, and the queue bench names the step and the reason
where the ramp stopped."""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.conference_bench import (
    CLICK_EVERY,
    PAUSE_CLICK_EVERY,
    Bench,
    ConfPeer,
    sipp_ports,
)
from bench.queue_bench import ceiling
from bench.rtp_peer import SILENCE, read_tag, tagged

RTP_BASE = 20000


def bench_with(calls_per_worker: list[int]) -> Bench:
    """A Bench whose calls sit in workers 0, 1, ... with these many calls each (no engine)."""
    b = Bench(None, None, None, RTP_BASE, {})  # type: ignore[arg-type]
    n = 0
    for w, count in enumerate(calls_per_worker):
        for k in range(count):
            sid = f"CA{n:032x}"
            b.sids.append(sid)
            b.port[sid] = RTP_BASE + 100 * w + 2 * k
            n += 1
    return b


def test_packed_rooms_fill_the_homes_worker_and_take_the_rest_from_workers_left_over() -> None:
    b = bench_with([4] * 5 + [3] * 2)  # 26 calls
    rooms = b.packed(4, 5)
    assert [len(r) for r in rooms] == [5, 5, 5, 5]
    for r in rooms:
        home = b.worker(r[0])
        assert sum(1 for s in r if b.worker(s) == home) == 4  # the home's 4 calls, one relayed
    assert len({s for r in rooms for s in r}) == 20  # nobody in two rooms


def test_spread_rooms_put_each_member_in_another_worker_and_fill_up_when_workers_run_out() -> None:
    b = bench_with([4] * 6)
    rooms = b.spread(4, 5)
    assert all(len({b.worker(s) for s in r}) == 5 for r in rooms)
    few = bench_with([4, 4, 4])
    rooms = few.spread(2, 5)
    assert [len(r) for r in rooms] == [5, 5]
    assert len({s for r in rooms for s in r}) == 10


def test_one_room_starts_with_a_full_worker_its_home() -> None:
    b = bench_with([2, 4, 3])
    (room,) = b.one_room(8)
    assert len(room) == 8
    assert [b.worker(s) for s in room[:4]] == [1, 1, 1, 1]


def test_sipp_ports_reads_each_invites_callsid_and_sdp_port(tmp_path: Path) -> None:
    sid1, sid2 = "CA" + "1" * 32, "CA" + "2" * 32
    invite = (
        "----------------------------------------------- 2026-12-07\t20:00:18.000\t1.0\n"
        "UDP message received [700] bytes :\n\n"
        "INVITE sip:+14155550001@127.0.0.1:42391 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:42380\n"
        "X-Wirexa-CallSid: {sid}\nContent-Type: application/sdp\n\nv=0\nc=IN IP4 127.0.0.1\n"
        "m=audio {port} RTP/AVP 0 101\n\n"
    )
    answer = (  # SIPp's 200 OK names the peer's port and no CallSid
        "----------------------------------------------- 2026-12-07\t20:00:18.100\t1.1\n"
        "UDP message sent (500 bytes):\n\nSIP/2.0 200 OK\nCSeq: 1 INVITE\n\nm=audio 41234 RTP/AVP 0 101\n\n"
    )
    text = invite.format(sid=sid1, port=20004) + answer + invite.format(sid=sid2, port=20106) + answer
    (tmp_path / "sipp_uas_bench_1_messages.log").write_text(text)
    assert sipp_ports(tmp_path) == {sid1: 20004, sid2: 20106}


def rtp(seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 1234) + payload


def test_the_peer_hears_each_click_once_with_its_room_and_counts_the_missing() -> None:
    peer = ConfPeer(0, SILENCE * 10)
    engine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    engine.bind(("127.0.0.1", 0))
    try:
        to = peer.sock.getsockname()
        sent = time.time_ns() - 5_000_000  # 5 ms ago
        frames = [
            SILENCE,
            tagged(sent, (3 << 20) | 1, sent),
            tagged(sent, (3 << 20) | 1, sent),  # the click's second half in the next frame
            SILENCE,
            tagged(sent, (3 << 20) | 4, sent),  # clicks 2 and 3 never came
        ]
        for seq, payload in enumerate(frames):
            engine.sendto(rtp(seq, payload), to)
        engine.sendto(rtp(7, SILENCE), to)  # 5 and 6 lost
        time.sleep(0.05)
        w = peer.command("w")
        (c,) = w["calls"].values()
        assert c["packets"] == 6 and c["lost"] == 2 and len(c["gaps_us"]) == 5
        assert c["clicks_heard"] == 2 and c["clicks_missing"] == 2 and c["rooms_heard"] == [3]
        assert all(4_000 <= x < 1_000_000 for x in c["lat_us"])  # µs: sent 5 ms before
        assert peer.command("w")["calls"][f"127.0.0.1:{engine.getsockname()[1]}"]["packets"] == 0  # a new window
    finally:
        engine.close()
        peer.sock.close()


def test_the_peer_talks_for_talkers_only_sentence_then_pause_with_tagged_clicks() -> None:
    sentence = bytes([0x20]) * (160 * 30)  # 30 loud frames
    peer = ConfPeer(0, sentence)
    talker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    talker.bind(("127.0.0.1", 0))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    try:
        assert peer.command(f"talk 127.0.0.1:{talker.getsockname()[1]} 7") == "ok"
        other.sendto(rtp(0, SILENCE), peer.sock.getsockname())
        time.sleep(0.02)
        peer.drain()
        for c in peer.calls.values():
            c.slot = 0
        for _ in range(peer.cycle):
            peer.send_slot(time.monotonic(), 0)
        talker.settimeout(1)
        other.settimeout(1)
        kinds: list[str] = []
        for _ in range(peer.cycle):
            payload = talker.recv(2048)[12:]
            tag = read_tag(payload)
            kinds.append("click" if tag else ("speech" if payload[0] == 0x20 else "silence"))
            if tag:
                assert tag[1] >> 20 == 7
        said = 30
        assert kinds[:said].count("click") == said // CLICK_EVERY
        assert kinds[said:].count("click") == (peer.cycle - said) // PAUSE_CLICK_EVERY
        assert Counter(kinds)["speech"] == said - said // CLICK_EVERY
        assert {other.recv(2048)[12:] for _ in range(peer.cycle)} == {SILENCE}  # a listener: silence
    finally:
        talker.close()
        other.close()
        peer.sock.close()


def step(target: int, held: bool, problems: list[str] | None = None) -> dict[str, Any]:
    return {"target": target, "held": held, "problems": problems or []}


def test_the_queue_ceiling_is_the_last_step_held_and_the_first_failures_reason() -> None:
    r: dict[str, Any] = {
        "steps": [step(200, True), step(300, True), step(400, False, ["hold music RTP p99 gap 55 ms"])]
    }
    assert ceiling(r) == {"callers_held": 300, "first_failed_step": 400, "reason": "hold music RTP p99 gap 55 ms"}
    r = {"steps": [step(200, True)], "stopped": "time budget (240 s) spent before step 300"}
    assert ceiling(r) == {
        "callers_held": 200,
        "first_failed_step": None,
        "reason": "time budget (240 s) spent before step 300",
    }
