"""Issue 28: the web console's pages with 100,000 calls in the store (each page must take < 200 ms).

A fresh SQLite store gets CONSOLE_BENCH_CALLS calls (100,000) of one project, all created over the
last 24 hours (the dashboard's worst case: every call in its day), with a mix of statuses,
directions and AnsweredBy values, one status callback row and one call event per call for the
last hour's calls, 2,000 outbox rows failed or retrying, and a few calls of a second project.
The API app (make_app: the console mounted on it) serves on 127.0.0.1; each page is requested
CONSOLE_BENCH_RUNS times (9) after one warm-up, logged in as the project and as the admin, and
the first (cold caches), median and worst wall time of the request (client to server and back over loopback, an
upper bound of the server's time) are printed per page.

    .venv/bin/python -m bench.console_bench
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from wirexa import config
from wirexa.api.app import make_app
from wirexa.api.auth import RateLimiter
from wirexa.api.context import ApiServices
from wirexa.calls.admission import Admission
from wirexa.calls.service import CallService, NullController
from wirexa.clock import SystemClock, new_sid, utcnow
from wirexa.console.auth import write_password
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.repo.projects import create_project
from wirexa.webhooks import outbox

CALLS = int(os.environ.get("CONSOLE_BENCH_CALLS", "100000"))
RUNS = int(os.environ.get("CONSOLE_BENCH_RUNS", "9"))
STATUSES = (
    ["completed"] * 60 + ["busy"] * 10 + ["no-answer"] * 12 + ["failed"] * 5 + ["canceled"] * 3 + ["in-progress"] * 10
)
ANSWERED_BY = [None] * 6 + ["human", "machine_start", "machine_end_beep", "unknown"]
DIRECTIONS = ["outbound-api"] * 8 + ["inbound", "outbound-dial"]


def fill(store: Any, project: str, other: str) -> str:
    """Insert the calls, outbox rows and events in one transaction; returns a call SID with events."""
    db = store.db
    now = utcnow()
    rng = random.Random(28)
    calls, hooks, events = [], [], []
    sample = ""
    for i in range(CALLS):
        created = now - dt.timedelta(seconds=86_000 * i / CALLS)
        sid = new_sid("CA")
        status = rng.choice(STATUSES)
        if status == "in-progress" and created < now - dt.timedelta(minutes=10):
            status = "completed"  # live calls are recent ones
        answered = status in ("completed", "in-progress")
        calls.append(
            (
                sid,
                project if i % 1000 else other,
                f"+1500555{i % 10000:04d}",
                "+15005550100",
                status,
                rng.choice(DIRECTIONS),
                rng.choice(ANSWERED_BY) if answered else None,
                200 if answered else 486,
                created,
                created,
                created + dt.timedelta(seconds=1) if answered else None,
                created + dt.timedelta(seconds=30),
                29 if answered else 0,
            )
        )
        if created > now - dt.timedelta(hours=1):
            sample = sample or (sid if i % 1000 else "")
            hooks.append(
                (
                    project,
                    sid,
                    "call-status",
                    "completed",
                    "http://127.0.0.1:9/cb",
                    json.dumps([["CallSid", sid]]),
                    "delivered",
                    1,
                    created,
                    created,
                    created,
                )
            )
            events.append(
                (
                    project,
                    sid,
                    "call-status",
                    "POST",
                    "http://127.0.0.1:9/cb",
                    json.dumps([["CallSid", sid]]),
                    200,
                    "text/plain",
                    "ok",
                    rng.randint(2, 80),
                    created,
                )
            )
    for i in range(2000):
        created = now - dt.timedelta(minutes=i % 600)
        hooks.append(
            (
                project,
                calls[i][0],
                "call-status",
                "completed",
                "http://127.0.0.1:9/cb",
                "[]",
                "failed" if i % 2 else "pending",
                4 if i % 2 else 1,
                created,
                created,
                created,
            )
        )
    with db.atomic():
        db.execute_sql("PRAGMA foreign_keys = OFF")
        db.cursor().executemany(
            "INSERT INTO calls (sid, account_sid, to_number, from_number, status, direction, answered_by,"
            " sip_response_code, date_created, date_updated, answer_time, end_time, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            calls,
        )
        db.cursor().executemany(
            "INSERT INTO webhooks (account_sid, call_sid, kind, event, url, params, status, attempts,"
            " next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            hooks,
        )
        db.cursor().executemany(
            "INSERT INTO call_events (account_sid, call_sid, kind, method, url, parameters, response_code,"
            " content_type, response_body, request_duration_ms, date_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
    db.execute_sql("ANALYZE")
    return sample


async def login(client: TestClient, user: str, password: str) -> None:  # type: ignore[type-arg]
    page = await (await client.get("/console/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    resp = await client.post("/console/login", data={"csrf": token.group(1), "user": user, "password": password})
    assert resp.status == 200, resp.status


async def time_pages(client: TestClient, pages: list[str]) -> list[tuple[str, float, float, float]]:  # type: ignore[type-arg]
    out = []
    for path in pages:
        started = time.perf_counter()
        await (await client.get(path)).read()
        first = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            resp = await client.get(path)
            await resp.read()
            times.append((time.perf_counter() - started) * 1000)
            assert resp.status == 200, (path, resp.status)
        out.append((path, first, statistics.median(times), max(times)))
    return out


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(overrides={"data_dir": tmp}, env={})
        store = open_store(settings)
        project = ensure_project(store)
        other = store.write_sync(create_project, "other")
        started = time.perf_counter()
        sample = fill(store, project.sid, other.sid)
        print(f"filled {CALLS} calls in {time.perf_counter() - started:.1f} s")
        write_password(Path(tmp), "bench-password-1")
        calls = StoreCalls(
            store, status_callbacks=outbox.call_status_callbacks, recording_callbacks=outbox.recording_callbacks("")
        )
        services = ApiServices(
            store=store,
            settings=settings,
            calls=CallService(
                calls, NullController(calls, SystemClock()), Admission.from_settings(settings, calls, SystemClock())
            ),
            limiter=RateLimiter(0, 1),
        )
        client = TestClient(TestServer(make_app(services)))
        await client.start_server()
        deep = store.db.execute_sql("SELECT sid FROM calls ORDER BY date_created DESC LIMIT 1 OFFSET 60000").fetchone()[
            0
        ]
        today = utcnow().date().isoformat()
        pages = [
            "/console/dashboard",
            "/console/calls",
            f"/console/calls?after={deep}",
            "/console/calls?status=busy",
            "/console/calls?direction=inbound",
            "/console/calls?answered_by=machine_end_beep",
            "/console/calls?to=%2B15005550042",
            "/console/calls?from=%2B19999999999",  # matches nothing: the whole index is walked
            "/console/calls?status=canceled&direction=outbound-dial&answered_by=unknown",
            f"/console/calls?day_from={today}&day_to={today}",
            f"/console/calls/{sample}",
            "/console/webhooks",
            "/console/webhooks?status=failed",
            "/console/numbers",
            "/console/applications",
            "/console/call",
        ]
        try:
            for who, user, password in (
                ("project", project.sid, project.auth_token),
                ("admin", "admin", "bench-password-1"),
            ):
                await login(client, user, password)
                for path, first, median, worst in await time_pages(client, pages):
                    flag = "" if max(first, worst) < 200 else "  OVER 200 ms"
                    print(f"{who:8} {path:76} first {first:6.1f}  median {median:6.1f}  max {worst:6.1f} ms{flag}")
                client.session.cookie_jar.clear()
        finally:
            await client.close()
            store.close()


if __name__ == "__main__":
    asyncio.run(main())
