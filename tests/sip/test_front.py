"""The inbound front's pure core (wirexa/sip/front.py): fixed clocks, no sockets."""

from __future__ import annotations

import pytest

from wirexa.sip.front import (
    BranchMap,
    Credential,
    Digest,
    ParseError,
    Registrar,
    Request,
    Response,
    Route,
    SourcePolicy,
    StreamFramer,
    authorize,
    claimed_username,
    derive_branch,
    digest_response,
    forward_request,
    mark_received,
    params_of,
    parse,
    parse_digest,
    parse_via,
    pop_our_via,
    response_target,
    response_to,
    serialize,
    split_commas,
    trunk_hostname,
    uri_of,
    user_of,
)

SECRET = b"k" * 32
NOW = 1_800_000_000.0


def req(
    method: str = "INVITE",
    *extra: str,
    branch: str = "z9hG4bKabc",
    via: str = "SIP/2.0/UDP 10.0.0.5:5060",
    to_tag: str = "",
    body: str = "",
) -> Request:
    lines = [
        f"{method} sip:+15005550100@front.example SIP/2.0",
        f"Via: {via};branch={branch}",
        "From: <sip:+14155550123@carrier.example>;tag=f1",
        f"To: <sip:+15005550100@front.example>{';tag=' + to_tag if to_tag else ''}",
        "Call-ID: call-1@carrier",
        f"CSeq: 7 {method}",
        "Max-Forwards: 70",
        *extra,
        f"Content-Length: {len(body)}",
        "",
        body,
    ]
    msg = parse("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


# --- messages ---------------------------------------------------------------------------------------


def test_compact_forms_multi_value_via_folding_and_the_body() -> None:
    raw = (
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1, SIP/2.0/TCP b.example;branch=z9hG4bK2\r\n"
        b"Via: SIP/2.0/UDP c.example;branch=z9hG4bK3\r\n"
        b"f: <sip:alice@example.com>;tag=9\r\n"
        b"t: sip:bob@example.com\r\n"
        b"i: abc@host\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"m: <sip:alice@10.0.0.1>\r\n"
        b"Subject: a long\r\n  folded line\r\n"
        b"c: application/sdp\r\n"
        b"l: 5\r\n\r\nhello and more"
    )
    msg = parse(raw)
    assert isinstance(msg, Request) and msg.method == "INVITE" and msg.uri == "sip:bob@example.com"
    assert [parse_via(v).host for v in msg.get_all("via")] == ["a.example", "b.example", "c.example"]
    assert msg.get("Call-ID") == "abc@host" and msg.get("i") == "abc@host"
    assert msg.get("contact") == "<sip:alice@10.0.0.1>"
    assert msg.get("subject") == "a long folded line"
    assert msg.body == b"hello"  # Content-Length, not the rest of the datagram
    again = parse(serialize(msg))
    assert again.get_all("via") == msg.get_all("via") and again.body == b"hello"
    assert serialize(msg).count(b"Content-Length") == 1


def test_a_datagram_without_content_length_has_the_rest_as_body_and_responses_parse() -> None:
    raw = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\nabc"
    msg = parse(raw)
    assert isinstance(msg, Response) and msg.code == 180 and msg.reason == "Ringing" and msg.body == b"abc"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"hello world\r\n\r\n",
        b"INVITE sip:x SIP/3.0\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",  # no Via
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: a\r\nTo: b\r\nCall-ID: x\r\nCSeq: one INVITE\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: a\r\nTo: b\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 99\r\n\r\nshort",
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: a\r\nTo: b\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: -1\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\n folded first\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nno colon here\r\n\r\n",
        b"SIP/2.0 2000 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n",
    ],
)
def test_garbage_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_the_stream_framer_cuts_messages_across_chunks_and_counts_pings() -> None:
    one = serialize(req(body="v=0\r\n"))
    two = serialize(req("OPTIONS"))
    stream = b"\r\n\r\n" + one + b"\r\n\r\n" + two
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out += framer.feed(stream[i : i + 7])
    assert out == [one, two] and framer.pings == 2
    assert parse(out[0]).body == b"v=0\r\n"


