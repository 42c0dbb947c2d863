"""Usage sums for Twilio's Usage Records: a project's answered calls and its recordings per UTC day,
read from the calls_usage and recordings_usage indexes (schema 9): one range of the account's
index entries, grouped in SQL, never a scan of every call.

What counts, as Twilio bills it: a call (or <Dial> leg) that was answered (`completed`), on the
UTC day of its start time, as one call and its duration in minutes rounded up; a completed
recording, on the day it was made, as one recording and its minutes rounded up. Recording
storage on a day is every recording made up to that day that the store still holds (deleted
ones are gone from every day)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from wirexa.calls.state import CallStatus
from wirexa.calls.statuses import RecordingStatus
from wirexa.store.db import is_sqlite
from wirexa.store.models import Call, Project, Recording
from wirexa.store.sql import marks


@dataclasses.dataclass(frozen=True, slots=True)
class DayUsage:
    """One day's use of one metered kind: "calls-inbound", "calls-outbound" or "recordings"."""

    day: dt.date
    kind: str
    count: int
    minutes: int  # each item's duration rounded up to the minute, summed


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    """Recordings held (made before a day and not deleted): how many, and their minutes."""

    count: int
    minutes: int


def _day_sql(column: str) -> str:
    """The UTC day of a timestamp column as 'YYYY-MM-DD' text (SQLite keeps ISO text)."""
    db = Call._meta.database
    if is_sqlite(getattr(db, "obj", db)):
        return f'substr("{column}", 1, 10)'
    return f"to_char(\"{column}\", 'YYYY-MM-DD')"


def _run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    db = Call._meta.database
    return list(db.execute_sql(sql.replace("?", db.param), tuple(params)).fetchall())


def _bounds(field: Any, start: dt.date, end: dt.date) -> list[Any]:
    """[start 00:00, end + 1 day 00:00) in the column's stored form."""
    first = dt.datetime(start.year, start.month, start.day)
    after = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    return [field.db_value(first), field.db_value(after)]


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def daily_usage(account_sids: Sequence[str], start: dt.date, end: dt.date) -> list[DayUsage]:
    """Each day's answered calls (by direction) and completed recordings from start to end
    (inclusive), for the given accounts together; days without use are left out."""
    if not account_sids or end < start:
        return []
    accounts = marks(len(account_sids))
    out: list[DayUsage] = []
    day = _day_sql("start_time")
    calls = _run(
        f'SELECT {day}, "direction", COUNT(*), SUM(("duration_s" + 59) / 60) FROM "calls" '
        f'WHERE "account_sid" IN ({accounts}) AND "start_time" >= ? AND "start_time" < ? AND "status" = ? '
        f'GROUP BY {day}, "direction"',
        [*account_sids, *_bounds(Call.start_time, start, end), str(CallStatus.COMPLETED)],
    )
    per_day: dict[tuple[dt.date, str], list[int]] = {}
    for when, direction, count, minutes in calls:
        kind = "calls-inbound" if direction == "inbound" else "calls-outbound"
        total = per_day.setdefault((_day(when), kind), [0, 0])
        total[0] += int(count)
        total[1] += int(minutes or 0)
    out += [DayUsage(d, kind, c, m) for (d, kind), (c, m) in per_day.items()]
    day = _day_sql("date_created")
    recordings = _run(
        f'SELECT {day}, COUNT(*), SUM(("duration_s" + 59) / 60) FROM "recordings" '
        f'WHERE "account_sid" IN ({accounts}) AND "date_created" >= ? AND "date_created" < ? AND "status" = ? '
        f"GROUP BY {day}",
        [*account_sids, *_bounds(Recording.date_created, start, end), str(RecordingStatus.COMPLETED)],
    )
    out += [DayUsage(_day(when), "recordings", int(count), int(minutes or 0)) for when, count, minutes in recordings]
    return sorted(out, key=lambda u: (u.day, u.kind))


def stored_before(account_sids: Sequence[str], day: dt.date) -> Stored:
    """The completed recordings made before `day` that the store still holds."""
    if not account_sids:
        return Stored(0, 0)
    rows = _run(
        f'SELECT COUNT(*), SUM(("duration_s" + 59) / 60) FROM "recordings" '
        f'WHERE "account_sid" IN ({marks(len(account_sids))}) AND "date_created" < ? AND "status" = ?',
        [*account_sids, _bounds(Recording.date_created, day, day)[0], str(RecordingStatus.COMPLETED)],
    )
    count, minutes = rows[0]
    return Stored(int(count or 0), int(minutes or 0))


def price_unit(account_sids: Sequence[str]) -> str:
    """The currency of the accounts' calls (their newest call's price_unit), USD when they have none."""
    if not account_sids:
        return "USD"
    row = (
        Call.select(Call.price_unit)
        .where(Call.account_sid.in_(list(account_sids)))
        .order_by(Call.account_sid, Call.date_created.desc())
        .limit(1)
        .first()
    )
    return str(row.price_unit) if row is not None and row.price_unit else "USD"


def subaccount_sids(account_sid: str) -> list[str]:
    """The projects whose parent is `account_sid` (its subaccounts)."""
    return [p.sid for p in Project.select(Project.sid).where(Project.parent_sid == account_sid)]
