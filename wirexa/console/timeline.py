"""PURE: where a call's timeline puts each of its moments (the SVG picture on the call page).

A call's moments (queued, INVITE, ringing, answered, each document fetch and webhook attempt,
notices, recordings, the AMD decision, the hangup) become marks on one horizontal time axis from
the call's creation to its end (or now, while it is live). Marks whose labels would overlap go on
lower lanes: lane 0 is nearest the axis, and a mark takes the first lane whose last label ends
left of it. The phases between the call's states are drawn as coloured spans on the axis.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

PHASE = "phase"


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    """One moment: `kind` is phase, document, webhook, notification, recording, amd or leg;
    `anchor` the id of its row in the table under the picture; ok False draws it as a failure."""

    at: dt.datetime
    kind: str
    label: str
    anchor: str
    ok: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Placed:
    mark: Mark
    x: float
    lane: int
    y: float
    offset_ms: int  # since the start of the axis


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    x0: float
    x1: float
    label: str


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    axis_y: float
    placed: tuple[Placed, ...]
    spans: tuple[Span, ...]
    ticks: tuple[tuple[float, str], ...]


def _seconds(delta: dt.timedelta) -> float:
    return delta.total_seconds()


def label_width(label: str, char_px: float) -> float:
    return len(label) * char_px + 14  # the dot and a gap


def tick_text(seconds: float) -> str:
    if seconds >= 120:
        return f"+{seconds / 60:.1f} min"
    if seconds >= 10 or seconds == int(seconds):
        return f"+{seconds:.0f} s"
    return f"+{seconds:.1f} s"


def layout(
    marks: Sequence[Mark],
    start: dt.datetime,
    end: dt.datetime,
    *,
    width: int = 960,
    margin: float = 16,
    lane_h: float = 22,
    char_px: float = 6.6,
    max_lanes: int = 40,
) -> Layout:
    """Place `marks` between `start` and `end` (end before start counts as one second). Marks
    outside the range are clamped to its edges. Returns the picture's geometry."""
    span_s = max(_seconds(end - start), 1.0)
    usable = width - 2 * margin
    ordered = sorted(marks, key=lambda m: (m.at, m.kind != PHASE))
    lane_ends: list[float] = []
    axis_y = 34.0
    placed: list[Placed] = []
    for mark in ordered:
        offset = min(max(_seconds(mark.at - start), 0.0), span_s)
        x = margin + usable * offset / span_s
        right = x + label_width(mark.label, char_px)
        if right > width - 2:  # a label near the right edge is drawn leftwards: its extent starts earlier
            left, right = x - label_width(mark.label, char_px), x
        else:
            left = x
        lane = next((i for i, e in enumerate(lane_ends) if e < left), None)
        if lane is None:
            lane = min(len(lane_ends), max_lanes - 1)
            if lane == len(lane_ends):
                lane_ends.append(right)
        lane_ends[lane] = max(lane_ends[lane], right)
        y = axis_y + 26 + lane * lane_h
        placed.append(Placed(mark, round(x, 1), lane, y, int(offset * 1000)))
    phases = [p for p in placed if p.mark.kind == PHASE]
    spans = tuple(Span(a.x, max(b.x, a.x + 1), a.mark.label) for a, b in zip(phases, phases[1:], strict=False))
    ticks = tuple((round(margin + usable * i / 4, 1), tick_text(span_s * i / 4)) for i in range(5))
    height = int(axis_y + 26 + max(len(lane_ends), 1) * lane_h + 8)
    return Layout(width, height, axis_y, tuple(placed), spans, ticks)