def test_the_stream_framer_gives_up_on_an_endless_header_or_a_huge_body() -> None:
    with pytest.raises(ParseError):
        StreamFramer().feed(b"INVITE sip:x SIP/2.0\r\n" + b"a" * 20000)
    with pytest.raises(ParseError):
        StreamFramer().feed(b"INVITE sip:x SIP/2.0\r\nContent-Length: 9999999\r\n\r\n")


def test_header_value_helpers() -> None:
    assert split_commas('"Smith, J" <sip:j@x;a=b,c>;q=1, <sip:k@y>') == ['"Smith, J" <sip:j@x;a=b,c>;q=1', "<sip:k@y>"]
    assert params_of("<sip:a@b;transport=tcp>;expires=60;q=0.5") == {"expires": "60", "q": "0.5"}
    assert params_of("sip:a@b;expires=60") == {"expires": "60"}
    assert uri_of('"A" <sip:a@b;transport=tcp>;expires=60') == "sip:a@b;transport=tcp"
    assert uri_of("sip:a@b;expires=60") == "sip:a@b"
    assert user_of("sip:alice@wirexa") == "alice"
    assert user_of("sips:alice:pw@wirexa:5061") == "alice"
    assert user_of("tel:+15005550100;phone-context=x") == "+15005550100"
    assert user_of("sip:wirexa") == ""


# --- Via, branch, forwarding ---------------------------------------------------------------------------


def test_via_parsing_and_where_a_response_goes() -> None:
    via = parse_via("SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bKa;rport=40000;received=203.0.113.9")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "10.0.0.5", 5080, "z9hG4bKa")
    assert response_target(via) == ("203.0.113.9", 40000)
    assert response_target(parse_via("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa")) == ("10.0.0.5", 5060)
    assert response_target(parse_via("SIP/2.0/TLS pbx.example;branch=z9hG4bKa;received=1.2.3.4")) == ("1.2.3.4", 5061)
    assert parse_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa").host == "2001:db8::1"
    with pytest.raises(ParseError):
        parse_via("HTTP/1.1 nonsense")


def test_the_senders_via_gets_rport_always_and_received_when_it_lies() -> None:
    behind_nat = mark_received("SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport", "203.0.113.9", 41000)
    assert behind_nat == "SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport=41000;received=203.0.113.9"
    honest = mark_received("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa", "10.0.0.5", 5060)
    assert honest == "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;rport=5060"


def test_the_branch_is_the_same_for_a_retransmission_its_cancel_and_its_ack_and_differs_per_connection() -> None:
    invite = derive_branch(SECRET, req())
    assert invite.startswith("z9hG4bK") and invite != "z9hG4bKabc"
    assert derive_branch(SECRET, req()) == invite
    assert derive_branch(SECRET, req("CANCEL")) == invite
    assert derive_branch(SECRET, req("ACK", to_tag="t9")) == invite
    assert derive_branch(SECRET, req(branch="z9hG4bKother")) != invite
    assert derive_branch(SECRET, req(), "tcp:1") != derive_branch(SECRET, req(), "tcp:2")
    assert derive_branch(b"another secret" * 3, req()) != invite
    # RFC 2543 senders (no magic cookie): the transaction's identity, method and To tag left out
    old = derive_branch(SECRET, req(branch="1234"))
    assert derive_branch(SECRET, req("ACK", branch="1234", to_tag="t9")) == old
    assert derive_branch(SECRET, req("CANCEL", branch="1234")) == old


