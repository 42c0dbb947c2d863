"""What the web console (wirexa/console/) reads beyond the REST API's listings: the calls list
with its extra filters (direction, AnsweredBy, creation day), the webhooks outbox of a project,
"retry now", and the dashboard's aggregates. `account_sid` None means every project (the admin
login); a project login always passes its own."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from wirexa.calls.records import CallRecord, WebhookRecord
from wirexa.calls.state import DIALING
from wirexa.calls.statuses import WebhookStatus
from wirexa.store.db import is_sqlite
from wirexa.store.models import Call, CallEvent, Webhook
from wirexa.store.repo.webhooks import _LISTED, _WEBHOOKS
from wirexa.store.sql import Select, Write, marks, newest_first

_CALLS = Select(Call, CallRecord)
_WEBHOOK_WRITE = Write(Webhook)
# Datetimes as the database stores them (peewee's db_value, untyped).
_call_at: Callable[[Any], Any] = Call.date_created.db_value
_event_at: Callable[[Any], Any] = CallEvent.date_created.db_value
_hook_at: Callable[[Any], Any] = Webhook.updated_at.db_value


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleCallFilter:
    """The calls list's filters; each None (or empty) means "any"."""

    account_sid: str | None
    statuses: tuple[str, ...] = ()
    to_number: str | None = None
    from_number: str | None = None
    direction: str | None = None
    answered_by: str | None = None
    created_from: dt.datetime | None = None  # date_created >= this
    created_before: dt.datetime | None = None  # date_created < this
    parent_call_sid: str | None = None


def _where(f: ConsoleCallFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("account_sid", f.account_sid),
        ("to_number", f.to_number),
        ("from_number", f.from_number),
        ("direction", f.direction),
        ("answered_by", f.answered_by),
        ("parent_call_sid", f.parent_call_sid),
    ):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    if f.statuses:
        where.append(f'"status" IN ({marks(len(f.statuses))})')
        params += list(f.statuses)
    if f.created_from is not None:
        where.append('"date_created" >= ?')
        params.append(_call_at(f.created_from))
    if f.created_before is not None:
        where.append('"date_created" < ?')
        params.append(_call_at(f.created_before))
    return where or ["1 = 1"], params


def list_console_calls(
    f: ConsoleCallFilter, page_size: int, after_sid: str | None = None
) -> tuple[list[CallRecord], bool]:
    """One page of calls, newest first, after the call `after_sid` (keyset), and whether more follow."""
    where, params = _where(f)
    return newest_first(_CALLS, where, params, page_size, 0, after_sid)  # type: ignore[no-any-return]


def get_console_call(sid: str, account_sid: str | None) -> CallRecord | None:
    """The call `sid` when `account_sid` (None: any project) owns it."""
    return _CALLS.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def child_calls(sid: str) -> list[CallRecord]:
    """The <Dial> legs of a call, oldest first."""
    return _CALLS.all('"parent_call_sid" = ? ORDER BY "date_created", "sid" LIMIT 200', (sid,))  # type: ignore[no-any-return]


OUTBOX_STATES = (str(WebhookStatus.PENDING), str(WebhookStatus.IN_FLIGHT), str(WebhookStatus.FAILED))


def list_outbox(
    account_sid: str | None, statuses: tuple[str, ...] = OUTBOX_STATES, limit: int = 200
) -> list[WebhookRecord]:
    """Outbox rows in `statuses` (not yet delivered, by default), newest first; a pending row
    held back behind an earlier one of its call has `held_back_by` set."""
    where = [f'w."status" IN ({marks(len(statuses))})']
    params: list[Any] = list(statuses)
    if account_sid is not None:
        where.append('w."account_sid" = ?')
        params.append(account_sid)
    return _LISTED.all(" AND ".join(where) + ' ORDER BY w."id" DESC LIMIT ?', (*params, limit))  # type: ignore[no-any-return]


def get_outbox_row(webhook_id: int, account_sid: str | None) -> WebhookRecord | None:
    if account_sid is None:
        return _WEBHOOKS.one('"id" = ?', (webhook_id,))  # type: ignore[no-any-return]
    return _WEBHOOKS.one('"id" = ? AND "account_sid" = ?', (webhook_id, account_sid))  # type: ignore[no-any-return]


def retry_webhook_now(webhook_id: int, account_sid: str | None, now: dt.datetime) -> bool:
    """Make a pending or failed row due now (run it as a store write): the delivery worker sends
    it at its next look, once more even when its schedule was used up (a failure then marks it
    failed again). False when there is no such row of the project, or it is delivered or in flight."""
    at = _hook_at(now)
    where = '"id" = ? AND "status" IN (?, ?)'
    params: list[Any] = [webhook_id, str(WebhookStatus.PENDING), str(WebhookStatus.FAILED)]
    if account_sid is not None:
        where += ' AND "account_sid" = ?'
        params.append(account_sid)
    cursor = _WEBHOOK_WRITE.execute(
        f'UPDATE "webhooks" SET "status" = ?, "next_attempt_at" = ?, "updated_at" = ? WHERE {where}',
        (str(WebhookStatus.PENDING), at, at, *params),
    )
    return bool(cursor.rowcount)


