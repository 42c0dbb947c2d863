"""PURE: the one time format on Twilio's wire (API resources and webhook Timestamps)."""

from __future__ import annotations

import datetime as dt

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(when: dt.datetime | None) -> str | None:
    """UTC datetime -> 'Tue, 31 Aug 2010 20:36:28 +0000' (None stays None).

    Naive datetimes are UTC (the store's convention); aware ones are converted. Formatted by
    hand: email.utils.format_datetime costs 20 times more, and a list page formats 200 of these.
    """
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} +0000"
    )
