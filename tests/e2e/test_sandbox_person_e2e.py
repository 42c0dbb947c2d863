"""<Record> against the sandbox's callees, end to end: the default person leaves a message after
the beep; a silent callee's empty recording is discarded (as on Twilio) with a notification."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request
import wave
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.webapp import WebApp
from wirexa.media.audio import rms_dbfs

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# The shared engine: the default person on +15005550006, and +15005550031 never makes a sound
# (tests/conftest.py SANDBOX_CALLEES).
engine = engine_fixture(shared=True)

RECORD = '<Response><Say>Leave a message</Say><Record maxLength="10" timeout="3" action="/rec-done"/></Response>'


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/rec"] = RECORD
    app.docs["/rec-done"] = "<Response><Hangup/></Response>"
    yield app
    app.close()


def notifications(engine: LiveServer, sid: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "calls", "show", sid, "--json", "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    notes: list[dict[str, Any]] = json.loads(out.stdout)["notifications"]
    return notes


def test_the_default_person_leaves_a_message_after_the_beep(engine: LiveServer, web: WebApp) -> None:
    call = create(engine, to="+15005550006", url=web.url("/rec"))
    [hit] = web.wait("/rec-done", call.sid, timeout=40)
    form = hit.form
    assert form["RecordingSid"].startswith("RE") and int(form["RecordingDuration"]) >= 1
    with urllib.request.urlopen(form["RecordingUrl"] + ".wav", timeout=5) as resp:  # noqa: S310
        with wave.open(io.BytesIO(resp.read())) as w:
            pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 16000 and rms_dbfs(pcm) > -40.0  # a second or more of speech, not silence
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert notifications(engine, call.sid) == []


def test_a_silent_callees_empty_recording_is_discarded_with_a_notification(engine: LiveServer, web: WebApp) -> None:
    call = create(engine, to="+15005550031", url=web.url("/rec"))
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert web.to("/rec-done", call.sid) == []  # as on Twilio: no action, the document goes on (and ends)
    assert engine.client().recordings.list(call_sid=call.sid) == []
    [note] = notifications(engine, call.sid)
    assert note["error_code"] in (16101, 16102) and "recording" in note["message"].lower()
