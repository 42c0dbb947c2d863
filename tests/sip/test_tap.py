"""Tap and TapThread without pjsua2: the clock thread's side only queues (bounded, drop-oldest,
counted), the tap thread feeds every block in order, takes the first result once and wakes the
main thread."""

from __future__ import annotations

import threading

from wirexa.sip.tap import Tap, TapThread


def test_push_queues_bounded_and_counts_what_it_drops() -> None:
    tap: Tap[str] = Tap("CA1", "t", lambda pcm: None, limit=3)
    signals: list[int] = []
    tap._signal = lambda: signals.append(1)
    for i in range(5):
        tap.push(bytes([i]))
    assert list(tap.blocks) == [b"\x02", b"\x03", b"\x04"] and tap.dropped == 2 and len(signals) == 5


def test_drain_feeds_in_order_until_the_first_result_then_closes() -> None:
    fed: list[bytes] = []

    def feed(pcm: bytes) -> str | None:
        fed.append(pcm)
        return "decided" if pcm == b"b" else None

    tap: Tap[str] = Tap("CA1", "t", feed)
    for pcm in (b"a", b"b", b"c"):
        tap.push(pcm)
    assert tap.drain() is True
    assert fed == [b"a", b"b"] and tap.result == "decided" and tap.closed and not tap.blocks
    tap.push(b"d")  # closed: the clock thread's push is a no-op
    assert not tap.blocks and tap.drain() is False and fed == [b"a", b"b"]


def test_drain_without_a_result_leaves_the_tap_open() -> None:
    tap: Tap[str] = Tap("CA1", "t", lambda pcm: None)
    tap.push(b"a")
    assert tap.drain() is False and not tap.closed and tap.result is None and not tap.blocks


def test_the_tap_thread_does_the_work_and_wakes_the_main_thread_once_decided() -> None:
    woke = threading.Event()
    fed_on: set[str] = set()

    def feed(pcm: bytes) -> int | None:
        fed_on.add(threading.current_thread().name)
        return len(pcm) if pcm == b"last" else None

    taps = TapThread(woke.set)
    tap: Tap[int] = Tap("CA1", "amd", feed)
    quiet: Tap[int] = Tap("CA2", "amd", lambda pcm: None)
    taps.add(tap)
    taps.add(quiet)
    try:
        for pcm in (b"x", b"y", b"last"):
            tap.push(pcm)
        quiet.push(b"z")
        assert woke.wait(5)
        assert tap.result == 4 and fed_on == {"taps"} and quiet.result is None
        taps.remove(quiet)
        assert quiet.closed and taps.taps == [tap]
    finally:
        taps.stop()
    assert taps._thread is not None and not taps._thread.is_alive()


def test_a_failing_tap_is_closed_and_the_others_go_on() -> None:
    woke = threading.Event()

    def boom(pcm: bytes) -> int | None:
        raise RuntimeError("broken consumer")

    taps = TapThread(woke.set)
    bad: Tap[int] = Tap("CA1", "bad", boom)
    good: Tap[int] = Tap("CA2", "good", lambda pcm: 1)
    taps.add(bad)
    taps.add(good)
    try:
        bad.push(b"a")
        good.push(b"b")
        assert woke.wait(5)
        assert bad.closed and bad.result is None and good.result == 1
    finally:
        taps.stop()
