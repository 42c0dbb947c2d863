"""Queues and Members in process: create (FriendlyName required, 64 characters; MaxSize 1000 by
default, 5000 at most), list with paging, fetch, update, delete, on both prefixes with and without
.json, every body checked against Twilio's OpenAPI schema; Twilio's 400s, another project's queue
as 404; the Members of a queue nobody waits in (an empty page, Front 404, a dequeue refused).
Members of live queues: tests/calls/test_queues_flow.py and tests/e2e/test_queues_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import Api, assert_verbatim, basic, validate_in
from tests.api.test_numbers import META
from wirexa.errors import ApiCode
from wirexa.store.repo.projects import create_project

SCHEMAS = Path(__file__).parent / "data" / "twilio_v2010_queues_schemas.json"
QUEUE = "api.v2010.account.queue"
MEMBER = "api.v2010.account.queue.member"


def validate(schema_name: str, body: dict[str, Any]) -> None:
    validate_in(SCHEMAS, schema_name, body)


def test_schemas_are_twilios() -> None:
    assert_verbatim(SCHEMAS)


async def create(api: Api, base: str | None = None, **form: str) -> tuple[int, Any]:
    resp = await api.client.post(f"{base or api.base}/Queues.json", data=form, headers=api.auth)
    return resp.status, await resp.json()


async def test_create_fetch_update_delete(api: Api) -> None:
    status, body = await create(api, FriendlyName="support")
    assert status == 201, body
    validate(QUEUE, body)
    sid = body["sid"]
    assert sid.startswith("QU") and len(sid) == 34
    assert (body["friendly_name"], body["max_size"], body["current_size"], body["average_wait_time"]) == (
        "support",
        1000,
        0,
        0,
    )
    assert body["account_sid"] == api.project.sid
    assert body["uri"] == f"{api.base}/Queues/{sid}.json"
    assert body["subresource_uris"] == {"members": f"{api.base}/Queues/{sid}/Members.json"}
    for base in (api.base, f"/api/laml/2010-04-01/Accounts/{api.project.sid}"):
        for ext in (".json", ""):
            resp = await api.client.get(f"{base}/Queues/{sid}{ext}", headers=api.auth)
            fetched = await resp.json()
            assert resp.status == 200 and fetched["sid"] == sid and fetched["uri"] == f"{base}/Queues/{sid}.json"
    resp = await api.client.post(
        f"{api.base}/Queues/{sid}", data={"FriendlyName": "help desk", "MaxSize": "5000"}, headers=api.auth
    )
    body = await resp.json()
    assert resp.status == 200 and body["friendly_name"] == "help desk" and body["max_size"] == 5000
    validate(QUEUE, body)
    resp = await api.client.post(f"{api.base}/Queues/{sid}.json", data={"MaxSize": "7"}, headers=api.auth)
    assert (await resp.json())["friendly_name"] == "help desk" and (await resp.json())["max_size"] == 7
    assert (await api.client.delete(f"{api.base}/Queues/{sid}.json", headers=api.auth)).status == 204
    resp = await api.client.get(f"{api.base}/Queues/{sid}.json", headers=api.auth)
    assert resp.status == 404 and (await resp.json())["code"] == ApiCode.NOT_FOUND
    assert (await api.client.delete(f"{api.base}/Queues/{sid}.json", headers=api.auth)).status == 404


async def test_refusals(api: Api) -> None:
    for form, name in (
        ({}, "FriendlyName"),
        ({"FriendlyName": "  "}, "FriendlyName"),
        ({"FriendlyName": "x" * 65}, "FriendlyName"),
        ({"FriendlyName": "q", "MaxSize": "0"}, "MaxSize"),
        ({"FriendlyName": "q", "MaxSize": "5001"}, "MaxSize"),
        ({"FriendlyName": "q", "MaxSize": "many"}, "MaxSize"),
    ):
        status, body = await create(api, **form)
        assert status == 400 and body["code"] == ApiCode.INVALID_PARAMETER and name in body["message"], (form, body)
    status, body = await create(api, FriendlyName="x" * 64, MaxSize="5000")
    assert status == 201 and body["max_size"] == 5000
    status, body = await create(api, FriendlyName="x" * 64)
    assert status == 400 and "already exists" in body["message"]
    status, other = await create(api, FriendlyName="other")
    resp = await api.client.post(
        f"{api.base}/Queues/{other['sid']}.json", data={"FriendlyName": "x" * 64}, headers=api.auth
    )
    assert resp.status == 400 and "already exists" in (await resp.json())["message"]
    status, _ = await create(api)  # nothing was left behind by the refusals
    resp = await api.client.get(f"{api.base}/Queues.json", headers=api.auth)
    assert len((await resp.json())["queues"]) == 2


async def test_list_pages(api: Api) -> None:
    for i in range(3):
        assert (await create(api, FriendlyName=f"q{i}"))[0] == 201
    resp = await api.client.get(f"{api.base}/Queues.json", params={"PageSize": "2"}, headers=api.auth)
    body = await resp.json()
    assert set(body) == META | {"queues"}
    assert [q["friendly_name"] for q in body["queues"]] == ["q2", "q1"]  # newest first
    for q in body["queues"]:
        validate(QUEUE, q)
    assert body["next_page_uri"] is not None
    resp = await api.client.get(body["next_page_uri"], headers=api.auth)
    body = await resp.json()
    assert [q["friendly_name"] for q in body["queues"]] == ["q0"] and body["next_page_uri"] is None


async def test_members_of_an_empty_queue(api: Api) -> None:
    _, queue = await create(api, FriendlyName="empty")
    base = f"{api.base}/Queues/{queue['sid']}/Members"
    resp = await api.client.get(f"{base}.json", headers=api.auth)
    body = await resp.json()
    assert resp.status == 200 and body["queue_members"] == [] and set(body) == META | {"queue_members"}
    for who in ("Front", "CA" + "0" * 32):
        resp = await api.client.get(f"{base}/{who}.json", headers=api.auth)
        assert resp.status == 404
    resp = await api.client.post(f"{base}/Front.json", data={}, headers=api.auth)
    body = await resp.json()
    assert resp.status == 400 and "Url" in body["message"]
    resp = await api.client.post(f"{base}/Front.json", data={"Url": "ftp://x"}, headers=api.auth)
    assert resp.status == 400 and "Url" in (await resp.json())["message"]
    resp = await api.client.post(f"{base}/Front.json", data={"Url": "http://127.0.0.1:9/x"}, headers=api.auth)
    assert resp.status == 404
    resp = await api.client.get(f"{api.base}/Queues/QU{'0' * 32}/Members.json", headers=api.auth)
    assert resp.status == 404


async def test_another_projects_queue(api: Api) -> None:
    _, queue = await create(api, FriendlyName="mine")
    other = api.store.write_sync(lambda: create_project("other"))
    auth = basic(other.sid, other.auth_token)
    base = f"/2010-04-01/Accounts/{other.sid}/Queues/{queue['sid']}"
    for method in ("GET", "POST", "DELETE"):
        resp = await api.client.request(method, f"{base}.json", headers=auth, data={"MaxSize": "3"})
        assert resp.status == 404, method
    resp = await api.client.get(f"{base}/Members.json", headers=auth)
    assert resp.status == 404
    # The same name in another project is another queue.
    resp = await api.client.post(
        f"/2010-04-01/Accounts/{other.sid}/Queues.json", data={"FriendlyName": "mine"}, headers=auth
    )
    assert resp.status == 201 and (await resp.json())["sid"] != queue["sid"]


async def test_member_json_shape(api: Api) -> None:
    """A member as the Members resource renders it, against Twilio's schema."""
    import datetime as dt

    from wirexa.api.serializers import member_json
    from wirexa.calls.queues import MemberInfo

    info = MemberInfo("CA" + "1" * 32, "QU" + "2" * 32, dt.datetime(2026, 12, 7, 17, 0, 0), 1, 42)
    body = member_json(info, api.base)
    validate(MEMBER, body)
    assert body["date_enqueued"] == "Mon, 07 Dec 2026 17:00:00 +0000" and body["wait_time"] == 42
    assert body["uri"] == f"{api.base}/Queues/{'QU' + '2' * 32}/Members/{'CA' + '1' * 32}.json"
