"""Conference rooms end to end (issue 25): `wirexa serve` (the shared engine), twilio-python, five
sandbox callees in one room. One callee's voice is a 440 Hz tone, a muted one's 700 Hz; the other
three are silent (one of them added through the Participants resource). What only the whole stack shows: each other callee heard the 440 Hz member (its
WAV), nobody heard the muted one, the tone's callee did not hear itself; the five calls sit in
more than one SIP worker (4 calls each, the least loaded first), so relayed members are heard;
`wirexa conferences list|show` see the room and its participants and `wirexa conferences end`
ends it: everyone goes on at <Dial action>; the status callbacks arrive in order.

The shared engine's sandbox.toml gets the two tone callees for the module (and a SIGHUP, which
re-reads it); the module puts the file back as it found it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.agent import tone_seconds
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.test_streams_e2e import heard
from tests.e2e.webapp import WebApp
from wirexa.media.audio import tone_pcm, wav_bytes

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)
LOUD, MUTED, SILENT = "+15005550041", "+15005550042", "+15005550031"  # 440 Hz, 700 Hz, silence
ROOM = "e2e room"


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
    path.write_text(
        original + f'\n[numbers."{LOUD}"]\nanswer = "conf-440.wav"\n[numbers."{MUTED}"]\nanswer = "conf-700.wav"\n'
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
    assert events.index("conference-start") == 2 and events[-1] == "conference-end"
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
