"""PURE: a call's media quality from its RTP/RTCP counters: loss, jitter, round trip, estimated MOS.

Theory of operation. A media worker reads pjsua2's stream statistics of each answered call every
few seconds (sip/worker.py: protocol.Quality) and once more as the call's audio stream goes away.
The counters it sends are cumulative since the stream started (packets received and lost, both as
we measured the far end's stream and as the far end's RTCP receiver reports said of ours); the
engine turns each reading into a Sample with `QualityMeter.sample()`, which takes the difference
from the previous reading (the loss of the last interval, not of the whole call) and estimates a
MOS per direction. "inbound" is what the call's far end sends us (our measure), "outbound" what we
send it (its measure, from RTCP; nothing until its first receiver report).

The MOS is the ITU-T G.107 E-model (06/2015) reduced to what changes on a G.711 call:

    R = 93.2 - Id - Ie_eff                              (R0 - Is = 93.2 with the default values, A = 0)
    Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)        one-way delay impairment, d in ms
    Ie_eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl)  with Ie = 0, Bpl = 25.1 (G.711 with packet
                                                        loss concealment, ITU-T G.113 Appendix I),
                                                        BurstR = 1 (random loss)
    MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6        for 0 < R < 100 (G.107 Annex B); 1 below, 4.5 above

Id is the simplified fit of G.107's delay terms by Cole and Rosenbluth ("Voice over IP performance
monitoring", ACM SIGCOMM CCR 31(2), 2001). The one-way delay d is half the RTCP round trip, plus
the jitter buffer (the stream's own average delay inbound; twice the jitter outbound, where the far
end's buffer is unknown), plus one 20 ms packet. Without loss or delay R is 93.2, MOS 4.41.

Flags are those of Twilio's Voice Insights call summary tags, per direction: high_jitter (jitter
above 30 ms), high_packet_loss (above 3% lost), low_mos (below 3.5), and high_latency (round trip
above 300 ms: a one-way delay above G.114's 150 ms). A call's Summary flags a direction when its
worst sample's jitter, its whole-call loss, or its lowest MOS crosses the line.

Samples are kept per call up to a cap (Decimator): when the cap is reached every second kept
sample is dropped and from then on only every second one is kept, so a long call keeps evenly
spaced samples from its start to its end (720 at 5 s: the first hour at full rate).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

R_MAX = 93.2  # R0 - Is with G.107's default values
BPL_G711_PLC = 25.1  # packet-loss robustness factor of G.711 with PLC (G.113 Appendix I)
FRAME_MS = 20.0  # one packet of audio

JITTER_MAX_MS = 30.0
LOSS_MAX_PCT = 3.0
MOS_MIN = 3.5
RTT_MAX_MS = 300.0

DIRECTIONS = ("inbound", "outbound")
SAMPLE_CAP = 720  # kept samples per call: 1 hour at 5 s, then decimated


def r_factor(delay_ms: float, loss_pct: float) -> float:
    """The E-model's R of a G.711 (with PLC) call with this one-way delay and random loss."""
    d = max(0.0, delay_ms)
    idd = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = min(100.0, max(0.0, loss_pct))
    ie_eff = 95.0 * ppl / (ppl + BPL_G711_PLC)
    return R_MAX - idd - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: the estimated MOS (1..4.5) of an R factor."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def mos(delay_ms: float, loss_pct: float) -> float:
    return mos_from_r(r_factor(delay_ms, loss_pct))


def one_way_delay_ms(rtt_ms: float | None, buffer_ms: float) -> float:
    """Mouth-to-ear delay estimate: half the round trip (0 before RTCP measured one), the jitter
    buffer, and one packet."""
    return (rtt_ms or 0.0) / 2.0 + max(0.0, buffer_ms) + FRAME_MS


