"""SteppedClock: the system clocks, with the session's timers on the real loop, where a test can also
fire the pending ones early (a guard of several seconds, without waiting it out)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from wirexa.clock import SystemClock


class SteppedClock(SystemClock):
    def __init__(self) -> None:
        self._pending: list[tuple[asyncio.TimerHandle, Callable[[], None]]] = []

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        handle = super().call_later(delay_s, fn)
        now = asyncio.get_running_loop().time()
        self._pending = [(h, f) for h, f in self._pending if not h.cancelled() and h.when() > now]
        self._pending.append((handle, fn))
        return handle

    def fire_within(self, seconds: float) -> int:
        """Run now every pending timer due within `seconds`; returns how many ran."""
        loop = asyncio.get_running_loop()
        due = [(h, f) for h, f in self._pending if not h.cancelled() and h.when() <= loop.time() + seconds]
        for handle, fn in due:
            handle.cancel()
            fn()
        self._pending = [(h, f) for h, f in self._pending if not h.cancelled()]
        return len(due)
