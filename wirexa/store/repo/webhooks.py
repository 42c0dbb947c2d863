"""The webhooks table: the transactional outbox's delivery rows, their claims and outcomes.

The per-call ordering rule is written once, as _HOLDS_BACK: a row is held back while an earlier
row of its call and URL is still open (pending or in flight). The claim, the next due time and
the listing (tail-webhooks) all derive from that one text, so what the listing shows as held
back is exactly what the worker will not claim.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from wirexa.calls.records import WebhookRecord
from wirexa.calls.statuses import OPEN_WEBHOOK, WebhookStatus
from wirexa.clock import utcnow
from wirexa.store.db import is_sqlite
from wirexa.store.models import Webhook
from wirexa.store.sql import Select, Write, marks

_PENDING = f"'{WebhookStatus.PENDING}'"
_IN_FLIGHT = f"'{WebhookStatus.IN_FLIGHT}'"
# Row e holds back row w (each an alias of the webhooks table). A row with no call is never held:
# NULL = NULL is not true. The statuses are our own constants, safe to write into the SQL.
_OPEN = ", ".join(f"'{s}'" for s in OPEN_WEBHOOK)
_HOLDS_BACK = f'e."call_sid" = w."call_sid" AND e."url" = w."url" AND e."id" < w."id" AND e."status" IN ({_OPEN})'
_NOT_HELD_BACK = f'(w."call_sid" IS NULL OR NOT EXISTS (SELECT 1 FROM "webhooks" AS e WHERE {_HOLDS_BACK}))'
_HELD_BACK_BY = (
    f'CASE WHEN w."status" = {_PENDING} THEN (SELECT MIN(e."id") FROM "webhooks" AS e WHERE {_HOLDS_BACK}) END'
)

# Due: pending with its time come, or in flight with the lease run out.
_DUE = (
    f'((w."status" = {_PENDING} AND w."next_attempt_at" <= ?) OR (w."status" = {_IN_FLIGHT} AND w."claimed_until" < ?))'
)
_CLAIMABLE_SQL = (
    f'SELECT w."id" FROM "webhooks" AS w WHERE {_DUE} AND {_NOT_HELD_BACK} ORDER BY w."next_attempt_at", w."id" LIMIT ?'
)
# On PostgreSQL the engines sharing the outbox claim disjoint rows without waiting on each other:
# a row another engine is claiming is skipped (its claim still re-checks the rows it locked). A
# row held back by one being claimed elsewhere stays held back: that one is still open.
_CLAIMABLE_SKIP_LOCKED_SQL = _CLAIMABLE_SQL + " FOR UPDATE OF w SKIP LOCKED"
_FINISH_WEBHOOK_SQL = (
    'UPDATE "webhooks" SET "status" = ?, "attempts" = ?, "last_status_code" = ?, "last_error" = ?, '
    '"claimed_by" = NULL, "claimed_until" = NULL, "updated_at" = ?, '
    '"next_attempt_at" = COALESCE(?, "next_attempt_at"), "delivered_at" = COALESCE(?, "delivered_at") '
    'WHERE "id" = ? AND "claimed_by" = ?'
)

_WEBHOOK_NAMES = tuple(name for name in WebhookRecord.__dataclass_fields__ if name != "held_back_by")


def _params(items: Iterable[Sequence[Any]]) -> tuple[tuple[str, str], ...]:
    """An outbox row's params as WebhookRecord holds them (pairs of strings)."""
    return tuple((str(k), str(v)) for k, v in items)


def _webhook(*columns: Any) -> WebhookRecord:
    values = dict(zip(_WEBHOOK_NAMES, columns, strict=True))
    values["params"] = _params(json.loads(values["params"]))
    return WebhookRecord(**values)


def _listed_webhook(*columns: Any) -> WebhookRecord:
    """A row of the listing: the columns, then held_back_by."""
    values = dict(zip(_WEBHOOK_NAMES, columns[:-1], strict=True))
    values["params"] = _params(json.loads(values["params"]))
    return WebhookRecord(**values, held_back_by=columns[-1])


