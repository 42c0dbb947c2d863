"""Repository functions: plain frozen dataclasses in and out, peewee stays behind this file.

Every function here is synchronous and runs on a store thread: callers compose them into one
write function and hand it to `Store.write`, so that (for example) a call-status change and the
webhook rows it causes commit in one transaction (the transactional outbox).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import peewee as pw

from wirexa.calls.permissions import ProjectLimits
from wirexa.calls.records import (
    CallChanges,
    CallRecord,
    NewCall,
    NewNotification,
    NewRecording,
    NotificationRecord,
    ProjectRecord,
    RecordingRecord,
    WebhookRecord,
)
from wirexa.calls.state import DIALING, LIVE
from wirexa.clock import new_sid, utcnow
from wirexa.store.db import is_sqlite
from wirexa.store.models import Call, EngineFlag, Notification, Project, Recording, Webhook

R = TypeVar("R")

LIVE_STATUSES = tuple(sorted(str(s) for s in LIVE))


# The records are the call domain's (calls/records.py: no peewee there); re-exported here for
# the store's other callers.
__all__ = [
    "CallChanges",
    "CallRecord",
    "NewCall",
    "NewNotification",
    "NewRecording",
    "NotificationRecord",
    "ProjectRecord",
    "RecordingRecord",
    "WebhookRecord",
    "new_sid",
    "utcnow",
]


def _record(cls: type[R], row: Any) -> R:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**values)


def _params(items: Iterable[Sequence[Any]]) -> tuple[tuple[str, str], ...]:
    """An outbox row's params as WebhookRecord holds them (pairs of strings)."""
    return tuple((str(k), str(v)) for k, v in items)


def _webhook_record(row: Any) -> WebhookRecord:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(WebhookRecord) if f.name != "held_back_by"}
    values["params"] = _params(json.loads(row.params))
    # list_webhooks selects held_back_by; the other queries leave it out.
    return WebhookRecord(**values, held_back_by=getattr(row, "held_back_by", None))


class _Select:
    """A SELECT of one record class's columns, compiled once: the hot reads (API fetch and list,
    auth) skip peewee's query compiler, which costs ~0.4 ms a query against ~20 us for SQLite's
    own lookup. WHERE texts are written with `?` and get the database's placeholder; they must be
    SQL that SQLite and PostgreSQL both run."""

    def __init__(self, model: Any, cls: Callable[..., Any] | None, names: Sequence[str] = ()) -> None:
        """Rows become `cls(*columns)` for the record class's fields (or the `names` columns,
        converted to Python values), or with cls None raw tuples of the `names` columns."""
        self.model = model
        self.cls = cls
        fields = [model._meta.fields[name] for name in (names or [f.name for f in dataclasses.fields(cls)])]  # type: ignore[arg-type]
        self.head = 'SELECT {} FROM "{}" WHERE '.format(
            ", ".join(f'"{f.column_name}"' for f in fields), model._meta.table_name
        )
        self.convert = [(i, fn) for i, fn in enumerate(map(_python_value, fields)) if fn is not None] if cls else []
        self._sql: dict[str, str] = {}

    def sql(self, where: str) -> str:
        text = self._sql.get(where)
        if text is None:
            text = self._sql[where] = (self.head + where).replace("?", self.model._meta.database.param)
        return text

    def all(self, where: str, params: Sequence[Any]) -> list[Any]:
        cursor = self.model._meta.database.execute_sql(self.sql(where), tuple(params))
        if self.cls is None:
            return list(cursor.fetchall())
        out = []
        for row in cursor.fetchall():
            if self.convert:
                row = list(row)
                for i, fn in self.convert:
                    if row[i] is not None:
                        row[i] = fn(row[i])
            out.append(self.cls(*row))
        return out

    def one(self, where: str, params: Sequence[Any]) -> Any:
        rows = self.all(where + " LIMIT 1", params)
        return rows[0] if rows else None


