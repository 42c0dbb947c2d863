"""Who may talk SIP to a media worker or the sandbox carrier, and what a stranger gets.

Theory of operation (measured in docs/PJSUA2_FINDINGS.md, "Strangers on the SIP and RTP ports"). Left to
itself, pjsua answers anyone: OPTIONS gets 200 with the full Allow list, SUBSCRIBE gets 200 and
a stream of NOTIFYs back to the sender, MESSAGE gets 200, and an INVITE allocates RTP ports and
a call slot before the application sees it (pjsua2 then answers 500 when onIncomingCall makes no
Call). pjsua2 has no hook that sees every request, so this module registers a plain pjsip module
through ctypes at priority 7, ahead of the transaction layer (16) and of pjsua's own modules:
- a request from an allowed network (127.0.0.1, the bind address, the worker's `--allow`: the
  trunk) goes on;
- an in-dialog request (a To tag, as pjsip parsed it: `;tag=` inside the To URI is none) goes on
  from anyone: pjsip only matches it to a dialog whose
  Call-ID and both tags it carries, else answers 481, and carriers send BYE from edge addresses
  other than the one an INVITE went to;
- any other request is answered 403 statelessly (no transaction, no dialog, no media, no
  User-Agent or Server header), an ACK is swallowed, and the log says so once per source address
  per REFUSAL_WINDOW_S, with the count of what it did not log.
Responses are never filtered: pjsip drops any that match no transaction of ours.

Malformed packets never reach a module: pjsip logs each ("Dropping N bytes packet from", a
syntax error, or "Error processing packet from", a missing header) with the whole packet.
quiet_parse_errors() puts a filter in front of pjsua's log writer that lets the first one from a
source through and counts the rest (REFUSAL_WINDOW_S again).

RTP: who may send a call's RTP, and where its audio goes (dialogs.pin_stream applies this for
each stream; tests/sip/test_nat.py). What pjmedia does by itself, measured on this wheel with a
SIPp trunk whose SDP said c=127.0.0.2 while its RTP came from 127.0.0.1 (a NAT's rewrite), 20 ms
packets, the worker playing a tone:
- pjsua leaves the UDP media transport's source check on (no PJMEDIA_UDP_NO_SRC_ADDR_CHECKING),
  and the stream (stream.c: rtp_src_cnt, rem_rtp_flag) switches its RTP destination to a packet's
  source AT ONCE while it has never received from its current destination: the trunk had the
  call's audio from the packet after its first (20 ms), ~150 of 150.
- Once packets have come from the destination, a new source takes the stream over after
  PJMEDIA_RTP_NAT_PROBATION_CNT (10) packets in a row: 9 from a stranger between two of the
  trunk's changed nothing, 10 or 20 got the stranger 9-10 packets of the call's audio until the
  trunk's next 10 took it back. A stranger sending before the trunk's first packet takes the
  stream with its first one (13 packets of audio went to it).
- The old rule, connect() to the SDP address at once, lets the kernel drop the NAT'd trunk's
  packets, and pjmedia sends to the SDP address nobody listens on: no audio either way.
So pjmedia latches by itself, immediately, and anyone can steer it; the rule decides to whom:
1. When a stream is created its RTP and RTCP sockets get a socket filter (classic BPF,
   SO_ATTACH_FILTER: source_filter) that keeps packets only from the SDP's host and the call's
   signalling peers (rtp_networks: the networks this guard lets in, i.e. 127.0.0.1, the bind
   address, the trunk; the dialled URI's host of an outbound call, e.g. a desk phone at the
   address its REGISTER came from; an inbound call's real source when the worker names it in
   `call.signal_hosts`). A stranger
   never reaches pjmedia, so the first packet pjmedia latches onto is from one of those hosts.
2. Every LATCH_POLL_S (one packet time) the latch reads pjmedia's source of the last RTP packet
   (MediaTransportInfo.srcRtpName); the first one seen is where pjmedia now sends, and the RTP
   socket is connect()ed to it (RtpLatch.decide): from then on the kernel drops every other
   source, another port of the same host included, so nothing re-latches later. RTCP is
   connected to its own first source when one has come by then, else stays filtered (it carries
   no audio, and behind NAT its port shows only with the far end's first report, seconds later).
3. No RTP within LATCH_WINDOW_S of the stream's creation (the answer): both sockets are
   connect()ed to the SDP's addresses, the old rule.
What it does not stop: a host of the allowed set that sends before the real far end (the trunk
itself, a process on this machine, the NAT'd caller's neighbours behind the same public address
when the worker names it) latches the call; and a peer that sends from one port and listens on
its SDP port (asymmetric RTP, rare today) gets its audio at the port it sends from, as pjmedia's
own latching always did.

The rdata fields are read at offsets measured on this wheel (2.15.1, x86_64, PJSIP_MAX_PKT_LEN
4000); every packet is checked for consistency (the source as sockaddr and as text agree, the
message lies in the packet buffer) and one that is not is dropped, logged once: a wheel with
another layout fails closed, and tests/sip/test_exposure.py fails with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import os
import re
import socket
import stat
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

REFUSAL_WINDOW_S = 600.0  # one log line per source address this often
MAX_SOURCES = 4096  # sources remembered for the rate limit (oldest forgotten first)
GUARD_PRIORITY = 7  # PJSIP_MOD_PRIORITY_TRANSPORT_LAYER - 1: before the transaction layer (16)
REFUSE_CODE = 403

# pjsip_rx_data on this wheel (see the module docstring).
_PACKET = 320  # pkt_info.packet[PJSIP_MAX_PKT_LEN]
_MAX_PKT = 4000
_SRC_ADDR = 4336  # pkt_info.src_addr (pj_sockaddr: family u16, port be16, IPv4 4 bytes)
_SRC_NAME = 4368  # pkt_info.src_name[46]
_SRC_PORT = 4416  # pkt_info.src_port (int)
_MSG_BUF = 4424  # msg_info.msg_buf (char *)
_MSG_LEN = 4432  # msg_info.len (int)
_TO_HDR = 4472  # msg_info.to (pjsip_to_hdr *), whose tag (pj_str_t) is at +72
_TO_TAG_AT = 72
_RDATA_READ = 4480

LOOPBACK = ipaddress.IPv4Network("127.0.0.1/32")  # the wake-up packet, and a pool on loopback
# sip_transport.c ("Dropping N bytes packet from UDP a:p : PJSIP syntax error ...", the packet
# follows) and sip_endpoint.c ("Error processing packet from a:p: Missing required header(s)")
_PARSE_ERROR = re.compile(r"(?:Dropping|Error processing) (?:\d+ bytes )?packet from (?:[A-Za-z]+ )?([0-9.]+):(\d+)")
_PARSER_DETAIL = b"Error parsing '"  # sip_parser.c, just before the transport's line; names no source


# --- policy (pure) -------------------------------------------------------------------------------


def peer_networks(
    specs: Iterable[str], bind: str, resolve: Callable[[str], list[str]] | None = None
) -> tuple[ipaddress.IPv4Network, ...]:
    """The networks requests may come from: 127.0.0.1, the bind address (the pool's own workers
    and the sandbox use it), and each spec: an address, a CIDR network, or a host name with an
    optional :port (sip.trunk_host as it is), resolved now to its IPv4 addresses. A name that
    does not resolve is logged and left out (the worker still starts; calls to it fail anyway)."""
    nets = [LOOPBACK]
    resolve = resolve or _resolve
    for spec in [bind, *specs]:
        spec = spec.strip().split(";", 1)[0].rsplit("@", 1)[-1]  # a registrar URI's host part
        for prefix in ("sips:", "sip:"):
            spec = spec.removeprefix(prefix)
        if not spec or spec in ("0.0.0.0", "*"):
            continue
        try:
            nets.append(ipaddress.IPv4Network(spec, strict=False))
            continue
        except ValueError:
            pass
        host = spec.rsplit(":", 1)[0] if spec.count(":") == 1 else spec
        try:
            nets.append(ipaddress.IPv4Network(host))
            continue
        except ValueError:
            pass
        try:
            addrs = resolve(host)
        except OSError as exc:
            log.warning("SIP peer %s does not resolve (%s): requests from it will be refused", host, exc)
            continue
        nets += [ipaddress.IPv4Network(a) for a in addrs]
    return tuple(dict.fromkeys(nets))


def _resolve(host: str) -> list[str]:
    return sorted({str(ai[4][0]) for ai in socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)})


def method_of(message: bytes) -> str:
    first = message.split(b" ", 1)[0][:20]
    return first.decode("ascii", "replace") if first.isascii() and first.isalpha() else "?"


class PeerPolicy:
    def __init__(self, networks: Iterable[ipaddress.IPv4Network]) -> None:
        self.networks = tuple(networks)

    def allows(self, host: str) -> bool:
        try:
            addr = ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def decide(self, host: str, message: bytes, to_tag: bool) -> str:
        """ "pass" (pjsip handles it), "refuse" (403) or "drop" (an ACK: nothing may answer it).
        to_tag: the request claims a dialog (pjsip's parsed To tag); pjsip checks the claim."""
        if self.allows(host) or to_tag:
            return "pass"
        return "drop" if method_of(message) == "ACK" else "refuse"


class RefusalLog:
    """One log line per source address per window; what it kept quiet about is counted in the
    next line for that source. Any thread."""

    def __init__(
        self,
        logger: logging.Logger = log,
        window_s: float = REFUSAL_WINDOW_S,
        max_sources: int = MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.window_s = window_s
        self.max_sources = max_sources
        self.clock = clock
        self.sources: OrderedDict[tuple[str, str], list[float]] = OrderedDict()  # -> [last line at, quiet count]
        self.total = 0
        self._lock = threading.Lock()

    def should_log(self, kind: str, host: str) -> int | None:
        """None: stay quiet (counted); else log now, with this many kept quiet since the last line."""
        now = self.clock()
        with self._lock:
            self.total += 1
            key = (kind, host)
            entry = self.sources.get(key)
            if entry is not None and now - entry[0] < self.window_s:
                entry[1] += 1
                return None
            quiet = int(entry[1]) if entry is not None else 0
            self.sources[key] = [now, 0]
            self.sources.move_to_end(key)
            while len(self.sources) > self.max_sources:
                self.sources.popitem(last=False)
            return quiet

    def refused(self, host: str, port: int, method: str, why: str = "not an allowed peer") -> None:
        quiet = self.should_log("refused", host)
        if quiet is not None:
            more = f"; {quiet} more from {host} since the last line" if quiet else ""
            self.logger.warning(
                "refused SIP request from %s:%d (%s): %s%s; next line for %s in %d s at the earliest",
                host,
                port,
                method,
                why,
                more,
                host,
                self.window_s,
            )

    def malformed(self, host: str, port: int) -> bool:
        """A packet pjsip could not parse: True when its own log line may go through."""
        quiet = self.should_log("malformed", host)
        if quiet is None:
            return False
        more = f"; {quiet} more from {host} since the last line" if quiet else ""
        self.logger.warning(
            "dropped an unparsable SIP packet from %s:%d%s; next line for %s in %d s at the earliest",
            host,
            port,
            more,
            host,
            self.window_s,
        )
        return True


# --- the pjsip module (ctypes) -------------------------------------------------------------------


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


_RX_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_LOG_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)


class _PjsipModule(ctypes.Structure):
    _fields_ = [
        ("prev", ctypes.c_void_p),
        ("next", ctypes.c_void_p),
        ("name", _PjStr),
        ("id", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("load", ctypes.c_void_p),
        ("start", ctypes.c_void_p),
        ("stop", ctypes.c_void_p),
        ("unload", ctypes.c_void_p),
        ("on_rx_request", _RX_CB),
        ("on_rx_response", ctypes.c_void_p),
        ("on_tx_request", ctypes.c_void_p),
        ("on_tx_response", ctypes.c_void_p),
        ("on_tsx_state", ctypes.c_void_p),
    ]


def read_source(rdata: int) -> tuple[str, int, bytes, bool] | None:
    """(source address, port, message, has a To tag) of a received request, or None when the
    rdata does not look like the layout this module was written for. The To tag is pjsip's
    parsed one: a ";tag=" inside the To URI is no tag."""
    raw = ctypes.string_at(rdata + _SRC_ADDR, _RDATA_READ - _SRC_ADDR)
    family, port_be = struct.unpack_from("<H2s", raw, 0)
    if family != socket.AF_INET:
        return None
    port = int.from_bytes(port_be, "big")
    host = socket.inet_ntoa(raw[4:8])
    name = raw[_SRC_NAME - _SRC_ADDR : _SRC_PORT - _SRC_ADDR].split(b"\0", 1)[0]
    (src_port,) = struct.unpack_from("<i", raw, _SRC_PORT - _SRC_ADDR)
    (buf,) = struct.unpack_from("<Q", raw, _MSG_BUF - _SRC_ADDR)
    (length,) = struct.unpack_from("<i", raw, _MSG_LEN - _SRC_ADDR)
    if name != host.encode() or src_port != port:
        return None
    if not (rdata + _PACKET <= buf and 0 < length and buf + length <= rdata + _PACKET + _MAX_PKT):
        return None
    (to_hdr,) = struct.unpack_from("<Q", raw, _TO_HDR - _SRC_ADDR)
    if not to_hdr:
        return None  # pjsip passes on no request without a To header
    tag_ptr, tag_len = struct.unpack("<Qq", ctypes.string_at(to_hdr + _TO_TAG_AT, 16))
    if not 0 <= tag_len < _MAX_PKT or (tag_len and not tag_ptr):
        return None
    return host, port, ctypes.string_at(buf, length), tag_len > 0


class SipGuard:
    """The module itself; install() once per process, after libInit, on the poll thread."""

    def __init__(self, policy: PeerPolicy, refusals: RefusalLog | None = None) -> None:
        self.policy = policy
        self.refusals = refusals or RefusalLog()
        self.refused = 0
        self.passed = 0
        self._bad_layout_logged = False
        self._failure_logged = False
        self._lib: Any = None
        self._endpt: int | None = None
        self._cb = _RX_CB(self._on_rx_request)
        self._module = _PjsipModule()
        self._name = b"mod-wirexa-guard"
        self._module.name = _PjStr(self._name, len(self._name))
        self._module.id = -1
        self._module.priority = GUARD_PRIORITY
        self._module.on_rx_request = self._cb
        self._log_cb: Any = None
        self._orig_log: Any = None

    def install(self, lib: Any) -> None:
        self._lib = lib
        get_endpt = lib.pjsua_get_pjsip_endpt
        get_endpt.restype = ctypes.c_void_p
        get_endpt.argtypes = []
        self._endpt = get_endpt()
        register = lib.pjsip_endpt_register_module
        register.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        register.restype = ctypes.c_int
        status = register(self._endpt, ctypes.byref(self._module))
        if status != 0:
            raise RuntimeError(f"pjsip_endpt_register_module failed ({status})")
        respond = lib.pjsip_endpt_respond_stateless
        respond.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int] + [ctypes.c_void_p] * 3
        respond.restype = ctypes.c_int
        self._respond = respond

    def _on_rx_request(self, rdata: int) -> int:
        try:
            seen = read_source(rdata)
            if seen is None:
                if not self._bad_layout_logged:
                    self._bad_layout_logged = True
                    log.error(
                        "SIP guard: this pjsua2 build's rx_data layout is not the one measured; dropping requests"
                    )
                return 1
            host, port, message, to_tag = seen
            verdict = self.policy.decide(host, message, to_tag)
            if verdict == "pass":
                self.passed += 1
                return 0
            self.refused += 1
            if verdict == "refuse":
                self._respond(self._endpt, rdata, REFUSE_CODE, None, None, None)
            self.refusals.refused(host, port, method_of(message))
            return 1
        except Exception:  # noqa: BLE001 - an exception must not cross into C: drop the packet
            if not self._failure_logged:
                self._failure_logged = True
                log.exception("SIP guard failed on a request; dropping requests it cannot read")
            return 1

    def quiet_parse_errors(self, lib: Any) -> None:
        """Rate-limit pjsip's level-1 "Error processing N bytes packet from ..." lines (each holds the
        whole packet) per source; everything else goes to pjsua's writer unchanged."""
        get_func = lib.pj_log_get_log_func
        get_func.restype = ctypes.c_void_p
        get_func.argtypes = []
        orig = get_func()
        if not orig:
            return
        self._orig_log = _LOG_FUNC(orig)
        self._log_cb = _LOG_FUNC(self._on_log)
        set_func = lib.pj_log_set_log_func
        set_func.argtypes = [ctypes.c_void_p]
        set_func.restype = None
        set_func(ctypes.cast(self._log_cb, ctypes.c_void_p))

    def _on_log(self, level: int, data: int | None, length: int) -> None:
        try:
            if data:
                head = ctypes.string_at(data, max(0, min(length, 300)))
                m = _PARSE_ERROR.search(head.decode("ascii", "replace"))
                if m is not None and not self.refusals.malformed(m.group(1), int(m.group(2))):
                    return
                if m is None and _PARSER_DETAIL in head and self.refusals.should_log("parser", "*") is None:
                    return
            self._orig_log(level, data, length)
        except Exception:  # noqa: BLE001, S110 - never raise into pjlib's logger
            pass


# --- RTP from strangers ----------------------------------------------------------------------------


def split_hostport(name: str) -> tuple[str, int] | None:
    """ "1.2.3.4:5000" (pjsua2's address strings) -> ("1.2.3.4", 5000); None if it is not one."""
    host, _, port = str(name).rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not host:
        return None
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return None
    return host, int(port)


def _udp_sockets(local_port: int) -> Iterator[socket.socket]:
    """This process's IPv4 UDP sockets bound to local_port, each as a dup (closed after its turn):
    connect(), setsockopt() on a dup act on the socket itself."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.fromfd(fd, socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            continue
        with contextlib.closing(sock):
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_DGRAM:
                    continue
                if sock.family != socket.AF_INET or sock.getsockname()[1] != local_port:
                    continue
            except OSError:
                continue
            yield sock


def pin_udp_socket(local_port: int, remote: tuple[str, int]) -> bool:
    """connect() this process's UDP socket bound to local_port to `remote`: the kernel then drops
    datagrams from any other source before pjmedia sees them. pjmedia's sendto() with an explicit
    address keeps working on a connected UDP socket (Linux). A source filter (filter_udp_socket)
    goes: the connection is stricter. False when no such socket is found."""
    for sock in _udp_sockets(local_port):
        try:
            sock.connect(remote)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
            return True
        except OSError:
            continue
    return False


# classic BPF (linux/filter.h): the source address is 12 bytes into the IPv4 header, which a
# socket filter reaches at SKF_NET_OFF whatever layer the packet is seen at.
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
_SKF_NET_OFF = -0x100000
MAX_FILTER_NETWORKS = 80  # a jump offset is one byte: 3 instructions a network
_BPF_LD_W_ABS, _BPF_AND_K, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x54, 0x15, 0x06


def source_filter(networks: Iterable[ipaddress.IPv4Network]) -> bytes:
    """A classic BPF program (struct sock_filter[]) that keeps IPv4 packets whose source is in one
    of `networks` and drops all others."""
    nets = list(dict.fromkeys(networks))
    if len(nets) > MAX_FILTER_NETWORKS:
        raise ValueError(f"{len(nets)} networks: a socket filter's jump takes at most {MAX_FILTER_NETWORKS}")
    prog: list[tuple[int, int, int, int]] = []
    for i, net in enumerate(nets):
        accept = 3 * (len(nets) - i - 1) + 1  # jumps from this jeq over the later tests and the drop
        prog += [
            (_BPF_LD_W_ABS, 0, 0, (_SKF_NET_OFF + 12) & 0xFFFFFFFF),
            (_BPF_AND_K, 0, 0, int(net.netmask)),
            (_BPF_JEQ_K, accept, 0, int(net.network_address)),
        ]
    prog += [(_BPF_RET_K, 0, 0, 0), (_BPF_RET_K, 0, 0, 0xFFFFFFFF)]
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


def filter_udp_socket(local_port: int, networks: Iterable[ipaddress.IPv4Network]) -> bool:
    """Attach source_filter(networks) to this process's UDP socket bound to local_port (replacing
    any filter it had): the kernel drops datagrams from anywhere else before pjmedia sees them.
    False when no such socket is found."""
    try:
        program = source_filter(networks)
    except ValueError as exc:
        log.warning("RTP sources not filtered: %s", exc)
        return False
    code = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", len(program) // 8, ctypes.addressof(code))
    for sock in _udp_sockets(local_port):
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            return True
        except OSError:
            continue
    return False


def unpin_udp_socket(local_port: int) -> bool:
    """Dissolve the connect() of this process's UDP socket bound to local_port (connect to
    AF_UNSPEC, which Python's socket.connect cannot express). False when no socket was found."""
    unspec = ctypes.create_string_buffer(16)  # struct sockaddr, sa_family AF_UNSPEC (0)
    for sock in _udp_sockets(local_port):
        if _LIBC.connect(sock.fileno(), unspec, 16) == 0:
            return True
    return False


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.connect.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]
_LIBC.connect.restype = ctypes.c_int


