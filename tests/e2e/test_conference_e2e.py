"""Conference rooms end to end (issue 25): `wirexa serve` (the shared engine), twilio-python, five
sandbox callees in one room. One callee's voice is a 440 Hz tone, a muted one's 700 Hz; the other
three are silent (one of them added through the Participants resource). What only the whole stack shows: each other callee heard the 440 Hz member (its
WAV), nobody heard the muted one, the tone's callee did not hear itself; the five calls sit in
more than one SIP worker (4 calls each, the least loaded first), so relayed members are heard;
`wirexa conferences list|show` see the room and its participants and `wirexa conferences end`
ends it: everyone goes on at <Dial action>; the status callbacks arrive in order. A room with
speaker events: a callee that says one sentence (a recorded utterance, 2 s after answering) makes
one participant-speech-start and one participant-speech-stop, between its join and its leave, and
its silent partner none. A recorded room of two (the 440 Hz and the 700 Hz callee): its one mono
recording holds both tones, is the conference's (conference_sid, no call_sid) in the REST API and
at Conferences/{CF}/Recordings, and its recordingStatusCallback names the conference.

The shared engine's sandbox.toml gets the two tone callees and the talker for the module (and a
SIGHUP, which re-reads it); the module puts the file back as it found it."""

from __future__ import annotations

import email.utils
import io
import json
import signal
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.agent import tone_level, tone_seconds
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.test_streams_e2e import heard
from tests.e2e.webapp import WebApp
from wirexa.media.audio import tone_pcm, wav_bytes

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)
# 440 Hz, 700 Hz, silence; TALKER says "I would like to talk to sales please" 2 s after answering, once
LOUD, MUTED, SILENT, TALKER = "+15005550046", "+15005550047", "+15005550031", "+15005550048"
ROOM = "e2e room"
TALK_DELAY_S = 2.0


def _reloads(engine: LiveServer) -> int:
    return engine.log.read_text(errors="replace").count("sandbox callees re-read from")


def _reload(engine: LiveServer) -> None:
    before = _reloads(engine)
    assert engine.proc is not None
    engine.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while _reloads(engine) == before:
        assert time.monotonic() < deadline, "the engine did not re-read sandbox.toml"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def tones(engine: LiveServer) -> Iterator[None]:
    path = Path(engine.env["WIREXA_SANDBOX_CONFIG"])
    original = path.read_text()
    for name, freq in (("conf-440.wav", 440), ("conf-700.wav", 700)):
        (path.parent / name).write_bytes(wav_bytes(tone_pcm(freq, 20000, amplitude=0.3)))
    with wave.open(str(path.parent / "sentence.wav")) as said:  # the shared engine's recorded utterance
        params, frames = said.getparams(), said.readframes(said.getnframes())
    with wave.open(str(path.parent / "conf-talk.wav"), "wb") as talk:  # silence first: it joins meanwhile
        talk.setparams(params)
        talk.writeframes(bytes(int(TALK_DELAY_S * params.framerate) * params.sampwidth * params.nchannels) + frames)
    path.write_text(
        original + f'\n[numbers."{LOUD}"]\nanswer = "conf-440.wav"\n[numbers."{MUTED}"]\nanswer = "conf-700.wav"\n'
        f'[numbers."{TALKER}"]\nanswer = "conf-talk.wav"\n'
    )
    _reload(engine)
    yield
    path.write_text(original)
    _reload(engine)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/after"] = "<Response><Hangup/></Response>"  # <Dial action> of a call that left the room alive
    yield app
    app.close()


def room(web: WebApp, attrs: str = "") -> str:
    events = "start end join leave"
    return (
        f'<Response><Dial action="{web.url("/after")}"><Conference statusCallback="{web.url("/conf")}"'
        f' statusCallbackEvent="{events}" {attrs}>{ROOM}</Conference></Dial></Response>'
    )


def sip_health(engine: LiveServer) -> dict[str, Any]:
    with urllib.request.urlopen(engine.base_url + "/health", timeout=5) as resp:  # noqa: S310
        return json.loads(resp.read())["sip"]  # type: ignore[no-any-return]


