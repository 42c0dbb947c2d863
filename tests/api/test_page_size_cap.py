"""PageSize over 1000 is capped at 1000, as on Twilio (defects issue item 3): twilio-python 9's
`list(limit=5000)` sends PageSize=5000 and used to get 400. Every list resource answers the capped
size in `page_size` and in its page URIs; Page/PageToken go on across the capped pages."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.rest import Client

from tests.api.conftest import Api
from tests.api.test_calls_api import error_of, seed
from wirexa.store.repo import NotificationRecord, RecordingRecord
from wirexa.store.repo.notifications import insert_notification
from wirexa.store.repo.recordings import insert_recording

N = 1050  # one capped page of 1000 and a second of 50


def seed_recordings(api: Api, call_sid: str, n: int) -> list[RecordingRecord]:
    base = dt.datetime(2026, 1, 1)

    def tx() -> list[RecordingRecord]:
        return [
            insert_recording(
                account_sid=api.project.sid,
                call_sid=call_sid,
                status="completed",
                source="RecordVerb",
                duration_s=1,
                start_time=base,
                now=base + dt.timedelta(seconds=i),
            )
            for i in range(n)
        ]

    return api.store.write_sync(tx)


def seed_notifications(api: Api, call_sid: str, n: int) -> list[NotificationRecord]:
    base = dt.datetime(2026, 1, 1)

    def tx() -> list[NotificationRecord]:
        return [
            insert_notification(
                account_sid=api.project.sid,
                call_sid=call_sid,
                error_code=11200,
                message_text="error 11200",
                now=base + dt.timedelta(seconds=i),
            )
            for i in range(n)
        ]

    return api.store.write_sync(tx)


async def test_twilio_python_list_with_a_limit_over_1000(api: Api) -> None:
    seeded = seed(api, N)
    base_url = str(api.client.make_url("")).rstrip("/")
    assert base_url.startswith("http://127.0.0.1:")

    def drive() -> list[str]:
        client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
        client.api.base_url = base_url  # loopback only, never the real Twilio
        return [c.sid for c in client.calls.list(limit=5000)]

    sids = await asyncio.to_thread(drive)
    assert sids == [c.sid for c in reversed(seeded)]  # all of them, newest first, each once


def query_of(uri: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(uri).query))


async def walk(api: Api, path: str, key: str, page_size: str) -> list[dict[str, Any]]:
    """GET path?PageSize=page_size and follow next_page_uri; the pages' bodies."""
    resp = await api.client.get(f"{path}?PageSize={page_size}", headers=api.auth)
    body = await resp.json()
    assert resp.status == 200, body
    pages = [body]
    while body["next_page_uri"]:
        resp = await api.client.get(body["next_page_uri"], headers=api.auth)
        body = await resp.json()
        assert resp.status == 200, body
        pages.append(body)
    for page in pages:
        assert page["page_size"] == 1000, (path, page["page_size"])
        for uri_key in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
            if page[uri_key] is not None:
                assert query_of(page[uri_key])["PageSize"] == "1000", (path, uri_key, page[uri_key])
    assert [len(p[key]) for p in pages] == [1000, N - 1000], path
    assert [p["page"] for p in pages] == [0, 1]
    assert query_of(pages[0]["next_page_uri"])["PageToken"].startswith("PA")
    return pages


async def test_every_list_resource_caps_the_page_size(api: Api) -> None:
    call = seed(api, 1)[0]
    seed(api, N - 1)
    recordings = seed_recordings(api, call.sid, N)
    notifications = seed_notifications(api, call.sid, N)
    lists = [
        (f"{api.base}/Calls.json", "calls", None),
        (f"{api.base}/Recordings.json", "recordings", recordings),
        (f"{api.base}/Calls/{call.sid}/Recordings.json", "recordings", recordings),
        (f"{api.base}/Notifications.json", "notifications", notifications),
        (f"{api.base}/Calls/{call.sid}/Notifications.json", "notifications", notifications),
    ]
    for size in ("1001", "5000", "1000000"):  # the rows are seeded once for the three sizes
        for path, key, rows in lists:
            pages = await walk(api, path, key, size)
            sids = [item["sid"] for page in pages for item in page[key]]
            assert len(sids) == len(set(sids)) == N, (path, size)
            if rows is not None:
                assert set(sids) == {r.sid for r in rows}, (path, size)
        # Page=1 without a token is an offset by the capped size too.
        resp = await api.client.get(f"{api.base}/Calls.json?PageSize={size}&Page=1", headers=api.auth)
        body = await resp.json()
        assert (body["page_size"], body["page"], body["start"], len(body["calls"])) == (1000, 1, 1000, N - 1000)


@pytest.mark.parametrize("size", ["0", "-1", "x", "2.5", ""])
async def test_invalid_page_sizes_are_still_400(api: Api, size: str) -> None:
    resp = await api.client.get(f"{api.base}/Calls.json?PageSize={size}", headers=api.auth)
    if size == "":  # an empty value is no value: the default
        assert resp.status == 200 and (await resp.json())["page_size"] == 50
        return
    body = await error_of(resp, 400, 20001)
    assert "PageSize" in body["message"]