LATCH_WINDOW_S = 5.0  # how long after its stream is created a call's RTP may latch
LATCH_POLL_S = 0.02  # how often pin_stream's latch looks for the first packet (one ptime)


@dataclass
class RtpLatch:
    """Where one stream's RTP may come from, and where its socket gets pinned (the module
    docstring's rule). `networks`: the SDP host and the call's signalling peers; `deadline`: the
    end of the latch window (time.monotonic()). Pure."""

    sdp: tuple[str, int]
    networks: tuple[ipaddress.IPv4Network, ...]
    deadline: float

    def allows(self, host: str) -> bool:
        return PeerPolicy(self.networks).allows(host)

    def decide(self, source: tuple[str, int] | None, now: float) -> tuple[str, int] | None:
        """Where to pin the RTP socket now: the first packet's source (pjmedia's latest source
        of RTP, port 0 = none yet) when an allowed host sent it, the SDP address once the window
        is over with nothing latched, else None (look again in LATCH_POLL_S)."""
        if source is not None and source[1] != 0 and self.allows(source[0]):
            return source
        if now >= self.deadline:
            return self.sdp
        return None


_URI_HOST = re.compile(r"sips?:(?:[^@>;]*@)?(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


def uri_host(uri: str) -> str | None:
    """The IPv4 host of a SIP URI (name-addr or bare), or None for a host name (resolving it on
    the poll thread could block every call)."""
    m = _URI_HOST.search(uri)
    return m.group(1) if m else None


def rtp_networks(
    sdp_host: str, peers: Iterable[str], allowed: Iterable[ipaddress.IPv4Network]
) -> tuple[ipaddress.IPv4Network, ...]:
    """The networks a call's RTP may latch to: the SDP's host, the call's signalling peers (host
    addresses) and the networks the SIP guard lets in (127.0.0.1, the bind address, the trunk)."""
    nets = []
    for host in (sdp_host, *peers):
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.IPv4Network(host))
    return tuple(dict.fromkeys([*nets, *allowed]))
