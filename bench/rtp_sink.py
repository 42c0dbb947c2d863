"""The callee's ears for bench/sip_bench.py: one UDP port that receives every call's RTP.

SIPp answers the engine's calls with an SDP pointing here (bench/sipp_uas_bench.xml), so every
engine call streams to this port; streams are told apart by RTP SSRC. Each packet is stamped by
the kernel on arrival (SO_TIMESTAMPNS), so the gaps measured are the engine's sending jitter plus
loopback delivery, not this process's scheduling delay.

Usage: python bench/rtp_sink.py PORT. Prints "ready PORT", then answers each stdin line "w" with
one JSON line describing the window since the previous "w" (and starts a new window); EOF or
"q" ends it.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python 3.11 does not export it
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
ANC_SPACE = socket.CMSG_SPACE(16)
# mu-law magnitude (0 = loudest, 0x7f = silence) of each byte, to tell a playing prompt from silence.
MAG = bytes((~b) & 0x7F for b in range(256))
AUDIBLE_BELOW = 0x60  # a packet whose loudest sample is at least ~-50 dBFS
STALE_NS = 300_000_000  # a stream with no packet for 300 ms is not "active"


def pct(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))] / 1000


class Sink:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE needs CAP_NET_ADMIN; else capped by rmem_max
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                break
            except OSError:
                continue
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.setblocking(False)
        # ssrc -> [last arrival ns, last seq]
        self.streams: dict[int, list[int]] = {}
        self.reset()

    def reset(self) -> None:
        self.t0 = time.time_ns()
        self.gaps: dict[int, list[int]] = {}  # ssrc -> inter-arrival gaps (µs) in this window
        self.packets = self.rtcp = self.lost = self.out_of_order = self.audible = self.new_streams = self.bad = 0

    def drain(self) -> None:
        recvmsg = self.sock.recvmsg
        streams, gaps = self.streams, self.gaps
        while True:
            try:
                data, anc, _flags, _addr = recvmsg(2048, ANC_SPACE)
            except BlockingIOError:
                return
            ts = 0
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(raw) >= 16:
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
            self.packets += 1
            seq = (data[2] << 8) | data[3]
            ssrc = int.from_bytes(data[8:12], "big")
            st = streams.get(ssrc)
            if st is None:
                streams[ssrc] = [ts, seq]
                self.new_streams += 1
            else:
                g = gaps.get(ssrc)
                if g is None:
                    g = gaps[ssrc] = []
                g.append((ts - st[0]) // 1000)
                d = (seq - st[1]) & 0xFFFF
                if d == 0 or d > 0x8000:
                    self.out_of_order += 1
                elif d > 1:
                    self.lost += d - 1
                st[0], st[1] = ts, seq
            if (data[1] & 0x7F) in (0, 8) and len(data) > 12 and min(data[12:].translate(MAG)) < AUDIBLE_BELOW:
                self.audible += 1

    def window(self) -> dict[str, object]:
        self.drain()
        now = time.time_ns()
        pooled = sorted(g for gs in self.gaps.values() for g in gs)
        per_stream_p99 = sorted(pct(sorted(gs), 99) for gs in self.gaps.values() if gs)
        over = sum(1 for gs in self.gaps.values() if gs and max(gs) > 40_000)
        active = sum(1 for st in self.streams.values() if now - st[0] < STALE_NS)
        out: dict[str, object] = {
            "window_s": round((now - self.t0) / 1e9, 2),
            "streams_with_packets": len(self.gaps),
            "streams_active_at_end": active,
            "new_streams": self.new_streams,
            "packets": self.packets,
            "audible_packets": self.audible,
            "rtcp_packets": self.rtcp,
            "lost_packets": self.lost,
            "out_of_order_packets": self.out_of_order,
            "malformed": self.bad,
            "gap_count": len(pooled),
            "gap_p50_ms": pct(pooled, 50),
            "gap_p99_ms": pct(pooled, 99),
            "gap_p999_ms": pct(pooled, 99.9),
            "gap_max_ms": pct(pooled, 100),
            "worst_stream_gap_p99_ms": per_stream_p99[-1] if per_stream_p99 else float("nan"),
            "streams_with_a_gap_over_40ms": over,
        }
        for ssrc in [s for s, st in self.streams.items() if now - st[0] > 60_000_000_000]:
            del self.streams[ssrc]
        self.reset()
        return out

    def run(self) -> None:
        print(f"ready {self.sock.getsockname()[1]}", flush=True)
        stdin = sys.stdin
        while True:
            readable, _, _ = select.select([self.sock, stdin], [], [], 1.0)
            if self.sock in readable:
                self.drain()
            if stdin in readable:
                line = stdin.readline()
                if not line or line.strip() == "q":
                    return
                if line.strip() == "w":
                    print(json.dumps(self.window()), flush=True)
                elif line.strip() == "r":  # a fresh window, the old one's figures dropped unread
                    self.drain()
                    self.reset()
                    print("ok", flush=True)


if __name__ == "__main__":
    Sink(int(sys.argv[1])).run()
