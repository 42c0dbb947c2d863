"""A media worker's SIP side: its account (trunk registration, incoming INVITEs, the refusal
of subscriptions) and one Dialog per call, outbound and inbound alike, with the pjsua2 Call
object under it.

An outbound dialog is named by the CallSid the engine minted before the INVITE. An inbound
one is named by the worker (`dialog_id`) when the INVITE arrives: the worker holds it and tells
the engine (protocol.Incoming), whose answer (protocol.Reject) it carries out.

Everything here runs on the worker's main thread (pjsua2 with mainThreadOnly): the account's
and the calls' callbacks come from inside libHandleEvents.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pjsua2 as pj

from wirexa.media.amd import AmdMode, AmdParams
from wirexa.sip import endpoint
from wirexa.sip import protocol as proto
from wirexa.sip.endpoint import Sink, describe
from wirexa.sip.guard import (
    LATCH_POLL_S,
    LATCH_WINDOW_S,
    LOOPBACK,
    RtpLatch,
    filter_udp_socket,
    pin_udp_socket,
    rtp_networks,
    split_hostport,
    unpin_udp_socket,
    uri_host,
)
from wirexa.sip.recorder import Recording
from wirexa.sip.tap import Tap

log = logging.getLogger(__name__)

REFUSE_INCOMING = 403
_pjsua_call_hangup = endpoint._LIB.pjsua_call_hangup
_pjsua_call_hangup.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
_pjsua_call_hangup.restype = ctypes.c_int


@dataclass
class Playback:
    play_id: str
    player: Any  # an AudioMediaPlayer, or a StreamPort
    ends_at: float | None  # None = loops until stopped (or, for a stream, until it has played)


@dataclass
class Dialog:
    """One call of this worker: its pjsua2 Call, where its dialog stands, and the media the
    worker runs on it. `media` is the call's AudioMedia once its audio is up; `disconnected`
    once the call's conference port is gone (never touch `media` again then).

    `ring_deadline` is, outbound, when an unanswered INVITE is cancelled (the ring timeout);
    inbound, when an INVITE the engine has not answered is refused. An inbound dialog's
    `call_sid` is its dialog_id, and `source` the host:port its INVITE came from."""

    call_sid: str
    call: Any
    ring_deadline: float
    direction: Literal["outbound", "inbound"] = "outbound"
    source: str = ""
    answered: bool = False
    ringing_sent: bool = False
    answer_headers: tuple[tuple[str, str], ...] = ()  # the X- headers of the 200 OK we got
    local_reason: str | None = None
    media: Any = None
    disconnected: bool = False
    playback: Playback | None = None
    pending_play: proto.Play | None = None
    pending_size: int | None = None  # a stream_end that came before the stream could start
    recordings: dict[str, Recording] = field(default_factory=dict)  # by rec_id
    pending_records: list[proto.Record] = field(default_factory=list)  # until media is up
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    dtmf_done_at: float | None = None
    amd: AmdParams | None = None  # answering-machine detection asked for this call
    taps: dict[str, Tap[Any]] = field(default_factory=dict)  # by name (the AMD tap: until its decision)
    pending_streams: list[proto.StartStream] = field(default_factory=list)  # until media is up
    pending_listens: list[str] = field(default_factory=list)  # listen ids, until media is up
    pending_speech: list[str] = field(default_factory=list)  # rooms of watch_speech, until media is up
    # A conference room to join (RoomJoin) or reach from this worker (RelayOpen to a room), sent
    # right after the answer: held until media is up, as plays and recordings are.
    pending_rooms: list[proto.RoomJoin | proto.RelayOpen] = field(default_factory=list)
    quality_due: float | None = None  # the next reading of its stream statistics (answered calls)
    quality_last: proto.Quality | None = None
    quality_unsent: bool = False  # quality_last was read as the stream went, not sent yet

    @property
    def live(self) -> bool:
        """The call's audio is in the bridge."""
        return self.media is not None and not self.disconnected