@dataclass(frozen=True, slots=True)
class Reading:
    """A worker's reading of a call's stream statistics: cumulative counters and current values.

    rx_*: the far end's stream as we received it; tx_*: ours as the far end's RTCP receiver reports
    said (zeros before the first one). Jitter and round trip in microseconds, as pjsua2 gives them;
    rtt_us 0 = not measured yet; jbuf_ms the jitter buffer's average delay (0 = unknown)."""

    rx_pkt: int
    rx_loss: int
    rx_jitter_us: int
    tx_pkt: int
    tx_loss: int
    tx_jitter_us: int
    rtt_us: int
    jbuf_ms: int


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction of a sample: the interval's packets and loss, the current jitter, the MOS."""

    packets: int
    loss_pct: float
    jitter_ms: float
    mos: float | None  # None: nothing measured in this direction in the interval

    def flags(self) -> list[str]:
        if self.mos is None:
            return []
        found = []
        if self.jitter_ms > JITTER_MAX_MS:
            found.append("high_jitter")
        if self.loss_pct > LOSS_MAX_PCT:
            found.append("high_packet_loss")
        if self.mos < MOS_MIN:
            found.append("low_mos")
        return found


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampling point of a call: `seq` counts from 0, `offset_s` from the first sample."""

    seq: int
    offset_s: float
    rtt_ms: float | None
    inbound: Direction
    outbound: Direction
    final: bool = False

    def flags(self) -> list[str]:
        """Twilio's tag names with the direction: "high_packet_loss:inbound", ..."""
        found = [f"{flag}:{name}" for name in DIRECTIONS for flag in getattr(self, name).flags()]
        if self.rtt_ms is not None and self.rtt_ms > RTT_MAX_MS:
            found.append("high_latency")
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _direction(pkt: int, loss: int, prev_pkt: int, prev_loss: int, jitter_ms: float, delay_ms: float) -> Direction:
    d_pkt, d_loss = max(0, pkt - prev_pkt), max(0, loss - prev_loss)
    expected = d_pkt + d_loss
    if expected == 0:
        return Direction(0, 0.0, round(jitter_ms, 2), None)
    loss_pct = 100.0 * d_loss / expected
    return Direction(d_pkt, round(loss_pct, 2), round(jitter_ms, 2), round(mos(delay_ms, loss_pct), 2))


@dataclass(frozen=True, slots=True)
class DirectionSummary:
    samples: int
    loss_pct: float  # of the whole call: lost / expected over every sample
    loss_max_pct: float  # the worst interval
    jitter_avg_ms: float
    jitter_max_ms: float
    mos_avg: float | None
    mos_min: float | None

    def flags(self) -> list[str]:
        if self.samples == 0:
            return []
        found = []
        if self.jitter_max_ms > JITTER_MAX_MS:
            found.append("high_jitter")
        if self.loss_pct > LOSS_MAX_PCT:
            found.append("high_packet_loss")
        if self.mos_min is not None and self.mos_min < MOS_MIN:
            found.append("low_mos")
        return found


@dataclass(frozen=True, slots=True)
class Summary:
    """A call's quality so far: per direction, and the round trip (None: never measured)."""

    samples: int
    inbound: DirectionSummary
    outbound: DirectionSummary
    rtt_avg_ms: float | None
    rtt_max_ms: float | None

    def flags(self) -> list[str]:
        found = [f"{flag}:{name}" for name in DIRECTIONS for flag in getattr(self, name).flags()]
        if self.rtt_max_ms is not None and self.rtt_max_ms > RTT_MAX_MS:
            found.append("high_latency")
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"flags": self.flags()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        """A Summary from to_dict()'s output (what the store keeps); KeyError/TypeError if malformed."""
        fields = {f.name for f in dataclasses.fields(DirectionSummary)}
        return cls(
            samples=int(data["samples"]),
            inbound=DirectionSummary(**{k: data["inbound"][k] for k in fields}),
            outbound=DirectionSummary(**{k: data["outbound"][k] for k in fields}),
            rtt_avg_ms=data["rtt_avg_ms"],
            rtt_max_ms=data["rtt_max_ms"],
        )


