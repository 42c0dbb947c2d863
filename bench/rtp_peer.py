"""The SIP peer's media for bench/streams_bench.py: one UDP port that receives every call's RTP from
the engine and sends each call its own 20 ms PCMU stream back (payload type 0, own SSRC, sequence
and timestamp), i.e. the caller's voice that the engine hands to the Media Streams agent.

SIPp answers the engine's calls with an SDP pointing here (bench/sipp_uas_bench.xml, as for
bench/rtp_sink.py), so every call's RTP arrives on this one port; calls are told apart by the
engine's source address (pjsua's RTP is symmetric: it sends from the port it listens on, so
that address is where this peer sends the call's stream). A call whose RTP stopped for
STALE_S is forgotten (its call ended).

Frames carry a tag the agent and this peer can read after the engine's decode / bridge / encode
(G.711 mu-law survives mu-law -> PCM -> mu-law unchanged; the bench checks that it does). Each
10 ms half of a tagged frame holds the whole tag,
    TAG (4 bytes) | peer send time ns (16 nibbles) | frame counter (8) | agent send time ns (16) | loud filler,
because pjmedia's G.711 frames are 10 ms: after a jitter-buffer event the bridge's 20 ms frame may
hold the second half of one packet and the first half of the next, and a reader takes the first
whole tag it finds. Each nibble is one mu-law byte 0x00..0x0F (all loud), the filler a loud
square wave. A silent frame is 160 x 0xFF. Modes (stdin "mode NAME"): silence (every frame silent), markers (a tagged frame every
MARK_EVERY frames, silence between: a click after silence), tagged (every frame tagged, counted).

Measured per window (stdin "w" prints one JSON line and starts a new window; "r" starts one
silently; "n" prints the number of calls sending to us now; "bursts" prints each call's audible
bursts in the window; "q"/EOF ends): arrival gaps (kernel receive stamps, SO_TIMESTAMPNS, so
they are the engine's sending jitter plus loopback, not this process's scheduling), RTP sequence
gaps (lost) per call, tagged frames coming back: agent -> peer latency (arrival - the agent's
stamp), round trip (arrival - this peer's own stamp in the echoed frame) and frames missing by
counter (echoed frames lost anywhere on the way), and this peer's own send lateness.
All times are CLOCK_REALTIME ns (the kernel stamps are; time.time_ns() elsewhere), so the agent's
process and this one compare stamps directly.

Usage: python bench/rtp_peer.py PORT. Prints "ready PORT".
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python 3.11 does not export it
ANC_SPACE = socket.CMSG_SPACE(16)
FRAME_S = 0.020
SAMPLES = 160
TAG = bytes((0x01, 0x0E, 0x03, 0x0C))
NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
HEX = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
HALF = SAMPLES // 2
FILLER = bytes((0x00, 0x80)) * ((HALF - 44) // 2)
SILENCE = b"\xff" * SAMPLES
MAG = bytes((~b) & 0x7F for b in range(256))  # mu-law magnitude code (0 = silence, 0x7f = loudest)
AUDIBLE_FROM = 0x10  # a packet whose loudest sample is above ~-48 dBFS (mu-law segment 1 and up)
MARK_EVERY = 10  # markers mode: one click every 200 ms
STALE_S = 1.0
# Each call sends in one of SLOTS phases of the 20 ms period (drawn at random when it appears): the
# worker's media clock runs on for all its calls, so with one common phase every call of a worker
# would sit at the same offset from the engine's tick and the latency would not sample it.
SLOTS = 10
SLOT_S = FRAME_S / SLOTS
BURST_GAP_NS = 100_000_000  # audible packets further apart than this start a new burst


def nib(value: int, digits: int) -> bytes:
    return value.to_bytes(digits // 2, "big").hex().encode().translate(NIBBLES)


def unnib(raw: bytes) -> int:
    """ValueError unless every byte is a nibble code."""
    return int(raw.translate(HEX), 16)


def tagged(peer_ns: int, counter: int, agent_ns: int = 0) -> bytes:
    half = TAG + nib(peer_ns, 16) + nib(counter & 0xFFFFFFFF, 8) + nib(agent_ns, 16) + FILLER
    return half + half


def read_tag(payload: bytes) -> tuple[int, int, int] | None:
    """(peer ns, counter, agent ns) of the first whole tag in a frame; None for a frame without
    one; ValueError for a tag whose fields did not survive."""
    i = payload.find(TAG)
    if i < 0 or i + 44 > len(payload):
        return None
    return unnib(payload[i + 4 : i + 20]), unnib(payload[i + 20 : i + 28]), unnib(payload[i + 28 : i + 44])


def restamp(payload: bytes, agent_ns: int) -> bytes:
    """The frame with every whole tag's agent time set to agent_ns."""
    out = bytearray(payload)
    stamp = nib(agent_ns, 16)
    i = out.find(TAG)
    while 0 <= i and i + 44 <= len(out):
        out[i + 28 : i + 44] = stamp
        i = out.find(TAG, i + 44)
    return bytes(out)


