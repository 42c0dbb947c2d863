"""Usage Records (`.../Usage/Records.json` and its Daily, Monthly, Yearly, Today, Yesterday,
ThisMonth, LastMonth and AllTime subresources): a project's voice usage per category, summed
from the store's usage indexes (store/repo/usage.py) for each interval asked for.

The categories Wirexa meters: `calls` (answered calls and <Dial> legs: count = calls, usage =
minutes rounded up per call, as Twilio bills), `calls-inbound`, `calls-outbound`, `recordings`
(completed recordings and their minutes), `recordingstorage` (recordings held at the end of the
interval) and `totalprice`. Wirexa charges nothing: every price is "0", in the calls' price_unit.

Intervals: Records.json and AllTime are one interval, Daily / Monthly / Yearly one per UTC day,
calendar month or year, each from StartDate (default: the day the project was created) to
EndDate (default: today), both inclusive, YYYY-MM-DD or an offset from today (-30days, +2days).
Today, Yesterday, ThisMonth and LastMonth are one fixed interval, narrowed by StartDate/EndDate
when given. Records come interval by interval (oldest first), the categories in the order above;
a Category filter keeps one. IncludeSubaccounts (default true) adds the project's subaccounts'
usage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.usage import DayUsage, Stored, daily_usage, price_unit, stored_before, subaccount_sids

API_VERSION = "2010-04-01"
# category -> (description, count_unit, usage_unit or None for the price unit)
CATEGORIES: dict[str, tuple[str, str, str | None]] = {
    "calls": ("Voice Minutes", "calls", "minutes"),
    "calls-inbound": ("Inbound Voice Minutes", "calls", "minutes"),
    "calls-outbound": ("Outbound Voice Minutes", "calls", "minutes"),
    "recordings": ("Voice Recordings", "recordings", "minutes"),
    "recordingstorage": ("Voice Recording Storage", "recordings", "minutes"),
    "totalprice": ("Total Price", "", None),
}
# Path segment -> subresource_uris key; "" is Records.json itself.
SUBRESOURCES = {
    "AllTime": "all_time",
    "Daily": "daily",
    "LastMonth": "last_month",
    "Monthly": "monthly",
    "ThisMonth": "this_month",
    "Today": "today",
    "Yearly": "yearly",
    "Yesterday": "yesterday",
}
OFFSET = re.compile(r"^([+-])(\d{1,6})days$")


def parse_date(raw: str | None, name: str, today: dt.date) -> dt.date | None:
    """YYYY-MM-DD or an offset from today (`-30days`, `+1days`); None when absent."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    offset = OFFSET.match(text)
    try:
        if offset:
            days = int(offset.group(2))
            return today + dt.timedelta(days=days if offset.group(1) == "+" else -days)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return dt.date.fromisoformat(text)
    except (ValueError, OverflowError):
        pass
    raise BadRequest(
        f"{name} must be a date (YYYY-MM-DD) or an offset from today (-30days), got {raw!r}",
        code=ApiCode.INVALID_PARAMETER,
    )


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def window(
    sub: str, start: dt.date | None, end: dt.date | None, created: dt.date, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The first and last day the request covers."""
    fixed = {
        "Today": (today, today),
        "Yesterday": (today - dt.timedelta(days=1), today - dt.timedelta(days=1)),
        "ThisMonth": (_month_start(today), today),
        "LastMonth": (
            _month_start(_month_start(today) - dt.timedelta(days=1)),
            _month_start(today) - dt.timedelta(days=1),
        ),
    }.get(sub)
    if fixed is None:
        return (start or min(created, end or created), end or today)
    return (max(fixed[0], start) if start else fixed[0], min(fixed[1], end) if end else fixed[1])


def intervals(sub: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The intervals of [first, last] the subresource reports, oldest first."""
    if last < first:
        return []
    if sub == "Daily":
        return [(first + dt.timedelta(days=i), first + dt.timedelta(days=i)) for i in range((last - first).days + 1)]
    if sub in ("Monthly", "Yearly"):
        out = []
        a = first
        while a <= last:
            after = _next_month(a) if sub == "Monthly" else dt.date(a.year + 1, 1, 1) if a.year < 9999 else None
            b = min(last, after - dt.timedelta(days=1)) if after else last
            out.append((a, b))
            if after is None:
                break
            a = after
        return out
    return [(first, last)]


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    count: int = 0
    minutes: int = 0


def totals(days: Sequence[DayUsage], base: Stored, a: dt.date, b: dt.date, first: dt.date) -> dict[str, Totals]:
    """Each category's count and minutes over [a, b]; recording storage as of day b (the recordings
    held before `first`, the window's first day, plus those made from `first` to b)."""
    out: dict[str, Totals] = {}
    for kind in ("calls-inbound", "calls-outbound", "recordings"):
        picked = [u for u in days if u.kind == kind and a <= u.day <= b]
        out[kind] = Totals(sum(u.count for u in picked), sum(u.minutes for u in picked))
    inbound, outbound = out["calls-inbound"], out["calls-outbound"]
    out["calls"] = Totals(inbound.count + outbound.count, inbound.minutes + outbound.minutes)
    made = [u for u in days if u.kind == "recordings" and first <= u.day <= b]
    out["recordingstorage"] = Totals(
        base.count + sum(u.count for u in made), base.minutes + sum(u.minutes for u in made)
    )
    out["totalprice"] = Totals()
    return out


def usage_record_json(
    *,
    account_sid: str,
    prefix: str,
    sub: str,
    category: str,
    start: dt.date,
    end: dt.date,
    used: Totals,
    currency: str,
    as_of: str,
) -> dict[str, Any]:
    """Twilio's UsageRecord (OpenAPI api.v2010.account.usage.usage_record); prices are "0"."""
    description, count_unit, usage_unit = CATEGORIES[category]
    price = category == "totalprice"
    base = f"{prefix}/Usage/Records"
    query = urlencode({"Category": category, "StartDate": start.isoformat(), "EndDate": end.isoformat()})
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "as_of": as_of,
        "category": category,
        "count": None if price else str(used.count),
        "count_unit": count_unit,
        "description": description,
        "end_date": end.isoformat(),
        "price": "0",
        "price_unit": currency,
        "start_date": start.isoformat(),
        "subresource_uris": {
            key: f"{base}/{name}.json?{urlencode({'Category': category})}"
            for name, key in sorted(SUBRESOURCES.items(), key=lambda kv: kv[1])
        },
        "uri": f"{base}{'/' + sub if sub else ''}.json?{query}",
        "usage": "0" if price else str(used.minutes),
        "usage_unit": usage_unit or currency,
    }


