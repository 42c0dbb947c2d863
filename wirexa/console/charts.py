"""PURE: the console's charts as geometry (the templates draw the SVG): stacked bars of calls per
minute or hour, the proportions of a mix (AMD outcomes), and a call's quality samples as lines
(MOS, loss, jitter per direction, with Voice Insights' thresholds)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    segments: tuple[tuple[float, float, str], ...]  # (y, height, css class), bottom up
    label: str  # the bucket and its counts, for the <title> tooltip
    total: int


@dataclasses.dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    peak: int
    first: str
    last: str


# Statuses grouped into the chart's three colours.
GROUPS = (
    ("ok", ("completed", "in-progress", "answered")),
    ("live", ("queued", "initiated", "ringing")),
    ("bad", ("busy", "failed", "no-answer", "canceled")),
)


def buckets(end: dt.datetime, count: int, step: dt.timedelta) -> list[str]:
    """The texts of `count` buckets of length `step` ending with the one holding `end`, oldest
    first, as the store spells them ('YYYY-MM-DD HH:MM' for minutes, 'YYYY-MM-DD HH' for hours)."""
    fmt = "%Y-%m-%d %H:%M" if step < dt.timedelta(hours=1) else "%Y-%m-%d %H"
    return [(end - step * i).strftime(fmt) for i in range(count - 1, -1, -1)]


def stacked(
    names: Sequence[str], counts: Mapping[str, Mapping[str, int]], *, width: int = 480, height: int = 120
) -> Chart:
    """One bar per bucket in `names` (counts: bucket -> status -> calls), stacked by GROUPS."""
    totals = [sum(counts.get(n, {}).values()) for n in names]
    peak = max(totals, default=0)
    slot = width / max(len(names), 1)
    bars = []
    for i, name in enumerate(names):
        row = counts.get(name, {})
        y = float(height)
        segments = []
        for css, statuses in GROUPS:
            n = sum(row.get(s, 0) for s in statuses)
            if n and peak:
                h = (height - 4) * n / peak
                y -= h
                segments.append((round(y, 2), round(h, 2), css))
        detail = ", ".join(f"{s} {c}" for s, c in sorted(row.items())) or "no calls"
        bars.append(
            Bar(round(i * slot, 2), round(max(slot - 1, 0.5), 2), tuple(segments), f"{name}: {detail}", totals[i])
        )
    return Chart(width, height, tuple(bars), peak, names[0] if names else "", names[-1] if names else "")


def shares(mix: Mapping[str, int]) -> list[tuple[str, int, float]]:
    """(name, count, percent) of each entry, largest first."""
    total = sum(mix.values())
    return [(k, v, round(100 * v / total, 1) if total else 0.0) for k, v in sorted(mix.items(), key=lambda kv: -kv[1])]


def percentile(values: Sequence[int], q: float) -> int | None:
    """The q-th percentile (0..100, nearest rank) of values, None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


# --- the day's counts, hour by hour --------------------------------------------------------------

Counts = Mapping[tuple[str, str | None], int]  # (status, AnsweredBy) -> calls
LIVE_STATUSES = ("queued", "initiated", "ringing", "in-progress")
HOUR = dt.timedelta(hours=1)


def day_hours(now: dt.datetime) -> list[str]:
    """The 25 hour buckets of the dashboard's day: the 24 before the current one, and it."""
    return buckets(now, 25, HOUR)


def hour_start(name: str) -> dt.datetime:
    return dt.datetime.strptime(name, "%Y-%m-%d %H")


def first_missing(names: Sequence[str], known: Mapping[str, Counts]) -> str:
    """The oldest bucket of `names` not in `known` (the current hour, the last, at the least)."""
    return next((n for n in names[:-1] if n not in known), names[-1])


def settled(names: Sequence[str], counts: Mapping[str, Counts]) -> list[str]:
    """The buckets of `names` whose counts can no longer change: past hours (not the last) with
    no live call. New calls are created in the current hour only, and a call's status and
    AnsweredBy change only while it is live."""
    return [n for n in names[:-1] if not any(s in LIVE_STATUSES for s, _ in counts.get(n, {}))]


def day_totals(
    names: Sequence[str], counts: Mapping[str, Counts]
) -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """(calls by status, calls by AnsweredBy, bucket -> status -> calls) over `names`."""
    statuses: dict[str, int] = {}
    answered_by: dict[str, int] = {}
    per_hour: dict[str, dict[str, int]] = {}
    for name in names:
        row = per_hour.setdefault(name, {})
        for (status, by), n in counts.get(name, {}).items():
            statuses[status] = statuses.get(status, 0) + n
            row[status] = row.get(status, 0) + n
            if by:
                answered_by[by] = answered_by.get(by, 0) + n
    return statuses, answered_by, per_hour


# --- a call's quality samples (media/quality.py) as small line charts ------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    bad: bool  # beyond the chart's threshold: drawn as a flag
    label: str  # for the <title> tooltip


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    css: str  # "inbound" | "outbound"
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


@dataclasses.dataclass(frozen=True, slots=True)
class LineChart:
    title: str
    unit: str
    width: int
    height: int
    lines: tuple[Line, ...]
    threshold_y: float
    threshold: float
    top: float
    last_s: float


def line_chart(
    title: str,
    unit: str,
    series: Mapping[str, Sequence[tuple[float, float | None]]],
    *,
    threshold: float,
    above_is_bad: bool,
    floor: float = 0.0,
    ceiling: float | None = None,
    width: int = 600,
    height: int = 90,
) -> LineChart:
    """Lines of (seconds, value) per series (None values left out), on a y axis from `floor` to
    `ceiling` (else the largest value or 1.5 x the threshold), with the threshold drawn across and
    the points beyond it marked bad."""
    values = [v for points in series.values() for _, v in points if v is not None]
    top = ceiling if ceiling is not None else max([*values, threshold * 1.5])
    last_s = max((t for points in series.values() for t, _ in points), default=0.0) or 1.0
    pad = 4.0

    def y_of(v: float) -> float:
        v = min(max(v, floor), top)
        return round(height - pad - (height - 2 * pad) * (v - floor) / ((top - floor) or 1.0), 2)

    lines = []
    for css, points in series.items():
        drawn = tuple(
            Point(
                round(pad + (width - 2 * pad) * t / last_s, 2),
                y_of(v),
                (v > threshold) if above_is_bad else (v < threshold),
                f"+{t:g} s {css}: {v:g}{unit}",
            )
            for t, v in points
            if v is not None
        )
        lines.append(Line(css, drawn))
    return LineChart(title, unit, width, height, tuple(lines), y_of(threshold), threshold, top, last_s)
