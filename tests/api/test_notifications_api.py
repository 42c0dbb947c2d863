"""Notifications over HTTP (call and account level): list with Log and MessageDate filters, paging,
fetch, delete, in Twilio's JSON shape.

Every JSON response is validated by tests/api/conftest.py's SchemaCheck: list items against
'api.v2010.account.notification' (or '...call.call_notification' under /Calls/), fetched ones
against the '-instance' variants that add the request and response keys."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.conftest import (
    CALL_NOTIFICATION,
    INSTANCE,
    META,
    NOTIFICATION,
    Api,
    SchemaCheck,
    basic,
)
from tests.api.test_calls_api import error_of, seed
from wirexa.store.repo import NotificationRecord
from wirexa.store.repo.notifications import insert_notification, list_notifications
from wirexa.store.repo.projects import create_project

# The keys of a list item (Twilio's schema); a fetch adds INSTANCE_ONLY.
ITEM_KEYS = {
    "account_sid",
    "api_version",
    "call_sid",
    "date_created",
    "date_updated",
    "error_code",
    "log",
    "message_date",
    "message_text",
    "more_info",
    "request_method",
    "request_url",
    "sid",
    "uri",
}
INSTANCE_ONLY = {"request_variables", "response_body", "response_headers"}


def notify(
    api: Api,
    call_sid: str | None,
    code: int = 11200,
    *,
    log_level: int = 0,
    when: dt.datetime | None = None,
    account: str | None = None,
    url: str | None = "http://127.0.0.1:9/doc.xml",
    method: str | None = "POST",
) -> NotificationRecord:
    """One notification through the real store, as the call session writes them."""
    return api.store.write_sync(
        lambda: insert_notification(
            account_sid=account or api.project.sid,
            call_sid=call_sid,
            error_code=code,
            log_level=log_level,
            message_text=f"error {code}",
            request_url=url,
            request_method=method,
            now=when,
        )
    )


async def get(api: Api, path: str, status: int = 200) -> Any:
    resp = await api.client.get(path, headers=api.auth)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_call_notifications_list_and_fetch(api: Api, api_check: SchemaCheck) -> None:
    call, other = seed(api, 2)
    day = dt.datetime(2026, 3, 10, 12)
    err = notify(api, call.sid, 11200, when=day)
    warn = notify(api, call.sid, 12200, log_level=1, when=day + dt.timedelta(seconds=1), url=None, method=None)
    notify(api, other.sid, 12100)  # another call's: not listed

    # The Call JSON advertises the subresource; it is followable.
    call_json = await get(api, f"{api.base}/Calls/{call.sid}.json")
    body = await get(api, call_json["subresource_uris"]["notifications"])
    assert set(body) == META | {"notifications"}
    assert [n["sid"] for n in body["notifications"]] == [warn.sid, err.sid]  # newest first
    item = body["notifications"][1]
    assert set(item) == ITEM_KEYS
    assert item["sid"].startswith("NO") and len(item["sid"]) == 34
    assert (item["account_sid"], item["call_sid"], item["api_version"]) == (api.project.sid, call.sid, "2010-04-01")
    assert (item["error_code"], item["log"], item["message_text"]) == ("11200", "0", "error 11200")
    assert (item["request_url"], item["request_method"]) == ("http://127.0.0.1:9/doc.xml", "POST")
    assert item["more_info"] == "https://www.twilio.com/docs/errors/11200"
    assert item["date_created"] == item["date_updated"] == item["message_date"] == "Tue, 10 Mar 2026 12:00:00 +0000"
    assert email.utils.parsedate_to_datetime(item["date_created"]) == day.replace(tzinfo=dt.UTC)
    assert item["uri"] == f"{api.base}/Calls/{call.sid}/Notifications/{err.sid}.json"
    warning = body["notifications"][0]
    # No method recorded: Twilio's default (its schema allows only GET or POST there).
    assert (warning["log"], warning["error_code"], warning["request_url"], warning["request_method"]) == (
        "1",
        "12200",
        None,
        "POST",
    )

    fetched = await get(api, item["uri"])
    assert set(fetched) == ITEM_KEYS | INSTANCE_ONLY
    assert {k: fetched[k] for k in ITEM_KEYS} == item
    assert api_check.seen[CALL_NOTIFICATION] == 2 and api_check.seen[CALL_NOTIFICATION + INSTANCE] == 1


async def test_account_notifications_and_both_prefixes(api: Api, api_check: SchemaCheck) -> None:
    call = seed(api, 1)[0]
    on_call = notify(api, call.sid, 11205)
    no_call = notify(api, None, 12400)  # not tied to a call (account level only)
    body = await get(api, f"{api.base}/Notifications.json")
    assert [n["sid"] for n in body["notifications"]] == [no_call.sid, on_call.sid]
    assert body["notifications"][0]["call_sid"] is None
    assert body["notifications"][1]["uri"] == f"{api.base}/Notifications/{on_call.sid}.json"
    fetched = await get(api, f"{api.base}/Notifications/{on_call.sid}.json")
    assert fetched["call_sid"] == call.sid and fetched["error_code"] == "11205"
    laml = f"/api/laml/2010-04-01/Accounts/{api.project.sid}"
    for path in (f"{laml}/Notifications", f"{laml}/Calls/{call.sid}/Notifications"):
        page = await get(api, path)
        assert page["uri"].startswith(path + "?") and page["notifications"][-1]["uri"].startswith(laml + "/")
    assert (await get(api, f"{laml}/Notifications/{no_call.sid}"))["uri"] == f"{laml}/Notifications/{no_call.sid}.json"
    assert (await get(api, f"{laml}/Calls/{call.sid}/Notifications/{on_call.sid}"))["call_sid"] == call.sid
    assert (api_check.seen[NOTIFICATION], api_check.seen[CALL_NOTIFICATION]) == (4, 1)
    assert (api_check.seen[NOTIFICATION + INSTANCE], api_check.seen[CALL_NOTIFICATION + INSTANCE]) == (2, 1)


async def test_log_and_message_date_filters(api: Api) -> None:
    call = seed(api, 1)[0]
    day = dt.datetime(2026, 3, 10)
    a = notify(api, call.sid, 11200, when=day - dt.timedelta(hours=2))  # 9th, error
    b = notify(api, call.sid, 12200, log_level=1, when=day + dt.timedelta(hours=12))  # 10th, warning
    c = notify(api, call.sid, 12100, when=day + dt.timedelta(days=1, hours=23))  # 11th, error

    async def sids(query: str, level: str = "") -> set[str]:
        path = (
            f"{api.base}/Calls/{call.sid}/Notifications.json" if level == "call" else f"{api.base}/Notifications.json"
        )
        return {n["sid"] for n in (await get(api, f"{path}?{query}"))["notifications"]}

    assert await sids("") == {a.sid, b.sid, c.sid}
    assert await sids("Log=0") == {a.sid, c.sid}
    assert await sids("Log=1") == {b.sid}
    assert await sids("Log=1", "call") == {b.sid}
    assert await sids("MessageDate=2026-03-10") == {b.sid}
    assert await sids("MessageDate%3E=2026-03-10") == {b.sid, c.sid}  # on or after
    assert await sids("MessageDate%3C=2026-03-10") == {a.sid}  # before
    assert await sids("MessageDate%3E=2026-03-10&MessageDate%3C=2026-03-11") == {b.sid}
    assert await sids("MessageDate%3E=2026-03-10T12:00:00Z") == {b.sid, c.sid}  # full datetimes
    assert await sids("MessageDate%3E=2026-03-10T12:00:01Z") == {c.sid}
    assert await sids("MessageDate%3C=2026-03-10T13:00:00%2B01:00") == {a.sid}  # offset -> UTC
    assert await sids("Log=0&MessageDate%3E=2026-03-10", "call") == {c.sid}
    for bad in ("Log=2", "Log=error", "MessageDate=yesterday", "MessageDate%3C=3/10/2026"):
        await error_of(await api.client.get(f"{api.base}/Notifications.json?{bad}", headers=api.auth), 400, 20001)


async def test_paging_keeps_filters(api: Api) -> None:
    call = seed(api, 1)[0]
    base = dt.datetime(2026, 3, 10)
    made = [notify(api, call.sid, 11200, when=base + dt.timedelta(seconds=i)) for i in range(5)]
    notify(api, call.sid, 12200, log_level=1, when=base)  # filtered out
    body = await get(api, f"{api.base}/Calls/{call.sid}/Notifications.json?Log=0&PageSize=2")
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 2, 0, 1)
    assert body["uri"] == f"{api.base}/Calls/{call.sid}/Notifications.json?Log=0&PageSize=2&Page=0"
    seen = [n["sid"] for n in body["notifications"]]
    while body["next_page_uri"]:
        assert dict(parse_qsl(urlsplit(body["next_page_uri"]).query))["Log"] == "0"
        assert "PageToken=PA" in body["next_page_uri"]
        body = await get(api, body["next_page_uri"])
        seen += [n["sid"] for n in body["notifications"]]
    assert seen == [n.sid for n in reversed(made)]
    assert body["page"] == 2 and body["previous_page_uri"] is not None
    await error_of(await api.client.get(f"{api.base}/Notifications.json?PageSize=0", headers=api.auth), 400, 20001)
    capped = await get(api, f"{api.base}/Notifications.json?PageSize=1001")  # capped, as on Twilio
    assert capped["page_size"] == 1000 and "PageSize=1000&" in capped["uri"]


async def test_delete_answers_204_then_404(api: Api) -> None:
    call = seed(api, 1)[0]
    first, second = notify(api, call.sid), notify(api, call.sid)
    resp = await api.client.delete(f"{api.base}/Notifications/{first.sid}.json", headers=api.auth)
    assert resp.status == 204 and await resp.read() == b""
    resp = await api.client.delete(f"{api.base}/Calls/{call.sid}/Notifications/{second.sid}.json", headers=api.auth)
    assert resp.status == 204
    assert api.store.read_sync(list_notifications, call.sid) == []
    for sid in (first.sid, second.sid):
        path = f"{api.base}/Notifications/{sid}.json"
        body = await error_of(await api.client.get(path, headers=api.auth), 404, 20404)
        assert body["message"] == f"The requested resource {path} was not found"
        await error_of(await api.client.delete(path, headers=api.auth), 404, 20404)


async def test_unknown_and_foreign_notifications_are_404(api: Api) -> None:
    call, other_call = seed(api, 2)
    mine = notify(api, call.sid)
    other = api.store.write_sync(create_project, "other")
    foreign_call = seed(api, 1, account=other.sid)[0]
    theirs = notify(api, foreign_call.sid, account=other.sid)
    assert [n["sid"] for n in (await get(api, f"{api.base}/Notifications.json"))["notifications"]] == [mine.sid]
    missing = [
        f"{api.base}/Notifications/NOdoesnotexist.json",
        f"{api.base}/Notifications/{theirs.sid}.json",  # another project's
        f"{api.base}/Calls/{other_call.sid}/Notifications/{mine.sid}.json",  # under the wrong call
        f"{api.base}/Calls/CAdoesnotexist/Notifications.json",
        f"{api.base}/Calls/{foreign_call.sid}/Notifications.json",
    ]
    for path in missing:
        body = await error_of(await api.client.get(path, headers=api.auth), 404, 20404)
        assert body["message"] == f"The requested resource {path} was not found"
    await error_of(await api.client.delete(f"{api.base}/Notifications/{theirs.sid}.json", headers=api.auth), 404, 20404)
    assert api.store.read_sync(list_notifications, foreign_call.sid)[0].sid == theirs.sid  # untouched
    # The other project sees its own.
    resp = await api.client.get(
        f"/2010-04-01/Accounts/{other.sid}/Notifications.json", headers=basic(other.sid, other.auth_token)
    )
    assert [n["sid"] for n in (await resp.json())["notifications"]] == [theirs.sid]
    await error_of(await api.client.get(f"{api.base}/Notifications.json"), 401, 20003)
    await error_of(await api.client.post(f"{api.base}/Notifications.json", headers=api.auth), 405, 20004)


@pytest.mark.parametrize(("log_level", "log"), [(0, "0"), (1, "1")])
async def test_log_level_is_twilios_log(api: Api, log_level: int, log: str) -> None:
    note = notify(api, None, 12200, log_level=log_level)
    assert (await get(api, f"{api.base}/Notifications/{note.sid}.json"))["log"] == log


def test_schema_check_catches_a_bad_notification(api_check: SchemaCheck) -> None:
    """The check is not vacuous for notifications: a number for `log`, an ISO date, a missing key
    and a fetched body without the instance keys are each reported."""
    good = {k: None for k in ITEM_KEYS | INSTANCE_ONLY} | {
        "sid": "NO" + "a" * 32,
        "log": "0",
        "request_method": "POST",
        "date_created": "Tue, 10 Mar 2026 12:00:00 +0000",
        "uri": "/2010-04-01/Accounts/AC1/Notifications/NO.json",
    }
    path = "/2010-04-01/Accounts/AC1/Notifications/NO.json"
    api_check.check(path, 200, good)
    assert api_check.seen[NOTIFICATION + INSTANCE] == 1
    no_instance_keys = {k: v for k, v in good.items() if k not in INSTANCE_ONLY}
    for bad in (
        good | {"log": 0},
        good | {"date_created": "2026-03-10T12:00:00Z"},
        good | {"request_method": None},
        no_instance_keys,
    ):
        with pytest.raises(Exception):  # noqa: B017 - jsonschema ValidationError or AssertionError
            api_check.check(path, 200, bad)
    with pytest.raises(AssertionError):  # an extra envelope key breaks the SDK
        api_check.check(
            "/2010-04-01/Accounts/AC1/Notifications.json",
            200,
            {"notifications": [], "total": 0} | {k: None for k in META},
        )
