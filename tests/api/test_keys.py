"""API Keys in process: create (the secret once, stored as a salted scrypt hash), list with
paging, fetch, update, delete, on both prefixes with and without .json, every body checked
against Twilio's OpenAPI schemas; `SK...:secret` Basic auth working like the Auth Token, a
deleted key refused at once (deleted here or by another process), wrong secrets counted by the
AuthThrottle, keys unable to manage keys and accounts. Then twilio-python and signalwire 2.1.1
authenticating with a key against a real engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, basic, validate_in
from tests.conftest import LiveServer, engine_fixture
from wirexa.api import auth
from wirexa.store.models import ApiKey
from wirexa.store.repo import keys as key_repo
from wirexa.store.repo.projects import create_project, update_project

SCHEMAS = Path(__file__).parent / "data" / "twilio_v2010_accounts_schemas.json"
KEY = "api.v2010.account.key"
NEW_KEY = "api.v2010.account.new_key"
META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}


def validate(schema_name: str, body: dict[str, Any]) -> None:
    """Twilio's component schema (nullable-aware, RFC 2822 dates), exactly its properties."""
    validate_in(SCHEMAS, schema_name, body, exact=True)


async def new_key(api: Api, base: str | None = None, auth_headers: dict[str, str] | None = None, **form: str) -> Any:
    resp = await api.client.post(f"{base or api.base}/Keys.json", data=form, headers=auth_headers or api.auth)
    body = await resp.json()
    assert resp.status == 201, body
    return body


async def error_of(resp: Any) -> tuple[int, int, str]:
    body = await resp.json()
    return resp.status, body["code"], body["message"]


def test_secrets_are_hashed_with_a_salt() -> None:
    secret = key_repo.new_secret()
    assert len(secret) == 32 and secret.isalnum()
    stored = key_repo.hash_secret(secret)
    assert stored.startswith("scrypt$16384$8$1$") and secret not in stored
    assert stored != key_repo.hash_secret(secret)  # a new salt each time
    assert key_repo.secret_matches(secret, stored)
    assert not key_repo.secret_matches(secret + "x", stored)
    assert not key_repo.secret_matches(secret, "bcrypt$whatever") and not key_repo.secret_matches(secret, "garbage")
    assert not key_repo.secret_matches(secret, key_repo.decoy_hash())


