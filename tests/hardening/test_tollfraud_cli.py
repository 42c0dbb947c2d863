"""The operator's toll-fraud controls against a real `wirexa serve` (sandbox carrier, real SIP):
`wirexa calls stop` refuses new calls (the twilio-python client sees 20503) and survives a
restart, `wirexa calls hangup --all` ends a ringing call, `resume` lifts the stop, and `limits`
changes a project's dialing permissions (21215)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import LiveServer, engine_fixture

pytestmark = [pytest.mark.sip, pytest.mark.slow]

RINGS_FOREVER = "+15005550002"
BUSY = "+15005550001"
TWIML = "<Response><Say>Hello</Say></Response>"


# Its own engine: the tests stop and resume all calls and change the project's limits.
server = engine_fixture("tollfraud", name="server")


def wirexa(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wirexa", *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_status(server: LiveServer, sid: str, statuses: tuple[str, ...], timeout: float = 30) -> Any:
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        call = client.calls(sid).fetch()
        if call.status in statuses or time.monotonic() > deadline:
            return call
        time.sleep(0.2)


def test_stop_hangup_restart_resume(server: LiveServer) -> None:
    client = server.client()
    ringing = client.calls.create(to=RINGS_FOREVER, from_="+15005550100", twiml=TWIML)
    assert wait_status(server, ringing.sid, ("ringing",)).status == "ringing"

    stopped = wirexa(server, "calls", "stop", "--reason", "test attack")
    assert stopped.returncode == 0, stopped.stderr
    assert "Calls stopped" in stopped.stdout and "test attack" in stopped.stdout
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to=BUSY, from_="+15005550100", twiml=TWIML)
    assert (refused.value.status, refused.value.code) == (503, 20503)
    assert client.calls(ringing.sid).fetch().status == "ringing"  # the stop alone ends nothing

    hung = wirexa(server, "calls", "hangup", "--all", "--json")
    assert hung.returncode == 0, hung.stderr
    result = json.loads(hung.stdout)
    assert result["errors"] == {} and set(result["ended"]) == {ringing.sid}
    assert wait_status(server, ringing.sid, ("canceled",)).status == "canceled"

    server.stop()
    server.start()  # the stop is in the store: a restart keeps it
    with pytest.raises(TwilioRestException) as still:
        server.client().calls.create(to=BUSY, from_="+15005550100", twiml=TWIML)
    assert still.value.code == 20503

    resumed = wirexa(server, "calls", "resume")
    assert resumed.returncode == 0 and "Calls resumed (stopped since" in resumed.stdout, resumed.stderr
    busy = server.client().calls.create(to=BUSY, from_="+15005550100", twiml=TWIML)
    assert wait_status(server, busy.sid, ("busy",)).status == "busy"  # placed: the carrier said 486
    again = wirexa(server, "calls", "resume")
    assert again.returncode == 0 and "were not stopped" in again.stdout


def test_limits_change_a_projects_permissions(server: LiveServer) -> None:
    shown = wirexa(
        server,
        "calls",
        "limits",
        server.project_id,
        "--countries",
        "44",
        "--daily-minutes",
        "90",
        "--max-concurrent",
        "3",
        "--json",
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "project": server.project_id,
        "allowed_countries": "44",
        "allowed_countries_source": "project",
        "daily_minutes": 90,
        "daily_minutes_source": "project",
        "max_concurrent": 3,
    }
    client = server.client()
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to=BUSY, from_="+15005550100", twiml=TWIML)
    assert (refused.value.status, refused.value.code) == (400, 21215)
    assert f"Account not authorized to call {BUSY}." in refused.value.msg
    bad = wirexa(server, "calls", "limits", server.project_id, "--countries", "uk")
    assert bad.returncode == 1 and "not an E.164 country code" in bad.stderr
    back = wirexa(
        server,
        "calls",
        "limits",
        server.project_id,
        "--countries",
        "default",
        "--daily-minutes",
        "default",
        "--max-concurrent",
        "0",
        "--json",
    )
    assert back.returncode == 0, back.stderr
    shown_back = json.loads(back.stdout)
    assert shown_back["allowed_countries"] == "1" and shown_back["daily_minutes"] == "unlimited"
    assert shown_back["max_concurrent"].startswith("engine-wide ")
    busy = client.calls.create(to=BUSY, from_="+15005550100", twiml=TWIML)
    assert wait_status(server, busy.sid, ("busy",)).status == "busy"
