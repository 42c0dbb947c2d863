"""Store: migrations from empty and again, keyset paging, and the outbox claim."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from wirexa.store import repo
from wirexa.store.db import Store, migrate, schema_version


def test_migrations_from_empty_and_idempotent(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    assert store.version() == 0
    assert store.migrate() == 1
    assert store.migrate() == 1
    tables = {r[0] for r in store.db.execute_sql("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
    assert {"projects", "calls", "recordings", "webhooks", "notifications"} <= tables
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def test_migrate_to_a_target_version(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    assert migrate(store.db, target=0) == 0
    assert schema_version(store.db) == 0
    assert migrate(store.db) == 1
    store.close()


def test_keyset_paging_is_stable_with_equal_timestamps(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    p = store.write_sync(repo.create_project, "p")
    when = dt.datetime(2026, 1, 1)
    sids = store.write_sync(
        lambda: [
            repo.insert_call(account_sid=p.sid, to_number="+1", from_number="+2", status="completed", direction="outbound-api", now=when).sid
            for _ in range(25)
        ]
    )
    seen: list[str] = []
    after = None
    while True:
        page, more = store.read_sync(repo.list_calls, repo.CallFilter(account_sid=p.sid), 10, 0, after)
        seen += [c.sid for c in page]
        if not more:
            break
        after = page[-1].sid
    assert sorted(seen) == sorted(sids) and len(seen) == 25
    store.close()


def test_claim_never_gives_a_row_twice(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    store.migrate()
    p = store.write_sync(repo.create_project, "p")
    for i in range(10):
        store.write_sync(lambda i=i: repo.insert_webhook(account_sid=p.sid, call_sid=None, kind="k", event="e", url=f"http://h/{i}", method="POST", params=[]))
    now = repo.utcnow()
    lease = now + dt.timedelta(seconds=30)
    a = store.write_sync(repo.claim_webhooks, "a", now, lease, 6)
    b = store.write_sync(repo.claim_webhooks, "b", now, lease, 6)
    assert len(a) == 6 and len(b) == 4 and not {r.id for r in a} & {r.id for r in b}
    assert store.write_sync(repo.claim_webhooks, "c", now, lease, 6) == []
    later = lease + dt.timedelta(seconds=1)  # leases expired: a dead worker's rows come back
    assert len(store.write_sync(repo.claim_webhooks, "c", later, later + dt.timedelta(seconds=30), 20)) == 10
    assert not store.write_sync(lambda: repo.finish_webhook(a[0].id, "a", status="delivered", attempts=1, next_attempt_at=None, status_code=200, error=None, now=later))
    store.close()