def pct(sorted_values: list[int], p: float, scale: float = 1e6) -> float:
    if not sorted_values:
        return float("nan")
    return round(sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))] / scale, 3)


class Call:
    __slots__ = (
        "addr",
        "last_ns",
        "last_seq",
        "out_seq",
        "out_ts",
        "out_ssrc",
        "sent",
        "echo_last",
        "bursts",
        "slot",
        "a2p",
    )

    def __init__(self, addr: tuple[str, int], now_ns: int, seq: int) -> None:
        self.addr = addr
        self.last_ns = now_ns
        self.last_seq = seq
        self.out_seq = int.from_bytes(os.urandom(2), "big")
        self.out_ts = int.from_bytes(os.urandom(4), "big")
        self.out_ssrc = int.from_bytes(os.urandom(4), "big")
        self.sent = 0  # frames sent (the tag's counter)
        self.echo_last = -1  # the last counter seen coming back
        self.slot = os.urandom(1)[0] % SLOTS
        self.a2p: list[int] = []  # this window's agent -> peer latencies of this call
        # Audible bursts this window: [first, last audible packet's arrival ns, packets, the next
        # silent packet's arrival ns (0 until one comes)].
        self.bursts: list[list[int]] = []


class Peer:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE needs CAP_NET_ADMIN; else capped by rmem_max
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                break
            except OSError:
                continue
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.calls: dict[tuple[str, int], Call] = {}
        self.mode = "silence"
        self.reset()

    def reset(self) -> None:
        self.t0 = time.time_ns()
        self.gaps: list[int] = []
        self.per_call_max_gap: dict[tuple[str, int], int] = {}
        self.packets = self.rtcp = self.lost = self.out_of_order = self.audible = self.bad = 0
        self.tagged_in = self.tag_corrupt = self.echo_lost = self.echo_reordered = 0
        self.a2p: list[int] = []  # agent send -> here (ns)
        self.rtt: list[int] = []  # this peer's send -> agent -> back here (ns)
        self.sent = self.send_errors = 0
        self.late: list[int] = []  # how late each batch went out vs its 20 ms tick (ns)
        self.new_calls = 0
        self.echo_underruns = 0  # silent packets on a call already echoing: the engine had no agent audio at a tick
        self.gone: dict[str, list[list[int]]] = {}  # the bursts of calls forgotten in this window
        for c in self.calls.values():
            c.bursts = []
            c.a2p = []

    def drain(self) -> None:
        recvmsg, calls = self.sock.recvmsg, self.calls
        while True:
            try:
                data, anc, _flags, addr = recvmsg(2048, ANC_SPACE)
            except BlockingIOError:
                return
            ts = 0
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    ts = sec * 1_000_000_000 + nsec
            if not ts:
                ts = time.time_ns()
            if len(data) < 12 or data[0] >> 6 != 2:
                self.bad += 1
                continue
            if 200 <= data[1] <= 204:
                self.rtcp += 1
                continue
            seq = (data[2] << 8) | data[3]
            c = calls.get(addr)
            self.packets += 1
            if c is None:
                c = calls[addr] = Call(addr, ts, seq)
                self.new_calls += 1
            else:
                gap = ts - c.last_ns
                self.gaps.append(gap)
                if gap > self.per_call_max_gap.get(addr, 0):
                    self.per_call_max_gap[addr] = gap
                d = (seq - c.last_seq) & 0xFFFF
                if d == 0 or d > 0x8000:
                    self.out_of_order += 1
                elif d > 1:
                    self.lost += d - 1
                c.last_ns, c.last_seq = ts, seq
            payload = data[12:]
            if (data[1] & 0x7F) != 0 or len(payload) < 44:
                continue
            b = c.bursts
            if max(payload.translate(MAG)) >= AUDIBLE_FROM:
                self.audible += 1
                if b and ts - b[-1][1] <= BURST_GAP_NS:
                    b[-1][1] = ts
                    b[-1][2] += 1
                    b[-1][3] = 0
                else:
                    b.append([ts, ts, 1, 0])
            else:
                if b and not b[-1][3]:
                    b[-1][3] = ts  # the first silent packet after the burst
                if c.echo_last >= 0:
                    self.echo_underruns += 1
            try:
                tag = read_tag(payload)
            except ValueError:
                self.tag_corrupt += 1
                continue
            if tag is None:
                continue
            peer_ns, counter, agent_ns = tag
            self.tagged_in += 1
            if agent_ns:
                self.a2p.append(ts - agent_ns)
                c.a2p.append(ts - agent_ns)
            if peer_ns:
                self.rtt.append(ts - peer_ns)
                if c.echo_last >= 0:
                    if counter > c.echo_last + 1:
                        self.echo_lost += counter - c.echo_last - 1
                    elif counter <= c.echo_last:
                        self.echo_reordered += 1
                c.echo_last = counter

    def send_batch(self, planned: float, slot: int) -> None:
        now_ns = time.time_ns()
        stale = now_ns - int(STALE_S * 1e9)
        sendto, pack, mode = self.sock.sendto, struct.pack, self.mode
        for addr, c in list(self.calls.items()):
            if c.slot != slot:
                continue
            if c.last_ns < stale:
                self.gone[f"{addr[0]}:{addr[1]}"] = c.bursts
                del self.calls[addr]
                continue
            n = c.sent
            if mode == "tagged" or (mode == "markers" and n % MARK_EVERY == MARK_EVERY // 2):
                payload = tagged(time.time_ns(), n)
            else:
                payload = SILENCE
            c.sent = n + 1
            c.out_seq = (c.out_seq + 1) & 0xFFFF
            c.out_ts = (c.out_ts + SAMPLES) & 0xFFFFFFFF
            try:
                sendto(pack("!BBHII", 0x80, 0, c.out_seq, c.out_ts, c.out_ssrc) + payload, addr)
                self.sent += 1
            except OSError:
                self.send_errors += 1
        self.late.append(int((time.monotonic() - planned) * 1e9))

    def window(self) -> dict[str, object]:
        self.drain()
        now = time.time_ns()
        gaps = sorted(self.gaps)
        a2p, rtt, late = sorted(self.a2p), sorted(self.rtt), sorted(self.late)
        medians = sorted(sorted(c.a2p)[len(c.a2p) // 2] for c in self.calls.values() if c.a2p)
        out: dict[str, object] = {
            "window_s": round((now - self.t0) / 1e9, 2),
            "mode": self.mode,
            "calls_now": len(self.calls),
            "new_calls": self.new_calls,
            "packets": self.packets,
            "rtcp_packets": self.rtcp,
            "malformed": self.bad,
            "lost_packets": self.lost,
            "out_of_order_packets": self.out_of_order,
            "audible_packets": self.audible,
            "gap_count": len(gaps),
            "gap_p50_ms": pct(gaps, 50),
            "gap_p99_ms": pct(gaps, 99),
            "gap_p999_ms": pct(gaps, 99.9),
            "gap_max_ms": pct(gaps, 100),
            "calls_with_a_gap_over_40ms": sum(1 for g in self.per_call_max_gap.values() if g > 40_000_000),
            "tagged_frames_in": self.tagged_in,
            "tagged_frames_corrupt": self.tag_corrupt,
            "echoed_frames_missing": self.echo_lost,
            "echoed_frames_reordered": self.echo_reordered,
            "echo_underrun_packets": self.echo_underruns,
            "agent_to_peer_per_call_p50_ms": {
                "min": pct(medians, 0),
                "p50": pct(medians, 50),
                "max": pct(medians, 100),
            },
            "agent_to_peer_ms": {"n": len(a2p), "p50": pct(a2p, 50), "p99": pct(a2p, 99), "max": pct(a2p, 100)},
            "agent_to_peer_raw_ms": [round(x / 1e6, 3) for x in self.a2p] if len(self.a2p) <= 5000 else None,
            "round_trip_ms": {"n": len(rtt), "p50": pct(rtt, 50), "p99": pct(rtt, 99), "max": pct(rtt, 100)},
            "sent_packets": self.sent,
            "send_errors": self.send_errors,
            "own_send_late_ms": {"p50": pct(late, 50), "p99": pct(late, 99), "max": pct(late, 100)},
        }
        self.reset()
        return out

    def run(self) -> None:
        print(f"ready {self.sock.getsockname()[1]}", flush=True)
        stdin = sys.stdin
        next_tick = time.monotonic() + SLOT_S
        slot = 0
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            readable, _, _ = select.select([self.sock, stdin], [], [], timeout)
            if self.sock in readable:
                self.drain()
            now = time.monotonic()
            if now >= next_tick:
                self.send_batch(next_tick, slot)
                slot = (slot + 1) % SLOTS
                next_tick += SLOT_S
                if now - next_tick > 0.1:  # far behind (suspended): start again from now
                    next_tick = now + SLOT_S
            if stdin in readable:
                line = stdin.readline()
                cmd = line.strip()
                if not line or cmd == "q":
                    return
                if cmd == "w":
                    print(json.dumps(self.window()), flush=True)
                elif cmd == "r":
                    self.drain()
                    self.reset()
                    print("ok", flush=True)
                elif cmd == "n":
                    self.drain()
                    cut = time.time_ns() - 300_000_000
                    print(json.dumps(sum(1 for c in self.calls.values() if c.last_ns > cut)), flush=True)
                elif cmd == "bursts":
                    self.drain()
                    live = {f"{a[0]}:{a[1]}": c.bursts for a, c in self.calls.items()}
                    print(json.dumps({**self.gone, **live}), flush=True)
                elif cmd.startswith("mode "):
                    self.mode = cmd.split(None, 1)[1]
                    print("ok", flush=True)


if __name__ == "__main__":
    Peer(int(sys.argv[1])).run()
