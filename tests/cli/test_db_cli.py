"""`wirexa db migrate`, `wirexa db copy` and `wirexa init` on SQLite and on a real PostgreSQL (the
session's cluster, tests/pg.py), through CliRunner: a copy keeps every row of every table and its
ids, moves PostgreSQL's sequences past them, refuses a non-empty destination unless --force and a
source at another schema version; init against a database with projects changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.pg import PgCluster
from tests.store import schema
from wirexa.cli.main import _register_optional, app
from wirexa.clock import utcnow
from wirexa.store import models
from wirexa.store.db import Store, is_sqlite, migrate, open_database
from wirexa.store.migrations import MIGRATIONS
from wirexa.store.repo import (
    applications,
    calls,
    flags,
    keys,
    notifications,
    numbers,
    phones,
    projects,
    recordings,
    transcriptions,
)
from wirexa.store.repo.events import NewCallEvent, insert_events
from wirexa.store.repo.webhooks import insert_webhook

_register_optional()
runner = CliRunner()
LATEST = len(MIGRATIONS)


def run(*args: str, url: str = "") -> Any:
    return runner.invoke(app, list(args), env={"WIREXA_DATABASE_URL": url} if url else {})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: "" is the data dir's SQLite file."""
    if request.param == "sqlite":
        return ""
    cluster: PgCluster = request.getfixturevalue("pg")
    return cluster.new_database()


def test_migrate_prints_the_schema_version(tmp_path: Path, url: str) -> None:
    result = run("db", "migrate", "--data-dir", str(tmp_path), "--json", url=url)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["schema_version"] == LATEST and out["database"].startswith("sqlite:///" if not url else "postgresql://")
    result = run("db", "migrate", "--data-dir", str(tmp_path), url=url)  # again: nothing to do
    assert result.exit_code == 0 and f"Schema version:  {LATEST}" in result.stdout, result.output


def test_init_against_a_database_with_projects_changes_nothing(tmp_path: Path, url: str) -> None:
    first = run("init", "--data-dir", str(tmp_path / "a"), "--json", url=url)
    assert first.exit_code == 0, first.output
    made = json.loads(first.stdout)
    db_url = url or f"sqlite:///{tmp_path / 'a' / 'wirexa.db'}"
    store = Store(db_url)
    before = {t: store.db.execute_sql(f'SELECT * FROM "{t}"').fetchall() for t in schema.tables(store.db)}
    store.close()
    # Another machine's init against the same database (PostgreSQL), or a second run (SQLite).
    again = run("init", "--data-dir", str(tmp_path / ("b" if url else "a")), "--json", url=url)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == made  # the existing first project, its token
    plain = run("init", "--data-dir", str(tmp_path / ("b" if url else "a")), url=url)
    assert made["project_id"] in plain.stdout and made["auth_token"] in plain.stdout
    store = Store(db_url)
    after = {t: store.db.execute_sql(f'SELECT * FROM "{t}"').fetchall() for t in schema.tables(store.db)}
    store.close()
    assert after == before and len(after["projects"]) == 1


def test_a_bad_database_url_is_one_red_line(tmp_path: Path, pg: PgCluster) -> None:
    result = run("db", "migrate", "--data-dir", str(tmp_path), url="mysql://u:secret@127.0.0.1/w")
    assert result.exit_code == 1 and "must start sqlite:/// or postgresql://" in result.stderr
    assert "secret" not in result.stderr  # the password is never printed
    nobody = pg.url("t0").replace("postgres@", "postgres:hunter2@")  # no such database
    result = run("db", "migrate", "--data-dir", str(tmp_path), url=nobody)
    assert result.exit_code == 1 and "migrate failed" in result.stderr and "hunter2" not in result.stderr


