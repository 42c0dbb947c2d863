"""The token bucket behind every rate (calls per second, API requests): pure, the clock passed in."""

from __future__ import annotations

import pytest

from wirexa.tokenbucket import TokenBucket


def test_take_spends_the_burst_then_waits_for_the_rate() -> None:
    b = TokenBucket(2.0, burst=2.0)
    b.last = 100.0
    assert b.take(100.0) == 0.0 and b.take(100.0) == 0.0
    assert b.take(100.0) == pytest.approx(0.5)  # one token per 0.5 s at 2/s
    assert b.take(100.5) == 0.0


def test_wait_time_looks_without_taking() -> None:
    b = TokenBucket(1.0)
    b.last = 10.0
    assert b.wait_time(10.0) == 0.0 and b.wait_time(10.0) == 0.0  # looking twice takes nothing
    assert b.take(10.0) == 0.0
    assert b.wait_time(10.25) == pytest.approx(0.75)
    assert b.wait_time(11.0) == 0.0 and b.take(11.0) == 0.0


def test_zero_rate_is_unlimited() -> None:
    b = TokenBucket(0.0)
    assert all(b.take(0.0) == 0.0 for _ in range(100)) and b.wait_time(0.0) == 0.0