@dataclasses.dataclass(frozen=True, slots=True)
class Buckets:
    """Counts of calls created per time bucket, by status: {bucket text: {status: count}}. A
    bucket's text is its start, 'YYYY-MM-DD HH:MM' (minutes) or 'YYYY-MM-DD HH' (hours), UTC."""

    rows: dict[str, dict[str, int]]


HourCounts = dict[str, dict[tuple[str, str | None], int]]  # 'YYYY-MM-DD HH' -> (status, AnsweredBy) -> calls


@dataclasses.dataclass(frozen=True, slots=True)
class Dashboard:
    live_calls: int
    created_last_10s: int
    minutes: Buckets  # the last hour
    hours: HourCounts  # the calls created since `hours_from`, per hour of creation
    webhook_latency_ms: tuple[int, ...]  # the callbacks' request times over the last hour (at most 5000)
    webhook_errors_hour: int  # callback attempts in the last hour without a 2xx
    outbox: dict[str, int]  # outbox status -> rows (delivered ones not counted)


def _bucket_expr(width: int) -> str:
    """SQL of date_created cut to its first `width` characters ('YYYY-MM-DD HH:MM' is 16)."""
    if is_sqlite(Call._meta.database.obj):
        return f'substr("date_created", 1, {width})'
    fmt = "YYYY-MM-DD HH24:MI" if width == 16 else "YYYY-MM-DD HH24"
    return f"to_char(\"date_created\", '{fmt}')"


def _account(account_sid: str | None, where: list[str], params: list[Any]) -> None:
    if account_sid is not None:
        where.insert(0, '"account_sid" = ?')
        params.insert(0, account_sid)


def _run(sql: str, params: list[Any]) -> list[Any]:
    db = Call._meta.database
    return list(db.execute_sql(sql.replace("?", db.param), tuple(params)).fetchall())


def _buckets(account_sid: str | None, since: dt.datetime, width: int) -> Buckets:
    where, params = ['"date_created" >= ?'], [_call_at(since)]
    _account(account_sid, where, params)
    expr = _bucket_expr(width)
    rows = _run(
        f'SELECT {expr}, "status", COUNT(*) FROM "calls" WHERE {" AND ".join(where)} GROUP BY 1, 2',
        params,
    )
    out: dict[str, dict[str, int]] = {}
    for bucket, status, count in rows:
        out.setdefault(str(bucket), {})[str(status)] = int(count)
    return Buckets(out)


def dashboard(account_sid: str | None, now: dt.datetime, hours_from: dt.datetime) -> Dashboard:
    """The dashboard's figures at `now` (UTC), the per-hour counts from `hours_from` on (the
    console keeps the hours that can no longer change and asks only for the rest)."""
    hour = now - dt.timedelta(hours=1)
    live_where, live_params = [f'"status" IN ({marks(len(DIALING))})'], sorted(str(s) for s in DIALING)
    _account(account_sid, live_where, live_params)
    live = _run(f'SELECT COUNT(*) FROM "calls" WHERE {" AND ".join(live_where)}', live_params)[0][0]

    where, params = ['"date_created" >= ?'], [_call_at(now - dt.timedelta(seconds=10))]
    _account(account_sid, where, params)
    recent = _run(f'SELECT COUNT(*) FROM "calls" WHERE {" AND ".join(where)}', params)[0][0]

    # The calls_console index covers this read (no table lookups).
    where, params = ['"date_created" >= ?'], [_call_at(hours_from)]
    _account(account_sid, where, params)
    hours: HourCounts = {}
    for bucket, status, by, count in _run(
        f'SELECT {_bucket_expr(13)}, "status", "answered_by", COUNT(*) FROM "calls" WHERE {" AND ".join(where)} '
        "GROUP BY 1, 2, 3",
        params,
    ):
        hours.setdefault(str(bucket), {})[(str(status), str(by) if by else None)] = int(count)

    where, params = ['"date_created" >= ?', '"kind" <> ?'], [_event_at(hour), "document"]
    _account(account_sid, where, params)
    events = _run(
        f'SELECT "request_duration_ms", "response_code" FROM "call_events" WHERE {" AND ".join(where)} '
        'ORDER BY "id" DESC LIMIT 5000',
        params,
    )
    latency = tuple(int(ms) for ms, _ in events if ms is not None)
    errors = sum(1 for _, code in events if code is None or not 200 <= int(code) < 300)

    where, params = [f'"status" IN ({marks(len(OUTBOX_STATES))})'], list(OUTBOX_STATES)
    _account(account_sid, where, params)
    outbox = {
        str(s): int(n)
        for s, n in _run(f'SELECT "status", COUNT(*) FROM "webhooks" WHERE {" AND ".join(where)} GROUP BY 1', params)
    }
    return Dashboard(
        live_calls=int(live),
        created_last_10s=int(recent),
        minutes=_buckets(account_sid, hour, 16),
        hours=hours,
        webhook_latency_ms=latency,
        webhook_errors_hour=errors,
        outbox=outbox,
    )
