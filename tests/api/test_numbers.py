"""IncomingPhoneNumbers in process: register, list (PhoneNumber partial and `*`, FriendlyName,
paging), fetch, update, release, on both prefixes with and without .json, every body checked
against Twilio's OpenAPI schema; Twilio's 400s (bad or duplicate numbers, bad URLs, 21405,
AreaCode, the parameters Wirexa cannot honour) and another project's number as 404."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, basic, validate_in
from tests.conftest import LiveServer, engine_fixture
from wirexa.api.routes.numbers import REFUSED, number_type_of, parse_phone_number
from wirexa.api.serializers import format_number
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo.projects import create_project

SCHEMAS = Path(__file__).parent / "data" / "twilio_v2010_numbers_schemas.json"
NUMBER = "api.v2010.account.incoming_phone_number"
APPLICATION = "api.v2010.account.application"
META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}


def validate(schema_name: str, body: dict[str, Any]) -> None:
    """Twilio's OpenAPI component schema (nullable-aware, RFC 2822 dates), every property present."""
    validate_in(SCHEMAS, schema_name, body)


def validate_page(key: str, schema_name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(body) == META | {key}, sorted(body)
    for record in body[key]:
        validate(schema_name, record)
    return body[key]  # type: ignore[no-any-return]


def test_parse_phone_number() -> None:
    assert parse_phone_number(" +14155550100 ") == "+14155550100"
    for bad, code in (("", ApiCode.INVALID_PHONE_NUMBER), ("4155550100", 21421), ("+0415", 21421), ("+1 415", 21421)):
        with pytest.raises(BadRequest) as err:
            parse_phone_number(bad)
        assert err.value.code == code
    assert number_type_of("+18005550100") == "toll-free"
    assert number_type_of("+14155550100") == number_type_of("+448001234567") == "local"


async def register(api: Api, number: str = "+14155550100", base: str | None = None, **form: str) -> Any:
    resp = await api.client.post(
        f"{base or api.base}/IncomingPhoneNumbers.json", data={"PhoneNumber": number, **form}, headers=api.auth
    )
    return resp.status, await resp.json()


async def error_of(resp: Any) -> tuple[int, int, str]:
    body = await resp.json()
    return resp.status, body["code"], body["message"]


async def test_register_fetch_update_release(api: Api) -> None:
    status, body = await register(api, VoiceUrl="http://127.0.0.1:9/voice", StatusCallbackMethod="get")
    assert status == 201, body
    validate(NUMBER, body)
    sid = body["sid"]
    assert sid.startswith("PN") and len(sid) == 34
    assert body["friendly_name"] == "(415) 555-0100" and body["phone_number"] == "+14155550100"
    assert body["capabilities"] == {"voice": True, "sms": False, "mms": False, "fax": False}
    assert (body["voice_url"], body["voice_method"], body["status_callback_method"]) == (
        "http://127.0.0.1:9/voice",
        "POST",
        "GET",
    )
    assert body["voice_fallback_url"] is None and body["voice_application_sid"] is None
    assert body["uri"] == f"{api.base}/IncomingPhoneNumbers/{sid}.json" and body["type"] == "local"
    for path in (f"{api.base}/IncomingPhoneNumbers/{sid}.json", f"/api/laml{api.base}/IncomingPhoneNumbers/{sid}"):
        resp = await api.client.get(path, headers=api.auth)
        assert resp.status == 200
        got = await resp.json()
        validate(NUMBER, got)
        assert got["sid"] == sid and got["uri"].startswith(path.rsplit("/IncomingPhoneNumbers", 1)[0])
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{sid}",
        data={"FriendlyName": "Front desk", "VoiceFallbackUrl": "http://127.0.0.1:9/fb", "VoiceMethod": "GET"},
        headers=api.auth,
    )
    assert resp.status == 200
    updated = await resp.json()
    validate(NUMBER, updated)
    assert (updated["friendly_name"], updated["voice_fallback_url"], updated["voice_method"]) == (
        "Front desk",
        "http://127.0.0.1:9/fb",
        "GET",
    )
    assert updated["voice_url"] == "http://127.0.0.1:9/voice"  # untouched
    resp = await api.client.post(f"{api.base}/IncomingPhoneNumbers/{sid}.json", data={"VoiceUrl": ""}, headers=api.auth)
    assert await error_of(resp) == (400, 21405, "Cannot set VoiceFallbackUrl without setting Url")
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{sid}.json", data={"FriendlyName": ""}, headers=api.auth
    )
    assert (await resp.json())["friendly_name"] == "(415) 555-0100"  # back to the default
    resp = await api.client.delete(f"{api.base}/IncomingPhoneNumbers/{sid}.json", headers=api.auth)
    assert resp.status == 204
    resp = await api.client.get(f"{api.base}/IncomingPhoneNumbers/{sid}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)
    resp = await api.client.delete(f"{api.base}/IncomingPhoneNumbers/{sid}.json", headers=api.auth)
    assert resp.status == 404
    status, _ = await register(api)  # released: free again
    assert status == 201


async def test_refusals(api: Api) -> None:
    status, body = await register(api, "+442079460000")
    assert status == 201 and body["friendly_name"] == "+442079460000"
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"PhoneNumber": "+442079460000"}, 21422, "PhoneNumber +442079460000 is already in use"),
        ({"PhoneNumber": "0207 946 0000"}, 21421, "PhoneNumber is invalid: 0207 946 0000"),
        ({}, 21421, "A PhoneNumber (E.164) is required"),
        ({"AreaCode": "415"}, 21452, "AreaCode is not supported"),
        ({"PhoneNumber": "+14155550101", "AreaCode": "415"}, 21452, "AreaCode is not supported"),
        ({"PhoneNumber": "+14155550101", "VoiceUrl": "ftp://x"}, 21205, "VoiceUrl is not a valid URL: ftp://x"),
        ({"PhoneNumber": "+14155550101", "StatusCallback": "nope"}, 21205, "StatusCallback is not a valid URL"),
        ({"PhoneNumber": "+14155550101", "VoiceMethod": "PUT"}, 21209, "VoiceMethod must be GET or POST"),
        ({"PhoneNumber": "+14155550101", "VoiceFallbackUrl": "http://x/fb"}, 21405, "Cannot set VoiceFallbackUrl"),
        ({"PhoneNumber": "+14155550101", "FriendlyName": "x" * 65}, 20001, "FriendlyName must be 64"),
        ({"PhoneNumber": "+14155550101", "ApiVersion": "2008-08-01"}, 20001, "ApiVersion 2008-08-01 is not"),
        ({"PhoneNumber": "+14155550101", "VoiceCallerIdLookup": "maybe"}, 20001, "VoiceCallerIdLookup must be"),
        ({"PhoneNumber": "+14155550101", "VoiceCallerIdLookup": "true"}, 20001, "VoiceCallerIdLookup=true is not"),
        ({"PhoneNumber": "+14155550101", "VoiceApplicationSid": "AP" + "0" * 32}, 21218, "VoiceApplicationSid is"),
        ({"PhoneNumber": "+14155550101", "VoiceReceiveMode": "fax"}, 20001, "VoiceReceiveMode is not supported"),
        ({"PhoneNumber": "+14155550101", "EmergencyStatus": "Active"}, 20001, "EmergencyStatus is not supported"),
    ]
    cases += [({"PhoneNumber": "+14155550101", name: "x"}, 20001, f"{name} is not supported") for name in REFUSED]
    for form, code, message in cases:
        resp = await api.client.post(f"{api.base}/IncomingPhoneNumbers.json", data=form, headers=api.auth)
        status, got_code, got_message = await error_of(resp)
        assert (status, got_code) == (400, code), (form, got_message)
        assert got_message.startswith(message), (form, got_message)
    # What asks for nothing Wirexa lacks passes: Twilio's own defaults, and empty values.
    status, body = await register(
        api, "+14155550101", VoiceReceiveMode="voice", EmergencyStatus="Inactive", SmsUrl="", TrunkSid=""
    )
    assert status == 201, body
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{body['sid']}.json", data={"AccountSid": "AC" + "1" * 32}, headers=api.auth
    )
    assert (await error_of(resp))[:2] == (400, 20001)
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{body['sid']}.json", data={"AccountSid": api.project.sid}, headers=api.auth
    )
    assert resp.status == 200
    resp = await api.client.post(
        f"{api.base}/IncomingPhoneNumbers/{body['sid']}.json", data={"PhoneNumber": "+14155550102"}, headers=api.auth
    )
    assert (await error_of(resp))[:2] == (400, 20001)


