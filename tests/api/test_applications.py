"""Applications in process: create, list (FriendlyName, paging), fetch, update, delete, checked
against Twilio's schema; a number naming one routes to its URLs and falls back to its own when
it is deleted; a call created with an ApplicationSid runs the application's URLs."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, basic
from tests.api.test_numbers import APPLICATION, NUMBER, error_of, register, validate, validate_page
from wirexa.api.routes.applications import REFUSED
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.numbers import find_route
from wirexa.store.repo.projects import create_project


async def create_app(api: Api, base: str | None = None, **form: str) -> tuple[int, dict[str, Any]]:
    resp = await api.client.post(f"{base or api.base}/Applications.json", data=form, headers=api.auth)
    return resp.status, await resp.json()


async def test_crud(api: Api) -> None:
    status, app = await create_app(
        api, FriendlyName="IVR", VoiceUrl="http://127.0.0.1:9/ivr", StatusCallback="http://127.0.0.1:9/st"
    )
    assert status == 201, app
    validate(APPLICATION, app)
    sid = app["sid"]
    assert sid.startswith("AP") and len(sid) == 34 and app["uri"] == f"{api.base}/Applications/{sid}.json"
    assert (app["voice_method"], app["voice_fallback_url"], app["api_version"]) == ("POST", None, "2010-04-01")
    resp = await api.client.get(f"/api/laml{api.base}/Applications/{sid}", headers=api.auth)
    fetched = await resp.json()
    validate(APPLICATION, fetched)
    assert fetched["uri"].startswith("/api/laml/") and fetched["voice_url"] == "http://127.0.0.1:9/ivr"
    resp = await api.client.post(
        f"{api.base}/Applications/{sid}.json",
        data={"VoiceFallbackUrl": "http://127.0.0.1:9/fb", "VoiceFallbackMethod": "GET"},
        headers=api.auth,
    )
    updated = await resp.json()
    validate(APPLICATION, updated)
    assert (updated["voice_fallback_url"], updated["voice_fallback_method"]) == ("http://127.0.0.1:9/fb", "GET")
    resp = await api.client.post(f"{api.base}/Applications/{sid}.json", data={"VoiceUrl": ""}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 21405)
    for name in REFUSED:
        resp = await api.client.post(f"{api.base}/Applications/{sid}.json", data={name: "x"}, headers=api.auth)
        status, code, message = await error_of(resp)
        assert (status, code) == (400, 20001) and message.startswith(f"{name} is not supported"), message
    status, body = await create_app(api, SmsUrl="http://127.0.0.1:9/sms")
    assert (status, body["code"]) == (400, 20001)
    status, _ = await create_app(api, PublicApplicationConnectEnabled="false")
    assert status == 201
    resp = await api.client.delete(f"{api.base}/Applications/{sid}.json", headers=api.auth)
    assert resp.status == 204
    resp = await api.client.get(f"{api.base}/Applications/{sid}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)


async def test_list(api: Api) -> None:
    for name in ("a", "b", "b", "c", "d"):
        status, _ = await create_app(api, FriendlyName=name)
        assert status == 201
    resp = await api.client.get(f"{api.base}/Applications.json", params={"PageSize": "2"}, headers=api.auth)
    body = await resp.json()
    names = [a["friendly_name"] for a in validate_page("applications", APPLICATION, body)]
    while body["next_page_uri"]:
        resp = await api.client.get(body["next_page_uri"], headers=api.auth)
        body = await resp.json()
        names += [a["friendly_name"] for a in validate_page("applications", APPLICATION, body)]
    assert sorted(names) == ["a", "b", "b", "c", "d"]
    resp = await api.client.get(f"{api.base}/Applications.json", params={"FriendlyName": "b"}, headers=api.auth)
    assert [a["friendly_name"] for a in (await resp.json())["applications"]] == ["b", "b"]


async def test_a_number_runs_its_application_until_it_is_deleted(api: Api) -> None:
    _, app = await create_app(api, VoiceUrl="http://127.0.0.1:9/app", VoiceMethod="GET")
    status, number = await register(api, VoiceUrl="http://127.0.0.1:9/own", VoiceApplicationSid=app["sid"])
    assert status == 201 and number["voice_application_sid"] == app["sid"]
    validate(NUMBER, number)
    route = await api.store.lookup(find_route, "+14155550100")
    assert route is not None and (route.voice_url, route.voice_method) == ("http://127.0.0.1:9/app", "GET")
    resp = await api.client.delete(f"{api.base}/Applications/{app['sid']}.json", headers=api.auth)
    assert resp.status == 204
    resp = await api.client.get(f"{api.base}/IncomingPhoneNumbers/{number['sid']}.json", headers=api.auth)
    assert (await resp.json())["voice_application_sid"] is None
    route = await api.store.lookup(find_route, "+14155550100")
    assert route is not None and (route.voice_url, route.voice_method) == ("http://127.0.0.1:9/own", "POST")
    _, app2 = await create_app(api, VoiceUrl="http://127.0.0.1:9/app2")
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{number['sid']}.json",
        data={"VoiceApplicationSid": app2["sid"]},
        headers=api.auth,
    )
    assert (await resp.json())["voice_application_sid"] == app2["sid"]
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{number['sid']}.json", data={"VoiceApplicationSid": ""}, headers=api.auth
    )
    assert (await resp.json())["voice_application_sid"] is None
    other = api.store.write_sync(create_project, "other")
    resp = await api.client.post(
        f"/2010-04-01/Accounts/{other.sid}/Applications.json", data={}, headers=basic(other.sid, other.auth_token)
    )
    theirs = (await resp.json())["sid"]
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{number['sid']}.json", data={"VoiceApplicationSid": theirs}, headers=api.auth
    )
    assert (await error_of(resp))[:2] == (400, 21218)
    resp = await api.client.get(f"{api.base}/Applications/{theirs}.json", headers=api.auth)
    assert resp.status == 404


async def test_a_call_created_with_an_application_sid(api: Api) -> None:
    _, app = await create_app(
        api,
        VoiceUrl="http://127.0.0.1:9/app",
        VoiceMethod="GET",
        VoiceFallbackUrl="http://127.0.0.1:9/fb",
        StatusCallback="http://127.0.0.1:9/st",
        StatusCallbackMethod="GET",
    )
    resp = await api.create(Url="", ApplicationSid=app["sid"])
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["url"] == "http://127.0.0.1:9/app"
    call = await api.store.lookup(get_call, body["sid"])
    assert call is not None
    assert (call.url, call.method, call.fallback_url, call.status_callback, call.status_callback_method) == (
        "http://127.0.0.1:9/app",
        "GET",
        "http://127.0.0.1:9/fb",
        "http://127.0.0.1:9/st",
        "GET",
    )
    cases = [
        ({"ApplicationSid": app["sid"]}, 21205, "Url and ApplicationSid are mutually exclusive"),
        ({"Url": "", "Twiml": "<Response/>", "ApplicationSid": app["sid"]}, 21205, "Twiml and ApplicationSid"),
        ({"Url": "", "StatusCallback": "http://x/s", "ApplicationSid": app["sid"]}, 20001, "StatusCallback and"),
        ({"Url": "", "Method": "GET", "ApplicationSid": app["sid"]}, 20001, "Method and ApplicationSid"),
        ({"Url": "", "ApplicationSid": "AP" + "0" * 32}, 21218, "ApplicationSid is invalid"),
        ({"Url": ""}, 21205, "Either Url, Twiml or ApplicationSid is required."),
    ]
    for form, code, message in cases:
        status, got_code, got_message = await error_of(await api.create(**form))
        assert (status, got_code) == (400, code) and got_message.startswith(message), (form, got_message)
    _, empty = await create_app(api)
    status, code, message = await error_of(await api.create(Url="", ApplicationSid=empty["sid"]))
    assert (status, code) == (400, 21218) and message.endswith("has no VoiceUrl")
