"""One pjsua2 Endpoint per process, owned by the thread that created it, plus the JSON-lines
plumbing shared by the media worker and the sandbox carrier.

Theory of operation (facts measured in docs/PJSUA2_FINDINGS.md). The process's
main thread calls libCreate/libInit, then loops: libHandleEvents (waits on the SIP sockets and
pjsip's timers), run the commands a stdin-reader thread queued, run the owner's tick. With
threadCnt = 0 and mainThreadOnly every pjsua2 callback (call state, media state, DTMF) runs on
that same thread, so no pjsua2 object is ever touched elsewhere; the reader thread only parses
JSON into a queue.Queue and wakes the main thread (CommandLoop explains how and why). Objects
whose last reference would be dropped inside a pjsua2 callback go to a graveyard that the loop
empties later; ended Call objects instead go as soon as the callback is over (release()). The
null sound device clocks the conference bridge and never auto-closes (sndAutoCloseTime = -1),
else ended calls' ports leak and new calls fail after ~1,000.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import math
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pjsua2 as pj

from wirexa.errors import SipError
from wirexa.sip import protocol as proto
from wirexa.sip.guard import PeerPolicy, SipGuard, peer_networks

log = logging.getLogger(__name__)

_STDOUT_LOCK = threading.Lock()


# pjmedia_jb_discard_algo's values ([sip] jitter_discard, config.JITTER_DISCARDS). Measured with
# bench/streams_bench.py (every call an echoed Media Stream, 2 cores, 2026-12-08): pjsua's default,
# progressive, dropped 27 of 25,000 frames at 50 calls (the machine half busy) and ~300 at 100;
# static dropped 3 and 0, at the same delay (round trip p50 32 ms at 50).
JB_DISCARD = {"none": 0, "static": 1, "progressive": 2}


def set_jb_discard(media_config: Any, name: str) -> None:
    """Set MediaConfig.jbDiscardAlgo. The wheel wraps the enum as an opaque pointer with no
    constants: its getter returns a copy (4 bytes SWIG cannot free: disowned, so it does not
    print a leak warning when collected), written here through ctypes and assigned back."""
    algo = media_config.jbDiscardAlgo
    algo.disown()
    ctypes.c_int.from_address(int(algo)).value = JB_DISCARD[name]
    media_config.jbDiscardAlgo = algo


def jb_discard_of(media_config: Any) -> int:
    algo = media_config.jbDiscardAlgo
    algo.disown()
    return int(ctypes.c_int.from_address(int(algo)).value)


def frame_bytes(vector: Any) -> bytes:
    """A pjsua2 ByteVector (a MediaFrame's buf) as bytes, read straight from the std::vector's
    begin/end pointers: ~100x cheaper than bytes(vector), which iterates element by element
    through SWIG (measured ~160 us per 20 ms frame, on the clock thread every call shares)."""
    addr = int(vector.this)
    start = ctypes.c_void_p.from_address(addr).value
    finish = ctypes.c_void_p.from_address(addr + 8).value
    return ctypes.string_at(start, finish - start) if start and finish else b""


_HELD_THREADS: set[int] = set()


def hold_thread_state() -> None:
    """Call first in a callback that pjlib's clock thread makes many times a second (the ports'
    onFrameReceived / onFrameRequested): from then on the thread keeps its Python thread state.

    pjsua2's SWIG directors enter Python with PyGILState_Ensure and leave with
    PyGILState_Release. On a thread Python did not start that pair builds a thread state on
    every callback and tears it down on return (threading.local data is gone each time too).
    One more Ensure, never released, keeps the thread's count above zero: the state is built
    once, and each later callback only takes and drops the GIL (Release still drops it, since
    the SWIG pair is balanced). Measured on the AMD tap, 24 calls, the clock thread per call:
    an empty callback every 100 ms cost 0.07-0.15% of a core with the churn, 0.03-0.08% without;
    the whole tap 0.28-0.33% -> 0.20-0.26% (docs/PJSUA2_FINDINGS.md). The thread's state lives
    until the process ends (pjlib's threads end only at libDestroy, just before exit)."""
    ident = threading.get_ident()
    if ident not in _HELD_THREADS:
        _HELD_THREADS.add(ident)
        ctypes.pythonapi.PyGILState_Ensure()


def audio_format(frame_us: int = 20_000) -> Any:
    """The bridge's audio format (8 kHz 16-bit mono) for an AudioMediaPort's createPort, with
    frames of `frame_us` (the bridge buffers when it differs from its own 20 ms)."""
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = 8000
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = frame_us
    return fmt


Sink = Callable[[proto.Event], None]  # where a worker program's events go


def emit(event: proto.Event) -> None:
    """The default Sink: write one event line to stdout (the engine reads it). Any thread."""
    data = event.to_json()
    with _STDOUT_LOCK:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


GUARD: SipGuard | None = None  # this process's SIP guard (one Endpoint per process)


def silence_banner() -> None:
    """Keep pjlib's start-up banner off stdout (stdout carries our protocol)."""
    _LIB.pj_log_set_level(0)


def create_endpoint(
    *,
    port: int,
    bind: str,
    rtp_port: int,
    log_file: str,
    max_calls: int = 4,
    tcp: bool = True,
    tls: bool = False,
    user_agent: str = "Wirexa",
    bind_wait_s: float = 0.0,
    allow: Sequence[str] = (),
    public_address: str = "",
    tx_drop_pct: int = 0,
    jitter_discard: str = "static",
) -> Any:
    """libCreate + libInit + the SIP guard + transports + null audio device + codecs + libStart.

    The guard (guard.py) answers 403 to requests from anyone but loopback, `bind` and the
    `allow` list (the trunk), before pjsua sees them; it is in place before any transport opens.

    `public_address` (a box behind NAT: `[sip] public_address`) is what the SIP transports
    announce: pjsip puts a transport's published name (TransportConfig.publicAddress) in the
    Via sent-by and the Contact of everything it sends, while the sockets still bind `bind`.
    The SDP's address is the account's business (account_config). `tx_drop_pct` drops that
    percent of the RTP packets every call sends (the sandbox carrier's lossy network).
    `jitter_discard` is every call's jitter buffer discard algorithm (JB_DISCARD)."""
    silence_banner()
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = max_calls
    cfg.uaConfig.userAgent = user_agent
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.threadCnt = 1
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.sndAutoCloseTime = -1
    cfg.medConfig.txDropPct = tx_drop_pct
    set_jb_discard(cfg.medConfig, jitter_discard)
    cfg.logConfig.level = 3
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.filename = log_file
    cfg.logConfig.decor = cfg.logConfig.decor & ~pj.PJ_LOG_HAS_COLOR
    ep.libInit(cfg)
    global GUARD
    GUARD = SipGuard(PeerPolicy(peer_networks(allow, bind)))
    GUARD.install(_LIB)
    GUARD.quiet_parse_errors(_LIB)
    tc = pj.TransportConfig()
    tc.port = port
    tc.boundAddress = bind
    tc.publicAddress = public_address
    _create_transport(ep, pj.PJSIP_TRANSPORT_UDP, tc, bind_wait_s)
    if tcp:
        tc2 = pj.TransportConfig()
        tc2.port = port
        tc2.boundAddress = bind
        tc2.publicAddress = public_address
        _create_transport(ep, pj.PJSIP_TRANSPORT_TCP, tc2, bind_wait_s)
    if tls:
        # Client-side TLS to a trunk (TLS 1.2 with this wheel's OpenSSL 1.0.2); any local port.
        tc3 = pj.TransportConfig()
        tc3.port = 0
        tc3.boundAddress = bind
        tc3.publicAddress = public_address
        tc3.tlsConfig.verifyServer = False
        ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc3)
    ep.audDevManager().setNullDev()
    for ci in ep.codecEnum2():
        ep.codecSetPriority(ci.codecId, 0)
    for i, codec in enumerate(("PCMU/8000", "PCMA/8000")):
        ep.codecSetPriority(codec, 255 - i)
    ep.libStart()
    return ep


