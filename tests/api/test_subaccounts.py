"""Subaccounts: the Accounts resource in process (create, list with filters and paging, fetch,
FriendlyName and Status, every body checked against Twilio's Account schema), isolation (the
parent's credentials reach a subaccount's resources, a subaccount's never its parent's or a
sibling's), suspended (401 / 20005, no call placed: refused at create, a queued one failed when it
leaves the queue, inbound refused; calls in progress go on), closed (numbers released, live calls
hung up through the dispatcher, never reopened), with the real dispatcher over FakeSip; then a
ringing and an answered call of a subaccount hung up on a real engine when it is closed."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, basic
from tests.api.test_keys import validate
from tests.calls.conftest import Flow, flow  # noqa: F401 - the fixture
from tests.conftest import LiveServer, engine_fixture, start_api
from wirexa import config
from wirexa.api.routes.accounts import default_name
from wirexa.store.repo.calls import get_call, insert_call
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.numbers import number_by_phone
from wirexa.store.repo.projects import get_project, update_project

ACCOUNT = "api.v2010.account"
META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}
CALL = {"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/xml"}


async def error_of(resp: Any) -> tuple[int, int, str]:
    body = await resp.json()
    return resp.status, body["code"], body["message"]


async def new_sub(api: Api, **form: str) -> dict[str, Any]:
    resp = await api.client.post("/2010-04-01/Accounts.json", data=form, headers=api.auth)
    body = await resp.json()
    assert resp.status == 201, body
    validate(ACCOUNT, body)
    return body  # type: ignore[no-any-return]


def as_account(body: dict[str, Any]) -> dict[str, str]:
    return basic(body["sid"], body["auth_token"])


async def set_status(api: Api, sid: str, status: str, auth: dict[str, str] | None = None) -> Any:
    return await api.client.post(f"/2010-04-01/Accounts/{sid}.json", data={"Status": status}, headers=auth or api.auth)


def test_default_friendly_name_is_twilios() -> None:
    import datetime as dt

    assert default_name(dt.datetime(2026, 12, 7, 13, 9)) == "SubAccount Created at 2026-12-07 01:09 pm"
    assert default_name(dt.datetime(2026, 1, 2, 0, 5)) == "SubAccount Created at 2026-01-02 12:05 am"


async def test_create_fetch_list_update(api: Api) -> None:
    sub = await new_sub(api, FriendlyName="Customer A")
    parent = api.project.sid
    assert sub["sid"].startswith("AC") and sub["sid"] != parent and re.fullmatch(r"[0-9a-f]{32}", sub["auth_token"])
    assert (sub["owner_account_sid"], sub["status"], sub["friendly_name"]) == (parent, "active", "Customer A")
    assert sub["uri"] == f"/2010-04-01/Accounts/{sub['sid']}.json"
    assert sub["subresource_uris"]["calls"] == f"/2010-04-01/Accounts/{sub['sid']}/Calls.json"
    unnamed = await new_sub(api)
    assert unnamed["friendly_name"].startswith("SubAccount Created at ")
    resp = await api.client.post("/api/laml/2010-04-01/Accounts", data={"FriendlyName": "B"}, headers=api.auth)
    third = await resp.json()
    assert resp.status == 201 and third["uri"].startswith("/api/laml/2010-04-01/Accounts/")
    # fetch: the parent itself (it owns itself) and its subaccount, by either credentials
    for sid, auth, owner in (
        (parent, api.auth, parent),
        (sub["sid"], api.auth, parent),
        (sub["sid"], as_account(sub), parent),
    ):
        for path in (f"/2010-04-01/Accounts/{sid}.json", f"/api/laml/2010-04-01/Accounts/{sid}"):
            resp = await api.client.get(path, headers=auth)
            assert resp.status == 200, path
            body = await resp.json()
            validate(ACCOUNT, body)
            assert body["sid"] == sid and body["owner_account_sid"] == owner
    # list: the parent sees itself and its 3 subaccounts, newest first, in pages
    seen: list[str] = []
    url: str | None = "/2010-04-01/Accounts.json?PageSize=3"
    while url:
        resp = await api.client.get(url, headers=api.auth)
        body = await resp.json()
        assert resp.status == 200 and set(body) == META | {"accounts"}
        for record in body["accounts"]:
            validate(ACCOUNT, record)
        seen += [a["sid"] for a in body["accounts"]]
        url = body["next_page_uri"]
    assert seen == [third["sid"], unnamed["sid"], sub["sid"], parent]
    resp = await api.client.get("/2010-04-01/Accounts.json", params={"FriendlyName": "Customer A"}, headers=api.auth)
    assert [a["sid"] for a in (await resp.json())["accounts"]] == [sub["sid"]]
    resp = await api.client.get("/2010-04-01/Accounts.json", headers=as_account(sub))
    assert [a["sid"] for a in (await resp.json())["accounts"]] == [sub["sid"]]  # only itself
    # update FriendlyName (its own credentials may), Status (the parent's)
    resp = await api.client.post(
        f"/2010-04-01/Accounts/{sub['sid']}.json", data={"FriendlyName": "Customer A2"}, headers=as_account(sub)
    )
    assert resp.status == 200 and (await resp.json())["friendly_name"] == "Customer A2"
    resp = await set_status(api, sub["sid"], "suspended")
    body = await resp.json()
    validate(ACCOUNT, body)
    assert resp.status == 200 and body["status"] == "suspended"
    resp = await api.client.get("/2010-04-01/Accounts.json", params={"Status": "suspended"}, headers=api.auth)
    assert [a["sid"] for a in (await resp.json())["accounts"]] == [sub["sid"]]
    resp = await set_status(api, sub["sid"], "active")
    assert resp.status == 200 and (await resp.json())["status"] == "active"


async def test_a_parent_reaches_its_subaccounts_and_no_one_else_does(api: Api) -> None:
    a, b = await new_sub(api), await new_sub(api)
    parent_call = await (await api.create()).json()
    resp = await api.client.post(f"/2010-04-01/Accounts/{a['sid']}/Calls.json", data=CALL, headers=as_account(a))
    a_call = await resp.json()
    assert resp.status == 201 and a_call["account_sid"] == a["sid"]
    # The parent's credentials on the subaccount's call: 200, as on Twilio; and it creates there.
    resp = await api.client.get(f"/2010-04-01/Accounts/{a['sid']}/Calls/{a_call['sid']}.json", headers=api.auth)
    assert resp.status == 200 and (await resp.json())["sid"] == a_call["sid"]
    resp = await api.client.post(f"/2010-04-01/Accounts/{a['sid']}/Calls.json", data=CALL, headers=api.auth)
    assert resp.status == 201 and (await resp.json())["account_sid"] == a["sid"]
    resp = await api.client.get(f"/api/laml/2010-04-01/Accounts/{a['sid']}/Calls", headers=api.auth)
    assert len((await resp.json())["calls"]) == 2
    # The subaccount's credentials on the parent's call, through either path: 404.
    for path in (
        f"/2010-04-01/Accounts/{a['sid']}/Calls/{parent_call['sid']}.json",
        f"/2010-04-01/Accounts/{api.project.sid}/Calls/{parent_call['sid']}.json",
        f"/2010-04-01/Accounts/{api.project.sid}/Calls.json",
        f"/2010-04-01/Accounts/{api.project.sid}.json",
    ):
        resp = await api.client.get(path, headers=as_account(a))
        assert (await error_of(resp))[:2] == (404, 20404), path
    # A sibling's: 404 too, for its calls and its account.
    for path in (
        f"/2010-04-01/Accounts/{a['sid']}/Calls/{a_call['sid']}.json",
        f"/2010-04-01/Accounts/{a['sid']}.json",
    ):
        resp = await api.client.get(path, headers=as_account(b))
        assert (await error_of(resp))[:2] == (404, 20404), path
    # The parent's API Key reaches the subaccount as its Auth Token does.
    resp = await api.client.post(f"{api.base}/Keys.json", headers=api.auth)
    key = await resp.json()
    resp = await api.client.get(
        f"/2010-04-01/Accounts/{a['sid']}/Calls/{a_call['sid']}.json", headers=basic(key["sid"], key["secret"])
    )
    assert resp.status == 200


async def test_credits_and_limits_stay_per_project(api: Api) -> None:
    sub = await new_sub(api)
    api.store.write_sync(lambda: update_project(sub["sid"], credits_s=0))
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", data=CALL, headers=api.auth)
    assert (await error_of(resp))[:2] == (402, 20005)
    assert (await api.create()).status == 201  # the parent's own balance is its own


async def test_status_rules(api: Api) -> None:
    sub = await new_sub(api)
    # Only a parent changes a Status; a main account never suspends or closes itself.
    for sid, auth in ((api.project.sid, api.auth), (sub["sid"], as_account(sub))):
        status, code, message = await error_of(await set_status(api, sid, "suspended", auth))
        assert (status, code) == (400, 20001) and "Status" in message
    status, code, _ = await error_of(await set_status(api, sub["sid"], "frozen"))
    assert (status, code) == (400, 20001)
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}.json", data={"Type": "Trial"}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}.json", data={"FriendlyName": ""}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    resp = await api.client.post("/2010-04-01/Accounts.json", data={"FriendlyName": "x" * 65}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    # A subaccount has no subaccounts.
    resp = await api.client.post("/2010-04-01/Accounts.json", headers=as_account(sub))
    assert (await error_of(resp))[:2] == (400, 21101)
    resp = await api.client.get("/2010-04-01/Accounts.json", params={"Status": "gone"}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    # Unknown and other projects' accounts: 404.
    other = await new_sub(api)
    for sid in ("AC" + "0" * 32, other["sid"]):
        resp = await api.client.get(f"/2010-04-01/Accounts/{sid}.json", headers=as_account(sub))
        assert (await error_of(resp))[:2] == (404, 20404)
    assert (await set_status(api, api.project.sid, "active")).status == 200  # no change: allowed


async def test_suspended(api: Api) -> None:
    sub = await new_sub(api)
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", data=CALL, headers=api.auth)
    call = await resp.json()
    assert (await set_status(api, sub["sid"], "suspended")).status == 200
    # Its own credentials: 401 / 20005 at once (the parent's update forgot the cached row).
    resp = await api.client.get(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", headers=as_account(sub))
    assert (await error_of(resp))[:2] == (401, 20005)
    # The parent reads it, but no call of it is placed.
    resp = await api.client.get(f"/2010-04-01/Accounts/{sub['sid']}/Calls/{call['sid']}.json", headers=api.auth)
    assert resp.status == 200
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", data=CALL, headers=api.auth)
    status, code, message = await error_of(resp)
    assert (status, code) == (401, 20005) and "suspended" in message
    assert (await set_status(api, sub["sid"], "active")).status == 200
    resp = await api.client.get(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", headers=as_account(sub))
    assert resp.status == 200


async def test_closed(api: Api) -> None:
    sub = await new_sub(api)
    at = f"/2010-04-01/Accounts/{sub['sid']}"
    resp = await api.client.post(
        f"{at}/IncomingPhoneNumbers.json", data={"PhoneNumber": "+14155550199"}, headers=api.auth
    )
    assert resp.status == 201
    resp = await api.client.post(f"{at}/Keys.json", headers=as_account(sub))
    key = await resp.json()
    resp = await api.client.post(f"{at}/Calls.json", data=CALL, headers=as_account(sub))
    queued = await resp.json()  # the in-process API's NullController leaves it queued
    resp = await set_status(api, sub["sid"], "closed")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "closed"
    validate(ACCOUNT, body)
    assert api.store.read_sync(number_by_phone, "+14155550199") is None  # released, as Twilio does
    ended = api.store.read_sync(get_call, queued["sid"])
    assert ended is not None and ended.status == "canceled"
    # Its credentials and keys are dead (20003: it never comes back); it cannot be reopened.
    for auth in (as_account(sub), basic(key["sid"], key["secret"])):
        resp = await api.client.get(f"{at}/Calls.json", headers=auth)
        assert (await error_of(resp))[:2] == (401, 20003)
    for status in ("active", "suspended"):
        assert (await error_of(await set_status(api, sub["sid"], status)))[:2] == (400, 21479)
    assert (await set_status(api, sub["sid"], "closed")).status == 200  # no change
    # The parent still reads its history, and changes nothing in it.
    resp = await api.client.get(f"{at}/Calls/{queued['sid']}.json", headers=api.auth)
    assert resp.status == 200 and (await resp.json())["status"] == "canceled"
    resp = await api.client.post(f"{at}/Calls.json", data=CALL, headers=api.auth)
    assert (await error_of(resp))[:2] == (401, 20005)
    resp = await api.client.get("/2010-04-01/Accounts.json", params={"Status": "closed"}, headers=api.auth)
    assert [a["sid"] for a in (await resp.json())["accounts"]] == [sub["sid"]]


# --- the real dispatcher over FakeSip -----------------------------------------------------------


@pytest.fixture
async def flow_api(flow: Flow, tmp_path: Path) -> AsyncIterator[tuple[Flow, Api]]:  # noqa: F811
    """The API in process over the flow's store, its CallService's controller the flow's dispatcher."""
    settings = config.load(overrides={"data_dir": str(tmp_path), "calls_cps": 0.0}, env={})
    api = await start_api(flow.store, settings, flow.project, controller=flow.dispatcher)
    yield flow, api
    await api.client.close()


