"""Usage Records in process: 20 finished calls (and recordings) made directly in the store, summed
by Records.json and every subresource on both prefixes (count = answered calls, usage = minutes
rounded up per call), the Category / StartDate / EndDate / IncludeSubaccounts filters, paging,
Twilio's 400s, every record checked against Twilio's OpenAPI schema, and the sums read from the
calls_usage index (SQLite's plan), not a scan of the calls table."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, components_of, validate_in
from tests.pg import database_url_on_both  # noqa: F401 - these tests run on SQLite and PostgreSQL
from wirexa.store.db import Store, is_sqlite
from wirexa.store.models import Call
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.projects import create_project, update_project
from wirexa.store.repo.recordings import insert_recording
from wirexa.store.repo.usage import daily_usage

SCHEMAS = Path(__file__).parent / "data" / "twilio_v2010_usage_schemas.json"
RECORD = "api.v2010.account.usage.usage_record"
META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}
CATEGORIES = ["calls", "calls-inbound", "calls-outbound", "recordings", "recordingstorage", "totalprice"]
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


def validate(schema_name: str, body: dict[str, Any]) -> None:
    """Twilio's OpenAPI component schema (nullable-aware), every property present. One deviation,
    on purpose: `price` is a decimal string ("0"), as Twilio sends it (the same file's examples,
    twilio-go's UnmarshalFloat32 of a string), where the schema says number."""
    if "price" in components_of(SCHEMAS)["schemas"][schema_name].get("properties", {}):
        assert isinstance(body["price"], str) and float(body["price"]) >= 0, body["price"]
        body = {**body, "price": float(body["price"])}
    validate_in(SCHEMAS, schema_name, body)


def schema_of(sub: str) -> str:
    if not sub:
        return RECORD
    return f"{RECORD}.usage_record_{SUBRESOURCES[sub]}"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour)


def add_call(
    store: Store,
    account: str,
    start: dt.datetime,
    duration_s: int | None,
    *,
    status: str = "completed",
    direction: str = "outbound-api",
) -> str:
    def write() -> str:
        call = insert_call(
            account_sid=account,
            to_number="+15005550006",
            from_number="+15005550100",
            status=status,
            direction=direction,
            url="http://127.0.0.1:9/xml",
            start_time=start,
            answer_time=start if status == "completed" else None,
            end_time=start + dt.timedelta(seconds=duration_s or 0),
            duration_s=duration_s,
            now=start,
        )
        return call.sid

    return store.write_sync(write)


def add_recording(store: Store, account: str, call_sid: str, when: dt.datetime, duration_s: int) -> None:
    store.write_sync(
        lambda: insert_recording(
            account_sid=account,
            call_sid=call_sid,
            status="completed",
            source="OutboundAPI",
            duration_s=duration_s,
            start_time=when,
            now=when,
        )
    )


DURATIONS = [1, 59, 60, 61, 119, 120, 121, 0, 300, 3599, 3600, 7, 45, 90, 150, 30, 600, 61, 5, 240]


@pytest.fixture
def twenty(api: Api) -> dict[str, Any]:
    """20 answered calls today (every 3rd inbound, every 5th a <Dial> leg), 4 that were never
    answered, and 3 recordings; what Twilio would bill for them."""
    account, day = api.project.sid, today()
    sids = []
    for i, seconds in enumerate(DURATIONS):
        direction = "inbound" if i % 3 == 0 else ("outbound-dial" if i % 5 == 0 else "outbound-api")
        sids.append(add_call(api.store, account, at(day, 0) + dt.timedelta(minutes=i), seconds, direction=direction))
    for status in ("busy", "no-answer", "failed", "canceled"):
        add_call(api.store, account, at(day, 1), None, status=status)
    for seconds in (10, 61, 125):
        add_recording(api.store, account, sids[0], at(day, 2), seconds)
    inbound = [d for i, d in enumerate(DURATIONS) if i % 3 == 0]
    outbound = [d for i, d in enumerate(DURATIONS) if i % 3 != 0]
    return {
        "calls": (20, sum(math.ceil(d / 60) for d in DURATIONS)),
        "calls-inbound": (len(inbound), sum(math.ceil(d / 60) for d in inbound)),
        "calls-outbound": (len(outbound), sum(math.ceil(d / 60) for d in outbound)),
        "recordings": (3, 1 + 2 + 3),
        "recordingstorage": (3, 1 + 2 + 3),
    }


async def get(api: Api, path: str, status: int = 200, prefix: str = "") -> Any:
    resp = await api.client.get(prefix + api.base + path, headers=api.auth)
    assert resp.status == status, await resp.text()
    return await resp.json()


def by_category(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["category"]: r for r in body["usage_records"]}