def amd_params(cmd: proto.MakeCall) -> AmdParams | None:
    if not cmd.amd:
        return None
    return AmdParams(
        mode=AmdMode(cmd.amd),
        timeout_ms=cmd.amd_timeout_ms,
        speech_threshold_ms=cmd.amd_speech_threshold_ms,
        speech_end_threshold_ms=cmd.amd_speech_end_threshold_ms,
        silence_timeout_ms=cmd.amd_silence_timeout_ms,
    )


class DialogOwner(Protocol):
    """What the account's and a call's pjsua2 callbacks report to (the Worker)."""

    def on_incoming(self, call: Any, source: str, message: str) -> None: ...
    def on_state(self, call_sid: str, message: str = "") -> None: ...
    def on_media(self, call_sid: str) -> None: ...
    def on_digit(self, call_sid: str, digit: str) -> None: ...
    def on_stream_gone(self, call_sid: str) -> None: ...


class WorkerAccount(pj.Account):  # type: ignore[misc]
    """The worker's account: reports its trunk registration, hands an incoming INVITE to its
    owner as an InboundCall, and refuses subscriptions (poll thread, mainThreadOnly). Strangers
    never get this far (guard.py answers them first); these come from an allowed peer, e.g. the
    trunk."""

    def __init__(self, owner: DialogOwner, emit: Sink) -> None:
        super().__init__()
        self.owner = owner
        self.emit = emit

    def onRegState(self, prm: Any) -> None:
        self.emit(proto.Registration(int(prm.code), str(prm.reason), bool(self.getInfo().regIsActive)))

    def onIncomingCall(self, prm: Any) -> None:
        # A Call object for it (without one, pjsua2 answers 500 after pjsua has set up media);
        # the owner holds it until the engine answers.
        source = str(prm.rdata.srcAddress)
        try:
            call = InboundCall(self.owner, self, int(prm.callId))
        except pj.Error as exc:
            log.warning("incoming INVITE from %s not taken: %s", source, describe(exc))
            refuse_incoming_call(int(prm.callId), source, f"not taken: {describe(exc)}")
            return
        self.owner.on_incoming(call, source, str(prm.rdata.wholeMsg))

    def onIncomingSubscribe(self, prm: Any) -> None:
        prm.code = REFUSE_INCOMING  # pjsua would accept a presence subscription and send NOTIFYs


def log_refusal(source: str, why: str) -> None:
    """One line in the guard's log of refused requests (rate-limited per host)."""
    host, _, port = source.rpartition(":")
    if endpoint.GUARD is not None:
        endpoint.GUARD.refusals.refused(host, int(port) if port.isdigit() else 0, "INVITE", why)


def refuse_incoming_call(call_id: int, source: str, why: str) -> None:
    """Answer an incoming INVITE that has no Call object 403 through pjsua's C API (the call
    id is pjsua's)."""
    log_refusal(source, why)
    _pjsua_call_hangup(call_id, REFUSE_INCOMING, None, None)


@dataclass
class StreamPin:
    """Where one stream's RTP and RTCP sockets stand in pin_stream's rule: filtered to the
    latch's networks until `pinned` (the RTP socket's connect() target) is set."""

    local_rtp: int
    local_rtcp: int | None
    sdp_rtcp: tuple[str, int] | None
    latch: RtpLatch
    pinned: tuple[str, int] | None = None
    cancelled: bool = False


_PINS: weakref.WeakKeyDictionary[Any, dict[int, StreamPin]] = weakref.WeakKeyDictionary()  # by Call, stream index


