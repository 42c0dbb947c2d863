"""The nodes table (the engines sharing one database), the projects' shared CPS buckets, and the
orphans: live calls and open recordings whose engine is not a live node any more.

Time here is the database's on PostgreSQL (`clock_timestamp()`), so the engines' clocks never
disagree about whose heartbeat is stale or how many tokens a bucket holds; on SQLite (one box)
it is this process's clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from wirexa.calls.records import CallRecord, RecordingRecord
from wirexa.calls.state import DIALING
from wirexa.calls.statuses import UNFINISHED_RECORDING
from wirexa.clock import utcnow
from wirexa.store.db import is_sqlite
from wirexa.store.models import Call, CpsBucket, Home, Node, Recording, database_proxy
from wirexa.store.sql import Select, marks

LIVE_STATES = ("open", "draining")  # a node in one of these owns its calls
OPEN, DRAINING, STOPPED, DEAD = "open", "draining", "stopped", "dead"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    node_id: str
    generation: int
    state: str
    http_url: str | None
    sip_uri: str | None
    process: str | None  # host:pid of the run
    capacity: int
    live_calls: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    taken_by: str | None
    taken_at: dt.datetime | None


_NODES = Select(Node, NodeRecord)
_CALLS = Select(Call, CallRecord, alias="c")
_RECORDINGS = Select(Recording, RecordingRecord, alias="r")
_DIALING = tuple(sorted(str(s) for s in DIALING))
_UNFINISHED = tuple(str(s) for s in UNFINISHED_RECORDING)


def db_now() -> dt.datetime:
    """Now, naive UTC: the database server's clock on PostgreSQL, this process's on SQLite."""
    if is_sqlite(database_proxy.obj):
        return utcnow()
    row = database_proxy.execute_sql("SELECT clock_timestamp() AT TIME ZONE 'UTC'").fetchone()
    return row[0].replace(tzinfo=None)  # type: ignore[no-any-return]


def register(node_id: str, http_url: str | None, sip_uri: str | None, capacity: int, process: str | None = None) -> int:
    """Open the node `node_id` under a new generation (the previous one's plus one) and return
    it. Whatever a previous run of this node id still does is fenced from now on."""
    now = db_now()
    row = Node.select(Node.generation).where(Node.node_id == node_id).for_update(not is_sqlite(database_proxy.obj))
    found = row.first()
    generation = (found.generation if found is not None else 0) + 1
    fields = {
        Node.generation: generation,
        Node.state: OPEN,
        Node.http_url: http_url,
        Node.sip_uri: sip_uri,
        Node.process: process,
        Node.capacity: capacity,
        Node.live_calls: 0,
        Node.started_at: now,
        Node.heartbeat_at: now,
        Node.taken_by: None,
        Node.taken_at: None,
    }
    if found is None:
        Node.insert({Node.node_id: node_id, **fields}).on_conflict(
            conflict_target=[Node.node_id], update=fields
        ).execute()
    else:
        Node.update(fields).where(Node.node_id == node_id).execute()
    return generation


def heartbeat(node_id: str, generation: int, live_calls: int, capacity: int) -> bool:
    """Mark the node up; False when it has been fenced (declared dead, or a newer run of its id
    registered): it must stop placing calls."""
    count = (
        Node.update(heartbeat_at=db_now(), live_calls=live_calls, capacity=capacity)
        .where((Node.node_id == node_id) & (Node.generation == generation) & Node.state.in_(LIVE_STATES))
        .execute()
    )
    return bool(count)


def set_state(node_id: str, generation: int, state: str) -> bool:
    """Move this run of the node to `state` (draining, stopped); False if it was fenced."""
    count = (
        Node.update(state=state, heartbeat_at=db_now())
        .where((Node.node_id == node_id) & (Node.generation == generation) & Node.state.in_(LIVE_STATES))
        .execute()
    )
    return bool(count)


def set_http_url(node_id: str, generation: int, http_url: str) -> None:
    Node.update(http_url=http_url).where((Node.node_id == node_id) & (Node.generation == generation)).execute()


def is_open(node_id: str, generation: int) -> bool:
    """This run of the node is open (not fenced, not draining): it may claim queued calls."""
    return (
        Node.select(Node.node_id)
        .where((Node.node_id == node_id) & (Node.generation == generation) & (Node.state == OPEN))
        .exists()
    )


def stale_nodes(timeout_s: float) -> list[NodeRecord]:
    """Live nodes whose heartbeat is older than `timeout_s`."""
    before = db_now() - dt.timedelta(seconds=timeout_s)
    return _NODES.all(  # type: ignore[no-any-return]
        f'"state" IN ({marks(len(LIVE_STATES))}) AND "heartbeat_at" < ? ORDER BY "node_id"', (*LIVE_STATES, before)
    )


def take_over(node_id: str, generation: int, taker: str, timeout_s: float) -> bool:
    """Declare a stale node dead (one taker wins: the update re-checks the row); True if this
    taker did. Its live calls become orphans (orphaned_calls)."""
    now = db_now()
    count = (
        Node.update(state=DEAD, taken_by=taker, taken_at=now)
        .where(
            (Node.node_id == node_id)
            & (Node.generation == generation)
            & Node.state.in_(LIVE_STATES)
            & (Node.heartbeat_at < now - dt.timedelta(seconds=timeout_s))
        )
        .execute()
    )
    return bool(count)


def list_nodes() -> list[NodeRecord]:
    return _NODES.all("1 = 1 ORDER BY node_id", ())  # type: ignore[no-any-return]


def get_node(node_id: str) -> NodeRecord | None:
    return _NODES.one('"node_id" = ?', (node_id,))  # type: ignore[no-any-return]


def _not_live_owner(column: str, me: str | None) -> tuple[str, list[str]]:
    """SQL (and its parameters) true when `column` names no live node other than `me` (None: any
    live node counts)."""
    where = f'"state" IN ({marks(len(LIVE_STATES))})'
    params = list(LIVE_STATES)
    if me is not None:
        where += ' AND "node_id" <> ?'
        params.append(me)
    return f"({column} IS NULL OR {column} NOT IN (SELECT node_id FROM nodes WHERE {where}))", params


def orphaned_calls(me: str | None) -> list[CallRecord]:
    """Live calls (initiated, ringing, in progress) whose owner is no live node: a dead node's,
    or (`me` given, at this node's start) its own previous run's. Oldest first."""
    cond, params = _not_live_owner("c.owner", me)
    return _CALLS.all(  # type: ignore[no-any-return]
        f"c.status IN ({marks(len(_DIALING))}) AND {cond} ORDER BY c.date_created, c.sid", (*_DIALING, *params)
    )


def orphaned_recordings(me: str | None) -> list[RecordingRecord]:
    """Open recordings (in progress, paused, stopped, processing) whose call's owner is no live
    node (as orphaned_calls). A conference's recording (no call) is an orphan when no other
    node is live."""
    cond, params = _not_live_owner("c.owner", me)
    where = f'"state" IN ({marks(len(LIVE_STATES))})' + (' AND "node_id" <> ?' if me is not None else "")
    live_params = [*LIVE_STATES, *([me] if me is not None else [])]
    sql = (
        f"r.status IN ({marks(len(_UNFINISHED))}) AND ("
        f"(r.call_sid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.sid = r.call_sid AND NOT {cond}))"
        f" OR (r.call_sid IS NULL AND NOT EXISTS (SELECT 1 FROM nodes WHERE {where}))"
        ") ORDER BY r.date_created, r.sid"
    )
    return _RECORDINGS.all(sql, (*_UNFINISHED, *params, *live_params))  # type: ignore[no-any-return]


def take_token(project_sid: str, rate: float, burst: float) -> float:
    """Take one token from the project's shared CPS bucket (`rate` a second, up to `burst`):
    0.0 if taken, else the seconds until one is there. Holds the bucket's row lock (PostgreSQL)
    to the end of the caller's transaction, so the nodes' claims of one project go one at a
    time. Call inside the claim's write transaction."""
    now = db_now()
    sqlite = is_sqlite(database_proxy.obj)
    row = CpsBucket.select().where(CpsBucket.project_sid == project_sid).for_update(not sqlite).first()
    if row is None:
        CpsBucket.insert(project_sid=project_sid, tokens=burst, updated_at=now).on_conflict_ignore().execute()
        row = CpsBucket.select().where(CpsBucket.project_sid == project_sid).for_update(not sqlite).first()
    elapsed = max(0.0, (now - row.updated_at).total_seconds())
    tokens = min(burst, float(row.tokens) + rate * elapsed)
    if tokens < 1.0:
        CpsBucket.update(tokens=tokens, updated_at=now).where(CpsBucket.project_sid == project_sid).execute()
        return float((1.0 - tokens) / rate)
    CpsBucket.update(tokens=tokens - 1.0, updated_at=now).where(CpsBucket.project_sid == project_sid).execute()
    return 0.0


def lock_queued_call(call_sid: str) -> bool:
    """Lock a queued call for this engine's claim (to the end of the transaction): False when it
    is not queued, or (PostgreSQL, SKIP LOCKED) another engine is claiming it right now, so the
    engines reading the same head of the queue take different calls instead of queueing on one.
    Call inside the claim's write transaction."""
    sql = 'SELECT 1 FROM "calls" WHERE "sid" = ? AND "status" = ?'
    if not is_sqlite(database_proxy.obj):
        sql += " FOR UPDATE SKIP LOCKED"
    param = database_proxy.obj.param
    return database_proxy.execute_sql(sql.replace("?", param), (call_sid, "queued")).fetchone() is not None


def lock_project(project_sid: str) -> None:
    """Hold the project's bucket row lock to the end of the transaction (PostgreSQL; SQLite's
    one writer serializes anyway): the concurrency cap's count then sees every node's claims."""
    if is_sqlite(database_proxy.obj):
        return
    row = CpsBucket.select(CpsBucket.project_sid).where(CpsBucket.project_sid == project_sid).for_update().first()
    if row is None:
        # full (a project's bucket holds one token): a CPS set later starts with one, as a new bucket
        CpsBucket.insert(project_sid=project_sid, tokens=1.0, updated_at=db_now()).on_conflict_ignore().execute()
        CpsBucket.select(CpsBucket.project_sid).where(CpsBucket.project_sid == project_sid).for_update().first()


def take_home(kind: str, account_sid: str, name: str, sid: str, me: str) -> str | None:
    """Take the name of a conference room or call queue (`kind`) for the room or queue `sid` of
    this engine: None when it is ours now (free, already ours: its sid updated, or held by an
    engine that is not live), else the live engine that holds it. One winner: the row is locked
    (PostgreSQL) or the one writer serializes."""
    sqlite = is_sqlite(database_proxy.obj)
    key = (Home.kind == kind) & (Home.account_sid == account_sid) & (Home.name == name)
    row = Home.select(Home.node_id).where(key).for_update(not sqlite).first()
    if row is None:
        inserted = (
            Home.insert(kind=kind, account_sid=account_sid, name=name, sid=sid, node_id=me, since=db_now())
            .on_conflict_ignore()
            .execute()
        )
        if inserted or sqlite:
            return None
        row = Home.select(Home.node_id).where(key).for_update().first()  # another engine inserted it first
        if row is None:
            return take_home(kind, account_sid, name, sid, me)
    if row.node_id != me:
        live = Node.select().where((Node.node_id == row.node_id) & Node.state.in_(LIVE_STATES)).exists()
        if live:
            return str(row.node_id)
    Home.update(sid=sid, node_id=me, since=db_now()).where(key).execute()
    return None


def leave_home(kind: str, account_sid: str, name: str, sid: str, me: str) -> None:
    """Give the name back (the room `sid` ended, the queue emptied here): only if this engine
    holds it for that room or queue (a new one under the name keeps it)."""
    key = (Home.kind == kind) & (Home.account_sid == account_sid) & (Home.name == name)
    Home.delete().where(key & (Home.node_id == me) & (Home.sid == sid)).execute()


def home_of(kind: str, sid: str) -> str | None:
    """The live engine holding the room or queue `sid`, None when none does."""
    row = (
        Home.select(Home.node_id)
        .join(Node, on=(Node.node_id == Home.node_id))
        .where((Home.kind == kind) & (Home.sid == sid) & Node.state.in_(LIVE_STATES))
        .first()
    )
    return str(row.node_id) if row is not None else None