async def test_records_match_twenty_calls(api: Api, twenty: dict[str, Any]) -> None:
    body = await get(api, "/Usage/Records.json")
    assert set(body) == META | {"usage_records"}
    records = by_category(body)
    assert list(records) == CATEGORIES
    for record in body["usage_records"]:
        validate(RECORD, record)
        assert record["account_sid"] == api.project.sid and record["api_version"] == "2010-04-01"
        assert record["price"] == "0" and record["price_unit"] == "usd"
        assert record["end_date"] == today().isoformat()
        assert record["start_date"] == api.project.date_created.date().isoformat()
        assert record["uri"].startswith(api.base + "/Usage/Records.json?Category=")
        assert set(record["subresource_uris"]) == set(SUBRESOURCES.values())
        assert (
            record["subresource_uris"]["daily"] == f"{api.base}/Usage/Records/Daily.json?Category={record['category']}"
        )
        dt.datetime.fromisoformat(record["as_of"])
    for category, (count, minutes) in twenty.items():
        assert (records[category]["count"], records[category]["usage"]) == (str(count), str(minutes)), category
    assert records["calls"]["count_unit"] == "calls" and records["calls"]["usage_unit"] == "minutes"
    assert records["recordings"]["count_unit"] == "recordings"
    total = records["totalprice"]
    assert (total["count"], total["usage"], total["usage_unit"], total["price"]) == (None, "0", "usd", "0")


@pytest.mark.parametrize("sub", ["", "AllTime", "Today", "ThisMonth", "Daily", "Monthly", "Yearly"])
async def test_each_subresource_holds_today(api: Api, twenty: dict[str, Any], sub: str) -> None:
    for prefix in ("", "/api/laml"):
        path = "/Usage/Records" + (f"/{sub}" if sub else "") + ".json?Category=calls"
        body = await get(api, path, prefix=prefix)
        assert body["uri"].startswith(prefix + api.base)
        (record,) = [r for r in body["usage_records"] if r["end_date"] == today().isoformat()]
        validate(schema_of(sub), record)
        assert (record["count"], record["usage"]) == (str(twenty["calls"][0]), str(twenty["calls"][1]))
        assert record["uri"].startswith(prefix + api.base + "/Usage/Records")


async def test_yesterday_and_last_month_are_empty(api: Api, twenty: dict[str, Any]) -> None:
    yesterday = today() - dt.timedelta(days=1)
    body = await get(api, "/Usage/Records/Yesterday.json")
    assert [r["category"] for r in body["usage_records"]] == CATEGORIES
    for record in body["usage_records"]:
        validate(schema_of("Yesterday"), record)
        assert record["start_date"] == record["end_date"] == yesterday.isoformat()
        assert record["usage"] == "0"
    body = await get(api, "/Usage/Records/LastMonth.json?Category=calls")
    (record,) = body["usage_records"]
    first = (today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    assert record["start_date"] == first.isoformat() and (record["count"], record["usage"]) == ("0", "0")


async def test_days_months_and_date_filters(api: Api) -> None:
    """Calls on three days (two months back, yesterday, today): Daily has one record per day,
    Monthly one per month, StartDate/EndDate (dates and offsets) bound them."""
    account, day = api.project.sid, today()
    old = (day.replace(day=1) - dt.timedelta(days=40)).replace(day=3)
    yesterday = day - dt.timedelta(days=1)
    for when, seconds in ((old, 61), (old, 10), (yesterday, 200), (day, 30)):
        add_call(api.store, account, at(when), seconds)
    body = await get(api, f"/Usage/Records/Daily.json?Category=calls&StartDate={old}&PageSize=1000")
    days = {r["start_date"]: r for r in body["usage_records"]}
    assert len(days) == (day - old).days + 1 and all(r["start_date"] == r["end_date"] for r in days.values())
    assert (days[old.isoformat()]["count"], days[old.isoformat()]["usage"]) == ("2", "3")
    assert (days[yesterday.isoformat()]["count"], days[yesterday.isoformat()]["usage"]) == ("1", "4")
    assert (days[day.isoformat()]["count"], days[day.isoformat()]["usage"]) == ("1", "1")
    assert sum(int(r["count"]) for r in days.values()) == 4
    body = await get(api, f"/Usage/Records/Monthly.json?Category=calls&StartDate={old}")
    months = body["usage_records"]
    assert months[0]["start_date"] == old.isoformat() and months[-1]["end_date"] == day.isoformat()
    assert [m["start_date"][8:] for m in months[1:]] == ["01"] * (len(months) - 1)
    assert sum(int(m["usage"]) for m in months) == 8
    body = await get(api, f"/Usage/Records.json?Category=calls&StartDate={old}&EndDate={yesterday}")
    (record,) = body["usage_records"]
    assert (record["count"], record["usage"], record["end_date"]) == ("3", "7", yesterday.isoformat())
    body = await get(api, "/Usage/Records.json?Category=calls&StartDate=-1days&EndDate=%2B0days")
    (record,) = body["usage_records"]
    assert (record["start_date"], record["count"], record["usage"]) == (yesterday.isoformat(), "2", "5")
    body = await get(api, f"/Usage/Records/Today.json?Category=calls&StartDate={day + dt.timedelta(days=1)}")
    assert body["usage_records"] == []  # a fixed interval narrowed to nothing
    body = await get(api, "/Usage/Records/Yearly.json?Category=calls&StartDate=-400days")
    years = body["usage_records"]
    assert years[-1]["start_date"] == f"{day.year}-01-01" and sum(int(y["count"]) for y in years) == 4


async def test_paging(api: Api, twenty: dict[str, Any]) -> None:
    body = await get(api, "/Usage/Records.json?PageSize=4")
    assert [r["category"] for r in body["usage_records"]] == CATEGORIES[:4]
    assert body["next_page_uri"] is not None and body["page_size"] == 4
    resp = await api.client.get(body["next_page_uri"], headers=api.auth)
    rest = await resp.json()
    assert [r["category"] for r in rest["usage_records"]] == CATEGORIES[4:]
    assert rest["next_page_uri"] is None and rest["page"] == 1 and rest["start"] == 4


async def test_subaccounts_are_included_unless_asked_not_to(api: Api) -> None:
    sub = api.store.write_sync(lambda: create_project("customer"))
    api.store.write_sync(lambda: update_project(sub.sid, parent_sid=api.project.sid))
    add_call(api.store, sub.sid, at(today()), 61)
    add_call(api.store, api.project.sid, at(today()), 30)
    records = by_category(await get(api, "/Usage/Records/Today.json"))
    assert (records["calls"]["count"], records["calls"]["usage"]) == ("2", "3")
    records = by_category(await get(api, "/Usage/Records/Today.json?IncludeSubaccounts=false"))
    assert (records["calls"]["count"], records["calls"]["usage"]) == ("1", "1")
    # The parent's credentials reach the subaccount's usage (its own only).
    resp = await api.client.get(f"/2010-04-01/Accounts/{sub.sid}/Usage/Records/Today.json", headers=api.auth)
    assert resp.status == 200, await resp.text()
    records = by_category(await resp.json())
    assert (records["calls"]["account_sid"], records["calls"]["count"], records["calls"]["usage"]) == (
        sub.sid,
        "1",
        "2",
    )


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("Category=sms", "Category"),
        ("StartDate=2026-13-01", "StartDate"),
        ("EndDate=yesterday", "EndDate"),
        ("StartDate=2026-02-02&EndDate=2026-02-01", "EndDate"),
        ("IncludeSubaccounts=maybe", "IncludeSubaccounts"),
        ("PageSize=0", "PageSize"),
    ],
)
async def test_bad_filters_are_twilios_400(api: Api, query: str, names: str) -> None:
    body = await get(api, f"/Usage/Records/Daily.json?{query}", status=400)
    assert body["code"] == 20001 and names in body["message"]


