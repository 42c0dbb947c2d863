"""The console's pure parts: timeline layout, waveform peaks, chart geometry, the calls list's
filters, and the password hash and sessions of auth.py."""

from __future__ import annotations

import datetime as dt
import io
import wave

import pytest

from wirexa.console import auth, charts, filters, timeline, waveform
from wirexa.media.audio import tone_pcm, wav_bytes

T0 = dt.datetime(2026, 12, 7, 12, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


# --- timeline -------------------------------------------------------------------------------------


def test_timeline_places_marks_in_time_order_across_the_axis() -> None:
    marks = [
        timeline.Mark(at(0), timeline.PHASE, "queued", "m0"),
        timeline.Mark(at(10), timeline.PHASE, "completed (SIP 200)", "m2"),
        timeline.Mark(at(5), timeline.PHASE, "answered", "m1"),
    ]
    out = timeline.layout(marks, at(0), at(10), width=1000, margin=0)
    xs = {p.mark.anchor: p.x for p in out.placed}
    assert xs == {"m0": 0.0, "m1": 500.0, "m2": 1000.0}
    assert [p.offset_ms for p in out.placed] == [0, 5000, 10000]
    # Two spans between three phases, in order, each starting where its phase starts.
    assert [(s.x0, s.x1, s.label) for s in out.spans] == [(0.0, 500.0, "queued"), (500.0, 1000.0, "answered")]
    assert out.ticks[0] == (0.0, "+0 s") and out.ticks[-1] == (1000.0, "+10 s")


def test_timeline_labels_that_would_overlap_go_on_other_lanes() -> None:
    # Three marks within 100 ms of each other: their labels cannot share a lane.
    marks = [timeline.Mark(at(i * 0.1), "webhook", f"status callback 200 {i} ms", f"m{i}") for i in range(3)]
    out = timeline.layout(marks, at(0), at(60), width=900)
    assert sorted(p.lane for p in out.placed) == [0, 1, 2]
    assert len({p.y for p in out.placed}) == 3
    # Far apart: one lane.
    spread = [timeline.Mark(at(i * 20), "webhook", "x", f"m{i}") for i in range(3)]
    assert {p.lane for p in timeline.layout(spread, at(0), at(60), width=900).placed} == {0}


def test_timeline_lane_extents_never_overlap() -> None:
    marks = [timeline.Mark(at(i * 0.7), "document", "document 200 " + "x" * (i % 7), f"m{i}") for i in range(40)]
    out = timeline.layout(marks, at(0), at(30), width=960)
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for p in out.placed:
        w = timeline.label_width(p.mark.label, 6.6)
        left = p.x if p.x + w <= out.width - 2 else p.x - w
        by_lane.setdefault(p.lane, []).append((left, left + w))
    for extents in by_lane.values():
        extents.sort()
        for (_, right), (left, _) in zip(extents, extents[1:], strict=False):
            assert right < left
    assert out.height >= out.axis_y + 26 + len(by_lane) * 22


def test_timeline_clamps_marks_outside_the_range_and_survives_a_zero_length_call() -> None:
    marks = [timeline.Mark(at(-5), timeline.PHASE, "early", "a"), timeline.Mark(at(50), timeline.PHASE, "late", "b")]
    out = timeline.layout(marks, at(0), at(0), width=200, margin=10)
    assert [p.x for p in out.placed] == [10.0, 190.0]  # a zero-length call spans one second
    assert timeline.layout([], at(0), at(1)).placed == ()


def test_tick_texts() -> None:
    assert timeline.tick_text(0) == "+0 s"
    assert timeline.tick_text(2.5) == "+2.5 s"
    assert timeline.tick_text(45) == "+45 s"
    assert timeline.tick_text(300) == "+5.0 min"


# --- waveform -------------------------------------------------------------------------------------


def test_peaks_of_a_tone_then_silence() -> None:
    wav = wav_bytes(tone_pcm(440, 500, amplitude=0.5) + b"\x00\x00" * 4000)  # 0.5 s tone, 0.5 s silence
    pairs = waveform.peaks(wav, buckets=10)
    assert len(pairs) == 10
    for lo, hi in pairs[:5]:
        assert -0.51 < lo < -0.45 and 0.45 < hi < 0.51
    assert pairs[5:] == [(0.0, 0.0)] * 5


def test_peaks_read_the_first_channel_of_a_stereo_file() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(b"\x00\x40" + b"\x00\x00" for _ in range(100)))  # left 0x4000, right 0
    assert waveform.peaks(buf.getvalue(), 4) == [(0.5, 0.5)] * 4


