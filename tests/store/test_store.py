"""Store: migrations from empty and again, pragmas, transactions, keyset paging, and the outbox claim."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import peewee as pw
import pytest

from tests.pg import PgCluster
from tests.store import schema
from wirexa.calls.statuses import WebhookStatus
from wirexa.clock import utcnow
from wirexa.errors import StoreError
from wirexa.store.db import Store, is_sqlite, migrate, open_database, redacted, schema_version
from wirexa.store.migrations import MIGRATIONS
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import CallFilter, get_call, insert_call, list_calls, next_sequence_number, update_call
from wirexa.store.repo.projects import charge_credits, create_project, get_project, update_project
from wirexa.store.repo.webhooks import claim_webhooks, finish_webhook, get_webhook, insert_webhook

TABLES = {"projects", "calls", "recordings", "webhooks", "notifications"}


def tables(store: Store) -> set[str]:
    return schema.tables(store.db)


def test_migrations_from_empty_and_idempotent(db_url: str) -> None:
    store = Store(db_url)
    assert store.version() == 0 and tables(store) == set()
    latest = max(int(m.VERSION) for m in MIGRATIONS)
    assert [int(m.VERSION) for m in MIGRATIONS] == list(range(1, latest + 1))  # numbered, no gaps
    assert store.migrate() == latest
    assert store.version() == latest
    assert TABLES <= tables(store)
    before = schema.definitions(store.db)
    assert store.migrate() == latest  # a second run changes nothing
    assert schema.definitions(store.db) == before
    assert {"calls_account_created", "webhooks_due", "recordings_account_created"} <= schema.indexes(store.db)
    store.close()
    reopened = Store(db_url)  # the version lives in the database
    assert reopened.version() == latest and reopened.migrate() == latest
    reopened.close()


def test_postgresql_columns_take_sqlites_meaning(pg: PgCluster) -> None:
    """REAL is a double, INTEGER 64 bits, VARCHAR(n) unbounded (SQLite enforces no length)."""
    store = Store(pg.new_database())
    store.migrate()
    types = dict(
        store.db.execute_sql(
            "SELECT table_name || '.' || column_name, data_type || COALESCE('(' || character_maximum_length || ')', '') "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    )
    assert types["projects.cps"] == "double precision" and types["calls.amd_confidence"] == "double precision"
    assert types["calls.timeout_s"] == "bigint" and types["webhooks.id"] == "bigint"
    assert types["calls.sid"] == "character varying" and types["calls.record"] == "boolean"
    assert types["calls.date_created"] == "timestamp without time zone"
    p = store.write_sync(create_project, "p")
    store.write_sync(lambda: update_project(p.sid, cps=0.1, max_concurrent=2**40))
    got = store.read_sync(get_project, p.sid)
    assert got is not None and got.cps == 0.1 and got.max_concurrent == 2**40
    call = store.write_sync(
        lambda: insert_call(
            account_sid=p.sid, to_number="+1" * 200, from_number="+2", status="queued", direction="outbound-api"
        )
    )
    assert store.read_sync(get_call, call.sid).to_number == "+1" * 200  # type: ignore[union-attr]
    store.close()


def test_pragmas(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10_000
    store.close()


def test_migrate_to_a_target_version_then_the_rest(db_url: str) -> None:
    store = Store(db_url)
    assert migrate(store.db, target=0) == 0
    assert schema_version(store.db) == 0 and tables(store) == set()
    assert migrate(store.db, target=1) == 1
    assert TABLES <= tables(store)
    assert migrate(store.db) == len(MIGRATIONS)
    store.close()


def test_a_failing_migration_rolls_back_alone(db_url: str) -> None:
    store = Store(db_url)
    bad = types.SimpleNamespace(
        VERSION=len(MIGRATIONS) + 1, STATEMENTS=("CREATE TABLE half_done (a INTEGER)", "NOT SQL AT ALL")
    )
    with pytest.raises(StoreError, match="migration failed"):
        migrate(store.db, (*MIGRATIONS, bad))  # type: ignore[arg-type]
    assert store.version() == len(MIGRATIONS)  # the good ones committed
    assert "half_done" not in tables(store)  # the bad one left nothing behind
    store.close()


def test_engines_started_together_migrate_one_at_a_time(pg: PgCluster) -> None:
    """Two processes migrating one empty PostgreSQL database at once: one does it, the other
    waits on the advisory lock and finds it done (no duplicate-table error)."""
    url = pg.new_database()
    code = "import sys; from wirexa.store.db import Store; s = Store(sys.argv[1]); print(s.migrate()); s.close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0] and outs == [str(len(MIGRATIONS))] * 3
    store = Store(url)
    rows = store.db.execute_sql("SELECT version FROM wirexa_schema ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))  # each migration ran once
    store.close()


def test_an_unknown_database_url_is_refused() -> None:
    with pytest.raises(StoreError, match="must start sqlite:/// or postgresql://"):
        Store("mysql://u@127.0.0.1/w")


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(StoreError):
        store.write_sync(
            lambda: insert_call(
                account_sid="ACnobody", to_number="+1", from_number="+2", status="queued", direction="outbound-api"
            )
        )


def test_a_write_function_is_one_transaction(store: Store) -> None:
    p = store.write_sync(create_project, "p")

    def half() -> None:
        insert_call(account_sid=p.sid, to_number="+1", from_number="+2", status="queued", direction="outbound-api")
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError):
        store.write_sync(half)
    assert store.read_sync(list_calls, CallFilter(account_sid=p.sid), 10)[0] == []


async def test_a_cancelled_awaiter_does_not_cancel_the_write(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_insert() -> str:
        loop.call_soon_threadsafe(started.set)
        import time

        time.sleep(0.2)
        return insert_call(
            account_sid=p.sid, to_number="+1", from_number="+2", status="queued", direction="outbound-api"
        ).sid

    task = asyncio.create_task(store.write(slow_insert))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.write(lambda: None)  # the writer is FIFO: the slow write is done now
    calls, _ = await store.read(list_calls, CallFilter(account_sid=p.sid), 10)
    assert len(calls) == 1


def insert_calls(store: Store, account: str, times: list[dt.datetime], **fields: object) -> list[CallRecord]:
    return store.write_sync(
        lambda: [
            insert_call(
                **{
                    "account_sid": account,
                    "to_number": "+1",
                    "from_number": "+2",
                    "status": "completed",
                    "direction": "outbound-api",
                    "now": when,
                    **fields,
                }
            )
            for when in times
        ]
    )


def walk(store: Store, flt: CallFilter, size: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page, more = store.read_sync(list_calls, flt, size, 0, after)
        assert len(page) <= size
        seen += [c.sid for c in page]
        if not more:
            return seen
        assert len(page) == size
        after = page[-1].sid


def test_keyset_paging_is_newest_first_and_stable_with_equal_timestamps(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    when = dt.datetime(2026, 1, 1)
    same = insert_calls(store, p.sid, [when] * 25)
    older = insert_calls(store, p.sid, [when - dt.timedelta(seconds=s) for s in range(1, 6)])
    newer = insert_calls(store, p.sid, [when + dt.timedelta(seconds=s) for s in range(1, 6)])
    expected = [c.sid for c in reversed(newer)] + sorted((c.sid for c in same), reverse=True) + [c.sid for c in older]
    for size in (1, 7, 10, 35, 100):
        assert walk(store, CallFilter(account_sid=p.sid), size) == expected, size
    # rows inserted while paging (newer than the anchor) do not shift later pages
    first, _ = store.read_sync(list_calls, CallFilter(account_sid=p.sid), 10)
    insert_calls(store, p.sid, [when + dt.timedelta(hours=1)] * 3)
    second, _ = store.read_sync(list_calls, CallFilter(account_sid=p.sid), 10, 1, first[-1].sid)
    assert [c.sid for c in first + second] == expected[:20]


def test_keyset_paging_with_filters_and_an_unknown_anchor(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    q = store.write_sync(create_project, "q")
    base = dt.datetime(2026, 1, 1)
    busy = insert_calls(store, p.sid, [base + dt.timedelta(seconds=i) for i in range(0, 40, 2)], status="busy")
    insert_calls(store, p.sid, [base + dt.timedelta(seconds=i) for i in range(1, 40, 2)])
    insert_calls(store, q.sid, [base] * 5, status="busy")
    flt = CallFilter(account_sid=p.sid, statuses=("busy",))
    assert walk(store, flt, 6) == [c.sid for c in reversed(busy)]
    # an anchor that is gone (deleted call, forged token): fall back to the Page offset
    page, more = store.read_sync(list_calls, flt, 5, 1, "CAgone")
    assert [c.sid for c in page] == [c.sid for c in reversed(busy)][5:10] and more


def test_list_calls_uses_the_index(store: Store) -> None:
    query = "SELECT * FROM calls WHERE account_sid = ? ORDER BY date_created DESC, sid DESC LIMIT 51"
    if is_sqlite(store.db):
        plan = store.db.execute_sql("EXPLAIN QUERY PLAN " + query, ("AC1",)).fetchall()
        text = " ".join(str(row[-1]) for row in plan)
        assert "calls_account_created" in text and "TEMP B-TREE" not in text, text
        return

    # PostgreSQL plans an empty table as a scan: ask for its plan as if scans cost what they do on
    # a large one. The index must then give the order (no Sort node).
    def explain() -> str:
        store.db.execute_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in store.db.execute_sql("EXPLAIN " + query.replace("?", "%s"), ("AC1",)))

    text = store.write_sync(explain)
    assert "calls_account_created" in text and "Sort" not in text, text


def add_webhooks(store: Store, account: str, n: int, call_sid: str | None = None, url: str | None = None) -> list[int]:
    return store.write_sync(
        lambda: [
            insert_webhook(
                account_sid=account,
                call_sid=call_sid,
                kind="k",
                event="e",
                url=url or f"http://h/{i}",
                method="POST",
                params=[("A", str(i))],
            ).id
            for i in range(n)
        ]
    )


def test_claim_never_gives_a_row_twice(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    add_webhooks(store, p.sid, 10)
    now = utcnow()
    lease = now + dt.timedelta(seconds=30)
    a = store.write_sync(claim_webhooks, "a", now, lease, 6)
    b = store.write_sync(claim_webhooks, "b", now, lease, 6)
    assert len(a) == 6 and len(b) == 4 and not {r.id for r in a} & {r.id for r in b}
    assert all(r.status == "in-flight" and r.claimed_by == "a" for r in a)
    assert a[0].params == (("A", "0"),)
    assert store.write_sync(claim_webhooks, "c", now, lease, 6) == []
    later = lease + dt.timedelta(seconds=1)  # leases expired: a dead worker's rows come back
    assert len(store.write_sync(claim_webhooks, "c", later, later + dt.timedelta(seconds=30), 20)) == 10
    # a worker that lost its claim cannot finish the row
    assert not store.write_sync(
        lambda: finish_webhook(
            a[0].id,
            "a",
            status=WebhookStatus.DELIVERED,
            attempts=1,
            next_attempt_at=None,
            status_code=200,
            error=None,
            now=later,
        )
    )
    assert store.write_sync(
        lambda: finish_webhook(
            a[0].id,
            "c",
            status=WebhookStatus.DELIVERED,
            attempts=1,
            next_attempt_at=None,
            status_code=200,
            error=None,
            now=later,
        )
    )
    done = store.read_sync(get_webhook, a[0].id)
    assert done is not None
    assert done.status == "delivered" and done.claimed_by is None and done.delivered_at == later


def test_claim_respects_due_time_and_per_call_order(store: Store) -> None:
    p = store.write_sync(create_project, "p")
    first, second = add_webhooks(store, p.sid, 2, call_sid="CA1", url="http://h/cb")
    other_url = add_webhooks(store, p.sid, 1, call_sid="CA1", url="http://h/other")[0]
    now = utcnow()
    store.write_sync(
        lambda: insert_webhook(
            account_sid=p.sid,
            call_sid=None,
            kind="k",
            event="e",
            url="http://h/later",
            method="POST",
            params=[],
            due=now + dt.timedelta(minutes=5),
        )
    )
    lease = now + dt.timedelta(seconds=30)
    claimed = store.write_sync(claim_webhooks, "w", now, lease, 10)
    assert sorted(r.id for r in claimed) == sorted([first, other_url])  # second waits for first; 'later' is not due
    store.write_sync(
        lambda: finish_webhook(
            first,
            "w",
            status=WebhookStatus.DELIVERED,
            attempts=1,
            next_attempt_at=None,
            status_code=200,
            error=None,
            now=now,
        )
    )
    assert [r.id for r in store.write_sync(claim_webhooks, "w", now, lease, 10)] == [second]


CLAIMER = textwrap.dedent(
    """
    import datetime as dt, json, sys
    from wirexa.clock import utcnow
    from wirexa.store.repo.webhooks import claim_webhooks
    from wirexa.store.db import Store
    store = Store(sys.argv[1])
    got = []
    while True:
        now = utcnow()
        rows = store.write_sync(claim_webhooks, sys.argv[2], now, now + dt.timedelta(minutes=5), 3)
        if not rows:
            break
        got += [r.id for r in rows]
    store.close()
    print(json.dumps(got))
    """
)


def test_two_processes_claiming_one_database_never_share_a_row(db_url: str) -> None:
    url = db_url
    store = Store(url)
    store.migrate()
    p = store.write_sync(create_project, "p")
    ids = add_webhooks(store, p.sid, 300)
    store.close()
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, url, name], stdout=subprocess.PIPE, text=True)
        for name in ("a", "b", "c")
    ]
    results = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == sorted(ids)  # every row once, none twice


def test_sequence_numbers_count_per_call_from_zero(store: Store) -> None:
    p = store.write_sync(lambda: create_project("p"))

    def new_call() -> str:
        return insert_call(
            account_sid=p.sid, to_number="+1", from_number="+2", status="queued", direction="outbound-api"
        ).sid

    a, b = store.write_sync(new_call), store.write_sync(new_call)
    seqs = [store.write_sync(lambda sid=sid: next_sequence_number(sid)) for sid in (a, a, b, a)]
    assert seqs == [0, 1, 0, 2]
    assert store.read_sync(lambda: get_call(a)).sequence_number == 3  # type: ignore[union-attr]
    with pytest.raises(pw.DoesNotExist):  # as the whole-row read before it did
        store.write_sync(lambda: next_sequence_number("CAnone"))


def test_compiled_writes_return_the_rows_as_stored(store: Store) -> None:
    """insert_call / update_call / insert_webhook build their records without peewee's model
    layer: every column, defaults and conversions included, must match a fresh read."""
    p = store.write_sync(create_project, "p")
    call = store.write_sync(
        lambda: insert_call(
            account_sid=p.sid, to_number="+1", from_number="+2", status="queued", direction="outbound-api", record=True
        )
    )
    assert call == store.read_sync(get_call, call.sid)
    assert call.timeout_s == 60 and call.record is True and call.answer_time is None and call.sequence_number == 0
    now = utcnow()
    moved = store.write_sync(
        lambda: update_call(call.sid, expect_status=("queued", "initiated"), status="initiated", start_time=now)
    )
    assert moved is not None
    assert moved == store.read_sync(get_call, call.sid) and moved.start_time == now and moved.status == "initiated"
    assert store.write_sync(lambda: update_call(call.sid, expect_status=("queued",), status="ringing")) is None
    assert store.write_sync(lambda: update_call(call.sid, expect_status=(), status="ringing")) is None
    hook = store.write_sync(
        lambda: insert_webhook(
            account_sid=p.sid,
            call_sid=call.sid,
            kind="call-status",
            event="initiated",
            url="http://h/cb",
            method="POST",
            params=[("CallSid", call.sid), ("SequenceNumber", 0)],  # type: ignore[list-item]
        )
    )
    assert hook == store.read_sync(get_webhook, hook.id) and hook.params[1] == ("SequenceNumber", "0")
    now = utcnow()
    claimed = store.write_sync(claim_webhooks, "w", now, now + dt.timedelta(seconds=30), 5)
    assert claimed == [store.read_sync(get_webhook, hook.id)] and claimed[0].claimed_by == "w"
    store.write_sync(lambda: charge_credits(p.sid, 30))  # an unlimited project stays unlimited
    store.write_sync(lambda: update_project(p.sid, credits_s=100))
    store.write_sync(lambda: charge_credits(p.sid, 30))
    assert store.read_sync(get_project, p.sid).credits_s == 70  # type: ignore[union-attr]


async def test_connections_the_server_closed_are_replaced(pg: PgCluster) -> None:
    """PostgreSQL restarted or failed over: every connection of the engine is gone. The write in
    flight fails (StoreError, never retried: its COMMIT may have landed), the next write and
    every read work on new connections."""
    url = pg.new_database()
    store = Store(url)
    store.migrate()
    p = store.write_sync(create_project, "p")
    assert (await store.read(get_project, p.sid)) is not None  # a reader thread's connection too
    name = url.rsplit("/", 1)[1]
    pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    with pytest.raises(StoreError, match="database write failed"):
        store.write_sync(create_project, "lost")
    q = store.write_sync(create_project, "q")
    assert (await store.read(get_project, q.sid)) is not None  # retried once on a new connection
    assert (await store.lookup(get_project, p.sid)) is not None
    assert await store.write(lambda: update_project(p.sid, friendly_name="after")) is not None
    pg.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    assert store.ping() and await store.read(store.ping)  # /health asks this way
    store.close()


def test_a_postgresql_url_is_parsed_and_never_printed_with_its_password() -> None:
    db = open_database("postgresql://wx%40ops:p%40ss%3Aw%2Frd@db.internal:6432/wirexa?sslmode=require")
    assert db.database == "wirexa"
    assert db.connect_params == {
        "user": "wx@ops", "password": "p@ss:w/rd", "host": "db.internal", "port": 6432, "sslmode": "require"
    }  # fmt: skip
    assert redacted("postgresql://u:p%40ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redacted("postgres://u@h/d") == "postgres://u@h/d" and redacted("sqlite:///a:b@c.db") == "sqlite:///a:b@c.db"
