"""The per-call ordering rule is one rule: the rows the listing (tail-webhooks) shows as held back
are exactly the due rows the delivery worker does not claim, and they never set the next due time."""

from __future__ import annotations

import datetime as dt

from wirexa.calls.statuses import WebhookStatus
from wirexa.store.db import Store
from wirexa.store.repo import projects, webhooks

P, F, D, X = WebhookStatus.PENDING, WebhookStatus.IN_FLIGHT, WebhookStatus.DELIVERED, WebhookStatus.FAILED

# name, call, url, status, due (minutes from now), lease (minutes from now, in-flight rows), held back by
ROWS: list[tuple[str, str | None, str, WebhookStatus, int, int | None, str | None]] = [
    ("first", "CA1", "a", P, -60, None, None),
    ("second", "CA1", "a", P, -60, None, "first"),  # behind a pending row of its call and URL
    ("other-url", "CA1", "b", P, -60, None, None),  # same call, another URL: its own queue
    ("sent", "CA2", "a", D, -60, None, None),
    ("after-sent", "CA2", "a", P, -60, None, None),  # the row ahead was delivered
    ("gave-up", "CA3", "a", X, -60, None, None),
    ("after-gave-up", "CA3", "a", P, -60, None, None),  # the row ahead failed for good
    ("leased", "CA4", "a", F, -60, 5, None),
    ("after-leased", "CA4", "a", P, -60, None, "leased"),  # behind a row in flight
    ("lease-ran-out", "CA5", "a", F, -60, -1, None),  # claimable again itself
    ("after-ran-out", "CA5", "a", P, -60, None, "lease-ran-out"),
    ("no-call", None, "a", P, -60, None, None),  # rows with no call are never held
    ("no-call-2", None, "a", P, -60, None, None),
    ("not-yet", "CA6", "a", P, 5, None, None),  # not due, and still ahead of the next row
    ("old-but-held", "CA6", "a", P, -120, None, "not-yet"),  # oldest due time of all, but held
]


def _fill(store: Store, now: dt.datetime) -> dict[str, int]:
    account = store.write_sync(projects.create_project, "p").sid
    ids: dict[str, int] = {}
    for name, call, url, status, due, lease, _ in ROWS:
        row = store.write_sync(
            lambda call=call, url=url, due=due: webhooks.insert_webhook(
                account_sid=account,
                call_sid=call,
                kind="call-status",
                event="e",
                url=f"http://h/{url}",
                method="POST",
                params=[],
                due=now + dt.timedelta(minutes=due),
            )
        )
        ids[name] = row.id
        if status != P:
            until = now + dt.timedelta(minutes=lease) if lease is not None else None
            store.write_sync(
                lambda row_id=row.id, status=status, until=until: store.db.execute_sql(
                    'UPDATE "webhooks" SET "status" = ?, "claimed_by" = ?, "claimed_until" = ? WHERE "id" = ?'.replace(
                        "?", store.db.param
                    ),
                    (str(status), "w0" if until else None, until and until.isoformat(" "), row_id),
                )
            )
    return ids


def _held(store: Store, ids: dict[str, int]) -> dict[str, str | None]:
    names = {v: k for k, v in ids.items()}
    rows = store.read_sync(webhooks.list_webhooks)
    return {names[w.id]: None if w.held_back_by is None else names[w.held_back_by] for w in rows}


def test_the_listing_the_claim_and_the_next_due_time_share_one_rule(store: Store) -> None:
    now = dt.datetime(2026, 1, 5, 12, 0, 0)
    ids = _fill(store, now)
    assert _held(store, ids) == {name: held for name, *_, held in ROWS}
    # Only pending rows not held count for the next due time: not old-but-held's, two hours ago.
    assert store.read_sync(webhooks.next_webhook_due) == now - dt.timedelta(minutes=60)

    claimed = {w.id for w in store.write_sync(webhooks.claim_webhooks, "w1", now, now + dt.timedelta(minutes=1), 100)}
    listed = {w.id: w for w in store.read_sync(webhooks.list_webhooks)}
    due_pending = [name for name, _, _, status, due, _, _ in ROWS if status == P and due <= 0]
    for name in due_pending:  # claimed exactly when the listing showed it free
        assert (ids[name] in claimed) == (_held_before(name) is None), name
    assert claimed == {ids[n] for n in due_pending if _held_before(n) is None} | {ids["lease-ran-out"]}
    assert all(listed[i].status == F and listed[i].claimed_by == "w1" for i in claimed)

    # The claimed rows now hold their queues; the listing says so, and the next due time is the
    # one free pending row left (not-yet), not a held one.
    after = _held(store, ids)
    assert {n for n, by in after.items() if by is not None} == {
        "second",
        "after-leased",
        "after-ran-out",
        "old-but-held",
    }
    assert store.read_sync(webhooks.next_webhook_due) == now + dt.timedelta(minutes=5)

    # Finishing the row ahead frees the one behind it, in the listing and for the claim alike.
    assert store.write_sync(
        lambda: webhooks.finish_webhook(
            ids["first"], "w1", status=D, attempts=1, next_attempt_at=None, status_code=200, error=None, now=now
        )
    )
    assert _held(store, ids)["second"] is None
    again = store.write_sync(webhooks.claim_webhooks, "w2", now, now + dt.timedelta(minutes=1), 100)
    assert [w.id for w in again] == [ids["second"]]


def _held_before(name: str) -> str | None:
    return next(held for n, *_, held in ROWS if n == name)