def test_forwarding_puts_our_via_on_top_decrements_max_forwards_and_replaces_x_wirexa_headers() -> None:
    incoming = req(
        "INVITE",
        "Route: <sip:203.0.113.1:5060;lr>",
        "Route: <sip:other.example;lr>",
        "X-Wirexa-Auth: carrier",
        "x-wirexa-source: 1.2.3.4:5;transport=udp",
        "P-Asserted-Identity: <sip:+14155550123@carrier.example>",
        body="v=0\r\n",
    )
    fwd = forward_request(
        incoming, "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours;rport", ("10.0.0.5", 5060), "udp", "phone=alice",
        [("203.0.113.1", 5060)],
    )  # fmt: skip
    assert isinstance(fwd, Request)
    vias = fwd.get_all("via")
    assert vias[0] == "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKours;rport"
    assert vias[1] == "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKabc;rport=5060"
    assert fwd.get("max-forwards") == "69"
    assert fwd.get_all("x-wirexa-auth") == ["phone=alice"]
    assert fwd.get_all("x-wirexa-source") == ["10.0.0.5:5060;transport=udp"]
    assert fwd.get_all("route") == ["<sip:other.example;lr>"]  # our own preloaded route is consumed
    assert fwd.get("record-route") is None
    assert fwd.get("p-asserted-identity") == "<sip:+14155550123@carrier.example>"
    assert fwd.body == b"v=0\r\n" and fwd.uri == incoming.uri
    # a CANCEL (auth None) carries no X-Wirexa header at all
    cancel = forward_request(
        req("CANCEL", "X-Wirexa-Auth: carrier"), "SIP/2.0/UDP h:1;branch=z9hG4bKo", ("10.0.0.5", 5060), "udp", None
    )
    assert isinstance(cancel, Request) and cancel.get("x-wirexa-auth") is None


def test_spent_max_forwards_is_483_and_a_missing_one_is_70() -> None:
    spent = req().headers
    spent = tuple((n, "0" if n == "Max-Forwards" else v) for n, v in spent)
    out = forward_request(
        Request(spent, b"", "INVITE", "sip:x"), "SIP/2.0/UDP h:1;branch=z9hG4bKo", ("1.1.1.1", 1), "udp", "carrier"
    )
    assert isinstance(out, Response) and out.code == 483
    missing = tuple((n, v) for n, v in req().headers if n != "Max-Forwards")
    out = forward_request(
        Request(missing, b"", "INVITE", "sip:x"), "SIP/2.0/UDP h:1;branch=z9hG4bKo", ("1.1.1.1", 1), "udp", "carrier"
    )
    assert isinstance(out, Request) and out.get("max-forwards") == "69"