def _create_transport(ep: Any, kind: Any, tc: Any, wait_s: float) -> None:
    """transportCreate, retried for up to wait_s while the port is still held: after a kill -9 of
    the engine its orphaned processes keep their ports until they read EOF on stdin and shut down."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            ep.transportCreate(kind, tc)
            return
        except pj.Error as exc:
            if time.monotonic() >= deadline or "in use" not in exc.info().lower():
                raise
            time.sleep(0.25)


def account_config(uri: str, bind: str, rtp_port: int, rtp_range: int = 64, public_rtp_address: str = "") -> Any:
    """An account whose calls' RTP sockets bind `bind` from `rtp_port` (`rtp_range` ports).
    `public_rtp_address` (behind NAT: `[sip] public_rtp_address`, else `public_address`) is the
    media transports' published name, which pjsua writes in the SDP's c= and o= lines."""
    acfg = pj.AccountConfig()
    acfg.idUri = uri
    acfg.mediaConfig.transportConfig.boundAddress = bind
    acfg.mediaConfig.transportConfig.publicAddress = public_rtp_address
    acfg.mediaConfig.transportConfig.port = rtp_port
    acfg.mediaConfig.transportConfig.portRange = rtp_range
    return acfg


def audio_media_of(call: Any) -> Any:
    """The first active audio AudioMedia of a call, or None."""
    try:
        info = call.getInfo()
    except pj.Error:
        return None
    for i, mi in enumerate(info.media):
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in (
            pj.PJSUA_CALL_MEDIA_ACTIVE,
            pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
        ):
            return call.getAudioMedia(i)
    return None


def describe(exc: BaseException) -> str:
    """One line for an error event: pjsua2's own text for a pj.Error, else type and message."""
    info = getattr(exc, "info", None)
    if callable(info):
        return str(info())
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"{name}: {exc}"


