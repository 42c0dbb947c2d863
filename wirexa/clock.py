"""The engine's inputs from the world that pure code takes as arguments: the time and new ids.
calls/ gets them through its ports (calls.ports.Clock, SidSource); this is the real thing."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable


class SystemClock:
    """calls.ports.Clock on the system clocks."""

    def now(self) -> dt.datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay_s, fn)


def utcnow() -> dt.datetime:
    """UTC, naive: what the store keeps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_sid(prefix: str) -> str:
    """Twilio's sid shape: a two-letter prefix and 32 hex digits."""
    return prefix + uuid.uuid4().hex
