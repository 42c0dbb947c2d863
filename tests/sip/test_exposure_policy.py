"""The SIP guard's policy without SIP (guard.py): who is allowed, what a stranger gets, and a log
line per source address, not per packet."""

from __future__ import annotations

import ipaddress
import logging
import socket

import pytest

from wirexa.sip.guard import PeerPolicy, RefusalLog, method_of, peer_networks, pin_udp_socket, split_hostport

OPTIONS = b"OPTIONS sip:100@10.0.0.5 SIP/2.0\r\nTo: <sip:100@10.0.0.5>\r\nFrom: <sip:a@b>;tag=1\r\n\r\n"


def fake_dns(host: str) -> list[str]:
    if host == "trunk.example.net":
        return ["198.51.100.7", "198.51.100.8"]
    raise socket.gaierror(f"no such host {host}")


def test_peer_networks_take_the_trunk_as_configured(caplog: pytest.LogCaptureFixture) -> None:
    nets = peer_networks(
        ["trunk.example.net:5080", "sip:203.0.113.9;transport=tcp", "192.0.2.0/28", "nowhere.invalid"],
        "10.0.0.5",
        fake_dns,
    )
    assert [str(n) for n in nets] == [
        "127.0.0.1/32",
        "10.0.0.5/32",
        "198.51.100.7/32",
        "198.51.100.8/32",
        "203.0.113.9/32",
        "192.0.2.0/28",
    ]
    assert "nowhere.invalid does not resolve" in caplog.text
    assert [str(n) for n in peer_networks([], "0.0.0.0", fake_dns)] == ["127.0.0.1/32"]


def test_decide_refuses_strangers_and_passes_dialogs() -> None:
    policy = PeerPolicy([ipaddress.IPv4Network("127.0.0.1/32"), ipaddress.IPv4Network("192.0.2.0/28")])
    assert policy.decide("192.0.2.3", OPTIONS, False) == "pass"
    assert policy.decide("127.0.0.2", OPTIONS, False) == "refuse"
    assert policy.decide("192.0.2.16", OPTIONS, False) == "refuse"
    assert policy.decide("203.0.113.1", b"BYE sip:x SIP/2.0\r\n\r\n", True) == "pass"  # pjsip: its dialog, or 481
    assert policy.decide("203.0.113.1", b"ACK sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\n", False) == "drop"
    assert policy.decide("not-an-ip", OPTIONS, False) == "refuse"
    assert method_of(OPTIONS) == "OPTIONS" and method_of(b"\x00\x01 junk") == "?"


def test_refusal_log_once_per_source_per_window(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(logging.getLogger("test.guard"), window_s=600, max_sources=2, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "test.guard")
    for _ in range(500):
        refusals.refused("203.0.113.1", 5060, "INVITE")
    refusals.refused("203.0.113.2", 5061, "OPTIONS")
    assert len(caplog.records) == 2
    now[0] = 601.0
    refusals.refused("203.0.113.1", 5062, "REGISTER")
    assert len(caplog.records) == 3
    assert "499 more from 203.0.113.1 since the last line" in caplog.records[-1].getMessage()
    assert refusals.total == 502
    refusals.refused("203.0.113.3", 5060, "INVITE")  # a third source: the oldest is forgotten
    assert len(refusals.sources) == 2
    assert refusals.malformed("203.0.113.3", 9) is True and refusals.malformed("203.0.113.3", 9) is False


def test_pin_udp_socket_drops_other_sources() -> None:
    assert split_hostport("127.0.0.1:4000") == ("127.0.0.1", 4000)
    assert split_hostport("[::1]:4000") is None and split_hostport("nonsense") is None
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mine,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger,
    ):
        mine.bind(("127.0.0.1", 0))
        peer.bind(("127.0.0.1", 0))
        stranger.bind(("127.0.0.2", 0))
        mine.settimeout(0.5)
        assert pin_udp_socket(mine.getsockname()[1], peer.getsockname())
        stranger.sendto(b"flood", mine.getsockname())
        peer.sendto(b"audio", mine.getsockname())
        assert mine.recvfrom(100) == (b"audio", peer.getsockname())  # the stranger's datagram never arrived
        mine.sendto(b"reply", peer.getsockname())  # pjmedia's sendto() with an address still works
        assert peer.recv(100) == b"reply"
        assert not pin_udp_socket(1, peer.getsockname())  # no socket on that port here
