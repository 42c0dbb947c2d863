"""Ending a call, in one place: the fact a call ends with, and the one transaction that ends it.

Theory of operation. A call ends in exactly one of these ways, and each goes through `finalize`,
which writes the final status with its end time, duration, SIP code and `completed` callback (and
a notification saying why, when there is one) in one transaction whose fact must apply to the
status the transaction reads (state.step; `expect` narrows it further), so a final status is
never overwritten and a race between two enders has one winner:
- its SIP dialog ended (CallSession._on_ended): `end_fact(answered, reason)`;
- it never left the queue: canceled by the API, refused by admission, or unroutable
  (`end_queued`, only from `queued`);
- a previous run of the engine left it live (`end_lost`): completed if it had been answered,
  else failed, at the last moment that run knew it was up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from wirexa.calls import state
from wirexa.calls.ports import CallStore, Clock, EndReason
from wirexa.calls.records import CallChanges, CallRecord, NewNotification


def end_fact(answered: bool, reason: EndReason) -> state.Fact:
    """The fact a dialog's end is: every end of an answered call is `completed`; before the answer
    the SIP outcome decides (busy, no-answer, failed, canceled)."""
    return state.Fact.ENDED_COMPLETED if answered else state.fact_for_end(reason)


async def finalize(
    store: CallStore,
    clock: Clock,
    call_sid: str,
    fact: state.Fact,
    *,
    expect: tuple[str, ...] | None = None,
    sip_code: int | None = None,
    notice: NewNotification | None = None,
    at: dt.datetime | None = None,
    by: str | None = None,
) -> CallRecord | None:
    """End a call with `fact`: end time, duration for an answered call, the SIP code, who hung up
    (`by`: caller, callee, api, engine), and the
    `completed` callback (and `notice`, when given), in one transaction. The call ends now, or
    `at` (the last moment a dead engine knew it was up). None when it does not apply (status
    moved on, or not one of `expect` when the transaction reads it)."""
    call = await store.call(call_sid)
    if call is None or (expect is not None and call.status not in expect):
        return None
    now = at or clock.now()
    duration = max(0, int((now - call.answer_time).total_seconds())) if call.answer_time is not None else None
    extra: Mapping[str, str] = {"SipResponseCode": str(sip_code)} if sip_code is not None else {}
    changes = CallChanges(end_time=now, duration_s=duration, sip_response_code=sip_code, hangup_by=by)
    return await store.transition(call_sid, fact, changes, extra, expect=expect, notice=notice)


async def end_queued(
    store: CallStore, clock: Clock, call_sid: str, fact: state.Fact, notice: NewNotification | None = None
) -> CallRecord | None:
    """End a call that never left the queue (canceled, refused, unroutable); None once it has."""
    return await finalize(store, clock, call_sid, fact, expect=(state.CallStatus.QUEUED,), notice=notice)


def last_known_alive(call: CallRecord, now: dt.datetime) -> dt.datetime:
    """The last moment a dead engine knew `call` was up: its last heartbeat, or the last change of
    the row (an answer, a status change) when that came later; never after `now`."""
    known = [t for t in (call.alive_at, call.date_updated, call.answer_time, call.start_time) if t is not None]
    return min(max(known), now)


async def end_lost(store: CallStore, clock: Clock, call: CallRecord) -> CallRecord | None:
    """End a call a previous run of the engine left live (its SIP dialog died with that run)."""
    answered = call.status == state.CallStatus.IN_PROGRESS
    return await finalize(store, clock, call.sid, end_fact(answered, "failed"), at=last_known_alive(call, clock.now()))