def fill(store: Store) -> dict[str, Any]:
    """A single box's store with a row in every table (a subaccount after its parent)."""
    now = utcnow()

    def tx() -> dict[str, Any]:
        parent = projects.create_project("parent")
        sub = projects.create_project("sub", parent_sid=parent.sid)
        app_ = applications.insert_application(parent.sid, friendly_name="app", voice_url="http://h/v")
        number = numbers.insert_number(parent.sid, "+14155550100", voice_application_sid=app_.sid)
        phones.insert_phone(parent.sid, "desk", "pw-0123456789")
        keys.insert_key(sub.sid, "k", "hash")
        flags.set_flag(flags.CALLS_STOPPED, "maintenance")
        call = calls.insert_call(
            account_sid=parent.sid, to_number="+1", from_number="+2", status="completed", direction="outbound-api",
            record=True, start_time=now, duration_s=12, amd_confidence=0.93,
        )  # fmt: skip
        child = calls.insert_call(
            account_sid=parent.sid, to_number="+3", from_number="+2", status="completed", direction="outbound-dial",
            parent_call_sid=call.sid,
        )  # fmt: skip
        rec = recordings.insert_recording(
            account_sid=parent.sid, call_sid=call.sid, status="completed", source="RecordVerb", duration_s=3
        )
        transcriptions.insert_transcription(
            account_sid=parent.sid, call_sid=call.sid, recording_sid=rec.sid, callback="http://127.0.0.1:9/t"
        )
        hooks = [
            insert_webhook(
                account_sid=parent.sid, call_sid=call.sid, kind="call-status", event=e, url="http://127.0.0.1:9/cb",
                method="POST", params=[("CallSid", call.sid), ("CallStatus", e)],
            ).id
            for e in ("initiated", "ringing", "completed")
        ]  # fmt: skip
        notifications.insert_notification(account_sid=parent.sid, call_sid=call.sid, error_code=11200, message_text="x")
        insert_events(
            [NewCallEvent(parent.sid, call.sid, "document", "POST", "http://h/v", (("A", "1"),), 200, "text/xml",
                          b"<Response/>", 7, now)]
        )  # fmt: skip
        models.CallQuality.create(
            call_sid=call.sid, seq=0, offset_s=0.0, rtt_ms=None, in_packets=50, in_loss_pct=0.5, in_jitter_ms=3.25,
            in_mos=4.4, out_packets=50, out_loss_pct=0.0, out_jitter_ms=1.0, out_mos=4.4, final=True, date_created=now,
        )  # fmt: skip
        assert number is not None
        return {"parent": parent.sid, "call": call.sid, "child": child.sid, "recording": rec.sid, "hooks": hooks}

    return store.write_sync(tx)


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, values as Python sees them through the models (either database)."""
    db = open_database(url)
    out = {}
    by_table = {m._meta.table_name: m for m in models.Base.__subclasses__()}
    try:
        for table in schema.tables(db):
            cursor = db.execute_sql(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            model = by_table.get(table)
            fields = {f.column_name: f for f in model._meta.sorted_fields} if model else {}
            rows = [
                tuple(
                    v if v is None or n not in fields else fields[n].python_value(v)
                    for n, v in zip(names, row, strict=True)
                )
                for row in cursor.fetchall()
            ]
            out[table] = sorted(rows, key=repr)
    finally:
        db.close_all() if hasattr(db, "close_all") else db.close()
    return out


def test_copy_sqlite_to_postgresql_and_back(tmp_path: Path, pg: PgCluster) -> None:
    src = f"sqlite:///{tmp_path / 'box.db'}"
    store = Store(src)
    store.migrate()
    made = fill(store)
    store.close()
    dst = pg.new_database()

    result = run("db", "copy", src, dst, "--json")
    assert result.exit_code == 0, result.output
    copied = json.loads(result.stdout)
    assert copied["schema_version"] == LATEST
    tables = copied["tables"]
    order = list(tables)  # each table after those it references
    assert order.index("projects") < order.index("applications") < order.index("numbers")
    assert order.index("projects") < order.index("calls") and order.index("projects") < order.index("api_keys")
    assert tables["calls"] == 2 and tables["webhooks"] == 3 and tables["projects"] == 2 and tables["numbers"] == 1
    assert all(tables[t] >= 1 for t in ("recordings", "notifications", "call_events", "call_quality", "phones"))
    assert tables["transcriptions"] == 1 and order.index("recordings") < order.index("transcriptions")
    assert dump(dst) == dump(src)  # every row, ids kept, booleans and timestamps as they were

    # The sequences are past the copied ids: the next outbox row takes the next id.
    store = Store(dst)
    hook = store.write_sync(
        lambda: insert_webhook(
            account_sid=made["parent"], call_sid=None, kind="k", event="e", url="http://h", method="POST", params=[]
        )
    )
    assert hook.id == max(made["hooks"]) + 1
    assert store.read_sync(calls.get_call, made["call"]).record is True  # type: ignore[union-attr]
    store.close()

    # A destination with rows is refused, with nothing changed; --force replaces its rows.
    result = run("db", "copy", src, dst)
    assert result.exit_code == 1 and "holds rows" in result.stderr and "--force" in result.stderr
    assert len(dump(dst)["webhooks"]) == 4
    result = run("db", "copy", src, dst, "--force")
    assert result.exit_code == 0, result.output
    assert "webhooks" in result.stdout and dump(dst) == dump(src)

    # And back into a new SQLite file, equal again.
    back = f"sqlite:///{tmp_path / 'back.db'}"
    result = run("db", "copy", dst, back)
    assert result.exit_code == 0, result.output
    assert dump(back) == dump(src)


def test_copy_refuses_a_source_at_another_version(tmp_path: Path, pg: PgCluster) -> None:
    src = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_database(src)
    migrate(db, target=LATEST - 1)
    db.close()
    result = run("db", "copy", src, pg.new_database())
    assert result.exit_code == 1 and f"schema version {LATEST - 1}" in result.stderr
    assert "wirexa db migrate" in result.stderr
    result = run("db", "copy", src, src)
    assert result.exit_code == 1 and "same database" in result.stderr


def test_copy_failing_midway_leaves_the_destination_as_it_was(tmp_path: Path, pg: PgCluster) -> None:
    """A row the destination refuses (here a call whose project is missing: SQLite did not check
    the foreign key) fails the copy, and the destination is rolled back whole."""
    src = f"sqlite:///{tmp_path / 'bad.db'}"
    store = Store(src)
    store.migrate()
    fill(store)
    store.db.execute_sql("PRAGMA foreign_keys = OFF")
    store.db.execute_sql(
        "INSERT INTO calls (sid, account_sid, to_number, from_number, status, direction, date_created, date_updated) "
        "VALUES ('CAorphan', 'ACgone', '+1', '+2', 'queued', 'outbound-api', ?, ?)",
        (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1)),
    )
    store.close()
    dst = pg.new_database()
    result = run("db", "copy", src, dst)
    assert result.exit_code == 1 and "nothing was copied into" in result.stderr
    db = open_database(dst)
    assert not is_sqlite(db)
    assert all(not rows for rows in dump(dst).values())
    db.close_all()