async def test_another_projects_number(api: Api) -> None:
    other = api.store.write_sync(create_project, "other")
    other_base = f"/2010-04-01/Accounts/{other.sid}"
    resp = await api.client.post(
        f"{other_base}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": "+14155550100"},
        headers=basic(other.sid, other.auth_token),
    )
    assert resp.status == 201
    sid = (await resp.json())["sid"]
    for method in ("GET", "POST", "DELETE"):
        resp = await api.client.request(method, f"{api.base}/IncomingPhoneNumbers/{sid}.json", headers=api.auth)
        assert (await error_of(resp))[:2] == (404, 20404), method
    status, body = await register(api, "+14155550100")  # the number is another project's
    assert (status, body["code"]) == (400, 21422)
    resp = await api.client.get(f"{api.base}/IncomingPhoneNumbers.json", headers=api.auth)
    assert (await resp.json())["incoming_phone_numbers"] == []


async def test_list_filters_and_pages(api: Api) -> None:
    for i in range(7):
        status, _ = await register(api, f"+1415555020{i}", FriendlyName="Sales" if i == 3 else "")
        assert status == 201
    status, _ = await register(api, "+18005550100")
    url = f"{api.base}/IncomingPhoneNumbers.json"

    async def page(path: str, **query: str) -> dict[str, Any]:
        resp = await api.client.get(path, params=query, headers=api.auth)
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    body = await page(url, PageSize="3")
    seen = [n["phone_number"] for n in validate_page("incoming_phone_numbers", NUMBER, body)]
    while body["next_page_uri"]:
        assert body["next_page_uri"].startswith(url + "?")
        body = await page(body["next_page_uri"])
        seen += [n["phone_number"] for n in validate_page("incoming_phone_numbers", NUMBER, body)]
    assert sorted(seen) == sorted([f"+1415555020{i}" for i in range(7)] + ["+18005550100"])
    assert len(set(seen)) == len(seen)
    found = await page(url, PhoneNumber="415555020*")
    assert len(found["incoming_phone_numbers"]) == 7 and found["uri"].startswith(url + "?PhoneNumber=")
    found = await page(url, PhoneNumber="0203")
    assert [n["phone_number"] for n in found["incoming_phone_numbers"]] == ["+14155550203"]
    found = await page(url, FriendlyName="Sales")
    assert [n["phone_number"] for n in found["incoming_phone_numbers"]] == ["+14155550203"]
    assert (await page(url, Origin="twilio"))["incoming_phone_numbers"] == []
    assert len((await page(url, Origin="hosted", Beta="false"))["incoming_phone_numbers"]) == 8
    resp = await api.client.get(url, params={"Origin": "moon"}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    tollfree = await page(f"/api/laml{api.base}/IncomingPhoneNumbers/TollFree.json")
    assert [n["phone_number"] for n in tollfree["incoming_phone_numbers"]] == ["+18005550100"]
    assert tollfree["uri"].startswith(f"/api/laml{api.base}/IncomingPhoneNumbers/TollFree.json")


async def test_local_mobile_tollfree(api: Api) -> None:
    for kind, number, expected, schema in (
        ("Local", "+14155550300", "local", "local"),
        ("Mobile", "+447700900000", "mobile", "mobile"),
        ("TollFree", "+18885550100", "toll-free", "toll_free"),
    ):
        resp = await api.client.post(
            f"{api.base}/IncomingPhoneNumbers/{kind}.json", data={"PhoneNumber": number}, headers=api.auth
        )
        assert resp.status == 201
        body = await resp.json()
        validate(f"{NUMBER}.incoming_phone_number_{schema}", body)
        assert body["type"] == expected and body["uri"] == f"{api.base}/IncomingPhoneNumbers/{body['sid']}.json"
        resp = await api.client.get(f"{api.base}/IncomingPhoneNumbers/{kind}", headers=api.auth)
        assert [n["sid"] for n in (await resp.json())["incoming_phone_numbers"]] == [body["sid"]]
    resp = await api.client.delete(f"{api.base}/IncomingPhoneNumbers/Local.json", headers=api.auth)
    assert resp.status in (404, 405)


# --- a real engine, managed with twilio-python and signalwire 2.1.1 -----------------------------

ROOT = Path(__file__).parent.parent.parent
DRIVER = Path(__file__).parent / "data" / "numbers_sdk_driver.py"
engine = engine_fixture(shared=True)


def stem() -> str:
    """A number start no other test uses (the shared engine is everyone's): +1555 and 6 random digits."""
    return "+1555" + str(secrets.randbelow(900_000) + 100_000)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["twilio", "signalwire"])