def pin_stream(call: Any, index: int) -> None:
    """RTP only from where the far end really sends it (guard.py's module docstring has the rule
    and the pjmedia facts behind it): the stream's sockets take packets only from the SDP's host
    and the call's signalling peers (the guard's networks and signalling_hosts()), then the RTP
    socket is connect()ed to the first packet's source (pjmedia has latched onto it), or to the
    SDP address when no RTP comes within LATCH_WINDOW_S. Without this, pjmedia takes audio from
    anyone and sends the call's audio to a new source at its first packet, or after 10 in a row
    once the far end has sent (a flood hijacks the call).

    Runs for every stream created, on the main thread (onStreamCreated). A re-INVITE's stream on
    the same socket keeps the pin when the SDP address is unchanged, and is pinned to the new SDP
    address at once when the far end moved its media (signalled, so nothing to latch)."""
    try:
        tp = call.getMedTransportInfo(index)
        si = call.getStreamInfo(index)
    except pj.Error as exc:
        log.warning("RTP source not pinned: %s", describe(exc))
        return
    here, here_rtcp = split_hostport(tp.localRtpName), split_hostport(tp.localRtcpName)
    sdp, sdp_rtcp = split_hostport(si.remoteRtpAddress), split_hostport(si.remoteRtcpAddress)
    if here is None or sdp is None:
        log.warning("RTP source not pinned: local %s, remote %s", tp.localRtpName, si.remoteRtpAddress)
        return
    pins = _PINS.setdefault(call, {})
    prev = pins.get(index)
    if prev is not None and prev.local_rtp == here[1] and prev.latch.sdp == sdp:
        return
    rtcp_port = here_rtcp[1] if here_rtcp is not None else None
    now = time.monotonic()
    if prev is not None and prev.local_rtp == here[1]:
        prev.cancelled = True
        pin = StreamPin(here[1], rtcp_port, sdp_rtcp, RtpLatch(sdp, (), now), pinned=sdp)
        pins[index] = pin
        _pin(here[1], sdp)
        if rtcp_port is not None and sdp_rtcp is not None:
            _pin(rtcp_port, sdp_rtcp)
        return
    allowed = endpoint.GUARD.policy.networks if endpoint.GUARD is not None else (LOOPBACK,)
    networks = rtp_networks(sdp[0], signalling_hosts(call), allowed)
    pin = StreamPin(here[1], rtcp_port, sdp_rtcp, RtpLatch(sdp, networks, now + LATCH_WINDOW_S))
    pins[index] = pin
    for port in (here[1], rtcp_port):
        if port is None:
            continue
        if not filter_udp_socket(port, networks):
            log.warning("RTP sources not filtered on local port %d: pinned to the SDP address now", port)
            _pin(port, sdp if port == here[1] else sdp_rtcp)
            pin.pinned = sdp
        else:
            unpin_udp_socket(port)  # a socket pjsua reused may still be connected to another peer
    if pin.pinned is None:
        ref = weakref.ref(call)
        endpoint.TIMERS.call_at(now + LATCH_POLL_S, lambda t: _latch(ref, index, pin, t))


def signalling_hosts(call: Any) -> tuple[str, ...]:
    """The hosts a call's signalling goes to besides the guard's networks: `call.signal_hosts`
    (set by the worker: an inbound INVITE's real source) and, for a call we placed, the dialled
    URI's host (a desk phone behind NAT is dialled at the address its REGISTER came from; an
    inbound call's From is the caller's word, so it never counts)."""
    hosts = list(getattr(call, "signal_hosts", ()))
    try:
        info = call.getInfo()
    except pj.Error:
        return tuple(hosts)
    if info.role == pj.PJSIP_ROLE_UAC:
        host = uri_host(str(info.remoteUri))
        if host is not None:
            hosts.append(host)
    return tuple(hosts)


def _pin(port: int, remote: tuple[str, int] | None) -> None:
    if remote is not None and not pin_udp_socket(port, remote):
        log.warning("RTP source not pinned: local port %d, remote %s:%d", port, *remote)


