"""The delivery worker against a real local aiohttp receiver (scaled-down schedule)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from tests.backends import free_port
from tests.pg import database_url_on_both  # noqa: F401 - these tests run on SQLite and PostgreSQL
from wirexa import config
from wirexa.calls.statuses import WebhookStatus
from wirexa.clock import utcnow
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.db import Store
from wirexa.store.repo import ProjectRecord, WebhookRecord
from wirexa.store.repo.projects import list_projects
from wirexa.store.repo.webhooks import (
    claim_webhooks,
    finish_webhook,
    get_webhook,
    insert_webhook,
    list_webhooks,
    next_webhook_due,
)
from wirexa.webhooks.delivery import DeliveryWorker

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclasses.dataclass
class Hit:
    t: float
    method: str
    url: str
    form: dict[str, str]
    query: dict[str, str]
    signature: str | None
    sw_signature: str | None
    user_agent: str | None
    authorization: str | None = None


class Receiver:
    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.fail_first = 0
        self.behaviour: dict[str, Any] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(self.app)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()} if request.method == "POST" else {}
        self.hits.append(
            Hit(
                time.monotonic(),
                request.method,
                str(request.url),
                form,
                dict(request.query),
                request.headers.get("X-Twilio-Signature"),
                request.headers.get("X-SignalWire-Signature"),
                request.headers.get("User-Agent"),
                request.headers.get("Authorization"),
            )
        )
        special = self.behaviour.get(request.path)
        if special is not None:
            return await special(request)
        if len(self.hits) <= self.fail_first:
            return web.Response(status=500, text="try again")
        return web.Response(text="OK")

    def url(self, path: str = "/status") -> str:
        return str(self.server.make_url(path))


@dataclasses.dataclass
class Env:
    store: Store
    settings: Any
    project: ProjectRecord
    receiver: Receiver


@pytest.fixture
async def env(tmp_path: Path, database_url: str) -> AsyncIterator[Env]:
    settings = config.load(
        overrides={
            "data_dir": str(tmp_path),
            "database_url": database_url,
            "webhooks_schedule_s": "0,0.3,0.6,0.9",
            "webhooks_poll_interval_s": 0.05,
            "webhooks_total_timeout_s": 1.5,
            "webhooks_connect_timeout_s": 0.5,
            "webhooks_claim_ttl_s": 5.0,
        },
        env={},
    )
    store = open_store(settings)
    project = ensure_project(store)
    receiver = Receiver()
    await receiver.server.start_server()
    yield Env(store, settings, project, receiver)
    await receiver.server.close()
    store.close()


def enqueue(
    env: Env,
    url: str,
    *,
    call_sid: str | None = "CA" + "1" * 32,
    method: str = "POST",
    params: list[tuple[str, str]] | None = None,
    event: str = "completed",
) -> int:
    row = env.store.write_sync(
        lambda: insert_webhook(
            account_sid=env.project.sid,
            call_sid=call_sid,
            kind="call-status",
            event=event,
            url=url,
            method=method,
            params=params or [("CallSid", call_sid or ""), ("CallStatus", event), ("To", "+15005550006")],
        )
    )
    return row.id


async def wait_rows(env: Env, predicate: Any, timeout: float = 10.0) -> list[WebhookRecord]:
    deadline = time.monotonic() + timeout
    while True:
        rows = env.store.read_sync(list_webhooks)
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows never matched: {[(r.id, r.status, r.attempts, r.last_error) for r in rows]}")
        await asyncio.sleep(0.02)


async def test_delivers_once_with_valid_signatures(env: Env) -> None:
    enqueue(env, env.receiver.url("/status?leg=a"))
    async with DeliveryWorker(env.store, env.settings, worker_id="w1") as worker:
        worker.wake()
        rows = await wait_rows(env, lambda rs: rs[0].status == "delivered")
    assert rows[0].attempts == 1 and rows[0].last_status_code == 200
    [hit] = env.receiver.hits
    validator = RequestValidator(env.project.auth_token)
    assert validator.validate(hit.url, hit.form, hit.signature)
    assert hit.sw_signature == hit.signature
    assert hit.user_agent is not None and hit.user_agent.startswith("Wirexa/")
    assert not RequestValidator("wrong-token").validate(hit.url, hit.form, hit.signature)


async def test_get_callback_signed_over_query(env: Env) -> None:
    enqueue(env, env.receiver.url("/status"), method="GET")
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        await wait_rows(env, lambda rs: rs[0].status == "delivered")
    [hit] = env.receiver.hits
    assert hit.method == "GET" and hit.query["CallStatus"] == "completed"
    assert RequestValidator(env.project.auth_token).validate(hit.url, {}, hit.signature)


async def test_retries_on_schedule_then_fails(env: Env) -> None:
    env.receiver.fail_first = 100
    enqueue(env, env.receiver.url())
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        rows = await wait_rows(env, lambda rs: rs[0].status == "failed")
    assert rows[0].attempts == 4 and rows[0].last_status_code == 500
    times = [h.t for h in env.receiver.hits]
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, expected in zip(gaps, (0.3, 0.6, 0.9), strict=True):
        assert expected - 0.05 <= gap <= expected + 0.5, gaps
    await asyncio.sleep(1.2)
    assert len(env.receiver.hits) == 4  # no more attempts after failed


async def test_recovers_after_failures(env: Env) -> None:
    env.receiver.fail_first = 2
    enqueue(env, env.receiver.url())
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        rows = await wait_rows(env, lambda rs: rs[0].status == "delivered")
    assert rows[0].attempts == 3
    assert len(env.receiver.hits) == 3
    assert all(h.form == env.receiver.hits[0].form for h in env.receiver.hits)


async def test_later_event_waits_for_earlier_one_of_same_call(env: Env) -> None:
    env.receiver.fail_first = 1
    first = enqueue(env, env.receiver.url(), event="ringing", params=[("SequenceNumber", "0")])
    second = enqueue(env, env.receiver.url(), event="completed", params=[("SequenceNumber", "1")])
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        await wait_rows(env, lambda rs: all(r.status == "delivered" for r in rs))
    seqs = [h.form["SequenceNumber"] for h in env.receiver.hits]
    assert seqs == ["0", "0", "1"]  # the retry of 0 went out before 1
    assert first < second


async def test_two_workers_never_deliver_a_row_twice(env: Env) -> None:
    for i in range(60):
        enqueue(env, env.receiver.url(f"/r{i}"), call_sid=f"CA{i:032d}")
    async with (
        DeliveryWorker(env.store, env.settings, worker_id="a"),
        DeliveryWorker(env.store, env.settings, worker_id="b"),
    ):
        await wait_rows(env, lambda rs: all(r.status == "delivered" for r in rs))
    paths = [h.url.rsplit("/", 1)[1] for h in env.receiver.hits]
    assert sorted(paths) == sorted(f"r{i}" for i in range(60))


async def test_pending_rows_survive_a_new_worker(env: Env) -> None:
    """A row claimed by a worker that died (lease expired) is delivered by the next one."""
    enqueue(env, env.receiver.url())
    now = utcnow()
    claimed = env.store.write_sync(claim_webhooks, "dead-worker", now, now, 10)
    assert claimed[0].status == "in-flight"
    async with DeliveryWorker(env.store, env.settings, worker_id="w2"):
        rows = await wait_rows(env, lambda rs: rs[0].status == "delivered")
    assert rows[0].attempts == 1


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def endless(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for _ in range(1000):
        await resp.write(b"x" * 1024)
        await asyncio.sleep(0.01)
    return resp


async def redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/elsewhere")


async def huge(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"y" * (5 * 1024 * 1024))


async def not_found(request: web.Request) -> web.StreamResponse:
    return web.Response(status=404)


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("refused", "connect:"),
        ("dns", "dns"),
        ("tls", "tls"),
        ("4xx", 404),
        ("5xx", 500),
        ("slow", "timeout"),
        ("redirect", "redirect"),
    ],
)
async def test_bad_destinations_end_cleanly_without_blocking_others(env: Env, case: str, expect: Any) -> None:
    r = env.receiver
    r.behaviour.update({"/slow": slow, "/endless": endless, "/redirect": redirect, "/404": not_found})
    url = {
        "refused": "http://127.0.0.1:9/status",
        "dns": "http://no-such-host.invalid/status",
        "tls": r.url("/status").replace("http://", "https://"),
        "4xx": r.url("/404"),
        "5xx": r.url("/500"),
        "slow": r.url("/slow"),
        "endless": r.url("/endless"),
        "redirect": r.url("/redirect"),
    }[case]
    if case == "5xx":
        r.fail_first = 100
    bad = enqueue(env, url, call_sid="CA" + "2" * 32)
    good = enqueue(env, r.url("/good"), call_sid="CA" + "3" * 32)
    started = time.monotonic()
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        if case != "5xx":
            await wait_rows(env, lambda rs: {x.id: x for x in rs}[good].status == "delivered", timeout=5)
            assert time.monotonic() - started < 1.5  # the bad one did not hold it up
        rows = await wait_rows(env, lambda rs: {x.id: x for x in rs}[bad].attempts >= 1, timeout=10)
    row = {x.id: x for x in rows}[bad]
    assert row.status in ("pending", "failed")
    if isinstance(expect, int):
        assert row.last_status_code == expect
    else:
        assert row.last_error is not None and expect in row.last_error, row.last_error


async def test_endless_200_response_is_read_bounded_and_delivered(env: Env) -> None:
    env.receiver.behaviour["/endless"] = endless
    enqueue(env, env.receiver.url("/endless"))
    started = time.monotonic()
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        rows = await wait_rows(env, lambda rs: rs[0].status == "delivered")
    assert rows[0].last_status_code == 200
    assert time.monotonic() - started < 5  # it did not wait for the 10 s body


async def test_oversized_response_is_read_bounded_and_counts(env: Env) -> None:
    env.receiver.behaviour["/huge"] = huge
    enqueue(env, env.receiver.url("/huge"))
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        rows = await wait_rows(env, lambda rs: rs[0].status == "delivered")
    assert rows[0].last_status_code == 200


def test_tail_webhooks_json_no_follow(tmp_path: Path) -> None:
    from wirexa.cli.main import _register_optional, app

    settings = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(settings)
    project = ensure_project(store)
    for event in ("initiated", "completed"):
        store.write_sync(
            lambda event=event: insert_webhook(
                account_sid=project.sid,
                call_sid="CA" + "9" * 32,
                kind="call-status",
                event=event,
                url="http://127.0.0.1:9/s",
                method="POST",
                params=[("CallStatus", event)],
            )
        )
    store.close()
    _register_optional()
    result = CliRunner().invoke(app, ["tail-webhooks", "--json", "--no-follow", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["event"], x["status"], x["attempts"]) for x in lines] == [
        ("initiated", "pending", 0),
        ("completed", "pending", 0),
    ]
    assert lines[0]["params"] == {"CallStatus": "initiated"} and lines[0]["call_sid"] == "CA" + "9" * 32
    bad = CliRunner().invoke(app, ["tail-webhooks", "--status", "nope", "--no-follow", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "Traceback" not in bad.output


# --- rows held back behind a dead receiver (issue 8) ------------------------------------------

CALL = "CA" + "5" * 32


def held_back_store(
    tmp_path: Path, dead_url: str, *, held_due_ago_s: float = 3600
) -> tuple[Store, int, int, dt.datetime]:
    """A call whose first callback failed (retry in 60 s) and whose second callback, due long
    ago, is held back behind it; returns the store, both ids and the head's retry time."""
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    project = ensure_project(store)
    now = utcnow()

    def add(event: str, due: dt.datetime) -> int:
        return store.write_sync(
            lambda: insert_webhook(
                account_sid=project.sid,
                call_sid=CALL,
                kind="call-status",
                event=event,
                url=dead_url,
                method="POST",
                params=[("CallStatus", event)],
                due=due,
            )
        ).id

    head = add("initiated", now - dt.timedelta(seconds=held_due_ago_s + 1))
    held = add("completed", now - dt.timedelta(seconds=held_due_ago_s))
    [claimed] = store.write_sync(claim_webhooks, "w", now, now + dt.timedelta(seconds=30), 10)
    assert claimed.id == head
    retry = now + dt.timedelta(seconds=60)
    assert store.write_sync(
        lambda: finish_webhook(
            head,
            "w",
            status=WebhookStatus.PENDING,
            attempts=1,
            next_attempt_at=retry,
            status_code=None,
            error="connect: refused",
            now=now,
        )
    )
    return store, head, held, retry


