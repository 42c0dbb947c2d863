"""Call Events in process: a status callback the receiver answers 500 shows each of its three
attempts with its response; document fetches (a document, a 404, a refused connection, a body over
64 KiB) come through the fetcher's hook and the batching log; paging on both prefixes, another
project's call and an unknown one as 404; the janitor deletes events older than
[store] call_events_days; schema 9 from schema 8. Every event is checked against Twilio's schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.api.conftest import RFC2822, Api, make_api
from tests.api.test_usage import META, validate
from tests.backends import free_port
from tests.pg import database_url_on_both  # noqa: F401 - these tests run on SQLite and PostgreSQL
from wirexa import config
from wirexa.errors import DocumentError
from wirexa.http.documents import DocumentFetcher
from wirexa.store.db import Store, migrate, open_database
from wirexa.store.events import CallEventJanitor, CallEventLog
from wirexa.store.models import database_proxy
from wirexa.store.repo.calls import get_call, insert_call
from wirexa.store.repo.events import MAX_RESPONSE_BODY_BYTES, NewCallEvent, insert_events, page_events
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.webhooks import list_webhooks
from wirexa.webhooks import outbox, signing
from wirexa.webhooks.delivery import DeliveryWorker

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EVENT = "api.v2010.account.call.call_event"


class Receiver:
    """The customer's web app: /status answers 500, /doc an XML document, /big 100 KiB, else 404."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(self.app)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/status":
            return web.Response(status=500, text="we are down", content_type="text/plain")
        if request.path == "/doc":
            return web.Response(text="<Response><Say>Hi</Say></Response>", content_type="text/xml")
        if request.path == "/big":
            return web.Response(text="<Response>" + "x" * 100_000, content_type="text/xml")
        return web.Response(status=404, text="no such page")

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.server.start_server()
    yield r
    await r.server.close()


def add_call(store: Store, account: str, **fields: Any) -> str:
    call = store.write_sync(
        lambda: insert_call(
            account_sid=account,
            to_number="+15005550006",
            from_number="+15005550100",
            status="completed",
            direction="outbound-api",
            url="http://127.0.0.1:9/xml",
            **fields,
        )
    )
    return call.sid


async def events_of(api: Api, call_sid: str, prefix: str = "", query: str = "") -> dict[str, Any]:
    resp = await api.client.get(f"{prefix}{api.base}/Calls/{call_sid}/Events.json{query}", headers=api.auth)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert set(body) == META | {"events"}
    for event in body["events"]:
        validate(EVENT, event)
        assert set(event) == {"request", "response"}
        assert set(event["request"]) == {"method", "url", "parameters"}
        response = event["response"]
        assert set(response) == {"response_code", "content_type", "response_body", "request_duration", "date_created"}
        assert isinstance(response["request_duration"], int) and response["request_duration"] >= 0
        assert RFC2822.match(response["date_created"]), response["date_created"]
    return body


async def test_a_failing_status_callback_shows_its_three_attempts(tmp_path: Path, receiver: Receiver) -> None:
    schedule = {"webhooks_schedule_s": "0,0.2,0.4", "webhooks_poll_interval_s": 0.05}
    async with make_api(tmp_path, **schedule) as api:
        sid = add_call(api.store, api.project.sid, status_callback=receiver.url("/status"))
        call = api.store.read_sync(lambda: get_call(sid))
        assert call is not None
        api.store.write_sync(lambda: outbox.call_status_callbacks(call, "completed", {}))
        async with DeliveryWorker(api.store, api.settings, worker_id="w1") as worker:
            worker.wake()
            deadline = time.monotonic() + 10
            while api.store.read_sync(list_webhooks)[0].status != "failed":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        body = await events_of(api, sid)
    events = body["events"]
    assert len(events) == 3
    for event in events:
        assert event["request"]["method"] == "POST" and event["request"]["url"] == receiver.url("/status")
        params = event["request"]["parameters"]
        assert params["CallSid"] == sid and params["CallStatus"] == "completed" and params["SequenceNumber"] == "0"
        response = event["response"]
        assert response["response_code"] == 500 and response["response_body"] == "we are down"
        assert response["content_type"].startswith("text/plain")