async def test_suspended_subaccounts_place_and_take_no_calls(flow_api: tuple[Flow, Api]) -> None:
    fl, api = flow_api
    fl.backend.docs["/xml"] = "<Response><Pause length='30'/></Response>"
    sub = await new_sub(api)
    data = {**CALL, "Url": fl.backend.url("/xml")}
    resp = await api.client.post(f"/2010-04-01/Accounts/{sub['sid']}/Calls.json", data=data, headers=as_account(sub))
    live = await resp.json()
    await fl.wait_status(live["sid"], ("in-progress",))
    assert (await set_status(api, sub["sid"], "suspended")).status == 200
    # A call queued before the suspension (inserted as the create left it) fails when it leaves the queue.
    queued = await fl.store.write(
        lambda: insert_call(
            account_sid=sub["sid"],
            to_number="+15005550006",
            from_number="+15005550100",
            status="queued",
            direction="outbound-api",
            url=fl.backend.url("/xml"),
        )
    )
    fl.dispatcher.wake()
    failed = await fl.wait_status(queued.sid, ("failed",))
    assert failed.sid not in fl.sip.calls
    assert [n.error_code for n in await fl.store.read(list_notifications, queued.sid)] == [20005]
    # Inbound calls to its numbers are refused too; its call in progress goes on (as on Twilio).
    refusal = await fl.dispatcher.admission.for_inbound(sub["sid"], 0)
    assert refusal is not None and (refusal.status, refusal.code) == (401, 20005)
    current = await fl.store.read(get_call, live["sid"])
    assert current is not None and current.status == "in-progress"
    assert await fl.dispatcher.admission.for_inbound(fl.project.sid, 0) is None  # the parent's are not
    await api.client.post(
        f"/2010-04-01/Accounts/{sub['sid']}/Calls/{live['sid']}.json", data={"Status": "completed"}, headers=api.auth
    )


