"""PURE: when the next delivery attempt is due, from the product doc's fixed schedule.

`schedule[i]` is the delay before attempt i+1, counted from the previous attempt (attempt 1
at 0 s; the doc's schedule is 0, 60 s, 5 min, 15 min). After len(schedule) failed attempts a
delivery is given up. No jitter: the doc promises these exact delays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def next_attempt(attempts_done: int, now: dt.datetime, schedule: Sequence[float]) -> dt.datetime | None:
    """The due time of attempt `attempts_done + 1`, or None when no attempt is left."""
    if attempts_done >= len(schedule):
        return None
    return now + dt.timedelta(seconds=float(schedule[attempts_done]))
