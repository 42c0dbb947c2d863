"""Behind NAT (issue 23 item 10), for real over loopback: a SIPp trunk whose SDP announces
127.0.0.2 while its RTP comes from 127.0.0.1 gets the call's audio once the worker has latched
onto that source, and strangers (another host, or the same host after the latch) get none;
with public addresses set, the INVITE's Via, Contact and SDP carry them. Plus the latch's
parts: the rule, the source filter on a real socket, and the loop's timers."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from tests.sip.conftest import SipHarness, make_settings
from wirexa.calls.ports import CallAnswered, CallSid
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.sip.bridge import SipBridge
from wirexa.sip.endpoint import Timers
from wirexa.sip.guard import RtpLatch, filter_udp_socket, pin_udp_socket, rtp_networks, unpin_udp_socket, uri_host

SDP_HOST = "127.0.0.2"  # what the trunk's SDP says (NAT: not where its RTP comes from)
STRANGER = "127.0.0.3"  # neither the SDP's host nor a signalling peer


def rtp(seq: int, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc) + b"\xff" * 160


def udp(host: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.setblocking(False)
    return s


def drain(s: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(2048))
        except BlockingIOError:
            return out


async def trunk_call(tmp_path: Path, sipp: Any, rtp_port: int, **settings_kw: Any) -> tuple[SipHarness, CallSid]:
    """A call to a SIPp trunk (nat_uas_answer.xml) that answers with c=SDP_HOST, m=audio rtp_port."""
    settings = make_settings(tmp_path)
    port = settings.sip_port_base + 150
    sipp("nat_uas_answer.xml", port, "-key", "rtp_host", SDP_HOST, "-key", "rtp_port", str(rtp_port), "-trace_msg")
    await asyncio.sleep(0.3)
    settings = make_settings(
        tmp_path, sip_trunk_host=f"127.0.0.1:{port}", sip_port_base=settings.sip_port_base, **settings_kw
    )
    bridge = SipBridge(settings)
    await bridge.__aenter__()
    h = SipHarness(bridge, settings, tmp_path)
    bridge.set_event_sink(h.sink)
    sid = await h.dial("+13125551234")
    await h.wait(sid, CallAnswered)
    return h, sid


def invite(tmp_path: Path) -> str:
    """The INVITE SIPp received, from its -trace_msg log."""
    text = next(tmp_path.glob("nat_uas_answer_*_messages.log")).read_text()
    return text[text.index("INVITE sip:") :].split("\n\n\n", 1)[0]


@pytest.mark.sip
async def test_the_workers_audio_reaches_a_trunk_behind_nat_and_no_stranger(tmp_path: Path, sipp: Any) -> None:
    peer, stranger, neighbour = udp("127.0.0.1"), udp(STRANGER), udp("127.0.0.1")
    peer_port = peer.getsockname()[1]
    h, sid = await trunk_call(tmp_path, sipp, peer_port)
    try:
        worker_rtp = int(re.findall(r"m=audio (\d+)", invite(tmp_path))[0])
        to = ("127.0.0.1", worker_rtp)
        (tmp_path / "tone.wav").write_bytes(wav_bytes(tone_pcm(440, 3000, amplitude=0.3)))
        await h.bridge.play(sid, "p", str(tmp_path / "tone.wav"), 1)
        for i in range(10):  # a stranger first: pjmedia alone would latch onto it at once
            stranger.sendto(rtp(i, 0xBAD), to)
        await asyncio.sleep(0.1)
        got: list[bytes] = []
        for i in range(75):  # 1.5 s of RTP from the trunk's real (NAT) address
            peer.sendto(rtp(i), to)
            if i == 40:  # after the latch: 20 in a row from another port of the same host
                for j in range(20):
                    neighbour.sendto(rtp(j, 0xBAD), to)
            await asyncio.sleep(0.02)
            got += drain(peer)
        await asyncio.sleep(0.2)
        got += drain(peer)
        assert drain(stranger) == [] and drain(neighbour) == []
        assert len(got) >= 60, len(got)  # the call's audio, from the first packets on
        assert any(set(p[12:]) != {0xFF} for p in got)  # the tone, not only silence
        await h.bridge.hangup(sid)
        await h.ended(sid)
    finally:
        await h.bridge.__aexit__(None, None, None)
        for s in (peer, stranger, neighbour):
            s.close()
    log = (tmp_path / "logs" / "sip-worker-0.log.py.log").read_text()
    assert f"RTP latched to 127.0.0.1:{peer_port} (the SDP said {SDP_HOST}:" in log


@pytest.mark.sip
async def test_public_addresses_go_in_via_contact_and_the_sdp(tmp_path: Path, sipp: Any) -> None:
    # TEST-NET-3 addresses: only written in the messages (the trunk answers the INVITE's source)
    h, sid = await trunk_call(tmp_path, sipp, 9, sip_public_address="203.0.113.7", sip_public_rtp_address="203.0.113.8")
    try:
        await h.bridge.hangup(sid)
        await h.ended(sid)
    finally:
        await h.bridge.__aexit__(None, None, None)
    msg, port = invite(tmp_path), h.settings.sip_port_base
    assert f"Via: SIP/2.0/UDP 203.0.113.7:{port};" in msg
    assert f"Contact: <sip:wirexa@203.0.113.7:{port};" in msg
    assert "c=IN IP4 203.0.113.8" in msg and re.search(r"o=.* IN IP4 203\.0\.113\.8", msg)


def test_the_latch_takes_the_first_allowed_source_else_the_sdp_after_the_window() -> None:
    nets = rtp_networks("192.0.2.10", ["198.51.100.1"], [ipaddress.IPv4Network("10.0.0.0/8")])
    latch = RtpLatch(("192.0.2.10", 4000), nets, deadline=10.0)
    assert latch.decide(None, 1.0) is None and latch.decide(("0.0.0.0", 0), 1.0) is None
    assert latch.decide(("198.51.100.1", 31000), 1.0) == ("198.51.100.1", 31000)  # the signalling host (NAT)
    assert latch.decide(("10.9.8.7", 5000), 1.0) == ("10.9.8.7", 5000)  # a network the guard allows
    assert latch.decide(("203.0.113.9", 4000), 1.0) is None  # a stranger: never
    assert latch.decide(("203.0.113.9", 4000), 10.0) == ("192.0.2.10", 4000)  # window over: the SDP's


def test_a_uris_ipv4_host_counts_and_a_name_does_not() -> None:
    assert uri_host("sip:alice@203.0.113.9:5070;transport=udp") == "203.0.113.9"
    assert uri_host("<sip:+15005550100@198.51.100.2>;tag=x") == "198.51.100.2"
    assert uri_host("sip:198.51.100.3") == "198.51.100.3"
    assert uri_host("sip:trunk.example.com:5060") is None and uri_host("sip:1.2.3.4.example.com") is None


def sources(s: socket.socket) -> list[str]:
    time.sleep(0.05)
    got = []
    while True:
        try:
            got.append(s.recvfrom(10)[1][0])
        except BlockingIOError:
            return got


def test_the_source_filter_keeps_only_the_latchs_networks_until_the_pin() -> None:
    # A port bound by number, as pjmedia's are: disconnecting a socket bound to port 0 unbinds it.
    with (
        udp("127.0.0.1", free_udp_block(40000, 60000, 1)) as mine,
        udp("127.0.0.1") as friend,
        udp(STRANGER) as stranger,
    ):
        port, to = mine.getsockname()[1], mine.getsockname()
        assert filter_udp_socket(port, rtp_networks(SDP_HOST, [], [ipaddress.IPv4Network("127.0.0.1/32")]))
        stranger.sendto(b"x", to)
        friend.sendto(b"x", to)
        assert sources(mine) == ["127.0.0.1"]
        assert pin_udp_socket(port, stranger.getsockname())  # the pin replaces the filter
        friend.sendto(b"x", to)
        stranger.sendto(b"x", to)
        assert sources(mine) == [STRANGER]
        assert unpin_udp_socket(port)
        friend.sendto(b"x", to)
        assert sources(mine) == ["127.0.0.1"]
        assert not filter_udp_socket(1, []) and not unpin_udp_socket(1)


def test_timers_run_in_order_when_due() -> None:
    timers, ran = Timers(), []
    timers.call_at(2.0, lambda now: ran.append(("b", now)))
    timers.call_at(1.0, lambda now: ran.append(("a", now)))
    assert timers.next_due() == 1.0
    timers.run_due(0.5)
    assert ran == []
    timers.run_due(3.0)
    assert ran == [("a", 3.0), ("b", 3.0)] and timers.next_due() is None
