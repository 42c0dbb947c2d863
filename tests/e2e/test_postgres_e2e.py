"""`wirexa serve` on PostgreSQL (the session's cluster, tests/pg.py) through WIREXA_DATABASE_URL:
a call through the sandbox with twilio-python, recorded, completed with its status callbacks; and
a single box's SQLite store moved with `wirexa db copy`, then served from PostgreSQL (`wirexa init`
finds its first project, the API lists its calls, recordings and numbers, tail-webhooks its outbox)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli.test_db_cli import fill
from tests.conftest import make_live_server
from tests.e2e.webapp import WebApp
from tests.pg import PgCluster
from wirexa.store.db import Store

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    yield app
    app.close()


def test_a_call_through_serve_on_postgresql(tmp_path: Path, pg: PgCluster, web: WebApp) -> None:
    url = pg.new_database()
    engine = make_live_server(tmp_path, {"WIREXA_DATABASE_URL": url})
    try:
        client = engine.client()
        call = client.calls.create(
            to="+15005550006",
            from_="+15005550100",
            twiml="<Response><Say>Hello from PostgreSQL.</Say></Response>",
            status_callback=web.url("/status"),
            record=True,
        )
        deadline = time.monotonic() + 60
        while (done := client.calls(call.sid).fetch()).status not in ("completed", "failed", "busy", "no-answer"):
            assert time.monotonic() < deadline, done.status
            time.sleep(0.25)
        assert done.status == "completed" and int(done.duration) >= 1
        hits = web.wait("/status", call.sid, count=4)
        assert [h.form["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
        assert [int(h.form["SequenceNumber"]) for h in hits] == [0, 1, 2, 3]
        deadline = time.monotonic() + 30
        while not (recs := client.recordings.list(call_sid=call.sid)) or recs[0].status != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.25)
        assert int(recs[0].duration) >= 1
    finally:
        engine.stop()
    assert not (tmp_path / "wirexa.db").exists()  # nothing went to the data dir's SQLite file
    with psycopg.connect(url) as conn:  # it is all in PostgreSQL
        status = conn.execute("SELECT status FROM calls WHERE sid = %s", (call.sid,)).fetchone()
        delivered = conn.execute(
            "SELECT COUNT(*) FROM webhooks WHERE call_sid = %s AND status = 'delivered'", (call.sid,)
        ).fetchone()
    assert status == ("completed",) and delivered is not None and delivered[0] >= 4


def test_a_copied_sqlite_store_served_from_postgresql(tmp_path: Path, pg: PgCluster) -> None:
    box = tmp_path / "box"
    store = Store(f"sqlite:///{box / 'wirexa.db'}")
    store.migrate()
    made = fill(store)
    store.close()
    url = pg.new_database()
    copied = subprocess.run(
        [sys.executable, "-m", "wirexa", "db", "copy", f"sqlite:///{box / 'wirexa.db'}", url, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(copied.stdout)["tables"]["calls"] == 2
    served = tmp_path / "served"
    engine = make_live_server(served, {"WIREXA_DATABASE_URL": url})
    try:
        assert engine.project_id == made["parent"]  # init found the copied first project
        client = engine.client()
        calls = {c.sid: c for c in client.calls.list()}
        assert set(calls) == {made["call"], made["child"]}
        assert calls[made["child"]].parent_call_sid == made["call"] and calls[made["call"]].status == "completed"
        assert [r.sid for r in client.recordings.list()] == [made["recording"]]
        numbers = client.incoming_phone_numbers.list()
        assert [n.phone_number for n in numbers] == ["+14155550100"]
        assert [a.sid for a in client.applications.list()] == [numbers[0].voice_application_sid]
        tail = subprocess.run(
            [sys.executable, "-m", "wirexa", "tail-webhooks", "--no-follow", "--json", "--call", made["call"]],
            capture_output=True,
            text=True,
            check=True,
            env=engine.env,
        )
        rows: list[Any] = [json.loads(line) for line in tail.stdout.splitlines()]
        assert [r["id"] for r in rows][:3] == made["hooks"]
    finally:
        engine.stop()