def test_rows_held_back_behind_a_retry_are_not_due(tmp_path: Path) -> None:
    store, head, held, retry = held_back_store(tmp_path, "http://127.0.0.1:9/status")
    now = utcnow()
    try:
        assert store.read_sync(next_webhook_due) == retry  # not the held row's time, an hour ago
        assert store.write_sync(claim_webhooks, "w", now, now + dt.timedelta(seconds=30), 10) == []
        rows = {w.id: w for w in store.read_sync(list_webhooks)}
        assert rows[held].held_back_by == head and rows[head].held_back_by is None
        # Another URL of the same call, and a row of no call, are not held back by it.
        project = store.read_sync(list_projects)[0]
        soon = now + dt.timedelta(seconds=30)
        for call_sid, url in ((CALL, "http://127.0.0.1:9/other"), (None, "http://127.0.0.1:9/status")):
            store.write_sync(
                lambda call_sid=call_sid, url=url, due=soon: insert_webhook(
                    account_sid=project.sid,
                    call_sid=call_sid,
                    kind="call-status",
                    event="completed",
                    url=url,
                    method="POST",
                    params=[],
                    due=due,
                )
            )
            assert store.read_sync(next_webhook_due) == soon
            soon -= dt.timedelta(seconds=10)
        # Once the head is delivered, the held row is due at its own time and listed as free.
        later = retry + dt.timedelta(seconds=1)
        claimed = store.write_sync(claim_webhooks, "w", later, later + dt.timedelta(seconds=30), 10)
        assert head in [w.id for w in claimed] and held not in [w.id for w in claimed]
        store.write_sync(
            lambda: finish_webhook(
                head,
                "w",
                status=WebhookStatus.DELIVERED,
                attempts=2,
                next_attempt_at=None,
                status_code=200,
                error=None,
                now=later,
            )
        )
        assert store.read_sync(next_webhook_due) == rows[held].next_attempt_at
        assert {w.id: w for w in store.read_sync(list_webhooks)}[held].held_back_by is None
    finally:
        store.close()