def test_peaks_refuse_what_is_not_16_bit_pcm() -> None:
    with pytest.raises(ValueError):
        waveform.peaks(b"RIFF nonsense")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 10)
    with pytest.raises(ValueError, match="8-bit"):
        waveform.peaks(buf.getvalue())
    assert waveform.peaks(wav_bytes(b"")) == []
    assert len(waveform.peaks(wav_bytes(tone_pcm(440, 1)), 480)) == 8  # fewer samples than buckets


def test_waveform_path_draws_one_stroke_per_pair() -> None:
    d = waveform.path([(-1.0, 1.0), (0.0, 0.0), (-0.5, 0.25)], 300, 100)
    assert d == "M50.0 0.0V100.0M150.0 50.0V50.5M250.0 37.5V75.0"
    assert waveform.path([], 300, 100) == ""


# --- charts ---------------------------------------------------------------------------------------


def test_stacked_bars_scale_to_the_peak_and_stack_by_group() -> None:
    names = ["a", "b", "c"]
    counts = {"a": {"completed": 2, "busy": 2}, "c": {"ringing": 1}}
    chart = charts.stacked(names, counts, width=300, height=104)
    assert chart.peak == 4 and [b.total for b in chart.bars] == [4, 0, 1]
    a = chart.bars[0]
    assert [(css, h) for _, h, css in a.segments] == [("ok", 50.0), ("bad", 50.0)]
    assert a.segments[0][0] == 54.0 and a.segments[1][0] == 4.0  # bottom up
    assert chart.bars[1].segments == () and "no calls" in chart.bars[1].label
    assert chart.bars[2].segments == ((79.0, 25.0, "live"),)
    assert (chart.first, chart.last) == ("a", "c")


def test_buckets_name_minutes_and_hours_as_the_store_does() -> None:
    end = dt.datetime(2026, 12, 7, 12, 3, 30)
    assert charts.buckets(end, 3, dt.timedelta(minutes=1)) == [
        "2026-12-07 12:01",
        "2026-12-07 12:02",
        "2026-12-07 12:03",
    ]
    assert charts.buckets(end, 2, dt.timedelta(hours=1)) == ["2026-12-07 11", "2026-12-07 12"]


def test_shares_and_percentiles() -> None:
    assert charts.shares({"human": 3, "machine_start": 1}) == [("human", 3, 75.0), ("machine_start", 1, 25.0)]
    assert charts.shares({}) == []
    assert charts.percentile([], 50) is None
    values = list(range(1, 101))
    assert charts.percentile(values, 50) == 50 and charts.percentile(values, 95) == 95
    assert charts.percentile([7], 99) == 7


# --- filters --------------------------------------------------------------------------------------


def test_filters_parse_every_field() -> None:
    q, errors = filters.parse(
        {
            "status": "completed",
            "to": " +15005550006 ",
            "from": "+15005550100",
            "direction": "outbound-api",
            "answered_by": "machine_start",
            "day_from": "2026-12-01",
            "day_to": "2026-12-07",
            "after": "CA123",
        }
    )
    assert errors == []
    assert q.to_number == "+15005550006" and q.status == "completed" and q.after == "CA123"
    assert q.created_from() == dt.datetime(2026, 12, 1) and q.created_before() == dt.datetime(2026, 12, 8)
    assert q.filtered
    assert q.params(after="CA9")["after"] == "CA9" and "after" not in q.params()


def test_filters_ignore_bad_values_and_say_why() -> None:
    q, errors = filters.parse({"status": "nope", "direction": "sideways", "day_from": "yesterday", "after": "x' OR 1"})
    assert q == filters.CallQuery()
    assert not q.filtered
    assert len(errors) == 3 and "status must be one of" in errors[0]
    _, errors = filters.parse({"to": "9" * 300})
    assert "longer than" in errors[0]
    _, errors = filters.parse({"day_from": "2026-12-07", "day_to": "2026-12-01"})
    assert errors == ["day_to is before day_from: no call can match"]


# --- auth -----------------------------------------------------------------------------------------