async def _list(request: web.Request, sub: str) -> web.Response:
    project: ProjectRecord = await ctx.require_project(request)
    svc = ctx.services(request)
    q = request.query
    paging = ctx.parse_paging(q)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    today = now.date()
    category = (q.get("Category") or "").strip() or None
    if category is not None and category not in CATEGORIES:
        raise BadRequest(
            f"Category {category!r} is not metered by Wirexa; it meters {', '.join(CATEGORIES)}",
            code=ApiCode.INVALID_PARAMETER,
        )
    start = parse_date(q.get("StartDate"), "StartDate", today)
    end = parse_date(q.get("EndDate"), "EndDate", today)
    if start is not None and end is not None and end < start:
        raise BadRequest(f"EndDate {end} is before StartDate {start}", code=ApiCode.INVALID_PARAMETER)
    accounts = [project.sid]
    if ctx.parse_bool(q.get("IncludeSubaccounts"), "IncludeSubaccounts", default=True):
        accounts += await svc.store.read(subaccount_sids, project.sid)
    first, last = window(sub, start, end, project.date_created.date(), today)
    spans = intervals(sub, first, last)
    categories = [category] if category else list(CATEGORIES)
    pairs = [(span, c) for span in spans for c in categories]
    offset = (
        int(paging.after_sid) if paging.after_sid and paging.after_sid.isdigit() else paging.page * paging.page_size
    )
    page = pairs[offset : offset + paging.page_size]
    records: list[dict[str, Any]] = []
    if page:
        lo, hi = page[0][0][0], page[-1][0][1]
        days = await svc.store.read(daily_usage, accounts, min(lo, first), hi)
        base = await svc.store.read(stored_before, accounts, first)
        currency = (await svc.store.read(price_unit, accounts)).lower()
        as_of = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        cache: dict[tuple[dt.date, dt.date], dict[str, Totals]] = {}
        for (a, b), c in page:
            used = cache.get((a, b))
            if used is None:
                used = cache[(a, b)] = totals(days, base, a, b, first)
            records.append(
                usage_record_json(
                    account_sid=project.sid,
                    prefix=ctx.prefix(request),
                    sub=sub,
                    category=c,
                    start=a,
                    end=b,
                    used=used[c],
                    currency=currency,
                    as_of=as_of,
                )
            )
    more = offset + paging.page_size < len(pairs)
    return ctx.page_response(request, "usage_records", records, paging, offset + paging.page_size if more else None)


def _handler(sub: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return await _list(request, sub)

    handler.__name__ = f"list_usage_records_{SUBRESOURCES.get(sub, 'all')}"
    return handler


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Usage/Records"
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", _handler(""))
        for sub in SUBRESOURCES:
            app.router.add_route("GET", f"{base}/{sub}{ctx.JSON_EXT}", _handler(sub))
