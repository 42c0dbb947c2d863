"""The Call resource shows Twilio's statuses only: a call whose INVITE left (stored `initiated`)
is `queued` until it rings, and the `Status` filter follows what the resource shows."""

from __future__ import annotations

from tests.api.conftest import Api, SchemaCheck
from wirexa.store.repo.calls import update_call


async def _dispatched_call(api: Api) -> str:
    resp = await api.create()
    sid: str = (await resp.json())["sid"]
    # What the dispatcher writes when the INVITE leaves.
    moved = await api.store.write(lambda: update_call(sid, expect_status=("queued",), status="initiated"))
    assert moved is not None and moved.status == "initiated"
    return sid


async def test_an_initiated_call_shows_as_queued(api: Api, api_check: SchemaCheck) -> None:
    sid = await _dispatched_call(api)
    body = await (await api.client.get(f"{api.base}/Calls/{sid}.json", headers=api.auth)).json()
    assert body["status"] == "queued"
    listed = await (await api.client.get(f"{api.base}/Calls.json", headers=api.auth)).json()
    assert [c["status"] for c in listed["calls"]] == ["queued"]
    assert api_check.seen["api.v2010.account.call"] == 3  # create, fetch, list: Twilio's enum checked


async def test_status_filter_uses_the_resource_statuses(api: Api, api_check: SchemaCheck) -> None:
    sid = await _dispatched_call(api)
    queued = await (await api.client.get(f"{api.base}/Calls.json?Status=queued", headers=api.auth)).json()
    assert [c["sid"] for c in queued["calls"]] == [sid]
    ringing = await (await api.client.get(f"{api.base}/Calls.json?Status=ringing", headers=api.auth)).json()
    assert ringing["calls"] == []
    resp = await api.client.get(f"{api.base}/Calls.json?Status=initiated", headers=api.auth)
    assert resp.status == 400 and "initiated" in (await resp.json())["message"]
