"""media/quality.py: the E-model's known points, interval loss from cumulative counters, the
Voice Insights flags, the summary and the decimation of a long call's samples."""

from __future__ import annotations

import pytest

from wirexa.media import quality as q


def test_the_e_model_without_impairments_gives_r_93_2_and_mos_4_41() -> None:
    assert q.r_factor(0, 0) == pytest.approx(93.2)
    assert q.mos_from_r(93.2) == pytest.approx(4.41, abs=0.005)


def test_mos_from_r_at_known_points_of_g107_annex_b() -> None:
    assert q.mos_from_r(-5) == 1.0
    assert q.mos_from_r(0) == 1.0
    assert q.mos_from_r(50) == pytest.approx(2.58, abs=0.005)
    assert q.mos_from_r(70) == pytest.approx(3.60, abs=0.005)  # G.107: "many users dissatisfied" below
    assert q.mos_from_r(80) == pytest.approx(4.02, abs=0.005)
    assert q.mos_from_r(100) == 4.5
    assert q.mos_from_r(120) == 4.5


def test_loss_and_delay_impairments() -> None:
    # G.711 with PLC, random loss: Ie_eff = 95 Ppl / (Ppl + 25.1)
    assert q.r_factor(0, 5) == pytest.approx(93.2 - 95 * 5 / 30.1)
    assert q.r_factor(0, 100) == pytest.approx(93.2 - 95 * 100 / 125.1)
    assert q.r_factor(0, 250) == q.r_factor(0, 100)  # clamped
    # delay: 0.024 d, and 0.11 (d - 177.3) beyond 177.3 ms
    assert q.r_factor(100, 0) == pytest.approx(93.2 - 2.4)
    assert q.r_factor(300, 0) == pytest.approx(93.2 - 7.2 - 0.11 * 122.7)
    assert q.mos(0, 5) == pytest.approx(3.92, abs=0.01)  # 5% random loss: still above 3.5
    assert q.mos(0, 10) < q.MOS_MIN
    assert q.one_way_delay_ms(None, 40) == 60.0
    assert q.one_way_delay_ms(80, 40) == 100.0


def reading(
    rx_pkt: int, rx_loss: int, tx_pkt: int = 0, tx_loss: int = 0, *, jit_us: int = 2000, rtt_us: int = 0
) -> q.Reading:
    return q.Reading(rx_pkt, rx_loss, jit_us, tx_pkt, tx_loss, jit_us, rtt_us, 0)


def test_samples_take_the_loss_of_their_interval_from_cumulative_counters() -> None:
    meter = q.QualityMeter()
    s0 = meter.sample(reading(250, 0), 100.0)
    assert (s0.seq, s0.offset_s, s0.rtt_ms) == (0, 0.0, None)
    assert s0.inbound.loss_pct == 0.0 and s0.inbound.packets == 250
    assert s0.outbound.mos is None  # no receiver report yet: nothing measured that way
    assert s0.flags() == []
    s1 = meter.sample(reading(490, 10, 240, 0, rtt_us=40_000), 105.0)  # 10 of 250 lost in 5 s: 4%
    assert s1.inbound.loss_pct == 4.0 and s1.inbound.packets == 240
    assert s1.rtt_ms == 40.0 and s1.offset_s == 5.0
    assert s1.flags() == ["high_packet_loss:inbound"]
    s2 = meter.sample(reading(740, 10, 490, 0, jit_us=45_000, rtt_us=400_000), 110.0, final=True)
    assert s2.inbound.loss_pct == 0.0 and s2.final
    assert s2.flags() == ["high_jitter:inbound", "high_jitter:outbound", "high_latency"]
    summary = meter.summary()
    assert summary.samples == 3
    assert summary.inbound.loss_pct == pytest.approx(100 * 10 / 750, abs=0.01)  # whole call: 1.33%
    assert summary.inbound.loss_max_pct == 4.0
    assert summary.inbound.jitter_max_ms == 45.0
    assert summary.outbound.samples == 2 and summary.outbound.loss_pct == 0.0
    assert summary.rtt_max_ms == 400.0 and summary.rtt_avg_ms == 220.0
    assert summary.flags() == ["high_jitter:inbound", "high_jitter:outbound", "high_latency"]
    again = q.Summary.from_dict(summary.to_dict())
    assert again == summary


def test_a_lossy_call_is_flagged_for_its_whole_call_loss() -> None:
    meter = q.QualityMeter()
    meter.sample(reading(240, 10), 0.0)
    meter.sample(reading(480, 20), 5.0)
    summary = meter.summary()
    assert summary.inbound.loss_pct == pytest.approx(4.0, abs=0.01)
    assert summary.flags() == ["high_packet_loss:inbound"]
    assert summary.inbound.mos_min is not None and summary.inbound.mos_min > q.MOS_MIN
    heavy = q.QualityMeter()
    heavy.sample(reading(200, 50), 0.0)  # 20%
    assert heavy.summary().flags() == ["high_packet_loss:inbound", "low_mos:inbound"]


def test_an_empty_meter_has_no_flags() -> None:
    summary = q.QualityMeter().summary()
    assert summary.samples == 0 and summary.flags() == [] and summary.rtt_max_ms is None
    assert summary.inbound.mos_avg is None


def test_the_decimator_keeps_evenly_spaced_samples_under_its_cap() -> None:
    d = q.Decimator(4)
    kept: set[int] = set()
    for seq in range(40):
        keep, thin = d.keep(seq)
        if thin is not None:
            kept = {s for s in kept if s % thin == 0}
        if keep:
            kept.add(seq)
        assert len(kept) <= 4
    assert kept == {0, 16, 32}  # evenly spaced from the call's start
    with pytest.raises(ValueError):
        q.Decimator(1)


def test_the_decimator_at_720_keeps_the_first_hour_whole() -> None:
    d = q.Decimator()
    assert all(d.keep(seq) == (True, None) for seq in range(720))
    assert d.keep(720) == (True, 2)
    assert d.kept == 361
    assert d.keep(721) == (False, None)