def cli(engine: LiveServer, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "conferences", *args, "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    return out.stdout


def test_five_callees_across_workers_hear_every_unmuted_member(engine: LiveServer, web: WebApp, tones: None) -> None:
    client = engine.client()
    started = time.monotonic()
    loud = create(engine, to=LOUD, twiml=room(web, 'participantLabel="loud"'))
    sid = web.wait("/conf", count=1)[0].form["ConferenceSid"]  # loud is in the room, waiting with the music
    listeners = [create(engine, to=SILENT, twiml=room(web)).sid for _ in range(2)]
    # the third listener through the Participants resource: an outbound call joining when answered
    created = client.conferences(sid).participants.create(from_="+15005550100", to=SILENT, label="third")
    assert created.status == "queued" and created.conference_sid == sid
    listeners.append(created.call_sid)
    muted = create(engine, to=MUTED, twiml=room(web, 'muted="true"')).sid
    joined = [r.form for r in web.wait("/conf", count=6)]  # 5 joins and the start
    assert sip_health(engine)["relayed_room_members"] >= 1  # some members are in another worker
    everyone = {loud.sid, muted, *listeners}
    rooms = [json.loads(line) for line in cli(engine, "list", "--json").splitlines()]
    live = [r for r in rooms if r["friendly_name"] == ROOM and r["status"] == "in-progress"]
    assert len(live) == 1
    shown = json.loads(cli(engine, "show", ROOM, "--json"))
    assert shown["sid"] == live[0]["sid"] and {p["call_sid"] for p in shown["participants"]} == everyone
    assert [p["muted"] for p in shown["participants"] if p["call_sid"] == muted] == [True]
    time.sleep(3)
    assert cli(engine, "end", ROOM).startswith(f"ended {live[0]['sid']}")
    for sid in everyone:  # each goes on at its <Dial action>, which hangs up (the created one: its document ends)
        assert wait_final(client, sid).status == "completed"
    after = {r.form["CallSid"]: r.form for r in web.wait("/after", count=4)}  # the created one has no action
    assert set(after) == everyone - {created.call_sid} and {f["DialCallStatus"] for f in after.values()} == {
        "completed"
    }
    for sid in listeners:
        pcm = heard(engine, sid)
        assert tone_seconds(pcm, 440) > 1.5, sid  # the loud member, wherever each call is
        assert tone_seconds(pcm, 700) == 0, sid  # the muted member: heard by nobody
    loud_heard = heard(engine, loud.sid)
    assert tone_seconds(loud_heard, 440) == 0  # nobody hears themselves
    assert tone_seconds(loud_heard, 700) == 0

    hooks = web.wait("/conf", count=12)  # 5 joins, start, 5 leaves, end
    forms = sorted((h.form for h in hooks), key=lambda f: int(f["SequenceNumber"]))  # the outbox may reorder calls
    events = [f["StatusCallbackEvent"] for f in forms]
    assert events.count("participant-join") == 5 and events.count("participant-leave") == 5
    # the room starts with its second member; a member joining at that moment may be numbered before
    # the start (its join is decided while the start is sent): joins only before it, the end last
    start = events.index("conference-start")
    assert start >= 2 and set(events[:start]) == {"participant-join"} and events[-1] == "conference-end"
    assert [int(f["SequenceNumber"]) for f in forms] == list(range(1, 13))
    assert len({f["ConferenceSid"] for f in forms}) == 1 and {f["FriendlyName"] for f in forms} == {ROOM}
    assert forms[0]["ParticipantLabel"] == "loud" and forms[0]["CallSid"] == loud.sid
    assert [f["Muted"] for f in forms if f["StatusCallbackEvent"] == "participant-join" and f["CallSid"] == muted] == [
        "true"
    ]
    assert forms[-1]["ReasonConferenceEnded"] == "conference-ended-via-api"
    reasons = {f["ReasonParticipantLeft"] for f in forms if f["StatusCallbackEvent"] == "participant-leave"}
    assert reasons == {"conference_ended_via_api"}
    assert {f["CallSid"] for f in joined if "CallSid" in f} == {loud.sid, muted, *listeners}
    assert time.monotonic() - started < 60


def test_a_talking_participant_makes_one_speech_start_and_one_stop(
    engine: LiveServer, web: WebApp, tones: None
) -> None:
    client = engine.client()
    doc = (
        f'<Response><Dial action="{web.url("/after")}"><Conference statusCallback="{web.url("/speech")}"'
        ' statusCallbackEvent="join leave speaker" participantLabel="{label}">e2e speakers</Conference></Dial></Response>'
    )
    talker = create(engine, to=TALKER, twiml=doc.replace("{label}", "talker")).sid
    silent = create(engine, to=SILENT, twiml=doc.replace("{label}", "silent")).sid
    stop = next(
        r.form
        for r in web.wait("/speech", talker, count=3, timeout=40)  # its join, speech start and stop
        if r.form["StatusCallbackEvent"] == "participant-speech-stop"
    )
    sid = stop["ConferenceSid"]
    time.sleep(1.0)  # nothing more comes: the sentence's pauses did not stop and restart it
    client.conferences(sid).update(status="completed")
    for call in (talker, silent):
        assert wait_final(client, call).status == "completed"
    web.wait("/speech", talker, count=4)  # and its leave
    web.wait("/speech", silent, count=2)  # its join and leave
    forms = sorted(
        (h.form for h in web.to("/speech")), key=lambda f: int(f["SequenceNumber"])
    )  # the outbox may reorder
    assert [int(f["SequenceNumber"]) for f in forms] == list(range(1, 7))
    got = [(f["StatusCallbackEvent"], f["CallSid"]) for f in forms]
    speech = [g for g in got if g[0].startswith("participant-speech")]
    assert speech == [("participant-speech-start", talker), ("participant-speech-stop", talker)], got
    assert got.index(("participant-join", talker)) < got.index(speech[0])  # watched from its join
    assert got.index(speech[1]) < got.index(("participant-leave", talker))
    assert sorted(g for g in got if not g[0].startswith("participant-speech")) == sorted(
        [("participant-join", talker), ("participant-join", silent), ("participant-leave", talker)]
        + [("participant-leave", silent)]
    )
    start, stop = (f for f in forms if f["StatusCallbackEvent"].startswith("participant-speech"))
    for form in (start, stop):
        assert form["ConferenceSid"] == sid and form["FriendlyName"] == "e2e speakers"
        assert form["AccountSid"] == engine.project_id and form["ParticipantLabel"] == "talker"
        assert form["Muted"] == "false" and form["Hold"] == "false" and form["Coaching"] == "false"
        assert form["EndConferenceOnExit"] == "false" and form["StartConferenceOnEnter"] == "true"
    # the sentence lasts ~2.3 s and the stop comes after the hangover: seconds apart (RFC 2822 times)
    talked = email.utils.parsedate_to_datetime(stop["Timestamp"]) - email.utils.parsedate_to_datetime(
        start["Timestamp"]
    )
    assert 2 <= talked.total_seconds() <= 5


def test_a_recorded_room_of_two_holds_both_voices(engine: LiveServer, web: WebApp, tones: None) -> None:
    """record-from-start: the room's mix from its start (the second callee's join) to its end (the
    REST update), one channel holding each callee's tone; the hold music before is never recorded."""
    client = engine.client()
    attrs = (
        f'record="record-from-start" trim="do-not-trim" recordingStatusCallback="{web.url("/room-rec")}"'
        ' recordingStatusCallbackEvent="in-progress completed"'
    )
    twiml = f"<Response><Dial><Conference {attrs}>e2e recorded room</Conference></Dial></Response>"
    low = create(engine, to=LOUD, twiml=twiml)  # 440 Hz
    time.sleep(1)  # alone with the hold music: not recorded
    high = create(engine, to=MUTED, twiml=twiml)  # 700 Hz, not muted here
    started = web.wait("/room-rec", count=1)[0].form
    conference = started["ConferenceSid"]
    assert started["RecordingStatus"] == "in-progress" and conference.startswith("CF") and "CallSid" not in started
    time.sleep(4)
    assert client.conferences(conference).update(status="completed").status == "completed"
    for sid in (low.sid, high.sid):
        assert wait_final(client, sid).status == "completed"
    done = web.wait("/room-rec", count=2)[1].form
    assert done["RecordingStatus"] == "completed" and done["RecordingSid"] == started["RecordingSid"]
    assert done["ConferenceSid"] == conference and done["AccountSid"] == low.account_sid and "CallSid" not in done
    assert done["RecordingSource"] == "DialConference" and done["RecordingChannels"] == "1"
    assert 3 <= int(done["RecordingDuration"]) <= 7 and done["RecordingStartTime"].endswith("+0000")
    rec = client.recordings(done["RecordingSid"]).fetch()
    assert rec.conference_sid == conference and rec.call_sid is None and rec.source == "Conference"
    assert [r.sid for r in client.conferences(conference).recordings.list()] == [rec.sid]
    with urllib.request.urlopen(done["RecordingUrl"], timeout=10) as resp:  # noqa: S310 - the engine's own URL
        with wave.open(io.BytesIO(resp.read())) as w:
            assert (w.getnchannels(), w.getframerate()) == (1, 8000)
            pcm = w.readframes(w.getnframes())
    # Each 100 ms of the mix: both tones, each a good share of the power; the 1000 Hz beep never.
    step = 1600
    windows = [pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step)]
    both = [w for w in windows if tone_level(w, 440) > 0.2 and tone_level(w, 700) > 0.2]
    assert len(both) * 0.1 >= 2.5, (len(both), len(windows))
    assert all(tone_level(w, 1000) < 0.1 for w in windows)
