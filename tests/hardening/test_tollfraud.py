"""Toll-fraud controls (issue 15 item 5): dialing permissions by destination prefix (21215), the
daily call-minutes cap (20005), the per-project concurrency cap for <Dial> legs and the emergency
stop (503 / 20503), at call create (the REST API in process, real store) and in the dispatcher
(queued calls and <Dial> legs: the real dispatcher, sessions and interpreter over FakeSip)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.test_calls_api import error_of
from tests.calls.conftest import Flow, flow  # noqa: F401 - the fixture
from tests.conftest import Api, start_api
from wirexa import config
from wirexa.calls import permissions
from wirexa.calls.permissions import ProjectLimits
from wirexa.clock import utcnow
from wirexa.errors import BadRequest, ConfigError
from wirexa.store.db import Store
from wirexa.store.repo import CallRecord, ProjectRecord
from wirexa.store.repo.calls import CallFilter, get_call, insert_call, list_calls, queued_calls
from wirexa.store.repo.flags import CALLS_STOPPED, set_flag
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.projects import update_project

UK = "+442071838750"
JAMAICA = "+18765550100"
US = "+15005550006"
GEO_MESSAGE = (
    "Account not authorized to call {}. Perhaps you need to enable some international permissions: "
    "https://www.twilio.com/console/voice/calls/geo-permissions/low-risk"
)


# --- the rules (pure) ---------------------------------------------------------------------------


def test_prefixes_parse_and_reject_garbage() -> None:
    assert permissions.parse_prefixes(" 1, +44,1876,44 ") == ("1", "44", "1876")
    assert permissions.parse_prefixes("*") == ("*",)
    assert permissions.parse_prefixes("") == ()
    for bad in ("0044", "uk", "1-876", "1234567890123456"):
        with pytest.raises(ValueError, match="not an E.164"):
            permissions.parse_prefixes(bad)


def test_the_default_is_the_trunks_home_country() -> None:
    pol = permissions.policy("44", "", 0, "trunk.example:5061")
    assert pol.default_prefixes == ("44",) and pol.trunk_host == "trunk.example"
    assert permissions.policy("1", "1,49", 0, "").default_prefixes == ("1", "49")


@pytest.mark.parametrize(
    ("number", "prefixes", "allowed"),
    [
        (US, ("1",), True),
        ("+14165550100", ("1",), True),  # Canada shares the US entry
        (JAMAICA, ("1",), False),  # ...the Caribbean does not
        ("+12425550100", ("1",), False),  # Bahamas
        (JAMAICA, ("1", "1876"), True),
        (UK, ("1",), False),
        (UK, ("44",), True),
        (UK, ("4420",), True),
        ("+441615550100", ("4420",), False),
        ("+4915112345678", ("*",), True),
    ],
)
def test_destination_prefixes(number: str, prefixes: tuple[str, ...], allowed: bool) -> None:
    refusal = permissions.destination_refusal(number, prefixes)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert (refusal.status, refusal.code, refusal.message) == (400, 21215, GEO_MESSAGE.format(number))


@pytest.mark.parametrize(
    ("to", "allowed"),
    [
        ("sip:+15005550006@trunk.example", True),
        ("sip:+442071838750@TRUNK.example:5060;transport=tcp", False),
        ("sip:00442071838750@trunk.example", False),  # no E.164 number: can't tell where it goes
        ("sip:alice@trunk.example", False),
        ("sip:alice@pbx.office.example", True),  # not the trunk
        ("client:bob", True),
    ],
)
def test_sip_uris_to_the_trunk_are_checked_by_their_number(to: str, allowed: bool) -> None:
    assert (permissions.destination_refusal(to, ("1",), "trunk.example") is None) == allowed


def test_daily_cap_and_usage() -> None:
    pol = permissions.policy("1", "", 30, "")
    assert permissions.daily_cap_s(ProjectLimits(), pol) == 1800
    assert permissions.daily_cap_s(ProjectLimits(daily_minutes=0), pol) == 0  # the project's own: unlimited
    assert permissions.daily_cap_s(ProjectLimits(daily_minutes=2), pol) == 120
    assert permissions.usage_refusal(119, 120) is None
    refusal = permissions.usage_refusal(120, 120)
    assert refusal is not None and (refusal.status, refusal.code) == (402, 20005)
    assert permissions.usage_refusal(10**9, 0) is None
    now = dt.datetime(2025, 3, 4, 15, 30, 10)
    assert permissions.day_start(now) == dt.datetime(2025, 3, 4)
    assert permissions.seconds_used(100, [now - dt.timedelta(seconds=20), now + dt.timedelta(seconds=5)], now) == 120


def test_settings_validate_the_prefixes(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="calls.allowed_countries"):
        config.load(overrides={"data_dir": str(tmp_path), "calls_allowed_countries": "1,UK"}, env={})
    with pytest.raises(ConfigError, match="sip.trunk_country_code"):
        config.load(overrides={"data_dir": str(tmp_path), "sip_trunk_country_code": "044"}, env={})


# --- at call create (REST API in process) -------------------------------------------------------


@pytest.fixture
async def trunk_api(store: Store, settings: Any, project: ProjectRecord) -> AsyncIterator[Api]:
    """The API of an engine with a trunk (host trunk.example) and a UK home country."""
    s = dataclasses.replace(settings, sip_trunk_host="trunk.example:5060", sip_trunk_country_code="44")
    a = await start_api(store, s, project)
    yield a
    await a.client.close()


async def queued(api: Api, to: str = "+15005550006") -> None:
    """Create a call to `to`: accepted (201) and queued, to that number."""
    resp = await api.create(To=to)
    body = await resp.json()
    assert (resp.status, body["status"], body["to"]) == (201, "queued", to), body


async def test_create_refuses_destinations_outside_the_home_country(api: Api) -> None:
    await queued(api, US)
    for number in (UK, JAMAICA):
        body = await error_of(await api.create(To=number), 400, 21215)
        assert body["message"] == GEO_MESSAGE.format(number)
    assert api.store.read_sync(list_calls, CallFilter(account_sid=api.project.sid), 50)[0][0].to_number == US


async def test_a_projects_own_permissions_replace_the_default(api: Api) -> None:
    api.store.write_sync(lambda: update_project(api.project.sid, allowed_countries="44,1876"))
    await queued(api, UK)
    await queued(api, JAMAICA)
    await error_of(await api.create(To=US), 400, 21215)
    api.store.write_sync(lambda: update_project(api.project.sid, allowed_countries="*"))
    await queued(api, "+4915112345678")


async def test_trunk_sip_uris_are_checked(trunk_api: Api) -> None:
    await queued(trunk_api, "sip:+442071838750@trunk.example")
    await error_of(await trunk_api.create(To="sip:+15005550006@trunk.example"), 400, 21215)
    await error_of(await trunk_api.create(To="sip:premium@trunk.example"), 400, 21215)
    await queued(trunk_api, "sip:alice@127.0.0.1:5070")
    await error_of(await trunk_api.create(To=US), 400, 21215)


async def test_the_emergency_stop_refuses_new_calls(api: Api) -> None:
    api.store.write_sync(set_flag, CALLS_STOPPED, "since now: test")
    body = await error_of(await api.create(), 503, 20503)
    assert "emergency stop" in body["message"] and "wirexa calls resume" in body["message"]
    api.store.write_sync(set_flag, CALLS_STOPPED, None)
    await queued(api)


async def test_the_daily_minutes_cap_refuses_once_used(api: Api) -> None:
    sid = api.project.sid
    api.store.write_sync(lambda: update_project(sid, daily_minutes=2))
    now = utcnow()
    # 90 s finished today, and one call answered 20 s ago still up: 110 s of 120.
    api.store.write_sync(lambda: insert_call(**_call(sid, "completed", duration_s=90, now=now)))
    live = _call(sid, "in-progress", answer_time=now - dt.timedelta(seconds=20), now=now)
    api.store.write_sync(lambda: insert_call(**live))
    # Yesterday's minutes do not count.
    api.store.write_sync(
        lambda: insert_call(**_call(sid, "completed", duration_s=5000, now=now - dt.timedelta(days=1)))
    )
    await queued(api)
    api.store.write_sync(lambda: insert_call(**_call(sid, "completed", duration_s=10, now=now)))
    body = await error_of(await api.create(), 402, 20005)
    assert "Daily call-minutes limit" in body["message"]
    api.store.write_sync(lambda: update_project(sid, daily_minutes=None))  # back to the default: unlimited
    await queued(api)


def _call(account_sid: str, status: str, now: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "to_number": US,
        "from_number": "+15005550100",
        "status": status,
        "direction": "outbound-api",
        "now": now,
        **fields,
    }


# --- in the dispatcher: queued calls and <Dial> legs --------------------------------------------


async def test_a_dial_leg_outside_the_permissions_is_not_placed(flow: Flow) -> None:  # noqa: F811
    flow.backend.docs["/xml"] = f'<Response><Dial action="/dialed" timeout="5">{UK}</Dial></Response>'
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/dialed")))
    [params] = flow.backend.requests_to("/dialed")
    assert params["DialCallStatus"] == "failed"
    legs, _ = await flow.store.read(list_calls, CallFilter(flow.project.sid, parent_call_sid=call.sid), 10)
    assert [(leg.to_number, leg.status) for leg in legs] == [(UK, "failed")]
    assert [c for c in flow.sip.calls.values() if c.dial.parent_call_sid == call.sid] == []  # never dialed
    codes = {n.error_code: n.message_text for n in await flow.store.read(list_notifications, legs[0].sid)}
    assert codes[21215] == GEO_MESSAGE.format(UK)
    notes = await flow.store.read(list_notifications, call.sid)
    assert any(n.error_code == 13224 and "21215" in n.message_text for n in notes)


async def test_dial_legs_count_against_the_projects_concurrency_cap(flow: Flow) -> None:  # noqa: F811
    await flow.store.write(lambda: update_project(flow.project.sid, max_concurrent=1))
    flow.backend.docs["/xml"] = '<Response><Dial action="/dialed" timeout="5">+15005550007</Dial></Response>'
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/dialed")))
    assert flow.backend.requests_to("/dialed")[0]["DialCallStatus"] == "failed"
    legs, _ = await flow.store.read(list_calls, CallFilter(flow.project.sid, parent_call_sid=call.sid), 10)
    codes = [n.error_code for n in await flow.store.read(list_notifications, legs[0].sid)]
    assert legs[0].status == "failed" and codes == [20429]


async def queued_unchecked(flow: Flow, to: str) -> CallRecord:  # noqa: F811
    """A call in the queue that admission at create did not see (its limits changed since)."""
    call = await flow.store.write(
        lambda: insert_call(
            account_sid=flow.project.sid,
            to_number=to,
            from_number="+15005550100",
            status="queued",
            direction="outbound-api",
            url=flow.backend.url("/xml"),
        )
    )
    flow.dispatcher.wake()
    return call


async def test_create_refuses_what_admission_refuses_in_the_service_too(flow: Flow) -> None:  # noqa: F811
    # Admission is one place (calls/admission.py): the service refuses, not only the HTTP route.
    with pytest.raises(BadRequest) as err:
        await flow.create(to=UK, url=flow.backend.url("/xml"))
    assert err.value.code == 21215
    assert await flow.store.read(queued_calls, 10) == []  # nothing was queued


async def test_queued_calls_are_checked_again_when_they_leave_the_queue(flow: Flow) -> None:  # noqa: F811
    # Queued without the create's admission, as if the permissions changed while it waited.
    flow.backend.docs["/xml"] = "<Response><Hangup/></Response>"
    call = await queued_unchecked(flow, UK)
    ended = await flow.wait_status(call.sid, ("failed",))
    assert ended.sip_response_code is None and call.sid not in flow.sip.calls
    assert [n.error_code for n in await flow.store.read(list_notifications, call.sid)] == [21215]
    # The daily cap, used up by a call of today.
    await flow.store.write(lambda: update_project(flow.project.sid, daily_minutes=1))
    await flow.store.write(lambda: insert_call(**_call(flow.project.sid, "completed", duration_s=60, now=utcnow())))
    capped = await queued_unchecked(flow, "+15005550006")
    await flow.wait_status(capped.sid, ("failed",))
    assert [n.error_code for n in await flow.store.read(list_notifications, capped.sid)] == [20005]


async def test_a_refused_call_is_never_seen_failed_without_its_notification(
    flow: Flow,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The flake of test_queued_calls_are_checked_again_when_they_leave_the_queue, made deterministic: the
    # moment the `failed` status commits, before the dispatcher runs on, read what the API would show.
    calls_store = flow.dispatcher.store
    real = calls_store.transition
    seen: list[tuple[str, list[int]]] = []

    async def observed(call_sid: str, fact: Any, *args: Any, **kwargs: Any) -> Any:
        updated = await real(call_sid, fact, *args, **kwargs)
        if updated is not None and updated.status == "failed":
            notes = await flow.store.read(list_notifications, call_sid)
            seen.append((updated.status, [n.error_code for n in notes]))
        return updated

    monkeypatch.setattr(calls_store, "transition", observed)
    call = await queued_unchecked(flow, UK)
    await flow.wait_status(call.sid, ("failed",))
    await flow.wait_for(lambda: bool(seen))
    assert seen == [("failed", [21215])]
    assert [n.error_code for n in await flow.store.read(list_notifications, call.sid)] == [21215]  # once


async def test_nothing_leaves_the_queue_during_an_emergency_stop(flow: Flow) -> None:  # noqa: F811
    await flow.store.write(set_flag, CALLS_STOPPED, "since now: test")
    flow.backend.docs["/xml"] = "<Response><Pause length='30'/></Response>"
    call = await queued_unchecked(flow, "+15005550006")  # queued before the stop
    for _ in range(3):  # a few dispatcher passes (it looks again every STOPPED_POLL_S, and when woken)
        flow.dispatcher.wake()
        await asyncio.sleep(0.2)
    assert (await flow.store.read(get_call, call.sid)).status == "queued"
    assert call.sid not in flow.sip.calls
    await flow.store.write(set_flag, CALLS_STOPPED, None)
    await flow.wait_for(lambda: call.sid in flow.sip.calls)  # placed within a poll after resume


async def test_a_stop_during_a_dispatch_pass_holds_the_calls_that_pass_read(
    flow: Flow,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `wirexa calls stop` lands while a pass has read the queue (after its first look at the flag).
    calls_store = flow.dispatcher.store
    real = calls_store.queued
    stopped: list[bool] = []

    async def read_then_stop(limit: int) -> list[Any]:
        rows = await real(limit)
        if rows and not stopped:
            await flow.store.write(set_flag, CALLS_STOPPED, "since now: test")
            stopped.append(True)
        return rows

    monkeypatch.setattr(calls_store, "queued", read_then_stop)
    flow.backend.docs["/xml"] = "<Response><Pause length='30'/></Response>"
    call = await queued_unchecked(flow, "+15005550006")
    await flow.wait_for(lambda: bool(stopped))
    for _ in range(3):
        flow.dispatcher.wake()
        await asyncio.sleep(0.1)
    assert (await flow.store.read(get_call, call.sid)).status == "queued"
    assert call.sid not in flow.sip.calls