def test_password_hash_round_trip() -> None:
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("correct horse battery", stored)
    assert not auth.verify_password("correct horse batterY", stored)
    assert not auth.verify_password("x", None)
    assert not auth.verify_password("x", "md5$abc")
    assert not auth.verify_password("x", "scrypt$bad")
    assert auth.hash_password("a", salt=b"1" * 16) == auth.hash_password("a", salt=b"1" * 16)


def test_password_file(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    assert auth.read_password(base) is None
    path = auth.write_password(base, "0123456789")
    assert path.stat().st_mode & 0o777 == 0o600
    assert auth.verify_password("0123456789", auth.read_password(base))


def test_sessions_expire_after_idle_time_and_can_be_dropped() -> None:
    now = [100.0]
    sessions = auth.Sessions(60, clock=lambda: now[0])
    s = sessions.create("AC1", "p")
    assert sessions.get(s.id) is s and s.csrf and s.csrf != s.id
    now[0] += 59
    assert sessions.get(s.id) is s  # used: pushed back
    now[0] += 59
    assert sessions.get(s.id) is s
    now[0] += 61
    assert sessions.get(s.id) is None and len(sessions) == 0
    t = sessions.create(None, "admin")
    sessions.drop(t.id)
    assert sessions.get(t.id) is None and sessions.get(None) is None and sessions.get("") is None
    u = sessions.create("AC2", "q")
    sessions.drop_project("AC2")
    assert sessions.get(u.id) is None


def test_csrf_compare() -> None:
    s = auth.Sessions(60).create(None, "admin")
    assert auth.csrf_ok(s, s.csrf)
    assert not auth.csrf_ok(s, None) and not auth.csrf_ok(s, "") and not auth.csrf_ok(s, s.csrf + "x")


def test_the_days_hours_settle_once_past_and_without_live_calls() -> None:
    now = dt.datetime(2026, 12, 7, 12, 30)
    names = charts.day_hours(now)
    assert len(names) == 25 and names[0] == "2026-12-06 12" and names[-1] == "2026-12-07 12"
    assert charts.hour_start("2026-12-07 12") == dt.datetime(2026, 12, 7, 12)
    assert charts.first_missing(names, {}) == names[0]
    assert charts.first_missing(names, {n: {} for n in names[:5]}) == names[5]
    assert charts.first_missing(names, {n: {} for n in names}) == names[-1]  # the current hour is always read
    counts: dict[str, charts.Counts] = {
        names[0]: {("completed", "human"): 2, ("busy", None): 1},
        names[1]: {("in-progress", None): 1},  # a call still up: this hour can change
        names[-1]: {("completed", None): 1},
    }
    assert charts.settled(names, counts) == [n for n in names[:-1] if n != names[1]]
    statuses, answered_by, per_hour = charts.day_totals(names, counts)
    assert statuses == {"completed": 3, "busy": 1, "in-progress": 1}
    assert answered_by == {"human": 2}
    assert per_hour[names[0]] == {"completed": 2, "busy": 1} and per_hour[names[2]] == {}


def test_a_quality_line_chart_marks_the_points_beyond_its_threshold() -> None:
    chart = charts.line_chart(
        "Packet loss",
        " %",
        {"inbound": [(0.0, 0.0), (5.0, 6.0), (10.0, None)], "outbound": [(0.0, 0.0), (5.0, 1.0)]},
        threshold=3.0,
        above_is_bad=True,
        width=100,
        height=50,
    )
    inbound, outbound = chart.lines
    assert [p.bad for p in inbound.points] == [False, True]  # None is left out
    assert [p.bad for p in outbound.points] == [False, False]
    assert inbound.points[0].x == 4.0 and inbound.points[1].x == 50.0  # the axis runs to the last sample (10 s)
    assert inbound.points[1].y == 4.0 and inbound.points[0].y == 46.0  # the top is the largest value
    assert chart.threshold_y == 25.0 and inbound.path == "4.0,46.0 50.0,4.0"
    assert "+5 s inbound: 6 %" == inbound.points[1].label
    mos = charts.line_chart(
        "MOS", "", {"inbound": [(0.0, 3.0)]}, threshold=3.5, above_is_bad=False, floor=1, ceiling=4.5
    )
    assert mos.lines[0].points[0].bad and mos.last_s == 1.0
