"""A call left live by an engine that died ends at the last moment that engine knew it was up (its
heartbeat, `alive_at`), not at the restart: the downtime is neither in its duration nor charged
(defects item 5)."""

from __future__ import annotations

import datetime as dt

from tests.calls.conftest import Flow
from wirexa.calls.ending import last_known_alive
from wirexa.calls.service import CallUpdate
from wirexa.clock import utcnow
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import get_call, insert_call, mark_alive, update_call
from wirexa.store.repo.projects import get_project, update_project

T0 = dt.datetime(2026, 12, 7, 9, 0, 0)


def _call(**kw: object) -> CallRecord:
    base = {"answer_time": None, "start_time": None, "alive_at": None, "date_updated": T0}
    values = {**base, **kw}
    return CallRecord(**{f: values.get(f) for f in CallRecord.__dataclass_fields__})  # type: ignore[arg-type]


def test_last_known_alive_is_the_latest_sign_of_life_never_after_now() -> None:
    now = T0 + dt.timedelta(seconds=60)
    beat = T0 + dt.timedelta(seconds=14)
    assert last_known_alive(_call(answer_time=T0, alive_at=beat), now) == beat
    # Answered after the last beat: the answer is the later sign of life.
    assert last_known_alive(_call(answer_time=beat, alive_at=T0, date_updated=beat), now) == beat
    # No beat yet (the engine died within its first interval): the row's last change.
    assert last_known_alive(_call(start_time=T0, date_updated=T0 + dt.timedelta(seconds=1)), now) == T0 + dt.timedelta(
        seconds=1
    )
    assert last_known_alive(_call(alive_at=now + dt.timedelta(seconds=5)), now) == now


async def _left_live(flow: Flow, answered_s_ago: int, beat_s_ago: int | None) -> CallRecord:
    """An answered call in the store as a killed engine leaves it (no session, no SIP dialog)."""
    now = utcnow()
    answer = now - dt.timedelta(seconds=answered_s_ago)
    call = await flow.store.write(
        lambda: insert_call(
            account_sid=flow.project.sid,
            to_number="+15005550006",
            from_number="+15005550100",
            status="in-progress",
            direction="outbound-api",
            start_time=answer,
            answer_time=answer,
        )
    )
    await flow.store.write(lambda: update_call(call.sid, date_updated=answer))
    if beat_s_ago is not None:
        await flow.store.write(mark_alive, [call.sid], now - dt.timedelta(seconds=beat_s_ago))
    return call


async def test_recover_ends_a_call_at_its_last_heartbeat(flow: Flow) -> None:
    await flow.store.write(lambda: update_project(flow.project.sid, credits_s=1000))
    # Answered 14 s ago, last beat 10 s ago: up 4 s, down 10 s.
    call = await _left_live(flow, answered_s_ago=14, beat_s_ago=10)
    await flow.dispatcher.recover()
    ended = await flow.store.read(get_call, call.sid)
    assert ended is not None and ended.status == "completed"
    assert ended.duration_s == 4
    assert ended.end_time == ended.alive_at
    project = await flow.store.read(get_project, flow.project.sid)
    assert project is not None and project.credits_s == 1000 - 4
    assert [(e, x.get("SipResponseCode")) for s, e, x in flow.callbacks if s == call.sid] == [("completed", None)]


async def test_the_engine_marks_its_live_calls_up(flow: Flow) -> None:
    call = await flow.create(twiml="<Response><Pause length='30'/></Response>")
    live = await flow.wait_status(call.sid, ("in-progress",))
    assert live.alive_at is None
    before = utcnow()
    await flow.dispatcher.mark_alive()
    marked = await flow.store.read(get_call, call.sid)
    assert marked is not None and marked.alive_at is not None and marked.alive_at >= before
    assert marked.date_updated == live.date_updated  # a heartbeat is no change of the resource
    await flow.calls.update(flow.project, call.sid, CallUpdate(status="completed"), "/")
