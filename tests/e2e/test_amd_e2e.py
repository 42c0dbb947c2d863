"""Answering-machine detection end to end: `wirexa serve`, twilio-python creating calls with
MachineDetection, the sandbox's person (+15005550006) and answering machine (+15005550005)
over real SIP, the customer's web app receiving the Url fetch, the status callbacks and the
AsyncAmdStatusCallback, each signed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.webapp import WebApp

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DOC = "<Response><Say>Hello.</Say><Hangup/></Response>"


# The shared engine: a person by default, the answering machine on +15005550005, and +15005550032
# hangs up 0.6 s after answering (tests/conftest.py SANDBOX_CALLEES).
engine = engine_fixture(shared=True)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/xml"] = DOC
    app.docs["/long"] = "<Response><Pause length='6'/><Hangup/></Response>"  # outlasts the detection
    yield app
    app.close()


def final(client: Any, sid: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while (call := client.calls(sid).fetch()).status not in ("completed", "failed", "busy", "no-answer", "canceled"):
        assert time.monotonic() < deadline, call.status
        time.sleep(0.25)
    return call


def create(engine: LiveServer, web: WebApp, to: str, doc: str = "/xml", **kw: Any) -> Any:
    return engine.client().calls.create(
        to=to, from_="+15005550100", url=web.url(doc), status_callback=web.url("/status"), **kw
    )


@pytest.mark.parametrize(("to", "expected"), [("+15005550006", "human"), ("+15005550005", "machine_start")])
def test_synchronous_amd_classifies_the_sandbox_callees(
    engine: LiveServer, web: WebApp, to: str, expected: str
) -> None:
    call = create(engine, web, to, machine_detection="Enable")
    done = final(engine.client(), call.sid)
    assert done.status == "completed" and done.answered_by == expected
    [fetch] = web.wait("/xml", call.sid)
    assert fetch.form["AnsweredBy"] == expected and 300 <= int(fetch.form["MachineDetectionDuration"]) <= 6000
    hits = web.wait("/status", call.sid, count=4)
    assert [h.form["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert [h.form.get("AnsweredBy") for h in hits] == [None, None, expected, expected]
    validator = RequestValidator(engine.auth_token)
    assert validator.validate(fetch.url, fetch.form, fetch.headers["X-Twilio-Signature"])


def test_detect_message_end_reports_the_beep(engine: LiveServer, web: WebApp) -> None:
    call = create(engine, web, "+15005550005", machine_detection="DetectMessageEnd")
    done = final(engine.client(), call.sid)
    assert done.answered_by == "machine_end_beep"
    [fetch] = web.wait("/xml", call.sid)
    # The sandbox greeting is ~10 s of speech, then the beep: the decision waits for its end.
    assert int(fetch.form["MachineDetectionDuration"]) >= 5000


def test_async_amd_posts_the_result_while_the_document_runs(engine: LiveServer, web: WebApp) -> None:
    call = create(
        engine,
        web,
        "+15005550006",
        "/long",
        machine_detection="Enable",
        async_amd=True,
        async_amd_status_callback=web.url("/amd"),
    )
    [fetch] = web.wait("/long", call.sid)
    assert "AnsweredBy" not in fetch.form  # fetched at once, before any decision
    [amd] = web.wait("/amd", call.sid, timeout=30)
    assert amd.form["AnsweredBy"] == "human" and amd.form["AccountSid"] == engine.project_id
    assert 0 <= float(amd.form["AmdConfidence"]) <= 1 and int(amd.form["AmdDetectionTimeMs"]) > 0
    assert amd.form["MachineDetectionDuration"] == amd.form["AmdDetectionTimeMs"]
    assert RequestValidator(engine.auth_token).validate(amd.url, amd.form, amd.headers["X-Twilio-Signature"])
    assert final(engine.client(), call.sid).answered_by == "human"


def test_a_callee_hanging_up_during_detection_is_unknown(engine: LiveServer, web: WebApp) -> None:
    call = create(engine, web, "+15005550032", machine_detection="Enable")
    done = final(engine.client(), call.sid)
    assert done.status == "completed" and done.answered_by == "unknown"
    assert web.to("/xml", call.sid) == []  # never fetched: nobody to run it for
    hits = web.wait("/status", call.sid, count=4)
    assert [h.form.get("AnsweredBy") for h in hits][-2:] == ["unknown", "unknown"]
