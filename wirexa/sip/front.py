"""PURE: the inbound SIP front's protocol core: messages, Via and branch rules, digest auth, the
registrar, the branch map and the decisions on who may send what (front_net.py does the IO).

Theory of operation. The front is a stateless proxy (RFC 3261 16.11) in front of the media
workers plus a registrar for the desk phones; it holds no transactions and no dialogs:
- an out-of-dialog INVITE is authorized (authorize(): an allowed source is the carrier, else a
  digest answered as a phone or the sandbox caller, else 403), then forwarded to a worker
  (forward_request(): our Via on top with a branch derived from the sender's, the sender's Via
  marked with received/rport, Max-Forwards - 1, no Record-Route). BranchMap remembers which
  worker our branch went to, so the CANCEL and the ACK of a non-2xx final of the same
  transaction (same incoming branch, hence the same derived branch) reach the same worker;
- a response from a worker whose top Via is ours (a branch in the map, from the worker it went
  to) loses that Via and goes to the next one's received/rport (response_target()), over the
  client's connection when the request came over TCP or TLS (the map knows it);
- the worker's Contact takes the dialog: ACK for 2xx, BYE and re-INVITE go carrier <-> worker
  directly, and an in-dialog request arriving here gets 481;
- REGISTER is answered here (Registrar), OPTIONS from an allowed or registered source gets 200;
- every response the front makes itself is stateless (response_to()) and carries no Server or
  User-Agent header (the guard's manners: nothing says what runs here).

Time, the nonce secret and the branch secret are inputs; nothing here reads a clock or a socket.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"
MAGIC_COOKIE = "z9hG4bK"
MIN_EXPIRES_S = 60
DEFAULT_EXPIRES_S = 3600
NONCE_TTL_S = 300.0
MAX_CONTACTS_PER_USER = 10
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
# pjsip in the workers drops any packet longer than PJSIP_MAX_PKT_LEN (4000 on this wheel).
MAX_FORWARD_BYTES = 4000
RETRY_AFTER_S = 5

REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    420: "Bad Extension",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    483: "Too Many Hops",
    500: "Server Internal Error",
    503: "Service Unavailable",
    513: "Message Too Large",
}

# Compact header forms (RFC 3261 7.3.3 and the extensions' registrations) -> the full name.
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}
# Headers whose comma-separated values are separate headers (RFC 3261 7.3.1); Contact is split
# by the registrar itself (a quoted display name may hold a comma).
_SPLIT = frozenset({"via", "route", "record-route"})

Transport = Literal["udp", "tcp", "tls"]
Kind = Literal["phone", "sandbox", "carrier"]


class ParseError(ValueError):
    """The bytes are no SIP message the front can handle (the sender's fault: drop, log once)."""


def canon(name: str) -> str:
    """The lower-case full name of a header name in any form (compact or not)."""
    low = name.strip().lower()
    return COMPACT.get(low, low)


# --- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Base:
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def get(self, name: str) -> str | None:
        key = canon(name)
        return next((v for n, v in self.headers if canon(n) == key), None)

    def get_all(self, name: str) -> list[str]:
        key = canon(name)
        return [v for n, v in self.headers if canon(n) == key]

    def without(self, pred: Callable[[str], bool]) -> tuple[tuple[str, str], ...]:
        """The headers whose canonical name does not satisfy pred."""
        return tuple((n, v) for n, v in self.headers if not pred(canon(n)))


@dataclass(frozen=True, slots=True)
class Request(_Base):
    method: str
    uri: str


@dataclass(frozen=True, slots=True)
class Response(_Base):
    code: int
    reason: str


Message = Request | Response


def split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quotes and <...>."""
    out: list[str] = []
    depth, quoted, start, i = 0, False, 0, 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")


def parse(data: bytes) -> Message:
    """One SIP message (a UDP datagram, or one framed by StreamFramer). The body is what
    Content-Length says (the rest of the datagram when it is absent); raises ParseError."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
        if not sep:
            head, rest = data.rstrip(b"\r\n"), b""
    if len(head) > MAX_HEADER_BYTES:
        raise ParseError("header too long")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("header is not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t":
            if not headers:
                raise ParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise ParseError(f"bad header line {line[:40]!r}")
        headers.append((name, value.strip()))
    split: list[tuple[str, str]] = []
    for name, value in headers:
        if canon(name) in _SPLIT:
            split += [(name, part) for part in split_commas(value)]
        else:
            split.append((name, value))
    length = next((v for n, v in split if canon(n) == "content-length"), None)
    if length is not None:
        if not length.isdigit():
            raise ParseError("bad Content-Length")
        n = int(length)
        if n > len(rest) or n > MAX_BODY_BYTES:
            raise ParseError("body shorter than Content-Length")
        body = rest[:n]
    else:
        body = rest
    parts = start.split(" ", 2)
    msg: Message
    if parts[0] == "SIP/2.0":
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise ParseError("bad status line")
        msg = Response(tuple(split), body, int(parts[1]), parts[2] if len(parts) > 2 else "")
    else:
        if len(parts) != 3 or parts[2] != "SIP/2.0" or not _TOKEN.match(parts[0]) or not parts[1]:
            raise ParseError(f"bad start line {start[:40]!r}")
        msg = Request(tuple(split), body, parts[0].upper(), parts[1])
    for needed in ("via", "from", "to", "call-id", "cseq"):
        if msg.get(needed) is None:
            raise ParseError(f"no {needed} header")
    if cseq_of(msg)[0] < 0:
        raise ParseError("bad CSeq")
    return msg


def serialize(msg: Message) -> bytes:
    """The message as bytes, with one Content-Length (the body's) last among the headers."""
    if isinstance(msg, Request):
        start = f"{msg.method} {msg.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {msg.code} {msg.reason}"
    lines = [start]
    lines += [f"{n}: {v}" for n, v in msg.headers if canon(n) != "content-length"]
    lines.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + msg.body


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages: feed(data) -> message bytes, in order. Leading
    CRLFs are keepalives (RFC 5626 4.4.1): each double CRLF is counted in `pings` (the caller
    answers a single CRLF). Raises ParseError when the stream cannot be framed any more (the
    caller closes the connection)."""

    def __init__(self) -> None:
        self._buf = b""
        self.pings = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            while self._buf.startswith(b"\r\n"):
                if self._buf.startswith(b"\r\n\r\n"):
                    self.pings += 1
                    self._buf = self._buf[4:]
                elif len(self._buf) < 4 and b"\r\n\r\n".startswith(self._buf):
                    return out  # maybe half a ping
                else:
                    self._buf = self._buf[2:]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    raise ParseError("header too long")
                return out
            if end > MAX_HEADER_BYTES:
                raise ParseError("header too long")
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$", self._buf[:end])
            length = int(m.group(1)) if m else 0
            if length > MAX_BODY_BYTES:
                raise ParseError("body too long")
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(self._buf[:total])
            self._buf = self._buf[total:]


# --- header values ----------------------------------------------------------------------------------


def params_of(value: str) -> dict[str, str]:
    """;name=value parameters after the URI (or after <...>), names lower-cased, flags as ""."""
    rest = value[value.rfind(">") + 1 :] if ">" in value else value.split(";", 1)[1] if ";" in value else ""
    out: dict[str, str] = {}
    for part in rest.split(";"):
        name, _, val = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = val.strip().strip('"')
    return out


def uri_of(value: str) -> str:
    """The URI inside a name-addr (<...>) or an addr-spec without its header parameters."""
    if "<" in value:
        return value[value.find("<") + 1 : value.find(">", value.find("<"))].strip()
    return value.split(";", 1)[0].strip()


def user_of(uri: str) -> str:
    """The user part of a sip:/sips:/tel: URI ("" when there is none)."""
    body = uri.split(":", 1)[1] if ":" in uri else uri
    if uri.lower().startswith("tel:"):
        return body.split(";", 1)[0]
    if "@" not in body:
        return ""
    return body.split("@", 1)[0].split(";", 1)[0].split(":", 1)[0]


def tag_of(value: str | None) -> str:
    return params_of(value).get("tag", "") if value else ""


def cseq_of(msg: Message) -> tuple[int, str]:
    number, _, method = (msg.get("cseq") or "").strip().partition(" ")
    return (int(number), method.strip().upper()) if number.isdigit() else (-1, "")


@dataclass(frozen=True, slots=True)
class Via:
    transport: str  # as written, upper case: UDP, TCP, TLS ...
    host: str
    port: int | None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[^\]]+\]|[^\s;:]+)(?:\s*:\s*(\d+))?\s*(;.*)?$")


def parse_via(value: str) -> Via:
    m = _VIA.match(value.strip())
    if not m:
        raise ParseError(f"bad Via {value[:40]!r}")
    params: dict[str, str] = {}
    for part in (m.group(4) or "").split(";"):
        name, _, val = part.strip().partition("=")
        if name:
            params[name.strip().lower()] = val.strip()
    return Via(m.group(1).upper(), m.group(2).strip("[]"), int(m.group(3)) if m.group(3) else None, params)


def mark_received(value: str, host: str, port: int) -> str:
    """The sender's top Via with received= (when its sent-by host is not the source address) and
    rport=<source port> (always: the response goes back to where the request came from, NAT or
    not, as Asterisk's force_rport does)."""
    via = parse_via(value)
    head = value.strip().split(";", 1)[0]
    params = [
        p for p in value.strip().split(";")[1:] if p.strip().split("=", 1)[0].lower() not in ("rport", "received")
    ]
    extra = [f"rport={port}"]
    if via.host != host:
        extra.append(f"received={host}")
    return ";".join([head, *(p.strip() for p in params), *extra])


def response_target(via: Via) -> tuple[str, int]:
    """Where a response for this Via goes: received (or the sent-by host), rport (or the
    sent-by port, or 5060/5061)."""
    host = via.params.get("received") or via.host
    rport = via.params.get("rport", "")
    if rport.isdigit():
        return host, int(rport)
    return host, via.port or (5061 if via.transport == "TLS" else 5060)


def derive_branch(secret: bytes, request: Request, conn_tag: str = "") -> str:
    """Our branch for a request: a keyed hash of the sender's top Via branch (+ conn_tag, which
    names the client connection for TCP/TLS), so a retransmission, its CANCEL and the ACK of a
    non-2xx final get the same one. A sender without the magic cookie (RFC 2543) gets a hash of
    what identifies its transaction instead (RFC 3261 16.11), the method and To tag left out."""
    top = parse_via(request.get_all("via")[0])
    if top.branch.startswith(MAGIC_COOKIE):
        key = f"{top.branch}|{top.host}:{top.port}"
    else:
        key = "|".join(
            [
                request.uri,
                tag_of(request.get("from")),
                (request.get("call-id") or "").strip(),
                str(cseq_of(request)[0]),
                f"{top.host}:{top.port}",
            ]
        )
    digest = hmac.new(secret, f"{key}|{conn_tag}".encode(), hashlib.sha256).hexdigest()[:24]
    return MAGIC_COOKIE + digest


# --- building messages ------------------------------------------------------------------------------


def response_to(
    request: Request, code: int, extra: Iterable[tuple[str, str]] = (), reason: str | None = None, tag: str = ""
) -> Response:
    """A stateless response to `request` (RFC 3261 8.2.6): its Via, From, To (with `tag`, or a
    tag derived from the request when it has none and the code is not 100), Call-ID and CSeq,
    then `extra`. No Server header, no body."""
    to = request.get("to") or ""
    if code != 100 and not tag_of(to):
        tag = tag or hashlib.sha256(f"{request.get('call-id')}|{tag_of(request.get('from'))}".encode()).hexdigest()[:16]
        to = f"{to};tag={tag}"
    headers = [("Via", v) for v in request.get_all("via")]
    headers += [
        ("From", request.get("from") or ""),
        ("To", to),
        ("Call-ID", request.get("call-id") or ""),
        ("CSeq", request.get("cseq") or ""),
    ]
    headers += list(extra)
    return Response(tuple(headers), b"", code, reason or REASONS.get(code, "Unknown"))


def forward_request(
    request: Request,
    our_via: str,
    source: tuple[str, int],
    transport: Transport,
    auth: str | None,
    own_addresses: Iterable[tuple[str, int]] = (),
) -> Request | Response:
    """The request as the front forwards it to a worker (RFC 3261 16.6 and 16.11), or the
    response to answer instead (483 when Max-Forwards is spent). `our_via` goes on top, the
    sender's top Via gets received/rport; the sender's X-Wirexa-* headers go; with an `auth`
    (INVITE), X-Wirexa-Source and X-Wirexa-Auth are added; a top Route naming one of
    `own_addresses` (a carrier's preloaded route to us) is removed. No Record-Route."""
    mf_value = request.get("max-forwards")
    max_forwards = int(mf_value) if mf_value is not None and mf_value.strip().isdigit() else 70
    if max_forwards <= 0:
        return response_to(request, 483)
    vias = request.get_all("via")
    headers: list[tuple[str, str]] = [("Via", our_via), ("Via", mark_received(vias[0], *source))]
    headers += [("Via", v) for v in vias[1:]]
    routes = request.get_all("route")
    drop_route = bool(routes) and _names_us(uri_of(routes[0]), own_addresses)
    route_seen = False
    for name, value in request.headers:
        key = canon(name)
        if key in ("via", "max-forwards", "content-length") or key.startswith("x-wirexa-"):
            continue
        if key == "route" and drop_route and not route_seen:
            route_seen = True
            continue
        headers.append((name, value))
    headers.insert(len(vias) + 1, ("Max-Forwards", str(max_forwards - 1)))
    if auth is not None:
        headers.append(("X-Wirexa-Source", f"{source[0]}:{source[1]};transport={transport}"))
        headers.append(("X-Wirexa-Auth", auth))
    return replace(request, headers=tuple(headers))


def _names_us(uri: str, own: Iterable[tuple[str, int]]) -> bool:
    body = uri.split(":", 1)[1] if ":" in uri else uri
    hostport = body.split("@", 1)[-1].split(";", 1)[0]
    host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    host = host.strip("[]")
    return any(host == h and (int(port) if port.isdigit() else 5060) == p for h, p in own)


def pop_our_via(response: Response) -> tuple[Via, Response] | None:
    """(our Via, the response without it) when the response has another Via to go to."""
    vias = response.get_all("via")
    if len(vias) < 2:
        return None
    ours = parse_via(vias[0])
    seen = False
    headers: list[tuple[str, str]] = []
    for name, value in response.headers:
        if not seen and canon(name) == "via":
            seen = True
            continue
        headers.append((name, value))
    return ours, replace(response, headers=tuple(headers))


# --- digest authentication (RFC 2617 / RFC 3261 22) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    """Who may authenticate: a desk phone, the sandbox caller or (kind "carrier") the carrier."""

    username: str
    password: str
    kind: Kind

    @property
    def label(self) -> str:
        """The X-Wirexa-Auth value for a request this credential authenticated."""
        return f"phone={self.username}" if self.kind == "phone" else self.kind

    def __repr__(self) -> str:
        return f"Credential({self.username!r}, '****', {self.kind!r})"


def parse_digest(value: str) -> dict[str, str] | None:
    """The parameters of a `Digest ...` Authorization value (names lower-cased), None otherwise."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    out: dict[str, str] = {}
    for part in split_commas(rest):
        name, eq, val = part.partition("=")
        if not eq:
            continue
        val = val.strip()
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[name.strip().lower()] = val
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class Digest:
    """Challenges and checks for one realm. Nonces are "<time hex>.<HMAC of it>": any front with
    the secret can check one without remembering it, and one older than NONCE_TTL_S is stale
    (the client answers the new challenge without asking its user again)."""

    def __init__(self, realm: str, secret: bytes, ttl_s: float = NONCE_TTL_S) -> None:
        self.realm = realm
        self.secret = secret
        self.ttl_s = ttl_s

    def nonce(self, now: float) -> str:
        stamp = f"{int(now):x}"
        return f"{stamp}.{self._mac(stamp)}"

    def _mac(self, stamp: str) -> str:
        return hmac.new(self.secret, f"{stamp}|{self.realm}".encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, now: float, stale: bool = False) -> str:
        """A WWW-Authenticate / Proxy-Authenticate value."""
        value = f'Digest realm="{self.realm}", nonce="{self.nonce(now)}", algorithm=MD5, qop="auth"'
        return value + ", stale=true" if stale else value

    def credentials(self, request: Request) -> dict[str, str] | None:
        """The first Proxy-Authorization or Authorization digest for our realm, with a username."""
        for name in ("proxy-authorization", "authorization"):
            for value in request.get_all(name):
                params = parse_digest(value)
                if params and params.get("realm") == self.realm and params.get("username"):
                    return params
        return None

    def verify(self, params: dict[str, str], method: str, password: str, now: float) -> Literal["ok", "stale", "bad"]:
        """ "ok", "stale" (the right password with an expired nonce) or "bad"."""
        nonce = params.get("nonce", "")
        stamp, _, mac = nonce.partition(".")
        try:
            issued = int(stamp, 16)
        except ValueError:
            return "bad"
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return "bad"
        if params.get("algorithm", "MD5").upper() != "MD5":
            return "bad"
        ha1 = _md5(f"{params.get('username', '')}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        qop = params.get("qop", "")
        if qop == "auth":
            expected = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
        elif not qop:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        else:
            return "bad"
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return "bad"
        return "stale" if not (issued - 5 <= now <= issued + self.ttl_s) else "ok"


def digest_response(
    username: str, password: str, realm: str, nonce: str, method: str, uri: str, cnonce: str, nc: str = "00000001"
) -> str:
    """A client's Authorization value for a qop=auth challenge (tests and the sandbox caller)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc={nc}'
    )


# --- who is asking ---------------------------------------------------------------------------------


class SourcePolicy:
    """The carrier's networks (sip.inbound_allowed, or the trunk host's addresses)."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.networks = tuple(networks)

    @classmethod
    def from_cidrs(cls, cidrs: str) -> SourcePolicy:
        return cls(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c.strip())

    def allows(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr.version == net.version and addr in net for net in self.networks)


def trunk_hostname(spec: str) -> str:
    """The host of sip.trunk_host ("host", "host:port", "sip:user@host;transport=tcp")."""
    spec = spec.strip().split(";", 1)[0].rsplit("@", 1)[-1]
    for prefix in ("sips:", "sip:"):
        spec = spec.removeprefix(prefix)
    if spec.startswith("["):
        return spec[1 : spec.find("]")]
    return spec.rsplit(":", 1)[0] if spec.count(":") == 1 else spec


def claimed_username(request: Request, digest: Digest) -> str:
    """The user a request names: its digest username for our realm, else (REGISTER) the To user,
    else the From user. The front looks it up to tell a phone that has not yet answered a
    challenge (407/401) from a stranger (403)."""
    creds = digest.credentials(request)
    if creds is not None:
        return creds["username"]
    header = request.get("to") if request.method == "REGISTER" else request.get("from")
    return user_of(uri_of(header or ""))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What authorize() decided: "pass" (with the X-Wirexa-Auth label and the credential),
    "challenge" (401/407, stale or not) or "refuse" (403)."""

    action: Literal["pass", "challenge", "refuse"]
    label: str = ""
    credential: Credential | None = None
    stale: bool = False


def authorize(
    request: Request, allowed: bool, carrier_auth: bool, credential: Credential | None, digest: Digest, now: float
) -> Verdict:
    """Who sent `request`. allowed: the source is in the carrier's networks; carrier_auth: the
    carrier must answer a challenge too; credential: what lookup gave for claimed_username()
    (a "carrier" credential only for an allowed source)."""
    if allowed and not carrier_auth:
        return Verdict("pass", "carrier")
    creds = digest.credentials(request)
    if creds is not None and credential is not None and creds["username"] == credential.username:
        result = digest.verify(creds, request.method, credential.password, now)
        if result == "ok":
            return Verdict("pass", credential.label, credential)
        return Verdict("challenge", stale=result == "stale")
    if allowed or credential is not None:
        return Verdict("challenge")
    return Verdict("refuse")


# --- the branch map -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Where a forwarded transaction went and where its responses go back."""

    worker: tuple[str, int]
    source: tuple[str, int]
    transport: Transport
    conn_id: int
    expires_at: float
    auth: str | None = None  # the X-Wirexa-Auth of the INVITE (a retransmission carries it again)
    # The forwarded INVITE, until its worker sends a provisional: a worker whose library is full
    # answers 486 at once (no 100), and the INVITE goes to another one (tries so far).
    pending: bytes | None = None
    tries: int = 1


class BranchMap:
    """Our branch -> Route, bounded (the least recently used go first) and expiring. A route
    lives RINGING_TTL_S after the last message of its transaction, FINAL_TTL_S after a final
    response (64*T1: long enough for the ACK of a non-2xx final and retransmissions)."""

    RINGING_TTL_S = 300.0
    FINAL_TTL_S = 32.0

    def __init__(self, max_entries: int = 32768) -> None:
        self.max_entries = max_entries
        self._routes: OrderedDict[str, Route] = OrderedDict()

    def __len__(self) -> int:
        return len(self._routes)

    def put(self, branch: str, route: Route) -> None:
        self._routes[branch] = route
        self._routes.move_to_end(branch)
        while len(self._routes) > self.max_entries:
            self._routes.popitem(last=False)

    def get(self, branch: str, now: float) -> Route | None:
        self._sweep(now)
        route = self._routes.get(branch)
        if route is None or route.expires_at <= now:
            return None
        return route

    def touch(self, branch: str, now: float, final: bool) -> None:
        route = self._routes.get(branch)
        if route is not None:
            ttl = self.FINAL_TTL_S if final else self.RINGING_TTL_S
            expires = now + ttl if not final else min(route.expires_at, now + ttl)
            self.put(branch, replace(route, expires_at=expires))

    def _sweep(self, now: float) -> None:
        while self._routes:
            branch, route = next(iter(self._routes.items()))
            if route.expires_at > now:
                return
            del self._routes[branch]


# --- the registrar ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of a phone. source is "ip:port" the REGISTER came from (calls to a
    phone behind NAT go there, not to a private Contact), transport udp|tcp|tls, expires_at on
    the registrar's clock (seconds)."""

    uri: str
    source: str
    transport: Transport
    expires_at: float


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """The registrar's answer: a code and the headers to put in the response (Contact list or
    Min-Expires)."""

    code: int
    headers: tuple[tuple[str, str], ...] = ()


class Registrar:
    """Bindings of desk phones (RFC 3261 10.3, without the Call-ID/CSeq ordering check: a
    retransmitted REGISTER just refreshes). clock() is read on every call (seconds; front_net
    gives time.time, tests a fixed clock). Loop-only."""

    def __init__(
        self,
        clock: Callable[[], float],
        max_expires_s: int = DEFAULT_EXPIRES_S,
        min_expires_s: int = MIN_EXPIRES_S,
        max_contacts: int = MAX_CONTACTS_PER_USER,
    ) -> None:
        self.clock = clock
        self.max_expires_s = max_expires_s
        self.min_expires_s = min_expires_s
        self.max_contacts = max_contacts
        self._bindings: dict[str, dict[str, Binding]] = {}

    def contacts(self, username: str) -> list[Binding]:
        """The live bindings of `username`, soonest to expire first (expired ones dropped)."""
        now = self.clock()
        bindings = self._bindings.get(username)
        if not bindings:
            return []
        for uri in [u for u, b in bindings.items() if b.expires_at <= now]:
            del bindings[uri]
        if not bindings:
            del self._bindings[username]
            return []
        return sorted(bindings.values(), key=lambda b: b.expires_at)

    def users(self) -> list[str]:
        return [u for u in list(self._bindings) if self.contacts(u)]

    def has_source(self, source: str) -> bool:
        """Whether some live binding was registered from this "ip:port"."""
        return any(b.source == source for u in list(self._bindings) for b in self.contacts(u))

    def __iter__(self) -> Iterator[tuple[str, Binding]]:
        for user in self.users():
            for b in self.contacts(user):
                yield user, b

    def register(self, username: str, request: Request, source: str, transport: Transport) -> RegisterResult:
        """Apply an authenticated REGISTER for `username`: add, refresh or remove its contacts."""
        now = self.clock()
        header_expires = (request.get("expires") or "").strip()
        default = int(header_expires) if header_expires.isdigit() else DEFAULT_EXPIRES_S
        contacts = [c for value in request.get_all("contact") for c in split_commas(value)]
        if any(c.strip() == "*" for c in contacts):
            if len(contacts) != 1 or header_expires != "0":
                return RegisterResult(400)
            self._bindings.pop(username, None)
            return RegisterResult(200)
        wanted: list[tuple[str, int]] = []
        for contact in contacts:
            uri = uri_of(contact)
            if not uri:
                return RegisterResult(400)
            raw = params_of(contact).get("expires", "")
            expires = int(raw) if raw.isdigit() else default
            if 0 < expires < self.min_expires_s:
                return RegisterResult(423, (("Min-Expires", str(self.min_expires_s)),))
            wanted.append((uri, min(expires, self.max_expires_s)))
        self.contacts(username)  # drop the expired ones first
        bindings = self._bindings.setdefault(username, {})
        for uri, expires in wanted:
            if expires == 0:
                bindings.pop(uri, None)
            else:
                bindings[uri] = Binding(uri, source, transport, now + expires)
        while len(bindings) > self.max_contacts:
            oldest = min(bindings.values(), key=lambda b: b.expires_at)
            del bindings[oldest.uri]
        if not bindings:
            self._bindings.pop(username, None)
        listed = tuple(
            ("Contact", f"<{b.uri}>;expires={max(0, int(b.expires_at - now))}") for b in self.contacts(username)
        )
        return RegisterResult(200, listed)
