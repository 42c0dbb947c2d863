"""End to end as a user: `wirexa init` + `wirexa serve`, twilio-python creating calls, real SIP to
the sandbox carrier, the customer's web app receiving documents requests and status callbacks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import LiveServer, engine_fixture, make_live_server
from tests.e2e.webapp import WebApp

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ENDED = ("completed", "busy", "failed", "no-answer", "canceled")

# The shared engine: its sandbox's callees are tests/conftest.py SANDBOX_CALLEES (busy, ring, fail,
# decline and machine on 01-05, keys pressed on 10-15 and 19, hangups on 30 and 13125550100, silence on 31).
engine = engine_fixture(shared=True)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    yield app
    app.close()


def wait_final(client: Any, sid: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = client.calls(sid).fetch()
        if call.status in ENDED:
            return call
        time.sleep(0.25)
    raise AssertionError(f"call {sid} still {call.status}")


def create(engine: LiveServer, **kw: Any) -> Any:
    kw.setdefault("from_", "+15005550100")
    return engine.client().calls.create(**kw)


def test_done_when_say_to_a_person_completes_with_callbacks(engine: LiveServer, web: WebApp) -> None:
    client = engine.client()
    call = create(
        engine,
        to="+15005550006",
        twiml="<Response><Say>Hello from Wirexa. This is a real call.</Say></Response>",
        status_callback=web.url("/status"),
    )
    assert call.status == "queued"
    done = wait_final(client, call.sid)
    assert done.status == "completed" and int(done.duration) >= 1
    hits = web.wait("/status", call.sid, count=4)
    assert [h.form["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert [int(h.form["SequenceNumber"]) for h in hits] == [0, 1, 2, 3]
    final = hits[-1].form
    assert final["CallDuration"] == done.duration and final["SipResponseCode"] == "200"
    assert final["AccountSid"] == engine.project_id and final["Direction"] == "outbound-api"
    validator = RequestValidator(engine.auth_token)
    assert all(validator.validate(h.url, h.form, h.headers["X-Twilio-Signature"]) for h in hits)
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "sandbox", "show", call.sid, "--json", "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    heard = json.loads(out.stdout)
    assert heard["audio"]["speech_fraction"] > 0.3  # the callee heard the Say
    assert heard["audio"]["duration_s"] >= 1.5


@pytest.mark.parametrize(
    ("number", "status", "timeout"),
    [
        ("+15005550001", "busy", None),
        ("+15005550002", "no-answer", 3),
        ("+15005550003", "failed", None),
        ("+15005550004", "busy", None),
        ("+15005550005", "completed", None),
    ],
)
def test_default_callees(engine: LiveServer, number: str, status: str, timeout: int | None) -> None:
    kw: dict[str, Any] = {"timeout": timeout} if timeout else {}
    call = create(engine, to=number, twiml="<Response><Pause length='1'/></Response>", **kw)
    assert wait_final(engine.client(), call.sid).status == status


def test_gather_num_digits_over_sip(engine: LiveServer, web: WebApp) -> None:
    web.docs["/g1"] = (
        '<Response><Gather numDigits="1" timeout="6" action="/g1-done"><Say>Press a key now.</Say></Gather><Say>Nothing.</Say></Response>'
    )
    web.docs["/g1-done"] = "<Response><Say>Thanks.</Say></Response>"
    call = create(engine, to="+15005550010", url=web.url("/g1"))
    [hit] = web.wait("/g1-done", call.sid)
    assert hit.form["Digits"] == "1"
    assert wait_final(engine.client(), call.sid).status == "completed"


def test_gather_finish_on_key_over_sip(engine: LiveServer, web: WebApp) -> None:
    web.docs["/g2"] = (
        '<Response><Gather timeout="6" finishOnKey="#" action="/g2-done"><Say>Enter your pin.</Say></Gather></Response>'
    )
    web.docs["/g2-done"] = "<Response><Hangup/></Response>"
    call = create(engine, to="+15005550012", url=web.url("/g2"))
    [hit] = web.wait("/g2-done", call.sid)
    assert hit.form["Digits"] == "1234"


def test_gather_timeout_falls_through(engine: LiveServer, web: WebApp) -> None:
    web.docs["/g3"] = (
        '<Response><Gather timeout="2" action="/g3-done"><Say>Press nothing.</Say></Gather><Redirect>/g3-after</Redirect></Response>'
    )
    web.docs["/g3-after"] = "<Response><Hangup/></Response>"
    call = create(engine, to="+15005550006", url=web.url("/g3"))
    web.wait("/g3-after", call.sid)
    assert web.to("/g3-done", call.sid) == []


@pytest.mark.parametrize(
    ("number", "record", "how"),
    # The answering machine talks for ~10 s, so its recording survives trim-silence; the silent
    # callees' recordings would be trimmed to nothing (and skipped, as on Twilio) without do-not-trim.
    [
        ("+15005550005", '<Record timeout="2" maxLength="30" playBeep="true" action="/rec-done"/>', "silence"),
        ("+15005550031", '<Record timeout="0" maxLength="2" trim="do-not-trim" action="/rec-done"/>', "max-length"),
        (
            "+15005550013",
            '<Record timeout="0" maxLength="30" finishOnKey="#" trim="do-not-trim" action="/rec-done"/>',
            "key",
        ),
    ],
)
def test_record_over_sip(engine: LiveServer, web: WebApp, number: str, record: str, how: str) -> None:
    web.docs["/rec"] = f"<Response><Say>Leave a message.</Say>{record}</Response>"
    web.docs["/rec-done"] = "<Response><Hangup/></Response>"
    call = create(engine, to=number, url=web.url("/rec"))
    [hit] = web.wait("/rec-done", call.sid)
    form = hit.form
    assert form["RecordingSid"].startswith("RE") and form["RecordingUrl"].endswith(form["RecordingSid"])
    duration = int(form["RecordingDuration"])
    if how == "max-length":
        assert 1 <= duration <= 3 and form.get("Digits", "") == ""
    elif how == "key":
        assert form["Digits"] == "#" and 2 <= duration <= 5
    else:
        assert form.get("Digits", "") == "" and duration >= 3  # the greeting, trimmed
    rec = engine.client().recordings(form["RecordingSid"]).fetch()
    assert rec.call_sid == call.sid and rec.status == "completed"
    import urllib.request

    with urllib.request.urlopen(form["RecordingUrl"] + ".wav", timeout=5) as resp:  # noqa: S310
        assert resp.headers["Content-Type"] == "audio/x-wav" and len(resp.read()) > 8000


@pytest.mark.parametrize(
    ("target", "attrs", "expected"),
    [("+15005550030", "", "completed"), ("+15005550001", "", "busy"), ("+15005550002", ' timeout="3"', "no-answer")],
)
def test_dial_over_sip(engine: LiveServer, web: WebApp, target: str, attrs: str, expected: str) -> None:
    web.docs["/dial"] = f'<Response><Dial action="/dial-done"{attrs}>{target}</Dial></Response>'
    web.docs["/dial-done"] = "<Response><Hangup/></Response>"
    call = create(engine, to="+15005550006", url=web.url("/dial"))
    [hit] = web.wait("/dial-done", call.sid)
    assert hit.form["DialCallStatus"] == expected
    child = engine.client().calls(hit.form["DialCallSid"]).fetch()
    assert child.parent_call_sid == call.sid and child.direction == "outbound-dial"
    if expected == "completed":
        assert int(hit.form["DialCallDuration"]) >= 1


def test_simultaneous_dial_over_sip_connects_the_leg_that_answers(engine: LiveServer, web: WebApp) -> None:
    web.docs["/dial2"] = (
        '<Response><Dial action="/dial2-done"><Number>+15005550001</Number><Number>+15005550030</Number></Dial></Response>'
    )
    web.docs["/dial2-done"] = "<Response><Hangup/></Response>"
    call = create(engine, to="+15005550006", url=web.url("/dial2"))
    [hit] = web.wait("/dial2-done", call.sid)
    assert hit.form["DialCallStatus"] == "completed" and int(hit.form["DialCallDuration"]) >= 1
    legs = {c.to: c for c in engine.client().calls.list(parent_call_sid=call.sid)}
    assert legs["+15005550030"].sid == hit.form["DialCallSid"] and legs["+15005550001"].status == "busy"


def test_twelve_concurrent_calls(engine: LiveServer) -> None:
    client = engine.client()
    sids = [
        create(engine, to="+15005550006", twiml="<Response><Say>Hi</Say><Pause length='2'/></Response>").sid
        for _ in range(12)
    ]
    assert {wait_final(client, s, timeout=90).status for s in sids} == {"completed"}


def test_live_redirect_and_hangup_through_the_api(engine: LiveServer, web: WebApp) -> None:
    client = engine.client()
    web.docs["/long"] = '<Response><Pause length="30"/></Response>'
    web.docs["/voicemail"] = "<Response><Say>Voicemail.</Say><Pause length='30'/></Response>"
    call = create(engine, to="+15005550006", url=web.url("/long"))
    deadline = time.monotonic() + 15
    while client.calls(call.sid).fetch().status != "in-progress" and time.monotonic() < deadline:
        time.sleep(0.2)
    client.calls(call.sid).update(url=web.url("/voicemail"), method="POST")
    web.wait("/voicemail", call.sid)
    client.calls(call.sid).update(status="completed")
    assert wait_final(client, call.sid, timeout=15).status == "completed"


def test_kill_dash_9_with_queued_and_live_calls(tmp_path: Path, web: WebApp) -> None:
    server = make_live_server(tmp_path, {"WIREXA_CALLS_MAX_CONCURRENT": "1"})
    try:
        client = server.client()
        web.docs["/hold"] = '<Response><Pause length="60"/></Response>'
        live = create(server, to="+15005550006", url=web.url("/hold"), status_callback=web.url("/st"))
        deadline = time.monotonic() + 15
        while client.calls(live.sid).fetch().status != "in-progress" and time.monotonic() < deadline:
            time.sleep(0.2)
        queued = [
            create(server, to="+15005550006", twiml="<Response><Say>Queued call.</Say></Response>").sid
            for _ in range(2)
        ]
        assert {client.calls(s).fetch().status for s in queued} == {"queued"}
        server.kill_tree()
        server.start()
        client = server.client()
        assert client.calls(live.sid).fetch().status == "completed"  # finalized at start
        assert any(h.form["CallStatus"] == "completed" for h in web.wait("/st", live.sid, count=4))
        assert {wait_final(client, s).status for s in queued} == {"completed"}
    finally:
        server.stop()


# --- the product doc's backends, unchanged, over real SIP -----------------------------------


@pytest.fixture(scope="module")
def fastapi_backend() -> Iterator[str]:
    from tests.backends import run_backend

    with run_backend("fastapi") as url:
        yield url


@pytest.fixture(scope="module")
def flask_backend() -> Iterator[str]:
    from tests.backends import run_backend

    with run_backend("flask") as url:
        yield url


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("+15005550010", "transfer"),
        ("+15005550011", "support"),
        ("+15005550019", "removed"),
        ("+15005550015", "invalid"),
        ("+15005550006", "no key"),
    ],
)
def test_product_doc_fastapi_ivr_over_sip(engine: LiveServer, fastapi_backend: str, number: str, outcome: str) -> None:
    client = engine.client()
    call = create(engine, to=number, url=fastapi_backend + "/xml", status_callback=fastapi_backend + "/status")
    done = wait_final(client, call.sid, timeout=90)
    assert done.status == "completed"
    children = client.calls.list(parent_call_sid=call.sid)
    heard = json.loads(
        subprocess.run(
            [sys.executable, "-m", "wirexa", "sandbox", "show", call.sid, "--json", "--data-dir", str(engine.data_dir)],
            capture_output=True,
            text=True,
            check=True,
            env=engine.env,
        ).stdout
    )
    sent = [e["digits"] for e in heard["events"] if e["event"] == "digits sent"]
    duration = int(done.duration)
    if outcome == "transfer":
        assert sent == ["1"]
        assert len(children) == 1 and children[0].to == "+13125550100" and children[0].status == "completed"
    else:
        assert children == []
    if outcome in ("support", "removed"):
        assert len(sent) == 1 and duration < 12  # the key was taken: reply and goodbye at once
    if outcome == "no key":
        assert sent == [] and duration >= 12  # the 7 s Gather timeout ran, then the goodbye
    if outcome == "invalid":
        assert sent == ["5"] and duration >= 12  # the menu repeated and timed out


@pytest.mark.parametrize(("number", "digit"), [("+15005550010", "1"), ("+15005550011", "2")])
def test_product_doc_flask_backend_over_sip(engine: LiveServer, flask_backend: str, number: str, digit: str) -> None:
    client = engine.client()
    call = create(engine, to=number, url=flask_backend + "/xml", status_callback=flask_backend + "/status")
    assert wait_final(client, call.sid, timeout=60).status == "completed"
    notes = subprocess.run(
        [sys.executable, "-m", "wirexa", "calls", "show", call.sid, "--json", "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    assert json.loads(notes.stdout)["notifications"] == []


def test_real_trunk_from_the_config_file(tmp_path: Path, web: WebApp) -> None:
    """The same flow against a SIP trunk (SIPp) configured in wirexa.toml instead of the sandbox."""
    from tests.backends import free_udp_block

    port = free_udp_block(30000, 39000, 10)
    sipp = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(Path(__file__).parent.parent / "data" / "sipp" / "uas_answer.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
            "-rtp_echo",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    server = make_live_server(
        tmp_path, config={"trunk_host": f'"127.0.0.1:{port}"', "trunk_allowed_caller_ids": '"+18005550100"'}
    )
    try:
        health = json.loads(__import__("urllib.request").request.urlopen(server.base_url + "/health").read())
        assert health["sip"]["trunk"]["host"] == f"127.0.0.1:{port}" and "sandbox" not in health["sip"]
        client = server.client()
        from twilio.base.exceptions import TwilioRestException

        with pytest.raises(TwilioRestException) as err:
            client.calls.create(to="+13125551234", from_="+15005550100", twiml="<Response/>")
        assert err.value.code == 21210
        call = client.calls.create(
            to="+13125551234",
            from_="+18005550100",
            twiml="<Response><Say>Hello trunk.</Say></Response>",
            status_callback=web.url("/trunk-status"),
        )
        done = wait_final(client, call.sid)
        assert done.status == "completed"
        assert [h.form["CallStatus"] for h in web.wait("/trunk-status", call.sid, count=4)][-1] == "completed"
        assert sipp.wait(timeout=20) == 0
    finally:
        server.stop()
        if sipp.poll() is None:
            sipp.kill()


def test_dial_record_over_sip(engine: LiveServer, web: WebApp) -> None:
    web.docs["/dialrec"] = (
        '<Response><Dial action="/dialrec-done" record="record-from-answer">+15005550030</Dial></Response>'
    )
    web.docs["/dialrec-done"] = "<Response><Hangup/></Response>"
    call = create(engine, to="+15005550006", url=web.url("/dialrec"))
    [hit] = web.wait("/dialrec-done", call.sid)
    assert hit.form["DialCallStatus"] == "completed" and hit.form["RecordingSid"].startswith("RE")
    import urllib.request
    import wave
    from io import BytesIO

    from wirexa.media.audio import rms_dbfs

    with urllib.request.urlopen(hit.form["RecordingUrl"] + ".wav", timeout=5) as resp:  # noqa: S310
        with wave.open(BytesIO(resp.read())) as w:
            pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 16000 and rms_dbfs(pcm) > -45.0  # both callees' "Hello?" is in the mix