def test_a_workers_response_loses_our_via() -> None:
    raw = (
        "SIP/2.0 180 Ringing\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours;rport=5060;received=127.0.0.1\r\n"
        "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport=41000;received=203.0.113.9\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    resp = parse(raw.encode())
    assert isinstance(resp, Response)
    popped = pop_our_via(resp)
    assert popped is not None
    ours, rest = popped
    assert ours.branch == "z9hG4bKours"
    assert response_target(parse_via(rest.get_all("via")[0])) == ("203.0.113.9", 41000)
    assert len(rest.get_all("via")) == 1
    single = parse(
        raw.replace(
            "Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;rport=41000;received=203.0.113.9\r\n", ""
        ).encode()
    )
    assert isinstance(single, Response) and pop_our_via(single) is None


def test_our_own_responses_copy_the_transaction_and_say_nothing_about_us() -> None:
    incoming = req()
    resp = response_to(incoming, 403)
    assert (resp.code, resp.reason) == (403, "Forbidden")
    assert resp.get_all("via") == incoming.get_all("via")
    assert resp.get("call-id") == "call-1@carrier" and resp.get("cseq") == "7 INVITE"
    assert ";tag=" in (resp.get("to") or "")
    assert response_to(incoming, 403).get("to") == resp.get("to")  # the same tag for a retransmission
    assert response_to(incoming, 100).get("to") == incoming.get("to")
    assert response_to(req(to_tag="t1"), 481).get("to") == "<sip:+15005550100@front.example>;tag=t1"
    names = {n.lower() for n, _ in resp.headers}
    assert "server" not in names and "user-agent" not in names
    assert response_to(incoming, 503, [("Retry-After", "5")]).get("retry-after") == "5"


# --- digest ----------------------------------------------------------------------------------------


def test_digest_response_matches_rfc_2617s_example() -> None:
    value = digest_response(
        "Mufasa", "Circle Of Life", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET",
        "/dir/index.html", "0a4f113b",
    )  # fmt: skip
    assert parse_digest(value)["response"] == "6629fae49393a05397450978507c4ef1"  # type: ignore[index]


def authorized(digest: Digest, method: str, username: str, password: str, now: float, *extra: str) -> Request:
    nonce = parse_digest(digest.challenge(now))["nonce"]  # type: ignore[index]
    header = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
    value = digest_response(username, password, digest.realm, nonce, method, "sip:+15005550100@front.example", "cn1")
    return req(method, f"{header}: {value}", *extra)


def test_digest_nonces_verify_statelessly_and_go_stale() -> None:
    digest = Digest("wirexa", SECRET, ttl_s=300)
    challenge = digest.challenge(NOW)
    assert challenge.startswith('Digest realm="wirexa", nonce="') and 'qop="auth"' in challenge
    assert "stale=true" in digest.challenge(NOW, stale=True)
    good = authorized(digest, "INVITE", "alice", "s3cret", NOW)
    creds = digest.credentials(good)
    assert creds is not None and creds["username"] == "alice"
    assert digest.verify(creds, "INVITE", "s3cret", NOW + 10) == "ok"
    assert digest.verify(creds, "INVITE", "wrong", NOW + 10) == "bad"
    assert digest.verify(creds, "REGISTER", "s3cret", NOW + 10) == "bad"  # the method is in HA2
    assert digest.verify(creds, "INVITE", "s3cret", NOW + 301) == "stale"
    assert Digest("wirexa", b"other" * 8).verify(creds, "INVITE", "s3cret", NOW) == "bad"  # a nonce we never made
    assert digest.verify({**creds, "nonce": "zz.zz"}, "INVITE", "s3cret", NOW) == "bad"
    assert digest.verify({**creds, "algorithm": "SHA-256"}, "INVITE", "s3cret", NOW) == "bad"
    assert digest.verify({**creds, "qop": "auth-int"}, "INVITE", "s3cret", NOW) == "bad"
    assert Digest("elsewhere", SECRET).credentials(good) is None  # another realm's credentials


def test_an_rfc_2069_answer_without_qop_is_accepted() -> None:
    digest = Digest("wirexa", SECRET)
    nonce = digest.nonce(NOW)
    import hashlib

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    response = md5(f"{md5('alice:wirexa:s3cret')}:{nonce}:{md5('INVITE:sip:x')}")
    params = {"username": "alice", "realm": "wirexa", "nonce": nonce, "uri": "sip:x", "response": response}
    assert digest.verify(params, "INVITE", "s3cret", NOW) == "ok"


ALICE = Credential("alice", "s3cret", "phone")
SANDBOX = Credential("wirexa-sandbox", "pw", "sandbox")
CARRIER = Credential("trunk", "tpw", "carrier")


def test_who_sent_it() -> None:
    digest = Digest("wirexa", SECRET)
    plain = req()
    # the carrier by address; a stranger
    assert authorize(plain, True, False, None, digest, NOW).label == "carrier"
    assert authorize(plain, False, False, None, digest, NOW).action == "refuse"
    # a phone: challenged first (it names itself in From), then passed as itself
    assert authorize(plain, False, False, ALICE, digest, NOW).action == "challenge"
    signed = authorized(digest, "INVITE", "alice", "s3cret", NOW)
    verdict = authorize(signed, False, False, ALICE, digest, NOW)
    assert (verdict.action, verdict.label, verdict.credential) == ("pass", "phone=alice", ALICE)
    bad = authorized(digest, "INVITE", "alice", "nope", NOW)
    assert authorize(bad, False, False, ALICE, digest, NOW).action == "challenge"
    stale = authorize(signed, False, False, ALICE, digest, NOW + 1000)
    assert (stale.action, stale.stale) == ("challenge", True)
    # the sandbox caller
    sandbox = authorized(digest, "INVITE", "wirexa-sandbox", "pw", NOW)
    assert authorize(sandbox, False, False, SANDBOX, digest, NOW).label == "sandbox"
    # credentials for someone else than the looked-up user prove nothing
    assert authorize(signed, False, False, SANDBOX, digest, NOW).action == "challenge"
    # the carrier with a digest of its own
    assert authorize(plain, True, True, None, digest, NOW).action == "challenge"
    trunk = authorized(digest, "INVITE", "trunk", "tpw", NOW)
    assert authorize(trunk, True, True, CARRIER, digest, NOW).label == "carrier"


def test_the_claimed_user_comes_from_the_digest_the_to_of_a_register_or_the_from() -> None:
    digest = Digest("wirexa", SECRET)
    assert claimed_username(req(), digest) == "+14155550123"
    assert claimed_username(authorized(digest, "INVITE", "alice", "x", NOW), digest) == "alice"
    assert claimed_username(req("REGISTER"), digest) == "+15005550100"


def test_sources_and_the_trunk_host() -> None:
    policy = SourcePolicy.from_cidrs("127.0.0.1/32, 203.0.113.0/24,2001:db8::/32")
    assert policy.allows("127.0.0.1") and policy.allows("203.0.113.77") and policy.allows("2001:db8::5")
    assert not policy.allows("127.0.0.2") and not policy.allows("not an address") and not policy.allows("::1")
    assert not SourcePolicy(()).allows("127.0.0.1")
    assert trunk_hostname("sip.carrier.example:5080") == "sip.carrier.example"
    assert trunk_hostname("sip:user@sip.carrier.example;transport=tcp") == "sip.carrier.example"
    assert trunk_hostname("[2001:db8::1]:5060") == "2001:db8::1"
    assert trunk_hostname("203.0.113.5") == "203.0.113.5"


# --- branch map ------------------------------------------------------------------------------------


def route(expires_at: float, worker: int = 15060) -> Route:
    return Route(("127.0.0.1", worker), ("10.0.0.5", 5060), "udp", 0, expires_at)


def test_the_branch_map_expires_and_is_bounded() -> None:
    branches = BranchMap(max_entries=2)
    branches.put("a", route(NOW + 300))
    assert branches.get("a", NOW) == route(NOW + 300)
    branches.touch("a", NOW + 100, final=False)
    assert branches.get("a", NOW + 350) is not None  # refreshed by a provisional
    branches.touch("a", NOW + 100, final=True)
    assert branches.get("a", NOW + 131) is not None
    assert branches.get("a", NOW + 133) is None  # 32 s after the final
    branches.put("b", route(NOW + 300, 1))
    branches.put("c", route(NOW + 300, 2))
    branches.put("d", route(NOW + 300, 3))
    assert len(branches) == 2 and branches.get("b", NOW) is None and branches.get("d", NOW) is not None
    branches.touch("missing", NOW, final=True)  # nothing to do


# --- registrar -------------------------------------------------------------------------------------


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def register(*contacts: str, expires: str | None = "3600") -> Request:
    extra = [f"Contact: {c}" for c in contacts] + ([f"Expires: {expires}"] if expires is not None else [])
    return req("REGISTER", *extra)


def test_two_contacts_listed_with_their_expires_and_capped() -> None:
    clock = FixedClock(NOW)
    registrar = Registrar(clock, max_expires_s=1800)
    result = registrar.register(
        "alice",
        register("<sip:alice@192.168.1.20:5060>", "<sip:alice@192.168.1.20:5070>;expires=120"),
        "203.0.113.9:41000",
        "udp",
    )
    assert result.code == 200
    assert sorted(v for _, v in result.headers) == [
        "<sip:alice@192.168.1.20:5060>;expires=1800",  # 3600 asked, cut to the cap
        "<sip:alice@192.168.1.20:5070>;expires=120",
    ]
    bindings = registrar.contacts("alice")
    assert [b.uri for b in bindings] == ["sip:alice@192.168.1.20:5070", "sip:alice@192.168.1.20:5060"]
    assert {(b.source, b.transport) for b in bindings} == {("203.0.113.9:41000", "udp")}
    assert registrar.has_source("203.0.113.9:41000") and not registrar.has_source("203.0.113.9:1")
    assert registrar.users() == ["alice"] and len(list(registrar)) == 2
    clock.now = NOW + 121
    assert [b.uri for b in registrar.contacts("alice")] == ["sip:alice@192.168.1.20:5060"]
    clock.now = NOW + 1801
    assert registrar.contacts("alice") == [] and registrar.users() == []
    assert registrar.contacts("nobody") == []


def test_refresh_remove_one_and_remove_all() -> None:
    clock = FixedClock(NOW)
    registrar = Registrar(clock)
    registrar.register("alice", register("<sip:alice@a>", "<sip:alice@b>"), "1.1.1.1:5060", "tcp")
    clock.now = NOW + 100
    registrar.register("alice", register("<sip:alice@a>"), "1.1.1.1:5061", "tcp")
    by_uri = {b.uri: b for b in registrar.contacts("alice")}
    assert by_uri["sip:alice@a"].expires_at == NOW + 3700 and by_uri["sip:alice@a"].source == "1.1.1.1:5061"
    assert registrar.register("alice", register("<sip:alice@a>;expires=0"), "x:1", "udp").code == 200
    assert [b.uri for b in registrar.contacts("alice")] == ["sip:alice@b"]
    assert registrar.register("alice", register("*", expires="0"), "x:1", "udp").code == 200
    assert registrar.contacts("alice") == []
    # a query (no Contact) lists what is there
    registrar.register("alice", register("<sip:alice@c>"), "x:1", "udp")
    listed = registrar.register("alice", register(expires=None), "x:1", "udp")
    assert listed.code == 200 and [v for _, v in listed.headers] == ["<sip:alice@c>;expires=3600"]


def test_too_brief_star_misuse_and_too_many_contacts() -> None:
    registrar = Registrar(FixedClock(NOW), max_contacts=3)
    brief = registrar.register("alice", register("<sip:alice@a>;expires=30"), "x:1", "udp")
    assert brief.code == 423 and brief.headers == (("Min-Expires", "60"),)
    assert registrar.register("alice", register("<sip:alice@a>", expires="59"), "x:1", "udp").code == 423
    assert registrar.register("alice", register("*", expires="60"), "x:1", "udp").code == 400
    assert registrar.register("alice", register("*", "<sip:alice@a>", expires="0"), "x:1", "udp").code == 400
    assert registrar.contacts("alice") == []
    for i in range(5):
        registrar.register("alice", register(f"<sip:alice@h{i}>;expires={100 + i}"), "x:1", "udp")
    assert sorted(b.uri for b in registrar.contacts("alice")) == ["sip:alice@h2", "sip:alice@h3", "sip:alice@h4"]
    assert registrar.register("bob", register("<>"), "x:1", "udp").code == 400


def test_a_credentials_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(ALICE) and "alice" in repr(ALICE)


def test_an_empty_initial_authorization_names_the_sandbox_caller_and_gets_a_challenge() -> None:
    """The sandbox caller (pjsua2 authInitialEmpty) sends its username with an empty response
    before any challenge: that names it (407, not 403) without authenticating it."""
    digest = Digest("wirexa", SECRET)
    empty = req(
        "INVITE",
        'Authorization: Digest username="wirexa-sandbox", realm="wirexa", nonce="", uri="sip:x", response=""',
    )
    assert claimed_username(empty, digest) == "wirexa-sandbox"
    assert authorize(empty, False, False, SANDBOX, digest, NOW).action == "challenge"