async def test_create_list_fetch_update_delete(api: Api) -> None:
    created = await new_key(api, FriendlyName="deploy")
    validate(NEW_KEY, created)
    sid, secret = created["sid"], created["secret"]
    assert sid.startswith("SK") and len(sid) == 34 and created["friendly_name"] == "deploy"
    row = ApiKey.get_by_id(sid)
    assert row.account_sid == api.project.sid and secret not in row.secret_hash
    assert key_repo.secret_matches(secret, row.secret_hash)
    for path in (f"{api.base}/Keys/{sid}.json", f"/api/laml{api.base}/Keys/{sid}"):
        resp = await api.client.get(path, headers=api.auth)
        assert resp.status == 200
        fetched = await resp.json()
        validate(KEY, fetched)  # no secret: it is shown once
        assert fetched["sid"] == sid and fetched["friendly_name"] == "deploy"
    resp = await api.client.post(f"{api.base}/Keys/{sid}", data={"FriendlyName": "ci"}, headers=api.auth)
    assert resp.status == 200 and (await resp.json())["friendly_name"] == "ci"
    resp = await api.client.post(f"{api.base}/Keys/{sid}.json", data={}, headers=api.auth)
    assert resp.status == 200 and (await resp.json())["friendly_name"] == "ci"  # nothing given: unchanged
    unnamed = await new_key(api, base=f"/api/laml{api.base}")
    validate(NEW_KEY, unnamed)
    assert unnamed["friendly_name"] is None
    resp = await api.client.delete(f"{api.base}/Keys/{sid}.json", headers=api.auth)
    assert resp.status == 204
    resp = await api.client.get(f"{api.base}/Keys/{sid}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)
    resp = await api.client.delete(f"{api.base}/Keys/{sid}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)


async def test_list_pages(api: Api) -> None:
    made = [(await new_key(api, FriendlyName=f"k{i}"))["sid"] for i in range(3)]
    seen: list[str] = []
    url: str | None = f"{api.base}/Keys.json?PageSize=2"
    while url:
        resp = await api.client.get(url, headers=api.auth)
        assert resp.status == 200
        body = await resp.json()
        assert set(body) == META | {"keys"}
        for record in body["keys"]:
            validate(KEY, record)
        seen += [k["sid"] for k in body["keys"]]
        url = body["next_page_uri"]
    assert seen == made[::-1]  # newest first
    resp = await api.client.get(f"/api/laml{api.base}/Keys", headers=api.auth)
    body = await resp.json()
    assert body["uri"].startswith(f"/api/laml{api.base}/Keys") and len(body["keys"]) == 3


async def test_a_key_authenticates_like_the_auth_token(api: Api) -> None:
    key = await new_key(api)
    as_key = basic(key["sid"], key["secret"])
    resp = await api.client.post(
        f"{api.base}/Calls.json",
        data={"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/xml"},
        headers=as_key,
    )
    assert resp.status == 201, await resp.text()
    call = await resp.json()
    assert call["account_sid"] == api.project.sid
    resp = await api.client.get(f"{api.base}/Calls/{call['sid']}.json", headers=as_key)
    assert resp.status == 200
    resp = await api.client.get(f"/api/laml{api.base}/Calls", headers=as_key)
    assert resp.status == 200 and [c["sid"] for c in (await resp.json())["calls"]] == [call["sid"]]
    # Only its own project's resources: another project's path is 404, as with the token.
    other = api.store.write_sync(create_project, "other")
    resp = await api.client.get(f"/2010-04-01/Accounts/{other.sid}/Calls.json", headers=as_key)
    assert (await error_of(resp))[:2] == (404, 20404)


async def test_wrong_secrets_and_unknown_keys_are_401_and_counted(api: Api) -> None:
    key = await new_key(api)
    throttle = api.services.auth_throttle
    before = throttle.failures("127.0.0.1")
    for user, password in (
        (key["sid"], key["secret"][:-1] + ("A" if key["secret"][-1] != "A" else "B")),
        (key["sid"], ""),
        ("SK" + "0" * 32, key["secret"]),
        (api.project.sid, key["secret"]),  # a key's secret is not the account's token
    ):
        resp = await api.client.get(f"{api.base}/Calls.json", headers=basic(user, password))
        status, code, _ = await error_of(resp)
        assert (status, code) == (401, 20003), user
    assert throttle.failures("127.0.0.1") == before + 4


async def test_a_deleted_key_is_refused_at_once(api: Api) -> None:
    for deleted_by_another_process in (False, True):
        key = await new_key(api)
        as_key = basic(key["sid"], key["secret"])
        assert (await api.client.get(f"{api.base}/Calls.json", headers=as_key)).status == 200
        if deleted_by_another_process:  # the CLI's `keys remove`: the engine's memory is not told
            assert api.store.write_sync(key_repo.delete_key, key["sid"])
        else:
            resp = await api.client.delete(f"{api.base}/Keys/{key['sid']}.json", headers=api.auth)
            assert resp.status == 204
        resp = await api.client.get(f"{api.base}/Calls.json", headers=as_key)
        assert (await error_of(resp))[:2] == (401, 20003)


async def test_a_secret_is_hashed_once_per_engine(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    key = await new_key(api)
    runs: list[str] = []
    real = key_repo.secret_matches

    def counting(secret: str, stored: str) -> bool:
        runs.append(secret)
        return real(secret, stored)

    monkeypatch.setattr(auth, "secret_matches", counting)
    as_key = basic(key["sid"], key["secret"])
    for _ in range(5):
        assert (await api.client.get(f"{api.base}/Calls.json", headers=as_key)).status == 200
    assert len(runs) == 1
    # A wrong secret for a remembered key is checked for real, and refused.
    resp = await api.client.get(f"{api.base}/Calls.json", headers=basic(key["sid"], "x" * 32))
    assert resp.status == 401 and len(runs) == 2


async def test_keys_cannot_manage_keys_or_accounts(api: Api) -> None:
    key = await new_key(api)
    as_key = basic(key["sid"], key["secret"])
    for method, path in (
        ("GET", f"{api.base}/Keys.json"),
        ("POST", f"{api.base}/Keys.json"),
        ("DELETE", f"{api.base}/Keys/{key['sid']}.json"),
        ("GET", "/2010-04-01/Accounts.json"),
        ("POST", "/2010-04-01/Accounts.json"),
        ("GET", f"{api.base}.json"),
    ):
        resp = await api.client.request(method, path, headers=as_key)
        status, code, message = await error_of(resp)
        assert (status, code) == (401, 20003) and "API Keys cannot" in message, (method, path)
    assert api.services.auth_throttle.failures("127.0.0.1") == 0  # the key was right: not a failed login


async def test_bad_input(api: Api) -> None:
    resp = await api.client.post(f"{api.base}/Keys.json", data={"FriendlyName": "x" * 65}, headers=api.auth)
    assert (await error_of(resp))[:2] == (400, 20001)
    resp = await api.client.post(f"{api.base}/Keys.json", data={"KeyType": "restricted"}, headers=api.auth)
    status, code, message = await error_of(resp)
    assert (status, code) == (400, 20001) and "KeyType" in message
    key = await new_key(api)
    resp = await api.client.post(f"{api.base}/Keys/{key['sid']}.json", data={"Secret": "mine"}, headers=api.auth)
    status, code, message = await error_of(resp)
    assert (status, code) == (400, 20001) and "Secret" in message
    resp = await api.client.post(f"{api.base}/Keys/SK{'0' * 32}.json", data={"FriendlyName": "x"}, headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)


async def test_keys_of_another_project_are_404(api: Api) -> None:
    other = api.store.write_sync(create_project, "other")
    as_other = basic(other.sid, other.auth_token)
    theirs = await new_key(api, base=f"/2010-04-01/Accounts/{other.sid}", auth_headers=as_other)
    resp = await api.client.get(f"{api.base}/Keys/{theirs['sid']}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)
    resp = await api.client.delete(f"{api.base}/Keys/{theirs['sid']}.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)
    resp = await api.client.get(f"/2010-04-01/Accounts/{other.sid}/Keys.json", headers=api.auth)
    assert (await error_of(resp))[:2] == (404, 20404)


async def test_a_suspended_accounts_key_is_20005(api: Api) -> None:
    key = await new_key(api)
    api.store.write_sync(lambda: update_project(api.project.sid, status="suspended"))
    api.services.project_cache.clear()
    resp = await api.client.get(f"{api.base}/Calls.json", headers=basic(key["sid"], key["secret"]))
    assert (await error_of(resp))[:2] == (401, 20005)


# --- a real engine: twilio-python 9 and signalwire 2.1.1 with Client(key_sid, secret, account_sid) --

ROOT = Path(__file__).parent.parent.parent
engine = engine_fixture(shared=True)

SIGNALWIRE_DRIVER = """
import json, sys
from urllib.parse import urlsplit
from signalwire.rest import Client
from twilio.base.exceptions import TwilioRestException
base, key, secret, project = sys.argv[1:5]
c = Client(key, secret, project, signalwire_space_url=urlsplit(base).netloc)
c.api.base_url = base  # signalwire 2.x forces https (reference section 3)
call = c.calls.create(to="+15005550006", from_="+15005550100", twiml="<Response><Hangup/></Response>")
listed = [x.sid for x in c.calls.list(limit=5)]
out = {"call": call.sid, "account": call.account_sid, "listed": call.sid in listed}
print(json.dumps(out))
"""


@pytest.mark.sip
@pytest.mark.slow
def test_twilio_python_with_an_api_key(engine: LiveServer) -> None:
    admin = engine.client()
    made = admin.new_keys.create(friendly_name="twilio-python")
    assert made.sid.startswith("SK") and len(made.secret) == 32
    client = Client(made.sid, made.secret, engine.project_id)
    client.api.base_url = engine.base_url
    try:
        call = client.calls.create(to="+15005550006", from_="+15005550100", twiml="<Response><Hangup/></Response>")
        assert call.account_sid == engine.project_id
        assert call.sid in {c.sid for c in client.calls.list(limit=20)}
        assert client.calls(call.sid).fetch().sid == call.sid
        listed = {k.sid: k.friendly_name for k in admin.keys.list()}
        assert listed[made.sid] == "twilio-python"
        assert admin.keys(made.sid).update(friendly_name="renamed").friendly_name == "renamed"
        assert admin.keys(made.sid).fetch().friendly_name == "renamed"
    finally:
        assert admin.keys(made.sid).delete()
    with pytest.raises(TwilioRestException) as err:  # at once: the engine keeps no key after its delete
        client.calls(call.sid).fetch()
    assert (err.value.status, err.value.code) == (401, 20003)


@pytest.mark.sip
@pytest.mark.slow
def test_signalwire_with_an_api_key(engine: LiveServer) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "sdk-venvs")], check=True, capture_output=True)
    python = str(ROOT / ".venv-sdk" / "signalwire" / "bin" / "python")
    admin = engine.client()
    made = admin.new_keys.create(friendly_name="signalwire")
    try:
        out = subprocess.run(
            [python, "-c", SIGNALWIRE_DRIVER, engine.base_url, made.sid, made.secret, engine.project_id],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["call"].startswith("CA") and result["account"] == engine.project_id and result["listed"]
    finally:
        admin.keys(made.sid).delete()
