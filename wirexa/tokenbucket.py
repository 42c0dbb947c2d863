"""PURE: the token bucket behind every rate in the engine (calls per second, API requests per
second). The clock is an input: callers pass `now` (time.monotonic() in production)."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second up to `burst`; rate <= 0 means unlimited. Starts full."""

    def __init__(self, rate: float, burst: float = 1.0, now: float = 0.0) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.last = now

    def wait_time(self, now: float) -> float:
        """Seconds until take() would succeed (0.0: now); refills, takes nothing."""
        if self.rate <= 0:
            return 0.0
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token; return 0.0 on success, else the seconds until one is available."""
        wait = self.wait_time(now)
        if wait == 0.0 and self.rate > 0:
            self.tokens -= 1.0
        return wait
