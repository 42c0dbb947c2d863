"""Conference rooms in the call session (calls/conference.py), with FakeSip as the network (its
rooms follow the media graph's rules: FakeSip.hears): waiting with music until the room starts,
startConferenceOnEnter, muted, coach, beeps, endConferenceOnExit, hangupOnStar, a duplicate label,
a full room, <Dial action> after leaving, and the status callbacks in order through the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.calls.conftest import Flow
from tests.conftest import start_api
from wirexa.calls.conference import BEEP_PLAY_ID, WAIT_PLAY_ID, Conferences
from wirexa.calls.ports import CallSid, SpeakingChanged
from wirexa.calls.service import CallUpdate
from wirexa.store.repo.conferences import conference_participants, get_conference
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.recordings import get_recording
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
    # the store keeps the room and who was in it
    row = await flow.store.read(get_conference, key)
    assert row is not None and row.status == "completed" and row.reason_conference_ended == "last-participant-left"
    assert row.call_sid_ending_conference == a.sid and row.friendly_name == "room"
    parts = await flow.store.read(conference_participants, key)
    assert [(p.call_sid, p.label, p.status) for p in parts] == [(a.sid, "alice", "complete"), (b.sid, None, "complete")]


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


REC = 'record="record-from-start" recordingStatusCallback="http://127.0.0.1:9/rec"'


async def test_a_recorded_room_is_one_recording_of_the_conference_from_its_start_to_its_end(flow: Flow) -> None:
    """The first participant waits alone (nothing recorded: hold music never is); the room starts
    with the second and its mix is recorded until it ends; the Recording is the conference's
    (conference_sid, no call_sid), in-progress then completed, with no notification."""
    a = await flow.create(
        url=room_doc(flow, "/a", REC + ' trim="do-not-trim" recordingStatusCallbackEvent="in-progress completed"')
    )
    await flow.wait_for(lambda: plays(flow, a.sid, WAIT_PLAY_ID) == 1)
    assert flow.sip.room_recordings == {}
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b", 'record="record-from-start" trim="trim-silence"'))
    await flow.wait_for(lambda: len(flow.sip.room_recordings) == 1)
    key = media_room(flow)
    [(rec_sid, (room, path, _))] = flow.sip.room_recordings.items()
    assert room == key and path.endswith(f"{rec_sid}.wav")
    live = await flow.store.read(get_recording, rec_sid)
    assert live is not None and (live.status, live.call_sid, live.conference_sid) == ("in-progress", None, key)
    await asyncio.sleep(1.2)
    for sid in (a.sid, b.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))
    await flow.wait_for(lambda: flow.sip.room_recorded == [rec_sid])
    await flow.wait_for(lambda: any(c[1] == "recording-completed" for c in flow.callbacks))
    rec = await flow.store.read(get_recording, rec_sid)
    assert rec is not None and rec.status == "completed" and rec.duration_s is not None and rec.duration_s >= 1
    assert (rec.call_sid, rec.conference_sid, rec.source, rec.channels, rec.trim) == (
        None,
        key,
        "Conference",
        1,
        "do-not-trim",
    )
    assert [c[:2] for c in flow.callbacks if c[1].startswith("recording-")] == [
        (key, "recording-in-progress"),  # a's settings: the first participant in joining order asked
        (key, "recording-completed"),
    ]
    assert (await flow.store.read(list_notifications, a.sid)) == []  # recording is done: nothing to notify


async def test_a_room_recording_too_short_is_absent_and_a_room_not_asked_is_not_recorded(flow: Flow) -> None:
    flow.sip.record_silent = True  # nothing but silence: trimmed (the default) to nothing
    a = await flow.create(url=room_doc(flow, "/a", REC + ' recordingStatusCallbackEvent="absent"'))
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b"))
    await flow.wait_for(lambda: len(flow.sip.room_recordings) == 1)
    [rec_sid] = flow.sip.room_recordings
    await asyncio.sleep(0.8)
    for sid in (a.sid, b.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))
    await flow.wait_for(lambda: any(c[1] == "recording-absent" for c in flow.callbacks))
    rec = await flow.store.read(get_recording, rec_sid)
    assert rec is not None and rec.status == "absent" and rec.wav_path is None
    # a room nobody asks to record is not
    c = await flow.create(url=room_doc(flow, "/c", name="other"))
    d = await flow.create(to="+15005550007", url=room_doc(flow, "/d", name="other"))
    await flow.wait_for(lambda: any(len(m) == 2 for m in flow.sip.rooms.values()))
    assert flow.sip.room_recordings == {}
    for sid in (c.sid, d.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_speaker_events_for_every_participant_in_order_with_the_others(flow: Flow) -> None:
    """statusCallbackEvent="speaker": each participant's far end is watched from its join to its
    leave; each start and stop the worker reports is one callback with the participant's
    parameters, SequenceNumber in order with the room's other events; muted participants are
    reported (Muted=true); a participant leaving while talking gets its stop before its leave;
    reports that repeat, are of another room or come after the leave are dropped."""
    events = 'statusCallback="http://127.0.0.1:9/conf" statusCallbackEvent="join leave speaker"'
    a = await flow.create(url=room_doc(flow, "/a", events + ' participantLabel="alice"'))
    await flow.wait_for(lambda: plays(flow, a.sid, WAIT_PLAY_ID) == 1)  # a joined (alone: music) before b
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b", 'muted="true"'))
    await flow.wait_for(lambda: len(flow.sip.speech_watches) == 2)
    key = media_room(flow)
    assert flow.sip.speech_watches == {a.sid: key, b.sid: key}  # each call's own watch, named by the room

    async def hooks(count: int) -> list[dict[str, str]]:
        for _ in range(200):
            found = [dict(w.params) for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(found)} conference callbacks, wanted {count}")

    await hooks(2)  # the joins
    flow.sip.speaks(a.sid, True)
    flow.sip.speaks(a.sid, True)  # no change: nothing
    flow.sip._emit(SpeakingChanged(CallSid(a.sid), "CF" + "0" * 32, False))  # another room's watch: stale
    await hooks(3)
    flow.sip.speaks(a.sid, False)
    flow.sip.speaks(b.sid, True)  # muted: the room does not hear it, the callback says Muted=true
    await hooks(5)
    flow.sip.remote_hangup(b.sid)  # while talking: its stop, then its leave
    await flow.wait_status(b.sid, ("completed",))
    assert b.sid not in flow.sip.speech_watches
    await hooks(7)
    await conferences(flow).kick(conferences(flow).by_sid[key].participants[a.sid])  # alive: its watch stops
    await flow.wait_status(a.sid, ("completed",))
    params = await hooks(8)
    assert a.sid not in flow.sip.speech_watches
    flow.sip._emit(SpeakingChanged(CallSid(a.sid), key, True))  # after the leave: dropped
    await asyncio.sleep(0.1)
    assert len(await hooks(8)) == 8
    got = [(p["StatusCallbackEvent"], p["CallSid"]) for p in params]
    assert got == [
        ("participant-join", a.sid),
        ("participant-join", b.sid),
        ("participant-speech-start", a.sid),
        ("participant-speech-stop", a.sid),
        ("participant-speech-start", b.sid),
        ("participant-speech-stop", b.sid),
        ("participant-leave", b.sid),
        ("participant-leave", a.sid),
    ]
    assert [p["SequenceNumber"] for p in params] == [str(n) for n in range(1, 9)]
    start = params[2]
    assert start["ConferenceSid"] == key and start["FriendlyName"] == "room" and start["AccountSid"] == a.account_sid
    assert start["ParticipantLabel"] == "alice" and start["Muted"] == "false" and start["Hold"] == "false"
    assert start["Coaching"] == "false" and start["EndConferenceOnExit"] == "false"
    assert start["StartConferenceOnEnter"] == "true" and start["Timestamp"].endswith("+0000")
    assert params[4]["Muted"] == "true" and "ParticipantLabel" not in params[4]


async def test_no_speech_is_watched_unless_the_room_wants_speaker_events(flow: Flow) -> None:
    a = await flow.create(url=room_doc(flow, "/a", CB))
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b", 'statusCallbackEvent="speaker"'))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 2)
    assert flow.sip.speech_watches == {}  # the room's events are its first participant's
    for sid in (a.sid, b.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_conferences_and_participants_rest(flow: Flow) -> None:
    """The Conferences and Participants resources on live rooms: list, fetch (by CallSid or label),
    mute, hold, coach, modify, kick, an AnnounceUrl that cannot be fetched (announcement-fail), end;
    what is refused."""
    events = 'statusCallback="http://127.0.0.1:9/conf" statusCallbackEvent="start end join leave mute hold modify announcement"'
    a = await flow.create(url=room_doc(flow, "/a", events + ' participantLabel="alice"'))
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b"))
    c = await flow.create(to="+15005550008", url=room_doc(flow, "/c"))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 3)
    key = media_room(flow)
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project)
    api.services.conferences = conferences(flow)
    h = api.auth
    try:
        body: Any = await (await api.client.get(f"{api.base}/Conferences.json", headers=h)).json()
        [conf] = body["conferences"]
        assert conf["sid"] == key and conf["friendly_name"] == "room" and conf["status"] == "in-progress"
        assert conf["reason_conference_ended"] is None and conf["uri"].endswith(f"/Conferences/{key}.json")
        for query, count in (({"Status": "in-progress"}, 1), ({"Status": "completed"}, 0), ({"FriendlyName": "x"}, 0)):
            body = await (await api.client.get(f"{api.base}/Conferences.json", params=query, headers=h)).json()
            assert len(body["conferences"]) == count, query
        resp = await api.client.get(f"{api.base}/Conferences.json", params={"Status": "open"}, headers=h)
        assert resp.status == 400 and "Status" in (await resp.json())["message"]
        base = f"{api.base}/Conferences/{key}"
        body = await (await api.client.get(f"{base}/Participants.json", headers=h)).json()
        assert {p["call_sid"] for p in body["participants"]} == {
            a.sid,
            b.sid,
            c.sid,
        }  # (they answer together: any order)
        body = await (await api.client.get(f"{base}/Participants/alice.json", headers=h)).json()
        assert body["call_sid"] == a.sid and body["label"] == "alice" and body["status"] == "connected"
        # mute b, hold c, a coaches b, b's EndConferenceOnExit
        resp = await api.client.post(f"{base}/Participants/{b.sid}.json", data={"Muted": "true"}, headers=h)
        assert (await resp.json())["muted"] is True
        assert flow.sip.hears(key, a.sid) == {c.sid}
        body = await (await api.client.get(f"{base}/Participants.json", params={"Muted": "true"}, headers=h)).json()
        assert [p["call_sid"] for p in body["participants"]] == [b.sid]
        resp = await api.client.post(f"{base}/Participants/{c.sid}.json", data={"Hold": "true"}, headers=h)
        assert (await resp.json())["hold"] is True
        assert c.sid not in flow.sip.rooms[key] and flow.sip.calls[c.sid].plays[-1][0] == WAIT_PLAY_ID
        data = {"Coaching": "true", "CallSidToCoach": b.sid}
        resp = await api.client.post(f"{base}/Participants/alice.json", data=data, headers=h)
        body = await resp.json()
        assert body["coaching"] is True and body["call_sid_to_coach"] == b.sid
        stored = {p.call_sid: p for p in await flow.store.read(conference_participants, key)}
        assert stored[b.sid].muted and stored[c.sid].hold and stored[a.sid].call_sid_to_coach == b.sid
        assert flow.sip.hears(key, b.sid) == {a.sid} and flow.sip.hears(key, a.sid) == set()
        for refused, named in (
            ({"HoldUrl": "http://127.0.0.1:9/h"}, "HoldUrl"),
            ({"WaitUrl": "http://127.0.0.1:9/w"}, "WaitUrl"),
            ({"Coaching": "true"}, "CallSidToCoach"),
            ({"CallSidToCoach": "CA0"}, "CallSidToCoach"),
        ):
            resp = await api.client.post(f"{base}/Participants/{b.sid}.json", data=refused, headers=h)
            assert resp.status == 400 and named in (await resp.json())["message"], refused
        resp = await api.client.post(f"{base}/Participants.json", data={"From": "+1", "To": "+2"}, headers=h)
        assert resp.status == 400 and "'To'" in (await resp.json())["message"]  # the Calls resource's checks
        resp = await api.client.post(f"{base}.json", data={"AnnounceUrl": "http://127.0.0.1:9/ann"}, headers=h)
        assert resp.status == 200  # a and b hear it (c is held): its fetch fails for both, each notified

        async def failed() -> bool:
            hooks = await flow.store.read(list_webhooks)
            return any(w.kind == "conference" and w.event == "announcement-fail" for w in hooks)

        for _ in range(100):
            if await failed():
                break
            await asyncio.sleep(0.05)
        assert await failed()
        assert await flow.store.read(list_notifications, b.sid)
        # kick c: its document goes on at <Dial action>
        resp = await api.client.delete(f"{base}/Participants/{c.sid}.json", headers=h)
        assert resp.status == 204
        await flow.wait_status(c.sid, ("completed",))
        [after] = flow.backend.requests_to("/after")
        assert after["CallSid"] == c.sid and after["DialCallStatus"] == "completed"
        resp = await api.client.get(f"{base}/Participants/{c.sid}.json", headers=h)
        assert resp.status == 404
        resp = await api.client.get(f"{base}/Recordings.json", headers=h)
        assert resp.status == 200 and (await resp.json())["recordings"] == []  # nobody asked to record it
        resp = await api.client.get(f"{base.replace(key, 'CF' + '0' * 32)}/Recordings.json", headers=h)
        assert resp.status == 404  # no such conference
        # end it: everyone leaves with conference-ended-via-api
        resp = await api.client.post(f"{base}.json", data={"Status": "completed"}, headers=h)
        body = await resp.json()
        assert body["status"] == "completed" and body["reason_conference_ended"] == "conference-ended-via-api"
        for sid in (a.sid, b.sid):
            await flow.wait_status(sid, ("completed",))
        assert key not in flow.sip.rooms
        resp = await api.client.post(f"{base}/Participants/{a.sid}.json", data={"Muted": "true"}, headers=h)
        assert resp.status == 404
    finally:
        await api.client.close()
    hooks = [dict(w.params) for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
    names = [p["StatusCallbackEvent"] for p in hooks]
    for name in ("participant-mute", "participant-hold", "participant-modify", "announcement-fail"):
        assert name in names, name
    assert names[-1] == "conference-end" and hooks[-1]["ReasonConferenceEnded"] == "conference-ended-via-api"
    left = [p for p in hooks if p["StatusCallbackEvent"] == "participant-leave"]
    assert [p["ReasonParticipantLeft"] for p in left] == ["participant_updated_via_api"] + [
        "conference_ended_via_api"
    ] * 2
    assert [int(p["SequenceNumber"]) for p in hooks] == list(range(1, len(hooks) + 1))


async def test_time_limit_and_a_live_update_take_a_participant_out(flow: Flow) -> None:
    flow.backend.docs["/moved"] = "<Response><Say>moved</Say></Response>"
    stay = await flow.create(url=room_doc(flow, "/stay"))
    timed = await flow.create(to="+15005550007", url=room_doc(flow, "/timed", dial='action="/after" timeLimit="60"'))
    moved = await flow.create(to="+15005550008", url=room_doc(flow, "/moved-room"))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 3)
    key = media_room(flow)
    flow.dispatcher.clock.fire_within(61)  # type: ignore[attr-defined]  # <Dial timeLimit>
    await flow.wait_status(timed.sid, ("completed",))
    [after] = flow.backend.requests_to("/after")
    assert after["CallSid"] == timed.sid and after["DialCallStatus"] == "completed"
    await flow.calls.update(flow.project, moved.sid, CallUpdate(url=flow.backend.url("/moved")), "/x")
    await flow.wait_status(moved.sid, ("completed",))
    assert ("moved", "man", "en-US") in flow.tts.spoken
    assert flow.sip.rooms[key] == {stay.sid: (False, "")}  # the room goes on with the one left
    assert len(flow.backend.requests_to("/after")) == 1  # the update's document ran, not <Dial action>
    flow.sip.remote_hangup(stay.sid)
    await flow.wait_status(stay.sid, ("completed",))


async def test_wait_url_document_runs_until_the_room_starts_and_a_failing_one_is_silence(flow: Flow) -> None:
    flow.backend.docs["/wait"] = (
        "<Response><Say>please wait</Say><Dial>+15005550009</Dial><Pause length='30'/></Response>"
    )
    a = await flow.create(url=room_doc(flow, "/a", 'waitUrl="/wait" waitMethod="POST"'))
    await flow.wait_for(lambda: ("please wait", "man", "en-US") in flow.tts.spoken)
    [wait] = flow.backend.requests_to("/wait")
    assert wait["CallSid"] == a.sid and wait["ConferenceSid"].startswith("CF") and wait["FriendlyName"] == "room"
    assert plays(flow, a.sid, WAIT_PLAY_ID) == 0  # the document, not the built-in music
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b"))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 2)
    notes = await flow.store.read(list_notifications, a.sid)
    assert [n.error_code for n in notes] == [12200] and "<Dial>" in notes[0].message_text  # not a wait verb
    # a waitUrl that fails: a notification, silence, and the room still starts
    c = await flow.create(to="+15005550008", url=room_doc(flow, "/c", 'waitUrl="/missing"', name="other"))
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/missing")))
    d = await flow.create(to="+15005550009", url=room_doc(flow, "/d", name="other"))
    await flow.wait_for(lambda: len(flow.sip.rooms) == 2)
    notes = await flow.store.read(list_notifications, c.sid)
    assert [n.error_code for n in notes] == [11200]
    assert plays(flow, c.sid, WAIT_PLAY_ID) == 0 and (
        "application error" not in " ".join(t[0] for t in flow.tts.spoken).lower()
    )
    for sid in (a.sid, b.sid, c.sid, d.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_participants_create_places_a_call_that_joins_the_room(flow: Flow) -> None:
    a = await flow.create(url=room_doc(flow, "/a", 'participantLabel="host"'))
    await flow.wait_for(lambda: plays(flow, a.sid, WAIT_PLAY_ID) == 1)
    key = next(iter(conferences(flow).by_sid))
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project, controller=flow.dispatcher)
    api.services.conferences = conferences(flow)
    h = api.auth
    try:
        data = {"From": "+15005550100", "To": "+15005550007", "Label": "guest", "Muted": "true", "Beep": "false"}
        resp = await api.client.post(f"{api.base}/Conferences/{key}/Participants.json", data=data, headers=h)
        assert resp.status == 201, await resp.text()
        body: Any = await resp.json()
        assert body["status"] == "queued" and body["label"] == "guest" and body["muted"] is True
        assert body["conference_sid"] == key and body["call_sid"].startswith("CA")
        guest = body["call_sid"]
        await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms.get(key, {})) == 2)
        assert flow.sip.rooms[key][guest] == (True, "")  # muted, in the room started by its join
        body = await (await api.client.get(f"{api.base}/Conferences/{key}/Participants/guest.json", headers=h)).json()
        assert body["call_sid"] == guest and body["status"] == "connected"
        # by name: a room that does not exist yet is made when the call joins
        data = {"From": "+15005550100", "To": "+15005550008", "StartConferenceOnEnter": "false"}
        resp = await api.client.post(f"{api.base}/Conferences/new%20room/Participants.json", data=data, headers=h)
        body = await resp.json()
        assert resp.status == 201 and body["conference_sid"] is None and "/Conferences/new%20room/" in body["uri"]
        await flow.wait_for(lambda: any(r.name == "new room" for r in conferences(flow).by_sid.values()))
        resp = await api.client.post(f"{api.base}/Conferences/CF{'0' * 32}/Participants.json", data=data, headers=h)
        assert resp.status == 404  # a CF sid names a known room only
        resp = await api.client.post(
            f"{api.base}/Conferences/x/Participants.json", data={**data, "Region": "ie1"}, headers=h
        )
        assert resp.status == 400 and "Region" in (await resp.json())["message"]
    finally:
        await api.client.close()
    for sid in [a.sid, guest, *(p for r in conferences(flow).by_sid.values() for p in r.participants)]:
        if sid in flow.sip.calls and not flow.sip.calls[sid].ended:
            flow.sip.remote_hangup(sid)
            await flow.wait_status(sid, ("completed",))


async def test_announce_url_plays_to_the_room_then_to_one_participant(flow: Flow) -> None:
    events = 'statusCallback="http://127.0.0.1:9/conf" statusCallbackEvent="announcement"'
    flow.backend.docs["/ann"] = "<Response><Say>attention please</Say><Dial>+15005550009</Dial></Response>"
    a = await flow.create(url=room_doc(flow, "/a", events))
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/b", 'participantLabel="bee"'))
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 2)
    key = media_room(flow)
    room = conferences(flow).by_sid[key]
    await conferences(flow).announce(room, flow.backend.url("/ann"))
    await flow.wait_for(lambda: flow.tts.spoken.count(("attention please", "man", "en-US")) == 2)

    async def announced(count: int) -> list[dict[str, str]]:
        for _ in range(100):
            hooks = [dict(w.params) for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
            if len(hooks) >= count:
                return hooks
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} announcement callbacks never came")

    [end] = await announced(1)
    assert end["StatusCallbackEvent"] == "announcement-end" and end["AnnounceUrl"].endswith("/ann")
    assert "CallSid" not in end  # the room's announcement
    requests = flow.backend.requests_to("/ann")
    assert {r["CallSid"] for r in requests} == {a.sid, b.sid} and {r["ConferenceSid"] for r in requests} == {key}
    # to one participant
    part = Conferences.participant(room, "bee")
    assert part is not None
    await conferences(flow).announce(room, flow.backend.url("/ann"), "GET", part)
    _, one = await announced(2)
    assert one["StatusCallbackEvent"] == "announcement-end" and one["CallSid"] == b.sid
    assert flow.tts.spoken.count(("attention please", "man", "en-US")) == 3
    for sid in (a.sid, b.sid):
        flow.sip.remote_hangup(sid)
        await flow.wait_status(sid, ("completed",))


async def test_a_participant_created_with_conference_record_records_the_room_and_rest_shows_it(flow: Flow) -> None:
    a = await flow.create(url=room_doc(flow, "/a", name="rec room"))
    await flow.wait_for(lambda: plays(flow, a.sid, WAIT_PLAY_ID) == 1)
    key = next(iter(conferences(flow).by_sid))
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project, controller=flow.dispatcher)
    api.services.conferences = conferences(flow)
    h = api.auth
    try:
        base = f"{api.base}/Conferences/{key}"
        bad = {"From": "+15005550100", "To": "+15005550007", "ConferenceRecord": "always"}
        resp = await api.client.post(f"{base}/Participants.json", data=bad, headers=h)
        assert resp.status == 400 and "ConferenceRecord" in (await resp.json())["message"]
        data = {
            "From": "+15005550100",
            "To": "+15005550007",
            "ConferenceRecord": "true",
            "ConferenceTrim": "do-not-trim",
            "ConferenceRecordingStatusCallback": "http://127.0.0.1:9/rec",
            "ConferenceRecordingStatusCallbackEvent": "in-progress completed",
        }
        resp = await api.client.post(f"{base}/Participants.json", data=data, headers=h)
        assert resp.status == 201, await resp.text()
        guest = (await resp.json())["call_sid"]
        await flow.wait_for(lambda: len(flow.sip.room_recordings) == 1)
        [rec_sid] = flow.sip.room_recordings
        body: Any = await (await api.client.get(f"{base}/Recordings.json", headers=h)).json()
        [live] = body["recordings"]
        assert live["sid"] == rec_sid and live["status"] == "in-progress" and live["conference_sid"] == key
        assert live["call_sid"] is None and live["uri"].endswith(f"/Conferences/{key}/Recordings/{rec_sid}.json")
        await asyncio.sleep(1.1)
        resp = await api.client.post(f"{api.base}/Conferences/{key}.json", data={"Status": "completed"}, headers=h)
        assert resp.status == 200
        await flow.wait_for(lambda: any(c[1] == "recording-completed" for c in flow.callbacks))
        body = await (await api.client.get(f"{base}/Recordings/{rec_sid}.json", headers=h)).json()
        assert body["status"] == "completed" and body["source"] == "Conference" and body["channels"] == 1
        assert int(body["duration"]) >= 1 and body["conference_sid"] == key and body["call_sid"] is None
        body = await (await api.client.get(f"{api.base}/Recordings.json", headers=h)).json()
        assert [r["sid"] for r in body["recordings"]] == [rec_sid]  # the account's list has it
        resp = await api.client.get(f"{api.base}/Recordings/{rec_sid}.wav")  # the media at the usual URL
        assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"
        resp = await api.client.post(f"{base}/Recordings/{rec_sid}.json", data={"Status": "paused"}, headers=h)
        assert resp.status == 400 and "Status" in (await resp.json())["message"]
        other = f"{api.base}/Conferences/CF{'0' * 32}/Recordings/{rec_sid}.json"
        assert (await api.client.get(other, headers=h)).status == 404
        assert (await api.client.delete(f"{base}/Recordings/{rec_sid}.json", headers=h)).status == 204
        assert (await api.client.get(f"{base}/Recordings/{rec_sid}.json", headers=h)).status == 404
    finally:
        await api.client.close()
    for sid in (a.sid, guest):
        await flow.wait_status(sid, ("completed",))


async def test_members_leaving_together_end_the_room_once(flow: Flow) -> None:
    """Three hang up at the same moment: each leave awaits its work, and only the one that left
    the room empty ends it (one conference-end, found by the conference bench: one per member)."""
    sids = []
    for i, to in enumerate(("+15005550006", "+15005550007", "+15005550008")):
        sids.append((await flow.create(to=to, url=room_doc(flow, f"/t{i}", CB))).sid)
    await flow.wait_for(lambda: bool(flow.sip.rooms) and len(flow.sip.rooms[media_room(flow)]) == 3)
    for sid in sids:
        flow.sip.remote_hangup(sid)
    for sid in sids:
        await flow.wait_status(sid, ("completed",))
    await flow.wait_for(lambda: not flow.sip.rooms)
    await asyncio.sleep(0.2)
    events = [w.event for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
    assert events.count("conference-end") == 1 and events[-1] == "conference-end", events
    assert events.count("participant-leave") == 3


async def test_a_member_the_room_cannot_take_in_is_notified_and_its_dial_fails(flow: Flow) -> None:
    """The room's home has no relay port left for a member of another worker: not a deaf member
    listed as joined, but a 12400 notification, participant-leave (participant_add_failed) and its
    <Dial action> with DialCallStatus failed."""
    from wirexa.errors import SipError

    a = await flow.create(url=room_doc(flow, "/f1", CB))
    join = flow.sip.room_join

    async def no_port(room: str, call_sid: CallSid, muted: bool = False, coach: str = "") -> None:
        if call_sid != a.sid:
            raise SipError("worker 0 has no relay port left")
        await join(room, call_sid, muted, coach)

    flow.sip.room_join = no_port  # type: ignore[method-assign]
    b = await flow.create(to="+15005550007", url=room_doc(flow, "/f2", CB))
    await flow.wait_for(lambda: any(r["CallSid"] == b.sid for r in flow.backend.requests_to("/after")))
    [after] = [r for r in flow.backend.requests_to("/after") if r["CallSid"] == b.sid]
    assert after["DialCallStatus"] == "failed"
    notes = await flow.store.read(list_notifications, b.sid)
    assert any(n.error_code == 12400 and "no relay port" in n.message_text for n in notes)
    hooks = [dict(w.params) for w in await flow.store.read(list_webhooks) if w.kind == "conference"]
    left = [h for h in hooks if h["StatusCallbackEvent"] == "participant-leave" and h["CallSid"] == b.sid]
    assert left and left[0]["ReasonParticipantLeft"] == "participant_add_failed"
    flow.sip.remote_hangup(a.sid)
    await flow.wait_status(a.sid, ("completed",))
