"""The Calls resource over HTTP: validation codes, auth, errors, paging, update and delete."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, basic, make_api, validate
from wirexa.store import repo

META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}


async def error_of(resp: Any, status: int, code: int) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == status, body
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["detail"] == body["message"]
    assert set(body) == {"code", "message", "more_info", "status", "detail"}
    return body  # type: ignore[no-any-return]


async def test_create_returns_201_queued_call_valid_against_twilio_schema(api: Api) -> None:
    resp = await api.create(StatusCallback="http://h/s", StatusCallbackEvent="initiated")
    body = await resp.json()
    assert resp.status == 201
    validate("api.v2010.account.call", body)
    assert body["status"] == "queued" and body["direction"] == "outbound-api"
    assert body["sid"].startswith("CA") and len(body["sid"]) == 34
    assert body["uri"] == f"{api.base}/Calls/{body['sid']}.json"
    assert body["subresource_uris"]["recordings"] == f"{api.base}/Calls/{body['sid']}/Recordings.json"
    assert body["date_created"].endswith("+0000") and body["start_time"] is None


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": ""}, 21201),
        ({"To": "12345abc"}, 21211),
        ({"From": ""}, 21213),
        ({"From": "not a number"}, 21212),
        ({"Url": ""}, 21205),
        ({"Url": "ftp://x/y"}, 21205),
        ({"Method": "PUT"}, 21209),
        ({"Timeout": "abc"}, 21208),
        ({"Timeout": "601"}, 21208),
        ({"StatusCallbackEvent": "initiated exploded"}, 21626),
        ({"SendDigits": "12x"}, 21206),
        ({"MachineDetection": "Sometimes"}, 21207),
        ({"Record": "perhaps"}, 20001),
    ],
)
async def test_create_validation_codes(api: Api, form: dict[str, str], code: int) -> None:
    await error_of(await api.create(**form), 400, code)


async def test_twiml_instead_of_url_and_length_limit(api: Api) -> None:
    resp = await api.client.post(
        f"{api.base}/Calls.json",
        data={"To": "+15005550006", "From": "+15005550100", "Twiml": "<Response><Say>Hi</Say></Response>"},
        headers=api.auth,
    )
    assert resp.status == 201
    too_long = await api.client.post(
        f"{api.base}/Calls.json", data={"To": "+15005550006", "From": "+15005550100", "Twiml": "x" * 4001}, headers=api.auth
    )
    await error_of(too_long, 400, 21205)


@pytest.mark.parametrize("to", ["sip:alice@127.0.0.1:5070", "+442071838750", "client:bob"])
async def test_to_accepts_e164_sip_and_client(api: Api, to: str) -> None:
    assert (await api.create(To=to)).status == 201


async def test_status_callback_event_repeated_and_joined(api: Api) -> None:
    r1 = await api.client.post(
        f"{api.base}/Calls.json",
        data=[("To", "+15005550006"), ("From", "+15005550100"), ("Url", "http://h/x"),
              ("StatusCallbackEvent", "initiated"), ("StatusCallbackEvent", "ringing")],
        headers=api.auth,
    )
    r2 = await api.create(StatusCallbackEvent="initiated ringing completed")
    r3 = await api.create(StatusCallbackEvent="answered,completed")
    events = []
    for r in (r1, r2, r3):
        assert r.status == 201
        call = api.store.read_sync(repo.get_call, (await r.json())["sid"])
        events.append(call.status_callback_events)
    assert events == ["initiated ringing", "initiated ringing completed", "answered completed"]


async def test_booleans_are_case_insensitive(api: Api) -> None:
    for value, expected in (("True", True), ("true", True), ("FALSE", False)):
        body = await (await api.create(Record=value)).json()
        assert api.store.read_sync(repo.get_call, body["sid"]).record is expected


@pytest.mark.parametrize(
    "path", ["/2010-04-01/Accounts/{a}/Calls.json", "/2010-04-01/Accounts/{a}/Calls", "/api/laml/2010-04-01/Accounts/{a}/Calls.json", "/api/laml/2010-04-01/Accounts/{a}/Calls"]
)
async def test_both_prefixes_with_and_without_json(api: Api, path: str) -> None:
    url = path.format(a=api.project.sid)
    resp = await api.client.post(url, data={"To": "+15005550006", "From": "+15005550100", "Url": "http://h/x"}, headers=api.auth)
    body = await resp.json()
    assert resp.status == 201
    prefix = "/api/laml/2010-04-01" if url.startswith("/api/laml") else "/2010-04-01"
    assert body["uri"].startswith(f"{prefix}/Accounts/{api.project.sid}/Calls/")
    fetched = await api.client.get(url.replace("/Calls", f"/Calls/{body['sid']}"), headers=api.auth)
    assert fetched.status == 200 and (await fetched.json())["sid"] == body["sid"]


async def test_auth_failures_are_401_with_challenge(api: Api) -> None:
    for headers in ({}, basic(api.project.sid, "wrong"), basic("ACnobody", api.project.auth_token), {"Authorization": "Basic !!!"}):
        resp = await api.client.get(f"{api.base}/Calls.json", headers=headers)
        await error_of(resp, 401, 20003)
        assert resp.headers["WWW-Authenticate"].startswith("Basic")


async def test_other_projects_resources_are_404(api: Api) -> None:
    other = api.store.write_sync(repo.create_project, "other")
    call = await (await api.create()).json()
    as_other = basic(other.sid, other.auth_token)
    resp = await api.client.get(f"/2010-04-01/Accounts/{other.sid}/Calls/{call['sid']}.json", headers=as_other)
    body = await error_of(resp, 404, 20404)
    assert body["message"] == f"The requested resource /2010-04-01/Accounts/{other.sid}/Calls/{call['sid']}.json was not found"
    # Path account that is not the authenticated one.
    await error_of(await api.client.get(f"{api.base}/Calls.json", headers=as_other), 404, 20404)
    listed = await (await api.client.get(f"/2010-04-01/Accounts/{other.sid}/Calls.json", headers=as_other)).json()
    assert listed["calls"] == []


async def test_402_when_credits_are_used_up(api: Api) -> None:
    api.store.write_sync(lambda: repo.update_project(api.project.sid, credits_s=0))
    body = await error_of(await api.create(), 402, 20005)
    assert body["detail"] == "No credits remaining for this project"
    api.store.write_sync(lambda: repo.update_project(api.project.sid, credits_s=30))
    assert (await api.create()).status == 201


async def test_404_405_and_unknown_routes(api: Api) -> None:
    await error_of(await api.client.get(f"{api.base}/Calls/CAnope.json", headers=api.auth), 404, 20404)
    await error_of(await api.client.get("/no/such/thing"), 404, 20404)
    resp = await api.client.put(f"{api.base}/Calls.json", headers=api.auth)
    await error_of(resp, 405, 20004)
    assert "POST" in resp.headers["Allow"]


async def test_413_for_oversized_body(tmp_path: Path) -> None:
    small, _ = await make_api(tmp_path, api_max_body_bytes=1024, api_rate_limit_per_s=0.0)
    try:
        resp = await small.create(Twiml="x" * 3000)
        await error_of(resp, 413, 413)
    finally:
        await small.client.close()
        small.store.close()


async def test_429_rate_limit(tmp_path: Path) -> None:
    limited, _ = await make_api(tmp_path, api_rate_limit_per_s=1.0, api_rate_limit_burst=3)
    try:
        statuses = [(await limited.client.get(f"{limited.base}/Calls.json", headers=limited.auth)).status for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        await error_of(await limited.client.get(f"{limited.base}/Calls.json", headers=limited.auth), 429, 20429)
    finally:
        await limited.client.close()
        limited.store.close()


async def test_500_never_shows_a_traceback(api: Api) -> None:
    async def boom(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("secret internals")

    api.services.calls.create = boom  # type: ignore[method-assign]
    resp = await api.create()
    await error_of(resp, 500, 20500)
    assert "secret" not in await resp.text() and "Traceback" not in await resp.text()


def seed(api: Api, n: int, **fields: Any) -> list[repo.CallRecord]:
    base = dt.datetime(2026, 1, 1)

    def tx() -> list[repo.CallRecord]:
        return [
            repo.insert_call(
                account_sid=api.project.sid, to_number=fields.get("to", "+15005550006"), from_number="+15005550100",
                status=fields.get("status", "completed"), direction="outbound-api", url="http://h/x",
                now=base + dt.timedelta(seconds=i), start_time=base + dt.timedelta(days=i % 3),
                end_time=base + dt.timedelta(days=i % 3, minutes=1), parent_call_sid=fields.get("parent"),
            )
            for i in range(n)
        ]

    return api.store.write_sync(tx)


async def test_list_envelope_paging_and_newest_first(api: Api) -> None:
    calls = seed(api, 7)
    resp = await api.client.get(f"{api.base}/Calls.json?PageSize=3&Status=completed", headers=api.auth)
    body = await resp.json()
    assert set(body) == META | {"calls"}
    assert [c["sid"] for c in body["calls"]] == [c.sid for c in reversed(calls)][:3]
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 3, 0, 2)
    assert body["previous_page_uri"] is None
    assert body["uri"] == f"{api.base}/Calls.json?Status=completed&PageSize=3&Page=0"
    for c in body["calls"]:
        validate("api.v2010.account.call", c)
    seen = [c["sid"] for c in body["calls"]]
    while body["next_page_uri"]:
        assert "Status=completed" in body["next_page_uri"] and "PageToken=PA" in body["next_page_uri"]
        body = await (await api.client.get(body["next_page_uri"], headers=api.auth)).json()
        seen += [c["sid"] for c in body["calls"]]
    assert seen == [c.sid for c in reversed(calls)]
    assert (body["page"], body["start"], body["end"]) == (2, 6, 6)


@pytest.mark.parametrize("size", ["0", "1001", "x"])
async def test_page_size_bounds(api: Api, size: str) -> None:
    await error_of(await api.client.get(f"{api.base}/Calls.json?PageSize={size}", headers=api.auth), 400, 20001)


async def test_list_filters(api: Api) -> None:
    parent = seed(api, 1)[0]
    seed(api, 2, parent=parent.sid, to="+15005550007")
    seed(api, 3, status="busy")

    async def sids(query: str) -> int:
        body = await (await api.client.get(f"{api.base}/Calls.json?{query}", headers=api.auth)).json()
        return len(body["calls"])

    assert await sids("Status=busy") == 3
    assert await sids(f"ParentCallSid={parent.sid}") == 2
    assert await sids("To=%2B15005550007") == 2
    assert await sids("From=%2B15005550100") == 6
    # start days: batch of 1 -> day 0; of 2 -> days 0, 1; of 3 -> days 0, 1, 2
    assert await sids("StartTime=2026-01-01") == 3
    assert await sids("StartTime%3E=2026-01-02") == 3  # on or after
    assert await sids("StartTime%3C=2026-01-02") == 3
    assert await sids("EndTime%3E=2026-01-02T00:00:00Z") == 3
    await error_of(await api.client.get(f"{api.base}/Calls.json?Status=exploded", headers=api.auth), 400, 20001)
    await error_of(await api.client.get(f"{api.base}/Calls.json?StartTime=yesterday", headers=api.auth), 400, 20001)


async def update(api: Api, sid: str, **form: str) -> Any:
    return await api.client.post(f"{api.base}/Calls/{sid}.json", data=form, headers=api.auth)


async def test_update_semantics_per_state(api: Api) -> None:
    queued = await (await api.create()).json()
    resp = await update(api, queued["sid"], Status="canceled")
    assert resp.status == 200 and (await resp.json())["status"] == "canceled"
    await error_of(await update(api, queued["sid"], Status="completed"), 400, 21220)
    await error_of(await update(api, queued["sid"], Url="http://h/new"), 400, 21220)
    # completed on a queued call also ends it
    q2 = await (await api.create()).json()
    assert (await (await update(api, q2["sid"], Status="completed")).json())["status"] == "canceled"
    # canceled on an in-progress call has no effect (Twilio)
    live = seed(api, 1, status="in-progress")[0]
    assert (await (await update(api, live.sid, Status="canceled")).json())["status"] == "in-progress"
    # new instructions for a queued call replace those used on answer
    q3 = await (await api.create()).json()
    body = await (await update(api, q3["sid"], Url="http://h/other", Method="GET")).json()
    stored = api.store.read_sync(repo.get_call, q3["sid"])
    assert body["url"] == "http://h/other" and stored.method == "GET"
    await error_of(await update(api, q3["sid"], Url="http://h/a", Twiml="<Response/>"), 400, 21205)
    await error_of(await update(api, q3["sid"], Status="ringing"), 400, 21220)


async def test_delete_only_ended_calls(api: Api) -> None:
    queued = await (await api.create()).json()
    await error_of(await api.client.delete(f"{api.base}/Calls/{queued['sid']}.json", headers=api.auth), 400, 20009)
    done = seed(api, 1)[0]
    resp = await api.client.delete(f"{api.base}/Calls/{done.sid}.json", headers=api.auth)
    assert resp.status == 204 and await resp.read() == b""
    await error_of(await api.client.get(f"{api.base}/Calls/{done.sid}.json", headers=api.auth), 404, 20404)


async def test_health(api: Api) -> None:
    body = await (await api.client.get("/health")).json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]
