"""The nodes table, the shared CPS buckets and the orphans (store/repo/nodes.py), and the claim's
gate (StoreCalls.claim), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest

from tests.store import schema
from tests.store.nodes import age_heartbeat, node_row
from wirexa.calls import state
from wirexa.calls.ports import CONCURRENCY_WAIT_S, ClaimGate
from wirexa.calls.records import CallChanges, CallRecord, ProjectRecord
from wirexa.clock import utcnow
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.models import CpsBucket
from wirexa.store.repo import nodes
from wirexa.store.repo.calls import get_call, insert_call
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.recordings import insert_recording
from wirexa.store.repo.webhooks import claim_webhooks, insert_webhook


def _status(store: Store, sid: str) -> str:
    call = store.read_sync(get_call, sid)
    assert call is not None
    return call.status


def _call(store: Store, project: ProjectRecord, status: str, owner: str | None) -> CallRecord:
    return store.write_sync(
        lambda: insert_call(
            account_sid=project.sid,
            to_number="+15005550006",
            from_number="+15005550100",
            status=status,
            direction="outbound-api",
            owner=owner,
        )
    )


def test_a_node_registers_under_a_new_generation_each_start(store: Store) -> None:
    assert store.write_sync(nodes.register, "a", None, "sip:127.0.0.1:5070", 40) == 1
    assert store.write_sync(nodes.heartbeat, "a", 1, 3, 40)
    assert store.write_sync(nodes.register, "a", "http://a:5000", None, 40) == 2
    # The first run is fenced now: its heartbeat and its state changes are refused.
    assert not store.write_sync(nodes.heartbeat, "a", 1, 3, 40)
    assert not store.write_sync(nodes.set_state, "a", 1, nodes.STOPPED)
    row = node_row(store, "a")
    assert (row.generation, row.state, row.http_url, row.live_calls) == (2, "open", "http://a:5000", 0)
    assert store.read_sync(nodes.is_open, "a", 2) and not store.read_sync(nodes.is_open, "a", 1)
    assert store.write_sync(nodes.set_state, "a", 2, nodes.DRAINING)
    assert not store.read_sync(nodes.is_open, "a", 2)  # draining: no claims
    assert store.write_sync(nodes.heartbeat, "a", 2, 0, 40)  # but still alive


def test_a_stale_node_is_taken_over_by_one_node(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.write_sync(nodes.register, name, None, None, 10)
    age_heartbeat(store, "a", 20)
    stale = store.read_sync(nodes.stale_nodes, 15.0)
    assert [n.node_id for n in stale] == ["a"]
    assert store.write_sync(nodes.take_over, "a", 1, "b", 15.0)
    assert not store.write_sync(nodes.take_over, "a", 1, "c", 15.0)  # one winner
    row = node_row(store, "a")
    assert (row.state, row.taken_by) == ("dead", "b")
    assert not store.write_sync(nodes.heartbeat, "a", 1, 0, 10)  # it comes back fenced
    assert store.read_sync(nodes.stale_nodes, 15.0) == []
    # A fresh heartbeat is not stale, nor taken.
    assert not store.write_sync(nodes.take_over, "c", 1, "b", 15.0)


def test_orphans_are_the_live_calls_no_live_node_owns(store: Store) -> None:
    project = store.write_sync(create_project, "p")
    store.write_sync(nodes.register, "a", None, None, 10)
    store.write_sync(nodes.register, "b", None, None, 10)
    mine = _call(store, project, "in-progress", "a")
    theirs = _call(store, project, "ringing", "b")
    legacy = _call(store, project, "initiated", "host-1234abcd")  # an id from before schema 18
    unowned = _call(store, project, "in-progress", None)
    _call(store, project, "queued", None)  # the queue is nobody's
    _call(store, project, "completed", "gone")  # final: not live
    sids = lambda calls: {c.sid for c in calls}  # noqa: E731
    assert sids(store.read_sync(nodes.orphaned_calls, None)) == {legacy.sid, unowned.sid}
    # At a's start its previous run's calls are orphans too; b's are b's.
    assert sids(store.read_sync(nodes.orphaned_calls, "a")) == {mine.sid, legacy.sid, unowned.sid}
    store.write_sync(nodes.set_state, "b", 1, nodes.STOPPED)
    assert theirs.sid in sids(store.read_sync(nodes.orphaned_calls, None))
    rec = store.write_sync(
        lambda: insert_recording(account_sid=project.sid, call_sid=mine.sid, status="in-progress", source="OutboundAPI")
    )
    assert store.read_sync(nodes.orphaned_recordings, None) == []  # a is live
    assert [r.sid for r in store.read_sync(nodes.orphaned_recordings, "a")] == [rec.sid]


def test_the_shared_bucket_gives_rate_tokens_a_second(store: Store) -> None:
    project = store.write_sync(create_project, "p")
    assert store.write_sync(nodes.take_token, project.sid, 2.0, 1.0) == 0.0
    wait = store.write_sync(nodes.take_token, project.sid, 2.0, 1.0)
    assert 0.3 < wait <= 0.5  # half a second per token at 2/s
    # Time passes (the row's clock moved back): a token again, and never more than the burst.
    store.write_sync(lambda: CpsBucket.update(updated_at=nodes.db_now() - dt.timedelta(seconds=10)).execute())
    assert store.write_sync(nodes.take_token, project.sid, 2.0, 1.0) == 0.0
    assert store.write_sync(nodes.take_token, project.sid, 2.0, 1.0) > 0


async def test_a_claim_checks_the_engine_the_bucket_and_the_cap(store: Store) -> None:
    project = store.write_sync(create_project, "p")
    events: list[str] = []
    calls = StoreCalls(
        store,
        status_callbacks=lambda call, event, extra: events.append(str(event)),
        recording_callbacks=lambda rec, call, event: None,
    )
    generation = store.write_sync(nodes.register, "a", None, None, 10)
    queued = [_call(store, project, "queued", None) for _ in range(3)]
    changes = CallChanges(owner="a")
    gate = ClaimGate("a", generation, project.sid, None, 1)
    claimed = await calls.claim(queued[0].sid, changes, gate)
    assert isinstance(claimed, CallRecord) and (claimed.status, claimed.owner) == ("initiated", "a")
    assert events == [state.EVENT_OF[state.CallStatus.INITIATED]]
    assert await calls.claim(queued[1].sid, changes, gate) == CONCURRENCY_WAIT_S  # the cap of 1
    assert _status(store, queued[1].sid) == "queued"
    assert await calls.claim(queued[0].sid, changes, ClaimGate("a", generation, project.sid, None, None)) is None
    cps = ClaimGate("a", generation, project.sid, 1.0, None)
    assert isinstance(await calls.claim(queued[1].sid, changes, cps), CallRecord)
    assert (await calls.claim(queued[2].sid, changes, cps)) > 0  # type: ignore[operator]
    store.write_sync(nodes.register, "a", None, None, 10)  # a newer run: this one is fenced
    assert await calls.claim(queued[2].sid, changes, ClaimGate("a", generation, project.sid, None, None)) is None
    assert _status(store, queued[2].sid) == "queued"


@pytest.mark.slow
def test_engines_claim_disjoint_outbox_rows_without_waiting(module_pg_url: str) -> None:
    """PostgreSQL: a row another engine's claim holds locked is skipped at once (SKIP LOCKED), not
    waited for; the rest are claimed; the locked one is claimable once released."""
    s = Store(module_pg_url)
    s.migrate()
    try:
        s.write_sync(lambda: s.db.execute_sql(f"TRUNCATE {', '.join(sorted(schema.tables(s.db)))} RESTART IDENTITY"))
        project = s.write_sync(create_project, "p")
        rows = [
            s.write_sync(
                lambda i=i: insert_webhook(
                    account_sid=project.sid,
                    call_sid=f"CA{i:032d}",
                    kind="call-status",
                    event="completed",
                    url="http://127.0.0.1:9/x",
                    method="POST",
                    params=[],
                )
            )  # fmt: skip
            for i in range(3)
        ]
        now = utcnow()
        with psycopg.connect(module_pg_url) as other:  # another engine, mid-claim: 3 s
            other.execute("SELECT id FROM webhooks WHERE id = %s FOR UPDATE", (rows[0].id,))
            release = threading.Timer(3.0, other.rollback)
            release.start()
            started = time.monotonic()
            claimed = s.write_sync(claim_webhooks, "a", now, now + dt.timedelta(seconds=30), 10)
            assert time.monotonic() - started < 2  # not blocked behind the other's lock
            assert [w.id for w in claimed] == [rows[1].id, rows[2].id]
            release.join()
        again = s.write_sync(claim_webhooks, "b", now, now + dt.timedelta(seconds=30), 10)
        assert [w.id for w in again] == [rows[0].id]
    finally:
        s.close()


def test_a_room_or_queue_name_is_held_by_one_live_engine(store: Store) -> None:
    project = store.write_sync(create_project, "p")
    for name in ("a", "b"):
        store.write_sync(nodes.register, name, None, None, 10)
    take = lambda me, sid="CF1": store.write_sync(nodes.take_home, "conference", project.sid, "Room", sid, me)  # noqa: E731
    assert take("a") is None
    assert take("a") is None  # already ours
    assert take("b", "CF2") == "a"
    assert store.write_sync(nodes.take_home, "queue", project.sid, "Room", "QU1", "b") is None  # another kind
    assert store.read_sync(nodes.home_of, "conference", "CF1") == "a"
    store.write_sync(nodes.leave_home, "conference", project.sid, "Room", "CF1", "b")  # not b's: kept
    assert take("b", "CF2") == "a"
    store.write_sync(nodes.leave_home, "conference", project.sid, "Room", "CF0", "a")  # an older room's: kept
    assert store.read_sync(nodes.home_of, "conference", "CF1") == "a"
    store.write_sync(nodes.leave_home, "conference", project.sid, "Room", "CF1", "a")
    assert store.read_sync(nodes.home_of, "conference", "CF1") is None
    assert take("b", "CF2") is None
    store.write_sync(nodes.set_state, "b", 1, nodes.DEAD)  # b died holding it: free for a
    assert store.read_sync(nodes.home_of, "conference", "CF2") is None
    assert take("a", "CF3") is None
    assert store.read_sync(nodes.home_of, "conference", "CF3") == "a"
