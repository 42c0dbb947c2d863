"""The Calls resource over HTTP: validation codes, auth, errors, paging, filters, update and delete.

Every response goes through tests/api/conftest.py's SchemaCheck (Twilio's Call schema, the list
envelope, the error body, the request's prefix in every uri)."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.conftest import (
    ERROR_DICTIONARY,
    META,
    Api,
    SchemaCheck,
    basic,
    make_api,
    more_info,
)
from tests.conftest import start_api
from wirexa.api import auth as api_auth
from wirexa.calls.service import NullController
from wirexa.clock import SystemClock
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import CallFilter, get_call, insert_call, list_calls
from wirexa.store.repo.projects import create_project, update_project


async def error_of(resp: Any, status: int, code: int) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == status, body
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == more_info(code)
    assert body["detail"] == body["message"]
    assert set(body) == {"code", "message", "more_info", "status", "detail"}
    return body  # type: ignore[no-any-return]


def stored_call(api: Api, sid: str) -> CallRecord:
    """The call as the store holds it (it must exist)."""
    call = api.store.read_sync(get_call, sid)
    assert call is not None, f"no call {sid} in the store"
    return call


async def test_create_returns_201_queued_call(api: Api, api_check: SchemaCheck) -> None:
    resp = await api.create(StatusCallback="http://h/s", StatusCallbackEvent="initiated")
    body = await resp.json()
    assert resp.status == 201
    assert body["status"] == "queued" and body["direction"] == "outbound-api"
    assert body["sid"].startswith("CA") and len(body["sid"]) == 34
    assert body["account_sid"] == api.project.sid and body["api_version"] == "2010-04-01"
    assert body["to"] == "+15005550006" and body["to_formatted"] == "(500) 555-0006"
    assert body["uri"] == f"{api.base}/Calls/{body['sid']}.json"
    assert body["subresource_uris"]["recordings"] == f"{api.base}/Calls/{body['sid']}/Recordings.json"
    assert body["subresource_uris"]["notifications"] == f"{api.base}/Calls/{body['sid']}/Notifications.json"
    assert body["date_created"].endswith("+0000") and body["start_time"] is None and body["end_time"] is None
    assert body["duration"] is None and body["price"] is None and body["parent_call_sid"] is None
    assert api_check.seen["api.v2010.account.call"] == 1  # the schema check saw it


def test_schema_check_catches_a_bad_call(api_check: SchemaCheck) -> None:
    """The response check is not vacuous: an ISO date, a number for a string, a missing key,
    an extra envelope key and a foreign prefix are each reported."""
    good = {
        "sid": "CA" + "a" * 32,
        "status": "queued",
        "date_created": "Tue, 31 Aug 2010 20:36:28 +0000",
        "uri": "/2010-04-01/Accounts/AC1/Calls/CA.json",
    }
    from tests.api.conftest import CALL, schema_properties

    full = {k: None for k in schema_properties(CALL)} | good
    api_check.check("/2010-04-01/Accounts/AC1/Calls.json", 201, full)
    assert api_check.problems == [] and api_check.seen[CALL] == 1
    bad_bodies = [
        full | {"date_created": "2010-08-31T20:36:28Z"},
        full | {"duration": 30},
        {k: v for k, v in full.items() if k != "queue_time"},
        full | {"status": "exploded"},
    ]
    for body in bad_bodies:
        with pytest.raises(Exception):  # noqa: B017 - jsonschema ValidationError or AssertionError
            api_check.check("/2010-04-01/Accounts/AC1/Calls/CA.json", 200, body)
    with pytest.raises(AssertionError):
        api_check.check("/api/laml/2010-04-01/Accounts/AC1/Calls/CA.json", 200, full)
    with pytest.raises(AssertionError):
        api_check.check("/2010-04-01/Accounts/AC1/Calls.json", 200, {"calls": [], "total": 0} | {k: None for k in META})
    with pytest.raises(AssertionError):
        api_check.check("/2010-04-01/Accounts/AC1/Calls.json", 400, {"code": 1, "message": "m", "status": 400})


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": ""}, 21201),
        ({"To": "   "}, 21201),
        ({"To": "12345abc"}, 21211),
        ({"To": "+0123"}, 21211),
        ({"From": ""}, 21213),
        ({"From": "not a number"}, 21212),
        ({"Url": ""}, 21205),
        ({"Url": "ftp://x/y"}, 21205),
        ({"Url": "not a url"}, 21205),
        ({"Method": "PUT"}, 21209),
        ({"Timeout": "abc"}, 21208),
        ({"Timeout": "0"}, 21208),
        ({"Timeout": "601"}, 21208),
        ({"StatusCallbackEvent": "initiated exploded"}, 21626),
        ({"SendDigits": "12x"}, 21206),
        ({"SendDigits": "1" * 33}, 21206),
        ({"MachineDetection": "Sometimes"}, 21207),
        ({"MachineDetectionTimeout": "500"}, 21207),
        ({"Record": "perhaps"}, 20001),
        ({"StatusCallback": "nope"}, 21205),
    ],
)
async def test_create_validation_codes(api: Api, form: dict[str, str], code: int) -> None:
    await error_of(await api.create(**form), 400, code)
    assert api.store.read_sync(list_calls, CallFilter(account_sid=api.project.sid), 10)[0] == []


async def test_validation_order_to_before_from_before_url(api: Api) -> None:
    await error_of(await api.client.post(f"{api.base}/Calls.json", data={}, headers=api.auth), 400, 21201)
    await error_of(
        await api.client.post(f"{api.base}/Calls.json", data={"To": "+15005550006"}, headers=api.auth), 400, 21213
    )
    resp = await api.client.post(
        f"{api.base}/Calls.json", data={"To": "+15005550006", "From": "+15005550100"}, headers=api.auth
    )
    await error_of(resp, 400, 21205)


async def test_accepted_spellings(api: Api) -> None:
    resp = await api.create(Method="get", MachineDetection="enable", SendDigits="W1234#", Timeout="20")
    assert resp.status == 201
    call = stored_call(api, (await resp.json())["sid"])
    assert (call.method, call.machine_detection, call.send_digits, call.timeout_s) == ("GET", "Enable", "W1234#", 20)


async def test_machine_detection_parameters(api: Api) -> None:
    """MachineDetection* go through AmdParams.from_twilio: Twilio's defaults, any case, 'none'
    for off, the thresholds checked without MachineDetection too, the error naming the parameter."""

    async def stored(**form: str) -> tuple[object, ...]:
        resp = await api.create(**form)
        assert resp.status == 201
        c = stored_call(api, (await resp.json())["sid"])
        return (
            c.machine_detection,
            c.machine_detection_timeout_s,
            c.machine_detection_speech_threshold_ms,
            c.machine_detection_speech_end_threshold_ms,
            c.machine_detection_silence_timeout_ms,
        )

    assert await stored() == (None, 30, 2400, 1200, 5000)
    assert await stored(MachineDetection="None", MachineDetectionTimeout="59") == (None, 59, 2400, 1200, 5000)
    assert await stored(
        MachineDetection="detectmessageend",
        MachineDetectionSpeechThreshold="6000",
        MachineDetectionSpeechEndThreshold="500",
        MachineDetectionSilenceTimeout="2000",
    ) == ("DetectMessageEnd", 30, 6000, 500, 2000)
    body = await error_of(await api.create(MachineDetectionSpeechEndThreshold="499"), 400, 21207)
    assert body["message"] == "MachineDetectionSpeechEndThreshold must be between 500 and 5000, got 499"
    body = await error_of(await api.create(MachineDetection="Enable", MachineDetectionTimeout="ten"), 400, 21207)
    assert body["message"] == "MachineDetectionTimeout must be an integer, got 'ten'"
    body = await error_of(await api.create(MachineDetection="Sometimes"), 400, 21207)
    assert body["message"] == "MachineDetection must be Enable or DetectMessageEnd, got 'Sometimes'"
    # The first bad parameter names the error: Method comes before the thresholds.
    await error_of(await api.create(Method="PUT", MachineDetectionTimeout="500"), 400, 21209)


async def test_twiml_instead_of_url_and_length_limit(api: Api) -> None:
    twiml = "<Response><Say>Hi</Say></Response>"
    resp = await api.client.post(
        f"{api.base}/Calls.json", data={"To": "+15005550006", "From": "+15005550100", "Twiml": twiml}, headers=api.auth
    )
    assert resp.status == 201
    assert stored_call(api, (await resp.json())["sid"]).twiml == twiml
    too_long = await api.client.post(
        f"{api.base}/Calls.json",
        data={"To": "+15005550006", "From": "+15005550100", "Twiml": "x" * 4001},
        headers=api.auth,
    )
    await error_of(too_long, 400, 21205)
    # Url and Twiml together on create: Twiml is ignored (reference §6, §14.4).
    both = await (await api.create(Twiml=twiml)).json()
    stored = stored_call(api, both["sid"])
    assert stored.url == "http://127.0.0.1:9/xml" and stored.twiml is None


@pytest.mark.parametrize(
    ("to", "formatted"),
    [
        ("sip:alice@127.0.0.1:5070", "sip:alice@127.0.0.1:5070"),
        ("+14155550123", "(415) 555-0123"),
        ("client:bob", "client:bob"),
        ("SIP:bob@example.com", "SIP:bob@example.com"),
    ],
)
async def test_to_accepts_e164_sip_and_client(api: Api, to: str, formatted: str) -> None:
    resp = await api.create(To=to)
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["to"], body["to_formatted"], body["status"]) == (to, formatted, "queued")
    assert stored_call(api, body["sid"]).to_number == to  # kept as given, not rewritten


async def test_status_callback_event_repeated_and_joined(api: Api) -> None:
    r1 = await api.client.post(
        f"{api.base}/Calls.json",
        data=[
            ("To", "+15005550006"),
            ("From", "+15005550100"),
            ("Url", "http://h/x"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
        ],
        headers=api.auth,
    )
    r2 = await api.create(StatusCallbackEvent="initiated ringing completed")  # wirexaapi 1.0.1
    r3 = await api.create(StatusCallbackEvent="answered,completed")
    r4 = await api.create(StatusCallbackEvent="completed, answered  completed")
    r5 = await api.create()  # none given: every event (the product doc)
    events = []
    for r in (r1, r2, r3, r4, r5):
        assert r.status == 201
        events.append(stored_call(api, (await r.json())["sid"]).status_callback_events)
    assert events == [
        "initiated ringing",
        "initiated ringing completed",
        "answered completed",
        "completed answered",
        "initiated ringing answered completed",
    ]
    bad = await api.client.post(
        f"{api.base}/Calls.json",
        data=[
            ("To", "+15005550006"),
            ("From", "+15005550100"),
            ("Url", "http://h/x"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "bogus"),
        ],
        headers=api.auth,
    )
    await error_of(bad, 400, 21626)


async def test_recording_status_callback_event_list(api: Api) -> None:
    body = await (await api.create(RecordingStatusCallbackEvent="in-progress completed absent")).json()
    assert stored_call(api, body["sid"]).recording_status_callback_events == "in-progress completed absent"
    await error_of(await api.create(RecordingStatusCallbackEvent="in-progress,exploded"), 400, 21626)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("True", True), ("true", True), ("TRUE", True), ("FALSE", False), ("false", False), ("False", False)],
)
async def test_booleans_are_case_insensitive(api: Api, value: str, expected: bool) -> None:
    body = await (await api.create(Record=value, AsyncAmd=value)).json()
    call = stored_call(api, body["sid"])
    assert call.record is expected and call.async_amd is expected


PATHS = [
    "/2010-04-01/Accounts/{a}/Calls.json",
    "/2010-04-01/Accounts/{a}/Calls",
    "/api/laml/2010-04-01/Accounts/{a}/Calls.json",
    "/api/laml/2010-04-01/Accounts/{a}/Calls",
]


@pytest.mark.parametrize("path", PATHS)
async def test_both_prefixes_with_and_without_json(api: Api, path: str) -> None:
    url = path.format(a=api.project.sid)
    resp = await api.client.post(
        url, data={"To": "+15005550006", "From": "+15005550100", "Url": "http://h/x"}, headers=api.auth
    )
    body = await resp.json()
    assert resp.status == 201
    prefix = "/api/laml/2010-04-01" if url.startswith("/api/laml") else "/2010-04-01"
    assert body["uri"] == f"{prefix}/Accounts/{api.project.sid}/Calls/{body['sid']}.json"
    assert body["subresource_uris"]["recordings"].startswith(f"{prefix}/Accounts/")
    one = url.replace("/Calls", f"/Calls/{body['sid']}")
    fetched = await api.client.get(one, headers=api.auth)
    assert fetched.status == 200 and (await fetched.json())["uri"] == body["uri"]
    updated = await api.client.post(one, data={"Status": "canceled"}, headers=api.auth)
    assert (await updated.json())["uri"] == body["uri"]
    listed = await (await api.client.get(url + "?PageSize=1", headers=api.auth)).json()
    assert listed["uri"] == f"{urlsplit(url).path}?PageSize=1&Page=0"
    assert listed["calls"][0]["uri"] == body["uri"]
    assert (await api.client.delete(one, headers=api.auth)).status == 204


async def test_auth_failures_are_401_with_challenge(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # 28 failures from one address: the login throttle (tests/hardening/test_auth_abuse.py) would
    # hold each one past the free ones for up to 8 s; here only the 401's shape is under test.
    monkeypatch.setattr(api_auth.AuthThrottle, "FIRST_DELAY_S", 0.0)
    for headers in (
        {},
        basic(api.project.sid, "wrong"),
        basic(api.project.sid, api.project.auth_token[:-1]),
        basic("ACnobody", api.project.auth_token),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer " + api.project.auth_token},
        {"Authorization": "Basic " + "bm9jb2xvbg=="},  # "nocolon"
    ):
        for method, path in (
            ("GET", "/Calls.json"),
            ("POST", "/Calls.json"),
            ("GET", "/Calls/CA1.json"),
            ("DELETE", "/Calls/CA1.json"),
        ):
            resp = await api.client.request(method, f"{api.base}{path}", headers=headers)
            body = await error_of(resp, 401, 20003)
            assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert body["message"] == "Authenticate"
    resp = await api.client.get(f"{api.base}/Calls.json", headers=api.auth)
    assert resp.status == 200
    assert (await resp.json())["calls"] == []  # none of the refused POSTs created a call


async def test_tokens_are_compared_in_constant_time(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong token, unknown project and right token all go through hmac.compare_digest."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("wirexa.api.auth.hmac.compare_digest", spy)  # the module auth.py compares with
    await error_of(await api.client.get(f"{api.base}/Calls.json", headers=basic(api.project.sid, "wrong")), 401, 20003)
    await error_of(await api.client.get(f"{api.base}/Calls.json", headers=basic("ACghost", "tok")), 401, 20003)
    resp = await api.client.get(f"{api.base}/Calls.json", headers=api.auth)
    assert resp.status == 200 and (await resp.json())["calls"] == []
    assert compared == [
        (api.project.auth_token.encode(), b"wrong"),
        (b"x" * 32, b"tok"),  # unknown project: a dummy compare, same cost
        (api.project.auth_token.encode(), api.project.auth_token.encode()),
    ]


async def test_suspended_project_is_401(api: Api) -> None:
    api.store.write_sync(lambda: update_project(api.project.sid, status="suspended"))
    api.services.project_cache.clear()
    # The right token of a suspended account: 20005 (Account not active), not 20003.
    await error_of(await api.client.get(f"{api.base}/Calls.json", headers=api.auth), 401, 20005)


async def test_other_projects_resources_are_404(api: Api) -> None:
    other = api.store.write_sync(create_project, "other")
    call = await (await api.create()).json()
    as_other = basic(other.sid, other.auth_token)
    other_base = f"/2010-04-01/Accounts/{other.sid}"
    resp = await api.client.get(f"{other_base}/Calls/{call['sid']}.json", headers=as_other)
    body = await error_of(resp, 404, 20404)
    assert body["message"] == f"The requested resource {other_base}/Calls/{call['sid']}.json was not found"
    await error_of(
        await api.client.post(f"{other_base}/Calls/{call['sid']}.json", data={"Status": "canceled"}, headers=as_other),
        404,
        20404,
    )
    await error_of(await api.client.delete(f"{other_base}/Calls/{call['sid']}.json", headers=as_other), 404, 20404)
    listed = await (await api.client.get(f"{other_base}/Calls.json", headers=as_other)).json()
    assert listed["calls"] == []
    assert stored_call(api, call["sid"]).status == "queued"  # untouched


async def test_path_account_must_be_the_authenticated_one(api: Api) -> None:
    other = api.store.write_sync(create_project, "other")
    as_other = basic(other.sid, other.auth_token)
    body = await error_of(await api.client.get(f"{api.base}/Calls.json", headers=as_other), 404, 20404)
    assert body["message"] == f"The requested resource {api.base}/Calls.json was not found"
    await error_of(
        await api.client.post(f"{api.base}/Calls.json", data={"To": "+15005550006"}, headers=as_other), 404, 20404
    )
    assert api.store.read_sync(list_calls, CallFilter(account_sid=api.project.sid), 10)[0] == []


@pytest.mark.parametrize("balance", [0, -12])
async def test_402_when_credits_are_used_up(api: Api, balance: int) -> None:
    api.store.write_sync(lambda: update_project(api.project.sid, credits_s=balance))
    resp = await api.create()
    body = await resp.json()
    assert resp.status == 402 and body["status"] == 402
    assert body["detail"] == "No credits remaining for this project" == body["message"]
    api.store.write_sync(lambda: update_project(api.project.sid, credits_s=30))
    assert (await api.create()).status == 201
    api.store.write_sync(lambda: update_project(api.project.sid, credits_s=None))  # unlimited
    assert (await api.create()).status == 201


async def test_404_shape_405_and_unknown_routes(api: Api) -> None:
    body = await error_of(await api.client.get(f"{api.base}/Calls/CAnope.json", headers=api.auth), 404, 20404)
    assert body["message"] == f"The requested resource {api.base}/Calls/CAnope.json was not found"
    await error_of(await api.client.get("/no/such/thing"), 404, 20404)
    await error_of(await api.client.get(f"{api.base}/Conferences/CF1/Recordings.json", headers=api.auth), 404, 20404)
    resp = await api.client.put(f"{api.base}/Calls.json", headers=api.auth)
    await error_of(resp, 405, 20004)
    assert set(resp.headers["Allow"].split(",")) >= {"GET", "POST"}
    await error_of(await api.client.patch(f"{api.base}/Calls/CA1.json", headers=api.auth), 405, 20004)
    await error_of(await api.client.delete(f"{api.base}/Calls.json", headers=api.auth), 405, 20004)


async def test_413_for_oversized_body(tmp_path: Path) -> None:
    async with make_api(tmp_path, api_max_body_bytes=1024) as small:
        resp = await small.create(Twiml="x" * 3000)
        body = await error_of(resp, 413, 413)
        # Twilio's dictionary has no entry 413 (no /docs/errors/413 page): link the dictionary.
        assert body["more_info"] == ERROR_DICTIONARY == "https://www.twilio.com/docs/api/errors"
        assert (await small.create(Twiml="x" * 500)).status == 201  # under the limit


async def test_429_rate_limit_per_project(tmp_path: Path) -> None:
    async with make_api(tmp_path, api_rate_limit_per_s=0.5, api_rate_limit_burst=3) as limited:
        statuses = [
            (await limited.client.get(f"{limited.base}/Calls.json", headers=limited.auth)).status for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        await error_of(await limited.client.get(f"{limited.base}/Calls.json", headers=limited.auth), 429, 20429)
        # Another project has its own bucket.
        other = limited.store.write_sync(create_project, "other")
        resp = await limited.client.get(
            f"/2010-04-01/Accounts/{other.sid}/Calls.json", headers=basic(other.sid, other.auth_token)
        )
        body = await resp.json()
        assert resp.status == 200, body
        assert body["calls"] == [] and body["uri"] == f"/2010-04-01/Accounts/{other.sid}/Calls.json?PageSize=50&Page=0"


def test_rate_limiter_refills() -> None:
    limiter = api_auth.RateLimiter(2.0, 2)
    limiter.check("a", now=0.0)
    limiter.check("a", now=0.0)
    with pytest.raises(Exception, match="Too many"):
        limiter.check("a", now=0.1)
    limiter.check("a", now=0.6)  # 0.5 s at 2/s refilled one token
    api_auth.RateLimiter(0, 1).check("a")  # 0 disables


async def test_500_never_shows_a_traceback(api: Api) -> None:
    async def boom(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("secret internals")

    api.services.calls.create = boom  # type: ignore[method-assign]
    api.services.calls.get = boom  # type: ignore[method-assign]
    for resp in (await api.create(), await api.client.get(f"{api.base}/Calls/CA1.json", headers=api.auth)):
        await error_of(resp, 500, 20500)
        text = await resp.text()
        assert "secret" not in text and "Traceback" not in text and "RuntimeError" not in text


# --- lists ---------------------------------------------------------------------------------------


def seed(api: Api, n: int, **fields: Any) -> list[CallRecord]:
    """n calls inserted through the repo in one transaction, created one second apart."""
    base = fields.get("base", dt.datetime(2026, 1, 1))

    def tx() -> list[CallRecord]:
        return [
            insert_call(
                account_sid=fields.get("account", api.project.sid),
                to_number=fields.get("to", "+15005550006"),
                from_number=fields.get("from_", "+15005550100"),
                status=fields.get("status", "completed"),
                direction="outbound-api",
                url="http://h/x",
                now=base + dt.timedelta(seconds=i),
                start_time=fields.get("start", base + dt.timedelta(days=i % 3)),
                end_time=fields.get("end", base + dt.timedelta(days=i % 3, minutes=1)),
                parent_call_sid=fields.get("parent"),
            )
            for i in range(n)
        ]

    return api.store.write_sync(tx)


async def test_list_envelope_paging_and_newest_first(api: Api) -> None:
    calls = seed(api, 7)
    resp = await api.client.get(f"{api.base}/Calls.json?PageSize=3&Status=completed", headers=api.auth)
    body = await resp.json()
    assert set(body) == META | {"calls"}
    newest_first = [c.sid for c in reversed(calls)]
    assert [c["sid"] for c in body["calls"]] == newest_first[:3]
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 3, 0, 2)
    assert body["previous_page_uri"] is None
    assert body["uri"] == f"{api.base}/Calls.json?Status=completed&PageSize=3&Page=0"
    assert body["first_page_uri"] == body["uri"]
    seen = [c["sid"] for c in body["calls"]]
    pages = [body]
    while body["next_page_uri"]:
        assert "Status=completed" in body["next_page_uri"] and "PageToken=PA" in body["next_page_uri"]
        body = await (await api.client.get(body["next_page_uri"], headers=api.auth)).json()
        pages.append(body)
        seen += [c["sid"] for c in body["calls"]]
    assert seen == newest_first
    assert [(p["page"], p["start"], p["end"], len(p["calls"])) for p in pages] == [
        (0, 0, 2, 3),
        (1, 3, 5, 3),
        (2, 6, 6, 1),
    ]
    assert pages[1]["previous_page_uri"] is not None and "Page=0" in pages[1]["previous_page_uri"]
    assert pages[2]["first_page_uri"] == pages[0]["uri"]


async def test_exact_page_boundary_has_no_dangling_next_page(api: Api) -> None:
    seed(api, 4)
    body = await (await api.client.get(f"{api.base}/Calls.json?PageSize=2", headers=api.auth)).json()
    second = await (await api.client.get(body["next_page_uri"], headers=api.auth)).json()
    assert len(second["calls"]) == 2 and second["next_page_uri"] is None


async def test_empty_list(api: Api) -> None:
    body = await (await api.client.get(f"{api.base}/Calls.json", headers=api.auth)).json()
    assert body["calls"] == [] and (body["start"], body["end"], body["page_size"]) == (0, 0, 50)
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None


async def test_page_param_without_token_is_an_offset(api: Api) -> None:
    calls = seed(api, 5)
    body = await (await api.client.get(f"{api.base}/Calls.json?PageSize=2&Page=1", headers=api.auth)).json()
    assert [c["sid"] for c in body["calls"]] == [calls[2].sid, calls[1].sid]
    assert (body["page"], body["start"], body["end"]) == (1, 2, 3)


@pytest.mark.parametrize("size", ["0", "-1", "x", "2.5"])  # over 1000 is capped: test_page_size_cap.py
async def test_page_size_bounds(api: Api, size: str) -> None:
    await error_of(await api.client.get(f"{api.base}/Calls.json?PageSize={size}", headers=api.auth), 400, 20001)


async def test_page_size_1000_and_default_50(api: Api) -> None:
    seed(api, 1001)
    big = await (await api.client.get(f"{api.base}/Calls.json?PageSize=1000", headers=api.auth)).json()
    assert len(big["calls"]) == 1000 and big["page_size"] == 1000 and big["next_page_uri"]
    default = await (await api.client.get(f"{api.base}/Calls.json", headers=api.auth)).json()
    assert len(default["calls"]) == 50 and default["page_size"] == 50


async def count(api: Api, query: str) -> int:
    resp = await api.client.get(f"{api.base}/Calls.json?{query}", headers=api.auth)
    assert resp.status == 200, await resp.text()
    return len((await resp.json())["calls"])


async def test_list_filters(api: Api) -> None:
    parent = seed(api, 1)[0]
    seed(api, 2, parent=parent.sid, to="+15005550007")
    seed(api, 3, status="busy", from_="+15005550101")
    other = api.store.write_sync(create_project, "other")
    seed(api, 4, account=other.sid)  # never listed for this project

    assert await count(api, "") == 6
    assert await count(api, "Status=busy") == 3
    assert await count(api, "Status=busy&From=%2B15005550100") == 0
    assert await count(api, f"ParentCallSid={parent.sid}") == 2
    assert await count(api, "To=%2B15005550007") == 2
    assert await count(api, "From=%2B15005550100") == 3
    assert await count(api, "From=%2B15005550101") == 3
    await error_of(await api.client.get(f"{api.base}/Calls.json?Status=exploded", headers=api.auth), 400, 20001)


async def test_time_filters(api: Api) -> None:
    day = dt.datetime(2026, 3, 10)
    a = seed(api, 1, start=day - dt.timedelta(days=1, hours=2), end=day - dt.timedelta(days=1, hours=1))[0]  # 9th
    b = seed(api, 1, start=day + dt.timedelta(hours=12), end=day + dt.timedelta(hours=13))[0]  # 10th
    c = seed(api, 1, start=day + dt.timedelta(days=1, hours=23), end=day + dt.timedelta(days=2, minutes=5))[
        0
    ]  # 11th -> 12th

    async def sids(query: str) -> set[str]:
        resp = await api.client.get(f"{api.base}/Calls.json?{query}", headers=api.auth)
        assert resp.status == 200, await resp.text()
        return {x["sid"] for x in (await resp.json())["calls"]}

    assert await sids("StartTime=2026-03-10") == {b.sid}
    assert await sids("StartTime%3E=2026-03-10") == {b.sid, c.sid}  # on or after
    assert await sids("StartTime%3C=2026-03-10") == {a.sid}
    assert await sids("StartTime%3E=2026-03-10T12:00:00Z") == {b.sid, c.sid}  # instants, as twilio-python sends
    assert await sids("StartTime%3E=2026-03-10T12:00:01Z") == {c.sid}
    assert await sids("EndTime=2026-03-12") == {c.sid}
    assert await sids("EndTime%3C=2026-03-11") == {a.sid, b.sid}
    assert await sids("EndTime%3E=2026-03-10&EndTime%3C=2026-03-12") == {b.sid}  # both bounds at once
    assert await sids("StartTime%3E=2026-03-10T13:00:00%2B01:00") == {b.sid, c.sid}  # offset -> UTC
    await error_of(await api.client.get(f"{api.base}/Calls.json?StartTime=yesterday", headers=api.auth), 400, 20001)
    await error_of(await api.client.get(f"{api.base}/Calls.json?EndTime%3C=3/10/2026", headers=api.auth), 400, 20001)


async def test_filters_survive_in_page_uris(api: Api) -> None:
    seed(api, 5, start=dt.datetime(2026, 3, 10, 12))
    body = await (
        await api.client.get(
            f"{api.base}/Calls.json?StartTime%3E=2026-03-10&To=%2B15005550006&PageSize=2", headers=api.auth
        )
    ).json()
    for key in ("uri", "first_page_uri", "next_page_uri"):
        query = dict(parse_qsl(urlsplit(body[key]).query))
        assert query["StartTime>"] == "2026-03-10" and query["To"] == "+15005550006" and query["PageSize"] == "2"
    assert "StartTime%3E=2026-03-10" in body["next_page_uri"] and "%2B15005550006" in body["next_page_uri"]
    total = len(body["calls"])
    while body["next_page_uri"]:
        body = await (await api.client.get(body["next_page_uri"], headers=api.auth)).json()
        total += len(body["calls"])
    assert total == 5


# --- update and delete ---------------------------------------------------------------------------


async def update(api: Api, sid: str, **form: str) -> Any:
    return await api.client.post(f"{api.base}/Calls/{sid}.json", data=form, headers=api.auth)


class RecordingController(NullController):
    """NullController that remembers redirects (what the dispatcher would run)."""

    def __init__(self, store: Any) -> None:
        super().__init__(store, SystemClock())
        self.redirects: list[tuple[str, str | None, str, str | None]] = []
        self.cancels: list[tuple[str, str]] = []

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        self.cancels.append((call.sid, status))
        return await super().cancel(call, status)

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        self.redirects.append((call.sid, url, method, twiml))


@pytest.fixture
async def ctl_api(api: Api, api_check: SchemaCheck) -> AsyncIterator[tuple[Api, RecordingController]]:
    controller = RecordingController(api.services.calls.store)
    a = await start_api(api.store, api.settings, api.project, controller=controller, check=api_check)
    yield a, controller
    await a.client.close()


async def test_cancel_and_complete_a_queued_call(api: Api) -> None:
    queued = await (await api.create()).json()
    resp = await update(api, queued["sid"], Status="canceled")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "canceled" and body["end_time"] is not None
    # completed on a queued call ends it too (it never connected: canceled)
    q2 = await (await api.create()).json()
    assert (await (await update(api, q2["sid"], Status="completed")).json())["status"] == "canceled"


async def test_update_on_an_in_progress_call(ctl_api: tuple[Api, RecordingController]) -> None:
    api, ctl = ctl_api
    live = seed(api, 1, status="in-progress", end=None)[0]
    # canceled has no effect on an answered call (Twilio)
    body = await (await update(api, live.sid, Status="canceled")).json()
    assert body["status"] == "in-progress" and ctl.cancels == []
    # Url / Twiml redirect the live call; the stored instructions stay those it was answered with
    body = await (await update(api, live.sid, Url="http://h/next", Method="GET")).json()
    assert ctl.redirects == [(live.sid, "http://h/next", "GET", None)] and body["url"] == "http://h/x"
    await update(api, live.sid, Twiml="<Response><Hangup/></Response>")
    assert ctl.redirects[-1] == (live.sid, None, "POST", "<Response><Hangup/></Response>")
    # TimeLimit on a live call is stored
    await update(api, live.sid, TimeLimit="30")
    assert stored_call(api, live.sid).time_limit_s == 30
    # completed hangs it up
    body = await (await update(api, live.sid, Status="completed")).json()
    assert ctl.cancels == [(live.sid, "completed")] and body["status"] == "completed"


async def test_update_of_an_ended_call_is_21220(api: Api) -> None:
    for status in ("completed", "canceled", "busy", "failed", "no-answer"):
        done = seed(api, 1, status=status)[0]
        for form in (
            {"Status": "canceled"},
            {"Status": "completed"},
            {"Url": "http://h/a"},
            {"Twiml": "<Response/>"},
            {"TimeLimit": "10"},
        ):
            body = await error_of(await update(api, done.sid, **form), 400, 21220)
            assert "not in-progress" in body["message"]
        assert stored_call(api, done.sid).status == status


async def test_new_instructions_for_a_queued_call(ctl_api: tuple[Api, RecordingController]) -> None:
    api, ctl = ctl_api
    q = await (await api.create()).json()
    body = await (await update(api, q["sid"], Url="http://h/other", Method="GET")).json()
    stored = stored_call(api, q["sid"])
    assert body["url"] == "http://h/other" and stored.method == "GET" and body["status"] == "queued"
    assert ctl.redirects == []  # not answered yet: nothing to redirect
    await update(api, q["sid"], Twiml="<Response><Say>x</Say></Response>")
    stored = stored_call(api, q["sid"])
    assert stored.twiml == "<Response><Say>x</Say></Response>" and stored.url is None
    await update(api, q["sid"], StatusCallback="http://h/cb", StatusCallbackMethod="get", FallbackUrl="http://h/fb")
    stored = stored_call(api, q["sid"])
    assert (stored.status_callback, stored.status_callback_method, stored.fallback_url) == (
        "http://h/cb",
        "GET",
        "http://h/fb",
    )


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"Url": "http://h/a", "Twiml": "<Response/>"}, 21205),  # mutually exclusive on update
        ({"Status": "ringing"}, 21220),
        ({"Status": "in-progress"}, 21220),
        ({"Url": "nope"}, 21205),
        ({"Method": "PUT", "Url": "http://h/a"}, 21209),
        ({"Twiml": "x" * 4001}, 21205),
        ({"TimeLimit": "x"}, 21208),
    ],
)
async def test_update_validation(api: Api, form: dict[str, str], code: int) -> None:
    q = await (await api.create()).json()
    await error_of(await update(api, q["sid"], **form), 400, code)
    assert stored_call(api, q["sid"]).url == "http://127.0.0.1:9/xml"


async def test_update_unknown_call_is_404(api: Api) -> None:
    await error_of(await update(api, "CA" + "0" * 32, Status="canceled"), 404, 20404)


async def test_delete_only_ended_calls(api: Api) -> None:
    queued = await (await api.create()).json()
    await error_of(await api.client.delete(f"{api.base}/Calls/{queued['sid']}.json", headers=api.auth), 400, 20009)
    live = seed(api, 1, status="in-progress")[0]
    await error_of(await api.client.delete(f"{api.base}/Calls/{live.sid}", headers=api.auth), 400, 20009)
    kept = stored_call(api, live.sid)
    assert (kept.sid, kept.status) == (live.sid, "in-progress")  # refused: still there, untouched
    done = seed(api, 1)[0]
    resp = await api.client.delete(f"{api.base}/Calls/{done.sid}.json", headers=api.auth)
    assert resp.status == 204 and await resp.read() == b""
    await error_of(await api.client.get(f"{api.base}/Calls/{done.sid}.json", headers=api.auth), 404, 20404)
    await error_of(await api.client.delete(f"{api.base}/Calls/{done.sid}.json", headers=api.auth), 404, 20404)


async def test_health(api: Api) -> None:
    resp = await api.client.get("/health")
    body = await resp.json()
    assert resp.status == 200
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]
    assert body["sip"] == {"state": "disabled"}
