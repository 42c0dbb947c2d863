"""A final call status never changes (defects item 1): every fact on every final status is refused
by the store's transaction, and `expect` is read inside that transaction, not before it."""

from __future__ import annotations

import pytest

from wirexa.calls import state
from wirexa.calls.records import CallChanges
from wirexa.clock import utcnow
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.projects import create_project


def _call(store: Store, status: str) -> CallRecord:
    project = store.write_sync(create_project, "p")
    return store.write_sync(
        lambda: insert_call(
            account_sid=project.sid, to_number="+15005550002", from_number="+1", status=status, direction="outbound-api"
        )
    )


def _calls(store: Store, events: list[str]) -> StoreCalls:
    return StoreCalls(
        store,
        status_callbacks=lambda call, event, extra: events.append(str(event)),
        recording_callbacks=lambda rec, call, event: None,
    )


@pytest.mark.parametrize("final", sorted(state.FINAL))
async def test_no_fact_moves_a_final_status(store: Store, final: str) -> None:
    call, events = _call(store, final), list[str]()
    calls = _calls(store, events)
    for fact in state.Fact:
        assert await calls.transition(call.sid, fact, CallChanges(end_time=utcnow())) is None
    after = await calls.call(call.sid)
    assert after is not None and (after.status, after.end_time, events) == (final, None, [])


async def test_expect_is_read_in_the_transaction(store: Store) -> None:
    # The dispatcher moved the call on (queued -> initiated) after a cancel had read it `queued`:
    # the cancel's `expect=(queued,)` must refuse, not end the call it is dialing.
    call, events = _call(store, "queued"), list[str]()
    calls = _calls(store, events)
    assert await calls.transition(call.sid, state.Fact.DISPATCHED) is not None
    canceled = await calls.transition(call.sid, state.Fact.ENDED_CANCELED, expect=("queued",))
    after = await calls.call(call.sid)
    assert (canceled, after and after.status, events) == (None, "initiated", ["initiated"])