def sip_error(exc: Exception) -> SipError:
    info = getattr(exc, "info", None)
    return SipError(info() if callable(info) else str(exc))


class Timers:
    """Callbacks due at a time.monotonic() moment, run by the process's CommandLoop between
    libHandleEvents calls, on the main thread: code outside the owner (dialogs.pin_stream's RTP
    latch) can wait for something without a thread of its own, and touch pjsua2 objects when it
    runs. Main thread only; the loop wakes in time for the next one (CommandLoop.poll_ms)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def call_at(self, when: float, fn: Callable[[float], None]) -> None:
        """Run fn(now) at `when` (time.monotonic()) or soon after."""
        heapq.heappush(self._heap, (when, next(self._seq), fn))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = heapq.heappop(self._heap)
            try:
                fn(now)
            except Exception:  # noqa: BLE001 - one failing timer must not stop the loop
                log.exception("timer failed")

    def clear(self) -> None:
        self._heap.clear()


TIMERS = Timers()  # this process's (one Endpoint, one CommandLoop per process)

WAKE = b"\r\n\r\n"  # a SIP keep-alive (RFC 5626): pjsip's UDP transport drops it unparsed
ACTIVE_POLL_MS = 20  # while calls are live: the owners' tick timers need ~20 ms resolution
IDLE_POLL_MS = 1000  # nothing live: only a command, a SIP packet or a pjsip timer has work
LINGER_S = 3.0  # keep ticking this long after the last call or command (recordings closing)


def registered_accounts() -> int:
    """Accounts in this process that register with a registrar (a trunk), through pjsua2's lookup
    of the valid account ids (pjsua2 cannot list them; an id lookup() does not know aborts)."""
    count = 0
    for acc_id in range(MAX_ACCOUNTS):
        if _pjsua_acc_is_valid(acc_id):
            account = pj.Account.lookup(acc_id)
            if account is None or account.getInfo().regIsConfigured:  # unknown counts as registered
                count += 1
    return count


def live_calls() -> int:
    """pjsua's count of calls in this process (any state), read through the C API: pjsua2 has
    no wrapper for it, and the owner's own bookkeeping is not the loop's business."""
    return int(_pjsua_call_get_count())


_LIB = ctypes.CDLL(pj._pjsua2.__file__)
_pjsua_call_get_count = _LIB.pjsua_call_get_count
_pjsua_call_get_count.restype = ctypes.c_uint
_pjsua_call_get_count.argtypes = []
_pjsua_acc_is_valid = _LIB.pjsua_acc_is_valid
_pjsua_acc_is_valid.argtypes = [ctypes.c_int]
_pjsua_acc_is_valid.restype = ctypes.c_int
MAX_ACCOUNTS = 32  # above pjsua's PJSUA_MAX_ACC (8); pjsua_acc_is_valid is false past it


def wake_address(ep: Any) -> tuple[str, int] | None:
    """Where to send the wake-up packet: the Endpoint's own UDP SIP transport, at the address its
    socket is bound to (localAddress; localName is the published one, a public address behind NAT)."""
    for tid in ep.transportEnum():
        info = ep.transportGetInfo(tid)
        if info.typeName != "UDP":
            continue
        host, _, port = str(getattr(info, "localAddress", "") or info.localName).rpartition(":")
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return host.strip("[]"), int(port)
    return None


class CommandLoop:
    """Runs the Endpoint's poll loop on the calling (main) thread; see the module docstring.

    How the main thread waits (measured in docs/PJSUA2_FINDINGS.md, "Idle cost"). A fixed poll
    with libHandleEvents(5 ms) is 200 wake-ups a second, ~1.8% of a core per idle process
    (Python's loop body and the select/wake-up in the kernel; the native side is ~8% of that),
    so libHandleEvents waits as long as nothing can be due:
    - a command wakes it at once: the stdin reader, after queueing it, sends a 4-byte SIP
      keep-alive (CRLF CRLF) to this Endpoint's own UDP transport, so the select() inside
      libHandleEvents returns and the command runs (pjsip drops the packet unparsed, and
      pjlib's queue is never touched from the reader thread);
    - SIP traffic and pjsip's own timers (retransmissions, registration refresh) wake it as
      they always did: libHandleEvents never sleeps past pjsip's next timer;
    - while pjsua has a call, and for LINGER_S after the last call or command, it polls every
      `active_ms` (ACTIVE_POLL_MS, 20 ms, unless the owner sets it) so the owner's tick keeps
      that resolution and the callbacks pjsua2 queues from the media thread (DTMF digits,
      mainThreadOnly) run within it; an owner that knows when its next timer is due (`due`:
      a ring timeout, the end of a prompt, a digit to send) is woken then, so it can poll
      rarely (the media worker: 100 ms) without being late for anything; so is anyone
      waiting on the process's TIMERS (an RTP latch);
    - otherwise it waits IDLE_POLL_MS (a lost wake-up packet, which loopback does not lose
      short of a full socket buffer, would delay a command by at most that).
    The alternatives measured: a fixed 1/5/10 ms poll (cost grows with the rate), and
    pjsua2's own worker threads (callbacks then run on threads Python code shares state with).
    Without a UDP transport (never the case here) it falls back to polling every 5 ms.

    `elapsed` is the time since the previous tick, for owners that integrate over ticks."""

    def __init__(
        self,
        ep: Any,
        handle: Callable[[proto.Command], None],
        tick: Callable[[float], None],
        *,
        active_ms: int = ACTIVE_POLL_MS,
        idle_ms: int = IDLE_POLL_MS,
        busy: Callable[[], bool] | None = None,
        due: Callable[[], float | None] | None = None,
        emit: Sink = emit,
    ) -> None:
        self.ep = ep
        self.emit = emit
        self.handle = handle
        self.tick = tick
        self.busy = busy
        self.due = due
        self.commands: queue.Queue[proto.Command | None] = queue.Queue()
        self.running = True
        self.graveyard: list[tuple[float, Any]] = []
        self.released: list[Any] = []  # ended Call objects, dropped before anything else runs
        self.elapsed = 0.0
        self._wake_to = wake_address(ep)
        self.active_ms = active_ms if self._wake_to is not None else 5
        self.idle_ms = idle_ms if self._wake_to is not None else 5
        self._wake_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if self._wake_to is not None else None
        self._busy_until = time.monotonic() + LINGER_S
        self._reader = threading.Thread(target=self._read_stdin, name="stdin-reader", daemon=True)

    def wake(self) -> None:
        """Make the main thread's libHandleEvents return now. Any thread."""
        if self._wake_sock is not None and self._wake_to is not None:
            try:
                self._wake_sock.sendto(WAKE, self._wake_to)
            except OSError as exc:  # the main thread still polls every idle_ms
                log.warning("wake-up packet not sent: %s", exc)

    def poll_ms(self, now: float) -> int:
        """How long the next libHandleEvents may wait (see the class docstring)."""
        if self.busy is not None:
            busy = self.busy()
        else:
            busy = live_calls() > 0 or bool(self.graveyard)
        if busy:
            self._busy_until = now + LINGER_S
        limit = self.active_ms if now < self._busy_until else self.idle_ms
        due = self.due() if self.due is not None else None
        timer = TIMERS.next_due()
        if timer is not None:
            due = timer if due is None else min(due, timer)
        if due is None:
            return limit
        ms = math.ceil((due - now) * 1000)
        # Past due although the tick just ran: the owner could not act on it (a failing call);
        # poll briskly rather than spin.
        return min(limit, ms if ms >= 1 else 5)

    def bury(self, obj: Any) -> None:
        """Drop a pjsua2 object later, on this thread, outside any callback."""
        if obj is not None:
            self.graveyard.append((time.monotonic() + 0.5, obj))

    def release(self, call: Any) -> None:
        """Drop an ended Call object as soon as we are out of the callback, before any command or
        tick can start a call. pjsua2's Call destructor clears the user data of, and hangs up,
        whatever call holds its call id at that moment, and pjsua reuses ids: a late drop could
        silently kill a new call on the same id, which would then never report its end (a leaked
        slot). While shutting down, the graveyard (emptied before libDestroy) takes it."""
        if self.running:
            self.released.append(call)
        else:
            self.bury(call)

    def _read_stdin(self) -> None:
        for raw in sys.stdin.buffer:
            if not raw.strip():
                continue
            try:
                cmd = proto.command_from_json(raw)
            except ValueError as exc:
                self.emit(proto.CommandError(f"bad command: {exc}"))
                continue
            self.commands.put(cmd)
            self.wake()
        self.commands.put(None)  # the engine went away: shut down
        self.wake()

    def run(self) -> None:
        self._reader.start()
        last_tick = time.monotonic()
        while self.running:
            self.ep.libHandleEvents(self.poll_ms(time.monotonic()))
            self.released.clear()
            while True:
                try:
                    cmd = self.commands.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(cmd, proto.Ping):  # the pool's pings every 2 s are no work
                    self._busy_until = time.monotonic() + LINGER_S
                if cmd is None or isinstance(cmd, proto.Shutdown):
                    self.running = False
                    break
                # The owner reports the failures it expects (a file it cannot play) itself; what
                # escapes is still answered, naming the command, so the engine never waits on it.
                try:
                    self.handle(cmd)
                    self.released.clear()  # a hangup may end its call at once
                except pj.Error as exc:
                    log.warning("command %s failed: %s", cmd.NAME, sip_error(exc))
                    self.emit(proto.failure(cmd, str(sip_error(exc))))
                except Exception as exc:  # noqa: BLE001 - one bad command must not kill every call
                    log.exception("command %s failed", cmd.NAME)
                    self.emit(proto.failure(cmd, f"{type(exc).__name__}: {exc}"))
            now = time.monotonic()
            TIMERS.run_due(now)
            self.elapsed, last_tick = now - last_tick, now
            try:
                self.tick(now)
            except Exception:  # noqa: BLE001
                log.exception("tick failed")
            if self.graveyard and self.graveyard[0][0] <= now:
                self.graveyard = [(t, o) for t, o in self.graveyard if t > now]

    def shutdown(self) -> None:
        """Hang up everything, let the BYEs go out, destroy the library.

        An idle process exits at once (an idle engine stops in well under a second): the BYEs
        get up to 1 s only while calls are still ending, and libDestroy's own fixed second
        (pjsua_destroy2 sleeps it "for unregistration and ICE/TURN shutdown" unless told not
        to wait for replies) is kept only when there is something to wait for: calls were live
        here, or an account registered with a trunk (its unregistration may need a digest
        challenge answered)."""
        calls = live_calls()
        try:
            self.ep.hangupAllCalls()
            deadline = time.monotonic() + 1.0
            while live_calls() and time.monotonic() < deadline:
                self.ep.libHandleEvents(20)
        except pj.Error:
            pass
        self.released.clear()
        self.graveyard.clear()
        TIMERS.clear()
        if self._wake_sock is not None:
            self._wake_sock.close()
        import gc

        gc.collect()
        wait = calls > 0 or registered_accounts() > 0
        self.ep.libDestroy(0 if wait else pj.PJSUA_DESTROY_NO_RX_MSG)