class CountingStore:
    """The real store, counting the delivery worker's claim transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.claims = 0

    async def write(self, fn: Any, *args: Any) -> Any:
        if fn is claim_webhooks:
            self.claims += 1
        return await self.store.write(fn, *args)

    async def read(self, fn: Any, *args: Any) -> Any:
        return await self.store.read(fn, *args)


async def test_dead_receiver_leaves_the_worker_idle(tmp_path: Path) -> None:
    """Callbacks stuck behind a dead receiver's retry do not keep the worker claiming (it used to
    claim every 5 ms, about 200 write transactions a second, for as long as they waited)."""
    settings = config.load(
        overrides={
            "data_dir": str(tmp_path),
            "webhooks_schedule_s": "0,60",
            "webhooks_poll_interval_s": 1.0,
            "webhooks_connect_timeout_s": 0.5,
            "webhooks_total_timeout_s": 1.0,
        },
        env={},
    )
    store = open_store(settings)
    project = ensure_project(store)
    dead = f"http://127.0.0.1:{free_port()}/status"  # nothing listens there
    for i in range(3):
        for event in ("initiated", "ringing", "completed"):
            store.write_sync(
                lambda i=i, event=event: insert_webhook(
                    account_sid=project.sid,
                    call_sid=f"CA{i:032d}",
                    kind="call-status",
                    event=event,
                    url=dead,
                    method="POST",
                    params=[("CallStatus", event)],
                )
            )
    counting = CountingStore(store)
    try:
        async with DeliveryWorker(cast(Store, counting), settings, worker_id="w1") as worker:
            worker.wake()
            deadline = time.monotonic() + 10
            while sum(w.attempts for w in store.read_sync(list_webhooks)) < 3:
                assert time.monotonic() < deadline, "the first attempts never finished"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            before = counting.claims
            await asyncio.sleep(1.0)
            claims = counting.claims - before
        rows = store.read_sync(list_webhooks)
    finally:
        store.close()
    assert claims <= 2, f"{claims} claim transactions in 1 s with nothing due"
    assert [(w.event, w.attempts, w.held_back_by is not None) for w in rows] == [
        (event, 1 if event == "initiated" else 0, event != "initiated")
        for _ in range(3)
        for event in ("initiated", "ringing", "completed")
    ]
    assert all(w.status == "pending" for w in rows)


def test_tail_webhooks_shows_held_back_rows_as_waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wirexa.cli.main import _register_optional, app

    store, head, held, retry = held_back_store(tmp_path, "http://127.0.0.1:9/status")
    held_due = store.read_sync(lambda: get_webhook(held)).next_attempt_at  # type: ignore[union-attr]
    store.close()
    _register_optional()
    monkeypatch.setenv("COLUMNS", "200")
    table = CliRunner().invoke(app, ["tail-webhooks", "--no-follow", "--data-dir", str(tmp_path)])
    assert table.exit_code == 0, table.output
    head_line, held_line = [line for line in table.output.splitlines() if "127.0.0.1:9/status" in line]
    assert "pending" in head_line and retry.strftime("%H:%M:%S") in head_line
    assert "waiting" in held_line and f"after #{head}" in held_line
    assert held_due.strftime("%H:%M:%S") not in held_line and "pending" not in held_line
    result = CliRunner().invoke(app, ["tail-webhooks", "--json", "--no-follow", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = {x["id"]: x for x in map(json.loads, result.stdout.splitlines())}
    assert lines[head]["next_attempt_at"] == retry.isoformat() + "Z" and lines[head]["held_back_by"] is None
    assert lines[held]["next_attempt_at"] is None and lines[held]["held_back_by"] == head
    assert lines[held]["status"] == "pending"


# --- signatures over what goes on the wire (issue 8, item 3) -----------------------------------

AWKWARD = [
    ("CallSid", "CA" + "1" * 32),
    ("CallStatus", "completed"),
    ("From", "+15005550006"),
    ("Timestamp", "Wed, 02 Dec 2026 06:59:10 +0000"),  # RFC 2822: ',' ':' '+' and spaces
    ("CallerName", "Smith, J: a+b c/d?e&f=g%2Ch"),
    ("SipHeader_X-Note", "ünïcode ~*'()!"),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_signature_validates_on_the_url_the_receiver_saw(env: Env, method: str) -> None:
    """The signature is taken over the URL as sent: aiohttp re-quotes a query given as text
    (`%2C` -> `,`, `%3A` -> `:`), so signing the urlencoded text did not validate."""
    # The customer's URL, with its own query, and credentials (sent as Basic auth, not signed).
    configured = env.receiver.url("/status").replace("://", "://user:p%40ss@") + "?leg=a%3Ab%2Cc&to=%2B1"
    enqueue(env, configured, method=method, params=AWKWARD)
    async with DeliveryWorker(env.store, env.settings, worker_id="w1"):
        await wait_rows(env, lambda rs: rs[0].status == "delivered")
    [hit] = env.receiver.hits
    received = hit.query if method == "GET" else hit.form
    assert {k: v for k, v in received.items() if k not in ("leg", "to")} == dict(AWKWARD)
    assert hit.query["leg"] == "a:b,c" and hit.query["to"] == "+1"
    assert hit.authorization == "Basic " + base64.b64encode(b"user:p@ss").decode()
    validator = RequestValidator(env.project.auth_token)
    assert validator.validate(hit.url, hit.form, hit.signature), hit.url
    assert not validator.validate(hit.url + "&x=1", hit.form, hit.signature)