def _python_value(field: Any) -> Callable[[Any], Any] | None:
    """The conversion a raw column value needs (None: none); peewee's field semantics."""
    if isinstance(field, pw.DateTimeField):

        def to_datetime(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    return dt.datetime.fromisoformat(value)
                except ValueError:
                    return field.adapt(value)  # type: ignore[no-untyped-call]
            return value

        return to_datetime
    if isinstance(field, pw.BooleanField):
        return bool
    return None


class _Write:
    """INSERT and UPDATE of one table as SQL compiled once per column set, as _Select does for
    reads: the writes of a call's life (its insert, ~4 status changes each with a sequence number
    and an outbox row, the outbox claims) are most of the store writer's work at 50 setups a
    second, and peewee's compiler cost several times the statement itself. Values go through
    each field's db_value, as peewee's own queries do. WHERE texts are written with `?`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fields = model._meta.fields
        self.auto_id = isinstance(model._meta.primary_key, pw.AutoField)
        self._sql: dict[Any, str] = {}

    def _compiled(self, key: Any, build: Callable[[], str]) -> str:
        text = self._sql.get(key)
        if text is None:
            text = self._sql[key] = build().replace("?", self.model._meta.database.param)
        return text

    def _db_values(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        fields = self.fields
        return tuple(fields[name].db_value(value) for name, value in values.items())

    def insert(self, values: Mapping[str, Any]) -> int | None:
        """Insert one row; returns its id on a table with an auto-increment key (else None)."""
        db = self.model._meta.database
        sqlite = is_sqlite(getattr(db, "obj", db))  # models are bound through a proxy

        def build() -> str:
            columns = ", ".join(f'"{self.fields[name].column_name}"' for name in values)
            text = f'INSERT INTO "{self.model._meta.table_name}" ({columns}) VALUES ({", ".join("?" * len(values))})'
            return text + (' RETURNING "id"' if self.auto_id and not sqlite else "")

        cursor = db.execute_sql(self._compiled(("insert", tuple(values)), build), self._db_values(values))
        if not self.auto_id:
            return None
        return int(cursor.lastrowid if sqlite else cursor.fetchone()[0])

    def update(self, values: Mapping[str, Any], where: str, params: Sequence[Any]) -> int:
        """UPDATE ... SET values WHERE where; returns the number of rows changed."""

        def build() -> str:
            sets = ", ".join(f'"{self.fields[name].column_name}" = ?' for name in values)
            return f'UPDATE "{self.model._meta.table_name}" SET {sets} WHERE {where}'

        sql = self._compiled(("update", tuple(values), where), build)
        cursor = self.model._meta.database.execute_sql(sql, self._db_values(values) + tuple(params))
        return int(cursor.rowcount)

    def execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run a statement written with `?` (compiled once); returns the cursor."""
        return self.model._meta.database.execute_sql(self._compiled(("sql", sql), lambda: sql), tuple(params))

    def defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` with every other column at its model default (None where it has none), as
        Model.create fills them in: the record built from the dict is the row as inserted."""
        for name, field in self.fields.items():
            if name not in values and not (self.auto_id and field is self.model._meta.primary_key):
                default = field.default
                values[name] = default() if callable(default) else default
        return values


_PROJECTS = _Select(Project, ProjectRecord)
_CALLS = _Select(Call, CallRecord)
_RECORDINGS = _Select(Recording, RecordingRecord)


_CALL_VERSIONS = _Select(Call, None, ("sid", "date_updated"))  # raw tuples
_WEBHOOK_NAMES = tuple(f.name for f in dataclasses.fields(WebhookRecord) if f.name != "held_back_by")


def _webhook_from_columns(*columns: Any) -> WebhookRecord:
    values = dict(zip(_WEBHOOK_NAMES, columns, strict=True))
    values["params"] = _params(json.loads(values["params"]))
    return WebhookRecord(**values)


_WEBHOOKS = _Select(Webhook, _webhook_from_columns, _WEBHOOK_NAMES)
_CALL_WRITE = _Write(Call)
_PROJECT_WRITE = _Write(Project)
_WEBHOOK_WRITE = _Write(Webhook)


# --- projects --------------------------------------------------------------------------------


def create_project(friendly_name: str, sid: str | None = None, auth_token: str | None = None) -> ProjectRecord:
    now = utcnow()
    row = Project.create(
        sid=sid or new_sid("AC"),
        auth_token=auth_token or secrets.token_hex(16),
        friendly_name=friendly_name,
        date_created=now,
        date_updated=now,
    )
    return _record(ProjectRecord, row)


def get_project(sid: str) -> ProjectRecord | None:
    return _PROJECTS.one('"sid" = ?', (sid,))  # type: ignore[no-any-return]


def project_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of projects starting with `prefix`, as call_sids_with_prefix."""
    return _sids_with_prefix(Project, prefix, limit)


def list_projects() -> list[ProjectRecord]:
    return [_record(ProjectRecord, r) for r in Project.select().order_by(Project.date_created, Project.sid)]


def update_project(sid: str, **fields: Any) -> ProjectRecord | None:
    fields["date_updated"] = utcnow()
    Project.update(**fields).where(Project.sid == sid).execute()
    return get_project(sid)


def project_limits(sid: str) -> ProjectLimits:
    """A project's own toll-fraud limits (calls/permissions.py); all None for an unknown project."""
    row = _PROJECT_LIMITS.one('"sid" = ?', (sid,))
    return ProjectLimits(row[0], row[1]) if row else ProjectLimits()


_PROJECT_LIMITS = _Select(Project, None, ("allowed_countries", "daily_minutes"))


def call_usage_since(account_sid: str, since: dt.datetime) -> tuple[int, list[dt.datetime]]:
    """For the daily minutes cap: the seconds of the project's calls (and <Dial> legs) created
    since `since` that ended answered, and the answer times of those still up."""
    q = (Call.account_sid == account_sid) & (Call.date_created >= since)
    done = Call.select(pw.fn.SUM(Call.duration_s)).where(q & Call.duration_s.is_null(False)).scalar()
    live = Call.select(Call.answer_time).where(q & Call.answer_time.is_null(False) & Call.end_time.is_null(True))
    return int(done or 0), [r.answer_time for r in live if r.answer_time is not None]


def charge_credits(sid: str, seconds: int) -> None:
    """Deduct call-seconds from a metered project (unlimited projects are untouched)."""
    _PROJECT_WRITE.execute(
        'UPDATE "projects" SET "credits_s" = "credits_s" - ? WHERE "sid" = ? AND "credits_s" IS NOT NULL',
        (seconds, sid),
    )


# --- calls -----------------------------------------------------------------------------------

CALL_COLUMNS = frozenset(f.name for f in dataclasses.fields(CallRecord))


def insert_call(**fields: Any) -> CallRecord:
    now = fields.pop("now", None) or utcnow()
    fields.setdefault("sid", new_sid("CA"))
    fields.setdefault("date_created", now)
    fields.setdefault("date_updated", now)
    unknown = set(fields) - CALL_COLUMNS
    if unknown:
        raise TypeError(f"unknown call fields: {sorted(unknown)}")
    _CALL_WRITE.insert(_CALL_WRITE.defaults(fields))
    return CallRecord(**fields)


def get_call(sid: str, account_sid: str | None = None) -> CallRecord | None:
    if account_sid is None:
        return _CALLS.one('"sid" = ?', (sid,))  # type: ignore[no-any-return]
    return _CALLS.one('"sid" = ? AND "account_sid" = ?', (sid, account_sid))  # type: ignore[no-any-return]


def call_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of calls starting with `prefix` (case-sensitive, no wildcards), at most `limit`, in
    SID order: the CLI's `show` commands take a unique prefix of a SID."""
    return _sids_with_prefix(Call, prefix, limit)


def _sids_with_prefix(model: Any, prefix: str, limit: int) -> list[str]:
    # SUBSTR, not LIKE: LIKE is case-blind in SQLite and treats % and _ as wildcards.
    rows = (
        model.select(model.sid)
        .where(pw.fn.SUBSTR(model.sid, 1, len(prefix)) == prefix)
        .order_by(model.sid)
        .limit(limit)
    )
    return [r.sid for r in rows]


def update_call(sid: str, *, expect_status: Iterable[str] | None = None, **fields: Any) -> CallRecord | None:
    """Update a call's columns; with expect_status only when its status is one of those.

    Returns the updated record, or None when no row matched (unknown sid or status moved on).
    """
    unknown = set(fields) - CALL_COLUMNS
    if unknown:
        raise TypeError(f"unknown call fields: {sorted(unknown)}")
    fields.setdefault("date_updated", utcnow())
    if expect_status is None:
        changed = _CALL_WRITE.update(fields, '"sid" = ?', (sid,))
    else:
        statuses = tuple(expect_status)
        if not statuses:
            return None
        where = f'"sid" = ? AND "status" IN ({", ".join("?" * len(statuses))})'
        changed = _CALL_WRITE.update(fields, where, (sid, *statuses))
    if changed == 0:
        return None
    return get_call(sid)


def mark_alive(sids: Sequence[str], at: dt.datetime) -> None:
    """The engine's heartbeat: these live calls were up at `at` (date_updated stays: nothing of
    the resource changed)."""
    for i in range(0, len(sids), 500):  # bound the IN list
        chunk = list(sids[i : i + 500])
        _CALL_WRITE.update({"alive_at": at}, f'"sid" IN ({", ".join("?" * len(chunk))})', chunk)


def next_sequence_number(sid: str) -> int:
    """Return the call's next callback SequenceNumber (0, 1, 2 ...) and advance it. Runs inside
    the caller's write transaction; reads one column, not the row (this ran for every status
    callback and, reading the whole call, was 39% of the store writer's time at ~30 CPS)."""
    _CALL_WRITE.execute('UPDATE "calls" SET "sequence_number" = "sequence_number" + 1 WHERE "sid" = ?', (sid,))
    row = _CALL_SEQUENCE.one('"sid" = ?', (sid,))
    if row is None:
        raise pw.DoesNotExist(f"no call {sid}")
    return int(row[0]) - 1


_CALL_SEQUENCE = _Select(Call, None, ("sequence_number",))


def delete_call(sid: str) -> None:
    Call.delete().where(Call.sid == sid).execute()


TimeBound = tuple[str, dt.datetime, bool]


@dataclasses.dataclass(frozen=True, slots=True)
class CallFilter:
    account_sid: str
    to_number: str | None = None
    from_number: str | None = None
    statuses: tuple[str, ...] = ()  # any of these stored statuses; () = every status
    parent_call_sid: str | None = None
    # Bounds (operator, value, date_only) with operator one of "=", "<", ">", all applied; dates
    # are compared on UTC days for "=" and as instants otherwise.
    start_time: tuple[TimeBound, ...] = ()
    end_time: tuple[TimeBound, ...] = ()


def _time_where(column: str, field: Any, bounds: Iterable[TimeBound], where: list[str], params: list[Any]) -> None:
    """Twilio's date filters: "=" a UTC day (date) or instant, "<" before, ">" on or after."""
    for op, when, date_only in bounds:
        if op == "=" and date_only:
            day = dt.datetime(when.year, when.month, when.day)
            where.append(f'"{column}" >= ? AND "{column}" < ?')
            params += [field.db_value(day), field.db_value(day + dt.timedelta(days=1))]
        else:
            where.append(f'"{column}" {">=" if op == ">" else op} ?')
            params.append(field.db_value(when))


def _call_where(f: CallFilter) -> tuple[list[str], list[Any]]:
    where, params = ['"account_sid" = ?'], [f.account_sid]
    for column, value in (
        ("to_number", f.to_number),
        ("from_number", f.from_number),
        ("parent_call_sid", f.parent_call_sid),
    ):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    if f.statuses:
        where.append(f'"status" IN ({", ".join("?" * len(f.statuses))})')
        params += list(f.statuses)
    _time_where("start_time", Call.start_time, f.start_time, where, params)
    _time_where("end_time", Call.end_time, f.end_time, where, params)
    return where, params


def _page(
    select: _Select, where: list[str], params: list[Any], page_size: int, page: int, after_sid: str | None
) -> tuple[list[Any], bool]:
    """Newest-first page by (date_created, sid); keyset after `after_sid` when that row exists."""
    where, params = list(where), list(params)
    anchor = None
    if after_sid is not None:
        table = select.model._meta.table_name
        cursor = select.model._meta.database.execute_sql(
            f'SELECT "date_created", "sid" FROM "{table}" WHERE "sid" = ?'.replace(
                "?", select.model._meta.database.param
            ),
            (after_sid,),
        )
        anchor = cursor.fetchone()
    if anchor is not None:
        where.append('("date_created" < ? OR ("date_created" = ? AND "sid" < ?))')
        params += [anchor[0], anchor[0], anchor[1]]
        tail = ' ORDER BY "date_created" DESC, "sid" DESC LIMIT ?'
        params.append(page_size + 1)
    else:
        # No token, or its row is gone (deleted since): the Page number's offset.
        tail = ' ORDER BY "date_created" DESC, "sid" DESC LIMIT ? OFFSET ?'
        params += [page_size + 1, page * page_size]
    rows = select.all(" AND ".join(where) + tail, params)
    return rows[:page_size], len(rows) > page_size


def list_calls(
    f: CallFilter, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[CallRecord], bool]:
    """One page of calls, newest first, and whether another page follows."""
    return _page(_CALLS, *_call_where(f), page_size, page, after_sid)


CallVersion = tuple[str, str]  # (sid, date_updated as text): a call row's identity and version


def list_call_versions(
    f: CallFilter, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[CallVersion], bool]:
    """list_calls for a caller that keeps rendered calls: each row's (sid, version) only, the
    version being date_updated as text (it changes on every write to the row)."""
    rows, more = _page(_CALL_VERSIONS, *_call_where(f), page_size, page, after_sid)
    return [(sid, str(updated)) for sid, updated in rows], more


def get_calls(sids: Sequence[str]) -> list[CallRecord]:
    """The calls with these sids that exist, in no particular order."""
    out: list[CallRecord] = []
    for i in range(0, len(sids), 500):  # bound the IN list
        chunk = list(sids[i : i + 500])
        out += _CALLS.all(f'"sid" IN ({", ".join("?" * len(chunk))})', chunk)
    return out


def count_live_calls(account_sid: str | None = None) -> int:
    q = Call.status.in_(sorted(str(s) for s in DIALING))
    if account_sid is not None:
        q &= Call.account_sid == account_sid
    return int(Call.select().where(q).count())


def queued_calls(limit: int) -> list[CallRecord]:
    """Queued top-level calls, oldest first (the dispatcher's queue)."""
    return _CALLS.all(  # type: ignore[no-any-return]
        '"status" = ? AND "parent_call_sid" IS NULL ORDER BY "date_created", "sid" LIMIT ?', ("queued", limit)
    )


def calls_with_status(statuses: Sequence[str]) -> list[CallRecord]:
    rows = Call.select().where(Call.status.in_(list(statuses))).order_by(Call.date_created)
    return [_record(CallRecord, r) for r in rows]


# --- recordings ------------------------------------------------------------------------------

RECORDING_COLUMNS = frozenset(f.name for f in dataclasses.fields(RecordingRecord))


def insert_recording(**fields: Any) -> RecordingRecord:
    now = fields.pop("now", None) or utcnow()
    fields.setdefault("sid", new_sid("RE"))
    fields.setdefault("date_created", now)
    fields.setdefault("date_updated", now)
    unknown = set(fields) - RECORDING_COLUMNS
    if unknown:
        raise TypeError(f"unknown recording fields: {sorted(unknown)}")
    return _record(RecordingRecord, Recording.create(**fields))


def get_recording(sid: str, account_sid: str | None = None, call_sid: str | None = None) -> RecordingRecord | None:
    where, params = ['"sid" = ?'], [sid]
    for column, value in (("account_sid", account_sid), ("call_sid", call_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return _RECORDINGS.one(" AND ".join(where), params)  # type: ignore[no-any-return]


def update_recording(sid: str, **fields: Any) -> RecordingRecord | None:
    fields.setdefault("date_updated", utcnow())
    Recording.update(**fields).where(Recording.sid == sid).execute()
    return get_recording(sid)


def delete_recording(sid: str) -> None:
    Recording.delete().where(Recording.sid == sid).execute()


def list_recordings(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    call_sid: str | None = None,
    date_created: Iterable[TimeBound] = (),
) -> tuple[list[RecordingRecord], bool]:
    where, params = ['"account_sid" = ?'], [account_sid]
    if call_sid is not None:
        where.append('"call_sid" = ?')
        params.append(call_sid)
    _time_where("date_created", Recording.date_created, date_created, where, params)
    return _page(_RECORDINGS, where, params, page_size, page, after_sid)


def first_completed_recording(call_sid: str) -> RecordingRecord | None:
    row = (
        Recording.select()
        .where((Recording.call_sid == call_sid) & (Recording.status == "completed"))
        .order_by(Recording.date_created, Recording.sid)
        .first()
    )
    return _record(RecordingRecord, row) if row else None


# Recordings still being captured (or stopped and not yet closed): what a restart must repair.
UNFINISHED_RECORDING_STATUSES = ("in-progress", "paused", "stopped", "processing")


def recordings_media_due(limit: int) -> list[RecordingRecord]:
    """Recordings whose files still need work (media_state pending or upload), oldest first."""
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        '"media_state" IN (?, ?) ORDER BY "date_created", "sid" LIMIT ?', ("pending", "upload", limit)
    )


def unfinished_recordings() -> list[RecordingRecord]:
    marks = ", ".join("?" for _ in UNFINISHED_RECORDING_STATUSES)
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        f'"status" IN ({marks}) ORDER BY "date_created", "sid"', UNFINISHED_RECORDING_STATUSES
    )


def recordings_created_before(before: dt.datetime, limit: int) -> list[RecordingRecord]:
    """Finished recordings created before `before`, oldest first (the retention janitor's)."""
    marks = ", ".join("?" for _ in UNFINISHED_RECORDING_STATUSES)
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        f'"date_created" < ? AND "status" NOT IN ({marks}) ORDER BY "date_created", "sid" LIMIT ?',
        (Recording.date_created.db_value(before), *UNFINISHED_RECORDING_STATUSES, limit),  # type: ignore[no-untyped-call]
    )


# --- webhook outbox --------------------------------------------------------------------------


def insert_webhook(
    *,
    account_sid: str,
    call_sid: str | None,
    kind: str,
    event: str,
    url: str,
    method: str,
    params: Sequence[tuple[str, str]] | Mapping[str, str],
    sequence_number: int = 0,
    due: dt.datetime | None = None,
) -> WebhookRecord:
    now = utcnow()
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    values: dict[str, Any] = {
        "account_sid": account_sid,
        "call_sid": call_sid,
        "kind": kind,
        "event": event,
        "url": url,
        "method": method,
        "params": json.dumps(items),
        "sequence_number": sequence_number,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
        "updated_at": now,
    }
    row_id = _WEBHOOK_WRITE.insert(_WEBHOOK_WRITE.defaults(values))
    values["params"] = _params(items)
    return WebhookRecord(id=int(row_id or 0), **values)


def get_webhook(webhook_id: int) -> WebhookRecord | None:
    row = Webhook.get_or_none(Webhook.id == webhook_id)
    return _webhook_record(row) if row else None


def list_webhooks(
    *,
    call_sid: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[WebhookRecord]:
    """Outbox rows in id order (the order they were written), for tail-webhooks and tests; a
    pending row held back behind an earlier one of its call has `held_back_by` set."""
    q = Webhook.id > after_id
    if call_sid is not None:
        q &= Webhook.call_sid == call_sid
    if status is not None:
        q &= Webhook.status == status
    if since is not None:
        q &= Webhook.created_at >= since
    earlier = Webhook.alias()
    head = earlier.select(pw.fn.MIN(earlier.id)).where(_earlier_open(earlier))
    held = pw.Case(None, [(Webhook.status == "pending", head)], None).alias("held_back_by")
    rows = Webhook.select(Webhook, held).where(q).order_by(Webhook.id).limit(limit)
    return [_webhook_record(r) for r in rows]


def _earlier_open(earlier: Any) -> Any:
    """`earlier` (an alias of webhooks) is an earlier row of the same call and URL as the outer
    Webhook row that is still pending or in flight: the per-call ordering rule holds the outer
    row back until it is delivered or has failed for good. Rows with no call are never held."""
    return (
        (earlier.call_sid == Webhook.call_sid)
        & (earlier.url == Webhook.url)
        & (earlier.id < Webhook.id)
        & (earlier.status.in_(["pending", "in-flight"]))
    )


def _not_held_back() -> Any:
    earlier = Webhook.alias()
    return Webhook.call_sid.is_null(True) | ~pw.fn.EXISTS(earlier.select(earlier.id).where(_earlier_open(earlier)))


def claim_webhooks(worker_id: str, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[WebhookRecord]:
    """Claim up to `limit` due deliveries for `worker_id` (call inside a write transaction).

    Due = pending with next_attempt_at <= now, or in-flight whose lease expired (its worker
    died). Per-call ordering: a row is not claimable while an earlier row of the same call and
    URL is still pending or in flight.
    """
    # Written as SQL once (both databases run it), as finish_webhook: at 50 setups a second
    # the delivery worker claims a few times for every call.
    at: Callable[[Any], Any] = Webhook.updated_at.db_value
    ids = [row[0] for row in _WEBHOOK_WRITE.execute(_CLAIMABLE_SQL, (at(now), at(now), limit)).fetchall()]
    if not ids:
        return []
    # Re-check the due condition in the UPDATE so that two engines racing on one database
    # (PostgreSQL READ COMMITTED re-evaluates it on the locked row) never both win a row.
    marks = ", ".join("?" * len(ids))
    _WEBHOOK_WRITE.update(
        {"status": "in-flight", "claimed_by": worker_id, "claimed_until": lease_until, "updated_at": now},
        f'"id" IN ({marks}) AND ("status" = \'pending\' OR ("status" = \'in-flight\' AND "claimed_until" < ?))',
        (*ids, at(now)),
    )
    return _WEBHOOKS.all(
        f'"id" IN ({marks}) AND "claimed_by" = ? AND "claimed_until" = ? ORDER BY "id"',
        (*ids, worker_id, at(lease_until)),
    )  # type: ignore[no-any-return]


# Due: pending with its time come, or in flight with the lease run out; and not held back behind
# an earlier pending or in-flight row of its call and URL (_earlier_open).
_CLAIMABLE_SQL = (
    'SELECT w."id" FROM "webhooks" AS w WHERE ((w."status" = \'pending\' AND w."next_attempt_at" <= ?) '
    'OR (w."status" = \'in-flight\' AND w."claimed_until" < ?)) AND (w."call_sid" IS NULL OR NOT EXISTS ('
    'SELECT 1 FROM "webhooks" AS e WHERE e."call_sid" = w."call_sid" AND e."url" = w."url" AND e."id" < w."id" '
    'AND e."status" IN (\'pending\', \'in-flight\'))) ORDER BY w."next_attempt_at", w."id" LIMIT ?'
)


def finish_webhook(
    webhook_id: int,
    worker_id: str,
    *,
    status: str,
    attempts: int,
    next_attempt_at: dt.datetime | None,
    status_code: int | None,
    error: str | None,
    now: dt.datetime,
) -> bool:
    """Record an attempt's outcome for a row this worker holds; False if the claim was lost."""
    # Written as SQL once (both databases run it): a delivery's outcome is the outbox's hottest
    # write, and peewee's compiler would cost ten times the UPDATE itself.
    at: Callable[[Any], Any] = Webhook.updated_at.db_value
    cursor = _WEBHOOK_WRITE.execute(
        _FINISH_WEBHOOK_SQL,
        (
            status,
            attempts,
            status_code,
            error,
            at(now),
            at(next_attempt_at) if next_attempt_at is not None else None,
            at(now) if status == "delivered" else None,
            webhook_id,
            worker_id,
        ),
    )
    return bool(cursor.rowcount)


_FINISH_WEBHOOK_SQL = (
    'UPDATE "webhooks" SET "status" = ?, "attempts" = ?, "last_status_code" = ?, "last_error" = ?, '
    '"claimed_by" = NULL, "claimed_until" = NULL, "updated_at" = ?, '
    '"next_attempt_at" = COALESCE(?, "next_attempt_at"), "delivered_at" = COALESCE(?, "delivered_at") '
    'WHERE "id" = ? AND "claimed_by" = ?'
)


def next_webhook_due() -> dt.datetime | None:
    """When a pending row next becomes claimable, or None. Rows held back behind an earlier
    pending or in-flight row of their call do not count, however old their due time: they
    become claimable only when that row finishes (and the worker that finishes it wakes)."""
    row = (
        Webhook.select(Webhook.next_attempt_at)
        .where((Webhook.status == "pending") & _not_held_back())
        .order_by(Webhook.next_attempt_at)
        .first()
    )
    return row.next_attempt_at if row else None


# --- notifications ---------------------------------------------------------------------------


def insert_notification(
    *,
    account_sid: str,
    call_sid: str | None,
    error_code: int,
    message_text: str,
    request_url: str | None = None,
    request_method: str | None = None,
    log_level: int = 0,
    now: dt.datetime | None = None,
) -> NotificationRecord:
    """Store a debugger entry; `log_level` is Twilio's `log`: 0 error, 1 warning."""
    row = Notification.create(
        sid=new_sid("NO"),
        account_sid=account_sid,
        call_sid=call_sid,
        error_code=error_code,
        log_level=log_level,
        message_text=message_text,
        request_url=request_url,
        request_method=request_method,
        date_created=now or utcnow(),
    )
    return _record(NotificationRecord, row)


def list_notifications(call_sid: str) -> list[NotificationRecord]:
    rows = Notification.select().where(Notification.call_sid == call_sid).order_by(Notification.date_created)
    return [_record(NotificationRecord, r) for r in rows]


_NOTIFICATIONS = _Select(Notification, NotificationRecord)


def get_notification(
    sid: str, account_sid: str | None = None, call_sid: str | None = None
) -> NotificationRecord | None:
    where, params = ['"sid" = ?'], [sid]
    for column, value in (("account_sid", account_sid), ("call_sid", call_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return _NOTIFICATIONS.one(" AND ".join(where), params)  # type: ignore[no-any-return]


def delete_notification(sid: str) -> None:
    Notification.delete().where(Notification.sid == sid).execute()


def page_notifications(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    call_sid: str | None = None,
    log_level: int | None = None,
    message_date: Iterable[TimeBound] = (),
) -> tuple[list[NotificationRecord], bool]:
    """One page of an account's (or one call's) notifications, newest first, and whether another
    page follows; `message_date` bounds as CallFilter's (a notification's message date is its
    date_created)."""
    where: list[str] = ['"account_sid" = ?']
    params: list[Any] = [account_sid]
    for column, value in (("call_sid", call_sid), ("log_level", log_level)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    _time_where("date_created", Notification.date_created, message_date, where, params)
    return _page(_NOTIFICATIONS, where, params, page_size, page, after_sid)


# --- engine flags ----------------------------------------------------------------------------

CALLS_STOPPED = "calls_stopped"  # the emergency stop: no new call is accepted or placed


def get_flag(name: str) -> str | None:
    """An engine-wide switch's value, None when it is off (no row)."""
    row = _FLAGS.one('"name" = ?', (name,))
    return str(row[0]) if row else None


_FLAGS = _Select(EngineFlag, None, ("value",))


def set_flag(name: str, value: str | None) -> None:
    """Turn a switch on with a value (who and why, for the operator) or off (None)."""
    if value is None:
        EngineFlag.delete().where(EngineFlag.name == name).execute()
        return
    EngineFlag.insert(name=name, value=value, date_updated=utcnow()).on_conflict(
        conflict_target=[EngineFlag.name], update={EngineFlag.value: value, EngineFlag.date_updated: utcnow()}
    ).execute()
