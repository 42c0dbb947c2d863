"""Conference rooms in the call session (calls/conference.py), with FakeSip as the network (its
rooms follow the media graph's rules: FakeSip.hears): waiting with music until the room starts,
startConferenceOnEnter, muted, coach, beeps, endConferenceOnExit, hangupOnStar, a duplicate label,
a full room, <Dial action> after leaving, and the status callbacks in order through the outbox."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.calls.conference import BEEP_PLAY_ID, WAIT_PLAY_ID, Conferences
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.webhooks import list_webhooks

CB = 'statusCallback="http://127.0.0.1:9/conf" statusCallbackEvent="start end join leave"'


def conferences(flow: Flow) -> Conferences:
    c = flow.dispatcher.deps.conferences
    assert c is not None
    return c


def plays(flow: Flow, sid: str, play_id: str) -> int:
    call = flow.sip.calls.get(sid)
    return sum(1 for p in call.plays if p[0] == play_id) if call is not None else 0


def room_doc(flow: Flow, path: str, attrs: str = "", dial: str = 'action="/after"', name: str = "room") -> str:
    flow.backend.docs[path] = f"<Response><Dial {dial}><Conference {attrs}>{name}</Conference></Dial></Response>"
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    return flow.backend.url(path)


def media_room(flow: Flow) -> str:
    [room] = [r for r in conferences(flow).by_sid.values() if r.status != "completed"]
    return room.key


async def test_two_participants_start_the_room_hear_each_other_and_leave_with_callbacks(flow: Flow) -> None:
    a = await flow.create(url=room_doc(flow, "/a", CB + ' participantLabel="alice"'))
    await flow.wait_for(lambda: plays(flow, a.sid, WAIT_PLAY_ID) == 1)  # alone: the wait music
    assert flow.sip.rooms == {}
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b", 'beep="onExit"'))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 2)
    key = media_room(flow)
    assert flow.sip.hears(key, a.sid) == {b.sid} and flow.sip.hears(key, b.sid) == {a.sid}
    assert plays(flow, a.sid, BEEP_PLAY_ID) == 0  # the room started with b: nobody was in it to beep for
    # b hangs up: a hears b's exit beep and stays; then a hangs up: the room ends.
    flow.sip.remote_hangup(b.sid)
    await flow.wait_status(b.sid, ("completed",))
    await flow.wait_for(lambda: plays(flow, a.sid, BEEP_PLAY_ID) == 1)
    assert flow.sip.rooms[key] == {a.sid: (False, "")}
    flow.sip.remote_hangup(a.sid)
    await flow.wait_status(a.sid, ("completed",))
    await flow.wait_for(lambda: key not in flow.sip.rooms)
    hooks = [w for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
    assert [w.event for w in hooks] == [
        "participant-join",
        "participant-join",
        "conference-start",
        "participant-leave",
        "participant-leave",
        "conference-end",
    ]
    params = [dict(w.params) for w in hooks]
    assert [p["SequenceNumber"] for p in params] == ["1", "2", "3", "4", "5", "6"]
    assert {p["ConferenceSid"] for p in params} == {key} and {p["FriendlyName"] for p in params} == {"room"}
    assert all(p["AccountSid"] == a.account_sid and p["Timestamp"].endswith("+0000") for p in params)
    join = params[0]
    assert join["CallSid"] == a.sid and join["ParticipantLabel"] == "alice" and join["Muted"] == "false"
    assert join["StartConferenceOnEnter"] == "true" and join["EndConferenceOnExit"] == "false"
    assert join["Hold"] == "false" and join["Coaching"] == "false"
    assert params[3]["CallSid"] == b.sid and params[3]["ReasonParticipantLeft"] == "participant_hung_up"
    assert params[3]["ParticipantCallStatus"] == "completed"
    end = params[5]
    assert end["ReasonConferenceEnded"] == "last-participant-left" and end["CallSidEndingConference"] == a.sid
    assert end["ParticipantLabelEndingConference"] == "alice" and "CallSid" not in end
    assert {w.url for w in hooks} == {"http://127.0.0.1:9/conf"}
    room = conferences(flow).by_sid[key]
    assert room.status == "completed" and room.reason_ended == "last-participant-left"


async def test_the_room_waits_for_a_starter_muted_and_coach(flow: Flow) -> None:
    w1 = await flow.create(url=room_doc(flow, "/w1", 'startConferenceOnEnter="false"'))
    w2 = await flow.create(to="+15005550007", url=room_doc(flow, "/w2", 'startConferenceOnEnter="false" muted="true"'))
    await flow.wait_for(lambda: plays(flow, w1.sid, WAIT_PLAY_ID) == 1 and plays(flow, w2.sid, WAIT_PLAY_ID) == 1)
    assert flow.sip.rooms == {}  # two, but no starter: still waiting with music
    boss = await flow.create(to="+15005550008", url=room_doc(flow, "/boss", f'coach="{w1.sid}"'))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 3)
    key = media_room(flow)
    assert flow.sip.hears(key, w1.sid) == {boss.sid}  # the coach, and not muted w2
    assert flow.sip.hears(key, w2.sid) == {w1.sid}  # the coach is heard by w1 only
    assert flow.sip.hears(key, boss.sid) == {w1.sid}
    assert flow.sip.calls[w1.sid].play_task is None  # the music stopped
    for sid in (w1.sid, w2.sid, boss.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_end_conference_on_exit_by_hangup_on_star_drops_everyone_to_their_action(flow: Flow) -> None:
    guest = await flow.create(url=room_doc(flow, "/guest"))
    host = await flow.create(
        to="+15005550007",
        url=room_doc(flow, "/host", 'endConferenceOnExit="true"', dial='action="/after" hangupOnStar="true"'),
    )
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 2)
    key = media_room(flow)
    flow.sip.press(host.sid, "*")
    for sid in (guest.sid, host.sid):
        await flow.wait_status(sid, ("completed",))
    after = {r["CallSid"]: r for r in flow.backend.requests_to("/after")}
    assert set(after) == {guest.sid, host.sid}
    assert {r["DialCallStatus"] for r in after.values()} == {"completed"}
    assert {r["DialBridged"] for r in after.values()} == {"true"}
    room = conferences(flow).by_sid[key]
    assert room.reason_ended == "participant-with-end-conference-on-exit-left" and room.call_sid_ending == host.sid
    assert key not in flow.sip.rooms


async def test_a_duplicate_label_and_a_full_room_are_refused_and_the_dial_fails(flow: Flow) -> None:
    first = await flow.create(url=room_doc(flow, "/one", 'participantLabel="x" maxParticipants="2"'))
    await flow.wait_for(lambda: plays(flow, first.sid, WAIT_PLAY_ID) == 1)
    dup = await flow.create(to="+15005550007", url=room_doc(flow, "/dup", 'participantLabel="x"'))
    await flow.wait_status(dup.sid, ("completed",))
    [after] = flow.backend.requests_to("/after")
    assert after["CallSid"] == dup.sid and after["DialCallStatus"] == "failed"
    notes = await flow.store.read(list_notifications, dup.sid)
    assert [n.error_code for n in notes] == [16025] and "'x'" in notes[0].message_text
    second = await flow.create(to="+15005550008", url=room_doc(flow, "/two"))
    await flow.wait_for(lambda: bool(flow.sip.rooms))
    full = await flow.create(to="+15005550009", url=room_doc(flow, "/full"))
    await flow.wait_status(full.sid, ("completed",))
    notes = await flow.store.read(list_notifications, full.sid)
    assert len(notes) == 1 and "full" in notes[0].message_text
    bad_coach = await flow.create(to="+15005550010", url=room_doc(flow, "/coach", 'coach="CA123"', name="other"))
    await flow.wait_status(bad_coach.sid, ("completed",))
    assert [n.error_code for n in await flow.store.read(list_notifications, bad_coach.sid)] == [13240]
    for sid in (first.sid, second.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_what_is_not_done_yet_is_notified(flow: Flow) -> None:
    call = await flow.create(url=room_doc(flow, "/rec", 'record="record-from-start" statusCallbackEvent="speaker"'))
    await flow.wait_for(lambda: plays(flow, call.sid, WAIT_PLAY_ID) == 1)
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [12200, 12200]
    assert "recording is not done" in notes[0].message_text and "speech events" in notes[1].message_text
    flow.sip.remote_hangup(call.sid)
    await flow.wait_status(call.sid, ("completed",))