async def test_document_fetches_are_events(api: Api, receiver: Receiver) -> None:
    sid = add_call(api.store, api.project.sid)
    params = [("CallSid", sid), ("AccountSid", api.project.sid), ("Digits", "1"), ("Digits", "2")]
    closed = f"http://127.0.0.1:{free_port()}/gone"
    async with CallEventLog(api.store) as log:
        async with DocumentFetcher(signing.signature, timeout_s=5.0, on_exchange=log.document) as fetcher:
            fetched = await fetcher.fetch(receiver.url("/doc").replace("://", "://user:pw@"), "POST", params, "tok")
            assert fetched.status == 200
            for url in (receiver.url("/missing"), closed, receiver.url("/big")):
                with pytest.raises(DocumentError):
                    await fetcher.fetch(url, "GET", params, "tok")
            # A fetch for no call (no CallSid) is no call's event.
            await fetcher.fetch(receiver.url("/doc"), "GET", [("AccountSid", api.project.sid)], "tok")
    assert log.written == 4
    events = (await events_of(api, sid))["events"]
    ok, missing, refused, big = events
    assert ok["request"] == {
        "method": "POST",
        "url": receiver.url("/doc").replace("://", "://user:****@"),
        "parameters": {"CallSid": sid, "AccountSid": api.project.sid, "Digits": ["1", "2"]},
    }
    assert ok["response"]["response_code"] == 200 and ok["response"]["content_type"].startswith("text/xml")
    assert ok["response"]["response_body"] == "<Response><Say>Hi</Say></Response>"
    assert missing["request"]["method"] == "GET" and missing["response"]["response_code"] == 404
    assert missing["response"]["response_body"] == "no such page"
    assert refused["request"]["url"] == closed
    assert refused["response"]["response_code"] is None and refused["response"]["response_body"] is None
    assert big["response"]["response_code"] == 200
    assert len(big["response"]["response_body"]) == MAX_RESPONSE_BODY_BYTES  # bounded: 64 KiB kept


def event(account: str, call_sid: str, n: int, when: dt.datetime | None = None) -> NewCallEvent:
    return NewCallEvent(
        account,
        call_sid,
        "call-status",
        "POST",
        f"http://example.com/{n}",
        (("CallSid", call_sid), ("N", str(n))),
        200,
        "text/plain",
        b"OK",
        3,
        when or dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )


async def test_paging_prefixes_and_404s(api: Api) -> None:
    sid = add_call(api.store, api.project.sid)
    api.store.write_sync(lambda: insert_events([event(api.project.sid, sid, n) for n in range(5)]))
    for prefix in ("", "/api/laml"):
        body = await events_of(api, sid, prefix, "?PageSize=2")
        seen = [e["request"]["parameters"]["N"] for e in body["events"]]
        assert body["uri"].startswith(f"{prefix}{api.base}/Calls/{sid}/Events")
        while body["next_page_uri"]:
            resp = await api.client.get(body["next_page_uri"], headers=api.auth)
            body = await resp.json()
            seen += [e["request"]["parameters"]["N"] for e in body["events"]]
        assert seen == ["0", "1", "2", "3", "4"]
    body = await events_of(api, sid, query="?PageSize=2&Page=2")
    assert [e["request"]["parameters"]["N"] for e in body["events"]] == ["4"]
    other = api.store.write_sync(lambda: create_project("other"))
    theirs = add_call(api.store, other.sid)
    for call_sid in (theirs, "CA" + "0" * 32):
        resp = await api.client.get(f"{api.base}/Calls/{call_sid}/Events.json", headers=api.auth)
        assert resp.status == 404
    empty = await events_of(api, add_call(api.store, api.project.sid))
    assert empty["events"] == [] and empty["next_page_uri"] is None


async def test_the_janitor_deletes_old_events(store: Store, project: Any) -> None:
    now = dt.datetime(2026, 12, 7, 12)
    sid = add_call(store, project.sid)
    old = [event(project.sid, sid, n, now - dt.timedelta(days=8, minutes=n)) for n in range(5)]
    young = [event(project.sid, sid, 10 + n, now - dt.timedelta(days=6)) for n in range(2)]
    store.write_sync(lambda: insert_events(old + young))
    janitor = CallEventJanitor(store, days=7, batch=2, now=lambda: now)
    assert await janitor.run_once() == 5
    rows, _ = store.read_sync(lambda: page_events(sid, 50))
    assert [r.parameters[1][1] for r in rows] == ["10", "11"]
    async with CallEventJanitor(store, days=0) as keeper:  # 0 = keep for good: no task
        assert keeper._task is None
    async with CallEventJanitor(store, days=5, now=lambda: now) as janitor:  # the first pass at start
        deadline = time.monotonic() + 5
        while store.read_sync(lambda: page_events(sid, 50))[0]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)


def test_the_setting_and_its_default() -> None:
    assert config.load(env={}).store_call_events_days == 7.0
    assert config.load(env={"WIREXA_STORE_CALL_EVENTS_DAYS": "2"}).store_call_events_days == 2.0
    assert "[store]\n" in config.example_toml() and "call_events_days = 7.0" in config.example_toml()


def test_schema_9_from_schema_8(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    database_proxy.initialize(db)
    assert migrate(db, target=8) == 8
    db.execute_sql(
        "INSERT INTO projects (sid, auth_token, friendly_name, date_created, date_updated)"
        " VALUES ('AC1', 't', 'p', '2026-01-01', '2026-01-01')"
    )
    db.execute_sql(
        "INSERT INTO calls (sid, account_sid, to_number, from_number, status, direction, date_created, date_updated)"
        " VALUES ('CA1', 'AC1', '+1', '+2', 'completed', 'inbound', '2026-01-01', '2026-01-01')"
    )
    assert migrate(db, target=9) == 9
    indexes = {row[1] for row in db.execute_sql("SELECT type, name FROM sqlite_master WHERE type = 'index'")}
    assert {"call_events_call", "call_events_created", "calls_usage", "recordings_usage"} <= indexes
    assert db.execute_sql("SELECT COUNT(*) FROM calls").fetchone()[0] == 1
    db.close()