async def test_closing_hangs_up_live_calls(flow_api: tuple[Flow, Api]) -> None:
    fl, api = flow_api
    fl.backend.docs["/xml"] = "<Response><Pause length='30'/></Response>"
    sub = await new_sub(api)
    at = f"/2010-04-01/Accounts/{sub['sid']}/Calls.json"
    answered = await (await api.client.post(at, data={**CALL, "Url": fl.backend.url("/xml")}, headers=api.auth)).json()
    ringing = await (
        await api.client.post(at, data={**CALL, "To": "+15005550002", "Url": fl.backend.url("/xml")}, headers=api.auth)
    ).json()
    await fl.wait_status(answered["sid"], ("in-progress",))
    await fl.wait_status(ringing["sid"], ("ringing",))
    resp = await set_status(api, sub["sid"], "closed")
    assert resp.status == 200
    done = await fl.wait_status(answered["sid"], ("completed",), timeout=5)
    gone = await fl.wait_status(ringing["sid"], ("canceled", "no-answer", "completed"), timeout=5)
    assert done.status == "completed" and gone.status == "canceled"
    assert fl.sip.calls[answered["sid"]].ended and fl.sip.calls[ringing["sid"]].ended
    project = await fl.store.read(get_project, sub["sid"])
    assert project is not None and project.status == "closed"


