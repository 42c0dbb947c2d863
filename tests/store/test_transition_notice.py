"""StoreCalls.transition(..., notice=...): a status change and the notification that says why it
happened (a toll-fraud refusal's 21215 / 20005) commit in one transaction, so no reader (the API, a
test polling the call) ever sees a refused call `failed` without its notification (defects item 13)."""

from __future__ import annotations

import pytest

from wirexa.calls import state
from wirexa.calls.records import CallChanges, NewNotification
from wirexa.clock import utcnow
from wirexa.errors import StoreError
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import get_call, insert_call
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.projects import create_project


def _queued(store: Store) -> CallRecord:
    project = store.write_sync(create_project, "p")
    return store.write_sync(
        lambda: insert_call(
            account_sid=project.sid,
            to_number="+442071838750",
            from_number="+2",
            status="queued",
            direction="outbound-api",
        )
    )


def _calls(store: Store, events: list[str]) -> StoreCalls:
    return StoreCalls(
        store,
        status_callbacks=lambda call, event, extra: events.append(str(event)),
        recording_callbacks=lambda rec, call, event: None,
    )


def _codes(store: Store, sid: str) -> list[int]:
    return [n.error_code for n in store.read_sync(list_notifications, sid)]


async def test_the_failed_status_and_its_notification_commit_together(store: Store) -> None:
    call, events = _queued(store), list[str]()
    calls = _calls(store, events)
    notice = NewNotification(call.account_sid, call.sid, 21215, "Account not authorized to call +442071838750.")
    ended = await calls.transition(
        call.sid, state.Fact.ENDED_FAILED, CallChanges(end_time=utcnow()), expect=("queued",), notice=notice
    )
    assert ended is not None and ended.status == "failed"
    assert _codes(store, call.sid) == [21215] and events == ["completed"]
    # A transition that does not apply (already failed, or not the expected status) writes no notice.
    assert await calls.transition(call.sid, state.Fact.ENDED_FAILED, notice=notice) is None
    assert await calls.transition(call.sid, state.Fact.ENDED_CANCELED, expect=("queued",), notice=notice) is None
    assert _codes(store, call.sid) == [21215]
    # Without a notice: as before.
    other = _queued(store)
    assert (await calls.transition(other.sid, state.Fact.ENDED_FAILED)) is not None
    assert _codes(store, other.sid) == []


async def test_a_notice_that_cannot_be_stored_rolls_the_status_back(store: Store) -> None:
    call, events = _queued(store), list[str]()
    calls = _calls(store, events)
    bad = NewNotification(call.account_sid, call.sid, None, "no code")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await calls.transition(call.sid, state.Fact.ENDED_FAILED, notice=bad)
    stored = store.read_sync(get_call, call.sid)
    assert stored is not None and stored.status == "queued" and _codes(store, call.sid) == []