@dataclass
class _Totals:
    samples: int = 0
    packets: int = 0
    lost: int = 0
    loss_max_pct: float = 0.0
    jitter_sum: float = 0.0
    jitter_max: float = 0.0
    mos_sum: float = 0.0
    mos_n: int = 0
    mos_min: float | None = None

    def add(self, d: Direction, lost: int) -> None:
        if d.mos is None:
            return
        self.samples += 1
        self.packets += d.packets
        self.lost += lost
        self.loss_max_pct = max(self.loss_max_pct, d.loss_pct)
        self.jitter_sum += d.jitter_ms
        self.jitter_max = max(self.jitter_max, d.jitter_ms)
        self.mos_sum += d.mos
        self.mos_n += 1
        self.mos_min = d.mos if self.mos_min is None else min(self.mos_min, d.mos)

    def summary(self) -> DirectionSummary:
        expected = self.packets + self.lost
        return DirectionSummary(
            samples=self.samples,
            loss_pct=round(100.0 * self.lost / expected, 2) if expected else 0.0,
            loss_max_pct=self.loss_max_pct,
            jitter_avg_ms=round(self.jitter_sum / self.samples, 2) if self.samples else 0.0,
            jitter_max_ms=self.jitter_max,
            mos_avg=round(self.mos_sum / self.mos_n, 2) if self.mos_n else None,
            mos_min=self.mos_min,
        )


class QualityMeter:
    """One call's readings in, Samples and the running Summary out. Not thread-safe (one owner)."""

    def __init__(self) -> None:
        self._prev = Reading(0, 0, 0, 0, 0, 0, 0, 0)
        self._seq = 0
        self._start: float | None = None
        self._totals = {name: _Totals() for name in DIRECTIONS}
        self._rtt_sum = 0.0
        self._rtt_n = 0
        self._rtt_max: float | None = None

    def sample(self, reading: Reading, at_s: float, final: bool = False) -> Sample:
        """The Sample of `reading`, taken at `at_s` (any monotonic seconds)."""
        if self._start is None:
            self._start = at_s
        prev, self._prev = self._prev, reading
        rtt_ms = reading.rtt_us / 1000.0 if reading.rtt_us > 0 else None
        rx_jitter, tx_jitter = reading.rx_jitter_us / 1000.0, reading.tx_jitter_us / 1000.0
        inbound = _direction(
            reading.rx_pkt,
            reading.rx_loss,
            prev.rx_pkt,
            prev.rx_loss,
            rx_jitter,
            one_way_delay_ms(rtt_ms, reading.jbuf_ms if reading.jbuf_ms > 0 else 2 * rx_jitter),
        )
        outbound = _direction(
            reading.tx_pkt,
            reading.tx_loss,
            prev.tx_pkt,
            prev.tx_loss,
            tx_jitter,
            one_way_delay_ms(rtt_ms, 2 * tx_jitter),
        )
        self._totals["inbound"].add(inbound, max(0, reading.rx_loss - prev.rx_loss))
        self._totals["outbound"].add(outbound, max(0, reading.tx_loss - prev.tx_loss))
        if rtt_ms is not None:
            self._rtt_sum += rtt_ms
            self._rtt_n += 1
            self._rtt_max = rtt_ms if self._rtt_max is None else max(self._rtt_max, rtt_ms)
        s = Sample(
            self._seq,
            round(at_s - self._start, 3),
            None if rtt_ms is None else round(rtt_ms, 2),
            inbound,
            outbound,
            final,
        )
        self._seq += 1
        return s

    def summary(self) -> Summary:
        return Summary(
            samples=self._seq,
            inbound=self._totals["inbound"].summary(),
            outbound=self._totals["outbound"].summary(),
            rtt_avg_ms=round(self._rtt_sum / self._rtt_n, 2) if self._rtt_n else None,
            rtt_max_ms=None if self._rtt_max is None else round(self._rtt_max, 2),
        )


class Decimator:
    """Which samples of a call to keep, `cap` at most: keep(seq) says whether to store sample
    `seq` (they come 0, 1, 2, ...) and, when the cap is reached, the stride the stored samples
    must be thinned to first (delete those whose seq is not a multiple of it)."""

    def __init__(self, cap: int = SAMPLE_CAP) -> None:
        if cap < 2:
            raise ValueError("a cap of 2 samples at least")
        self.cap = cap
        self.stride = 1
        self.kept = 0

    def keep(self, seq: int) -> tuple[bool, int | None]:
        if seq % self.stride:
            return False, None
        thin: int | None = None
        if self.kept >= self.cap:
            self.stride *= 2
            thin = self.stride
            self.kept = math.ceil(seq / self.stride)  # multiples of the new stride below seq
            if seq % self.stride:
                return False, thin
        self.kept += 1
        return True, thin
