"""PURE: the calls list's filters, from the page's query string to a CallQuery, with a message
for each value that cannot be used (the page shows them and ignores those values)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

# Twilio's Call resource statuses (a filter on `queued` also finds calls stored as `initiated`).
STATUSES = ("queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled")
DIRECTIONS = ("inbound", "outbound-api", "outbound-dial")
ANSWERED_BY = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
MAX_TEXT = 256


@dataclasses.dataclass(frozen=True, slots=True)
class CallQuery:
    status: str | None = None
    to_number: str | None = None
    from_number: str | None = None
    direction: str | None = None
    answered_by: str | None = None
    day_from: dt.date | None = None  # calls created on or after this UTC day
    day_to: dt.date | None = None  # ... and on or before this one
    after: str | None = None  # the last call of the previous page (keyset)

    def created_from(self) -> dt.datetime | None:
        return dt.datetime.combine(self.day_from, dt.time()) if self.day_from else None

    def created_before(self) -> dt.datetime | None:
        return dt.datetime.combine(self.day_to, dt.time()) + dt.timedelta(days=1) if self.day_to else None

    def params(self, *, after: str | None = None) -> dict[str, str]:
        """The query string of this filter (for links: the next page, the live feed)."""
        out = {
            "status": self.status or "",
            "to": self.to_number or "",
            "from": self.from_number or "",
            "direction": self.direction or "",
            "answered_by": self.answered_by or "",
            "day_from": self.day_from.isoformat() if self.day_from else "",
            "day_to": self.day_to.isoformat() if self.day_to else "",
        }
        if after:
            out["after"] = after
        return {k: v for k, v in out.items() if v}

    @property
    def filtered(self) -> bool:
        return any(v is not None for k, v in dataclasses.asdict(self).items() if k != "after")


def _choice(q: Mapping[str, str], name: str, choices: tuple[str, ...], errors: list[str]) -> str | None:
    value = (q.get(name) or "").strip()
    if not value:
        return None
    if value not in choices:
        errors.append(f"{name} must be one of {', '.join(choices)}; {value!r} is ignored")
        return None
    return value


def _text(q: Mapping[str, str], name: str, errors: list[str]) -> str | None:
    value = (q.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        errors.append(f"{name} is longer than {MAX_TEXT} characters and is ignored")
        return None
    return value or None


def _day(q: Mapping[str, str], name: str, errors: list[str]) -> dt.date | None:
    value = (q.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name} must be a date (YYYY-MM-DD); {value!r} is ignored")
        return None


def parse(q: Mapping[str, str]) -> tuple[CallQuery, list[str]]:
    """The filters of a query string (status, to, from, direction, answered_by, day_from,
    day_to, after) and the messages about values that were ignored."""
    errors: list[str] = []
    after = (q.get("after") or "").strip()
    query = CallQuery(
        status=_choice(q, "status", STATUSES, errors),
        to_number=_text(q, "to", errors),
        from_number=_text(q, "from", errors),
        direction=_choice(q, "direction", DIRECTIONS, errors),
        answered_by=_choice(q, "answered_by", ANSWERED_BY, errors),
        day_from=_day(q, "day_from", errors),
        day_to=_day(q, "day_to", errors),
        after=after if after.startswith("CA") and len(after) <= 64 else None,
    )
    if query.day_from and query.day_to and query.day_to < query.day_from:
        errors.append("day_to is before day_from: no call can match")
    return query, errors