async def test_another_projects_usage_is_404(api: Api) -> None:
    other = api.store.write_sync(lambda: create_project("other"))
    resp = await api.client.get(f"/2010-04-01/Accounts/{other.sid}/Usage/Records.json", headers=api.auth)
    assert resp.status == 404


def test_the_sums_come_from_the_index(store: Store, project: Any) -> None:
    """The calls' sum comes from the covering calls_usage index, a range of one account. PostgreSQL,
    asked for the plan it makes of a large table, reads a range of one account's index entries
    (which index is its planner's choice on a test's empty table)."""
    day = today()
    store.write_sync(lambda: daily_usage([project.sid], day, day))  # the query runs
    db = Call._meta.database
    calls_sql = (
        'SELECT substr("start_time", 1, 10), "direction", COUNT(*), '
        'SUM(("duration_s" + 59) / 60) FROM "calls" WHERE "account_sid" IN (?) AND "start_time" >= ? '
        'AND "start_time" < ? AND "status" = ? GROUP BY 1, 2'
    )
    recordings_sql = (
        'SELECT COUNT(*) FROM "recordings" WHERE "account_sid" IN (?) AND "date_created" < ? AND "status" = ?'
    )
    calls_params = (project.sid, "2026-01-01", "2026-01-02", "completed")
    recordings_params = (project.sid, "2026-01-01", "completed")
    if not is_sqlite(db.obj):

        def explain(sql: str, params: tuple[str, ...]) -> str:
            db.execute_sql("SET LOCAL enable_seqscan = off")
            sql = sql.replace('substr("start_time", 1, 10)', "to_char(\"start_time\", 'YYYY-MM-DD')")
            return " ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql.replace("?", "%s"), params))

        for sql, params, table in (
            (calls_sql, calls_params, "calls"),
            (recordings_sql, recordings_params, "recordings"),
        ):
            plan = store.write_sync(explain, sql, params)
            # An index scan of one of the table's indexes, its condition starting with the account.
            assert "Seq Scan" not in plan and f"using {table}_" in plan, plan
            assert re.search(r"Index Cond: \(+account_sid", plan), plan
        return
    plan = " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + calls_sql, calls_params))
    assert "USING COVERING INDEX calls_usage" in plan, plan
    plan = " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + recordings_sql, recordings_params))
    assert "USING COVERING INDEX recordings_usage" in plan, plan