# --- a real engine --------------------------------------------------------------------------------

engine = engine_fixture(shared=True)


def wait_status(client: Any, sid: str, statuses: tuple[str, ...], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(client.calls(sid).fetch().status)
        if status in statuses or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


@pytest.mark.sip
@pytest.mark.slow
def test_a_subaccount_on_a_real_engine(engine: LiveServer) -> None:
    parent = engine.client()
    sub = parent.api.accounts.create(friendly_name="e2e customer")
    assert sub.owner_account_sid == engine.project_id and sub.status == "active"
    own = Client(sub.sid, sub.auth_token)
    own.api.base_url = engine.base_url
    in_sub = Client(engine.project_id, engine.auth_token, sub.sid)  # the parent's credentials on the sub
    in_sub.api.base_url = engine.base_url
    pause = "<Response><Pause length='60'/></Response>"
    ringing = own.calls.create(to="+15005550002", from_="+15005550100", twiml=pause)
    answered = in_sub.calls.create(to="+15005550006", from_="+15005550100", twiml=pause)
    assert ringing.account_sid == answered.account_sid == sub.sid
    assert wait_status(in_sub, ringing.sid, ("ringing",)) == "ringing"
    assert wait_status(in_sub, answered.sid, ("in-progress",)) == "in-progress"
    theirs = parent.calls.create(to="+15005550006", from_="+15005550100", twiml="<Response><Hangup/></Response>")
    with pytest.raises(TwilioRestException) as err:  # the subaccount's credentials on its parent's call
        own.api.accounts(engine.project_id).calls(theirs.sid).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as err:
        own.calls(theirs.sid).fetch()
    assert err.value.status == 404
    # Suspended: its own credentials are refused, nothing new is placed; the parent still reads.
    assert parent.api.accounts(sub.sid).update(status="suspended").status == "suspended"
    with pytest.raises(TwilioRestException) as err:
        own.calls(ringing.sid).fetch()
    assert (err.value.status, err.value.code) == (401, 20005)
    with pytest.raises(TwilioRestException) as err:
        in_sub.calls.create(to="+15005550006", from_="+15005550100", twiml=pause)
    assert (err.value.status, err.value.code) == (401, 20005)
    assert in_sub.calls(answered.sid).fetch().status == "in-progress"  # calls in progress go on
    # Closed: its live calls are hung up at once; it is never reopened.
    started = time.monotonic()
    assert parent.api.accounts(sub.sid).update(status="closed").status == "closed"
    assert wait_status(in_sub, answered.sid, ("completed",), timeout=10) == "completed"
    assert wait_status(in_sub, ringing.sid, ("canceled",), timeout=10) == "canceled"
    assert time.monotonic() - started < 10
    with pytest.raises(TwilioRestException) as err:
        parent.api.accounts(sub.sid).update(status="active")
    assert (err.value.status, err.value.code) == (400, 21479)
    assert sub.sid in {a.sid for a in parent.api.accounts.list(status="closed")}