_WEBHOOKS = Select(Webhook, _webhook, _WEBHOOK_NAMES)
_LISTED = Select(Webhook, _listed_webhook, _WEBHOOK_NAMES, alias="w", extra=(_HELD_BACK_BY,))
_NEXT_DUE = Select(Webhook, lambda at: at, ("next_attempt_at",), alias="w")
_WEBHOOK_WRITE = Write(Webhook)
_at: Callable[[Any], Any] = Webhook.updated_at.db_value  # a datetime as the database stores it


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
        "status": str(WebhookStatus.PENDING),
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
        "updated_at": now,
    }
    row_id = _WEBHOOK_WRITE.insert(_WEBHOOK_WRITE.defaults(values))
    values["params"] = _params(items)
    return WebhookRecord(id=int(row_id or 0), **values)


def get_webhook(webhook_id: int) -> WebhookRecord | None:
    return _WEBHOOKS.one('"id" = ?', (webhook_id,))  # type: ignore[no-any-return]


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
    where: list[str] = ['w."id" > ?']
    params: list[Any] = [after_id]
    if call_sid is not None:
        where.append('w."call_sid" = ?')
        params.append(call_sid)
    if status is not None:
        where.append('w."status" = ?')
        params.append(str(status))
    if since is not None:
        where.append('w."created_at" >= ?')
        params.append(_at(since))
    return _LISTED.all(" AND ".join(where) + ' ORDER BY w."id" LIMIT ?', (*params, limit))  # type: ignore[no-any-return]


def claim_webhooks(worker_id: str, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[WebhookRecord]:
    """Claim up to `limit` due deliveries for `worker_id` (call inside a write transaction).

    Due = pending with next_attempt_at <= now, or in-flight whose lease expired (its worker
    died); and not held back (_HOLDS_BACK).
    """
    sql = _CLAIMABLE_SQL if is_sqlite(Webhook._meta.database.obj) else _CLAIMABLE_SKIP_LOCKED_SQL
    ids = [row[0] for row in _WEBHOOK_WRITE.execute(sql, (_at(now), _at(now), limit)).fetchall()]
    if not ids:
        return []
    # Re-check the due condition in the UPDATE so that two engines racing on one database
    # (PostgreSQL READ COMMITTED re-evaluates it on the locked row) never both win a row.
    _WEBHOOK_WRITE.update(
        {
            "status": str(WebhookStatus.IN_FLIGHT),
            "claimed_by": worker_id,
            "claimed_until": lease_until,
            "updated_at": now,
        },
        f'"id" IN ({marks(len(ids))}) AND ("status" = {_PENDING} OR ("status" = {_IN_FLIGHT} AND "claimed_until" < ?))',
        (*ids, _at(now)),
    )
    return _WEBHOOKS.all(
        f'"id" IN ({marks(len(ids))}) AND "claimed_by" = ? AND "claimed_until" = ? ORDER BY "id"',
        (*ids, worker_id, _at(lease_until)),
    )  # type: ignore[no-any-return]


def finish_webhook(
    webhook_id: int,
    worker_id: str,
    *,
    status: WebhookStatus,
    attempts: int,
    next_attempt_at: dt.datetime | None,
    status_code: int | None,
    error: str | None,
    now: dt.datetime,
) -> bool:
    """Record an attempt's outcome for a row this worker holds; False if the claim was lost."""
    cursor = _WEBHOOK_WRITE.execute(
        _FINISH_WEBHOOK_SQL,
        (
            str(status),
            attempts,
            status_code,
            error,
            _at(now),
            _at(next_attempt_at) if next_attempt_at is not None else None,
            _at(now) if status == WebhookStatus.DELIVERED else None,
            webhook_id,
            worker_id,
        ),
    )
    return bool(cursor.rowcount)


def next_webhook_due() -> dt.datetime | None:
    """When a pending row next becomes claimable, or None. Rows held back (_HOLDS_BACK) do not
    count, however old their due time: they become claimable only when the row ahead finishes
    (and the worker that finishes it wakes)."""
    return _NEXT_DUE.one(  # type: ignore[no-any-return]
        f'w."status" = {_PENDING} AND {_NOT_HELD_BACK} ORDER BY w."next_attempt_at"', ()
    )