def test_sdks_manage_numbers_and_applications(engine: LiveServer, kind: str) -> None:
    if kind == "signalwire":
        subprocess.run(["bash", str(ROOT / "scripts" / "sdk-venvs")], check=True, capture_output=True)
        python = str(ROOT / ".venv-sdk" / "signalwire" / "bin" / "python")
    else:
        python = sys.executable
    s = stem()
    out = subprocess.run(
        [python, str(DRIVER), kind, engine.base_url, engine.project_id, engine.auth_token, s],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in r, r.get("trace")
    assert r["twilio_version"].startswith("6." if kind == "signalwire" else "9.")
    assert r["app"] == ["AP", "GET", "IVR"]
    assert r["fetched"][:4] == ["PN", f"{s}0", format_number(f"{s}0"), "http://127.0.0.1:9/voice"]
    assert r["fetched"][4] == {"voice": True, "sms": False, "mms": False, "fax": False}
    assert r["duplicate"] == [400, 21422] and r["invalid"] == [400, 21421] and r["fallback_alone"] == [400, 21405]
    assert r["listed"] == [f"{s}{i}" for i in range(3)] and r["paged"] == 3 and r["wildcard"] == 3
    assert r["updated"] == [True, "Desk"] and r["app_listed"] and all(r["app_listed"])
    assert r["app_updated"] == "http://127.0.0.1:9/app2" and r["after_app"] is None
    assert r["missing"] == [404, 20404] and r["deleted"] == [True, True, True] and r["gone"] == [404, 20404]


@pytest.mark.slow
def test_another_projects_number_on_a_real_engine(engine: LiveServer) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "wirexa", "projects", "create", "numbers", "--data-dir", str(engine.data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    other = json.loads(made.stdout)
    theirs = Client(other["sid"], other["auth_token"])
    theirs.api.base_url = engine.base_url
    number = theirs.incoming_phone_numbers.create(phone_number=stem() + "0", voice_url="http://127.0.0.1:9/v")
    mine = engine.client()
    try:
        with pytest.raises(TwilioRestException) as err:
            mine.incoming_phone_numbers(number.sid).fetch()
        assert (err.value.status, err.value.code) == (404, 20404)
        with pytest.raises(TwilioRestException) as err:
            mine.incoming_phone_numbers.create(phone_number=number.phone_number)
        assert (err.value.status, err.value.code) == (400, 21422)
        assert number.sid not in {n.sid for n in mine.incoming_phone_numbers.list(phone_number=number.phone_number)}
    finally:
        assert theirs.incoming_phone_numbers(number.sid).delete()
