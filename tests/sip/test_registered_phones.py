"""runtime.RegisteredPhones: where <Dial><Client>alice</Client> rings alice's registered phones
(the front's registrar): a UDP registration at the address its REGISTER came from (through a
NAT), a TCP/TLS one at its Contact; none before the front starts, none once expired."""

from __future__ import annotations

from wirexa.runtime import RegisteredPhones
from wirexa.sip.front import Registrar, Request, parse


def register(registrar: Registrar, contact: str, source: str, transport: str = "udp") -> None:
    message = parse(
        (
            "REGISTER sip:wirexa SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1\r\n"
            "From: <sip:alice@wirexa>;tag=1\r\nTo: <sip:alice@wirexa>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <{contact}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, Request)
    assert registrar.register("alice", message, source, transport).code == 200  # type: ignore[arg-type]


def test_phones_are_rung_where_they_can_be_reached() -> None:
    now = [1000.0]
    phones = RegisteredPhones()
    assert phones.reach("alice") == []  # no front yet
    phones.registrar = Registrar(lambda: now[0])
    register(phones.registrar, "sip:alice@10.0.0.5:5060", "198.51.100.7:40001")  # behind a NAT
    register(phones.registrar, "sip:alice@192.0.2.9:5062;transport=tcp", "192.0.2.9:51234", "tcp")
    assert sorted(phones.reach("alice")) == ["sip:alice@192.0.2.9:5062;transport=tcp", "sip:alice@198.51.100.7:40001"]
    assert phones.reach("bob") == []
    now[0] += 301
    assert phones.reach("alice") == []