def _latch(ref: weakref.ref[Any], index: int, pin: StreamPin, now: float) -> None:
    """pin_stream's timer: pin the stream's sockets once its first RTP packet has come (or the
    window is over); else look again in LATCH_POLL_S. Main thread (endpoint.TIMERS)."""
    call = ref()
    if pin.cancelled or call is None:
        return
    try:
        tp = call.getMedTransportInfo(index)
    except pj.Error:
        return  # the call or its media is gone
    source = split_hostport(tp.srcRtpName)
    target = pin.latch.decide(source, now)
    if target is None:
        endpoint.TIMERS.call_at(now + LATCH_POLL_S, lambda t: _latch(ref, index, pin, t))
        return
    pin.pinned = target
    _pin(pin.local_rtp, target)
    if target != pin.latch.sdp:
        log.info("RTP latched to %s:%d (the SDP said %s:%d)", *target, *pin.latch.sdp)
    if pin.local_rtcp is None:
        return
    rtcp = split_hostport(tp.srcRtcpName)
    if rtcp is not None and rtcp[1] != 0 and pin.latch.allows(rtcp[0]):
        _pin(pin.local_rtcp, rtcp)
    elif target == pin.latch.sdp:
        _pin(pin.local_rtcp, pin.sdp_rtcp)
    # else RTCP (no audio in it) stays filtered to the latch's networks: behind NAT its source
    # port is unknown until the far end's first report, seconds later


def received_message(prm: Any) -> str:
    """The text of the SIP message whose arrival changed a call's state (a final response, a
    BYE), or "" when a timer or our own request changed it."""
    try:
        event = prm.e
        if event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
            return str(event.body.tsxState.src.rdata.wholeMsg)
    except (AttributeError, pj.Error):
        pass
    return ""


class WorkerCall(pj.Call):  # type: ignore[misc]
    """The pjsua2 Call under a Dialog: its callbacks go to the owner by CallSid."""

    def __init__(self, owner: DialogOwner, account: Any, call_sid: str) -> None:
        super().__init__(account)
        self.owner = owner
        self.call_sid = call_sid

    def onCallState(self, prm: Any) -> None:
        self.owner.on_state(self.call_sid, received_message(prm))

    def onCallMediaState(self, prm: Any) -> None:
        self.owner.on_media(self.call_sid)

    def onDtmfDigit(self, prm: Any) -> None:
        self.owner.on_digit(self.call_sid, prm.digit)

    def onStreamCreated(self, prm: Any) -> None:
        pin_stream(self, int(prm.streamIdx))

    def onStreamDestroyed(self, prm: Any) -> None:
        # The stream's statistics still answer here, and no longer once the call is DISCONNECTED.
        self.owner.on_stream_gone(self.call_sid)


class InboundCall(WorkerCall):
    """The pjsua2 Call of an incoming INVITE: named by its dialog_id until the engine gives it a
    CallSid."""

    def __init__(self, owner: DialogOwner, account: Any, call_id: int) -> None:
        pj.Call.__init__(self, account, call_id)
        self.owner = owner
        # Unique across the pool's workers (the engine keys held INVITEs by it): the pid too.
        self.call_sid = f"in-{os.getpid()}-{call_id}-{next(_INBOUND_IDS)}"


_INBOUND_IDS = itertools.count(1)


def outbound(owner: DialogOwner, account: Any, cmd: proto.MakeCall, ring_deadline: float) -> tuple[Dialog, Any]:
    """The Dialog of a call command and the CallOpParam of its INVITE (our CallSid rides in
    X-Wirexa-CallSid); the caller sends it with `dialog.call.makeCall(cmd.to_uri, prm)`."""
    call = WorkerCall(owner, account, cmd.call_sid)
    prm = pj.CallOpParam(True)
    prm.txOption.localUri = cmd.from_uri
    for name, value in (*cmd.headers, ("X-Wirexa-CallSid", cmd.call_sid)):
        h = pj.SipHeader()
        h.hName, h.hValue = name, value
        prm.txOption.headers.append(h)
    return Dialog(cmd.call_sid, call, ring_deadline, amd=amd_params(cmd)), prm
