"""SIGHUP re-reads the sandbox callees of a running `wirexa serve` without dropping calls: a new call
to a number made busy ends busy, a call answered before the reload keeps its callee's behaviour
(it still presses its digit) and completes; an unusable sandbox.toml leaves the callees as they
were and the engine up."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, make_live_server

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NUMBER = "+15005550050"
BEFORE = f"""
[numbers."{NUMBER}"]
answer = "silence"
ring_s = 0.3
press = "5"
press_after = 4.0
"""
AFTER = f"""
[numbers."{NUMBER}"]
answer = "busy"
"""
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")


def wait_status(client: Any, sid: str, wanted: tuple[str, ...], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while (call := client.calls(sid).fetch()).status not in wanted:
        assert time.monotonic() < deadline, call.status
        time.sleep(0.2)
    return call


def sighup_and_wait(server: LiveServer, needle: str, timeout: float = 30) -> None:
    assert server.proc is not None
    seen = server.log.read_text().count(needle)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while server.log.read_text().count(needle) <= seen:
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.1)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    server = make_live_server(tmp_path, sandbox_toml=BEFORE)
    yield server
    server.stop()


def test_sighup_rereads_the_callees_without_dropping_a_call(engine: LiveServer, tmp_path: Path) -> None:
    client = engine.client()
    live = client.calls.create(to=NUMBER, from_="+15005550100", twiml="<Response><Pause length='7'/></Response>")
    wait_status(client, live.sid, ("in-progress",))
    answered = time.monotonic()

    (tmp_path / "sandbox.toml").write_text(AFTER)
    sighup_and_wait(engine, "sandbox callees re-read from")
    assert time.monotonic() - answered < 3.5  # the reload came before the live callee pressed its digit

    busy = client.calls.create(to=NUMBER, from_="+15005550100", twiml="<Response><Say>Hi</Say></Response>")
    done = wait_status(client, busy.sid, ENDED)
    assert done.status == "busy"

    done = wait_status(client, live.sid, ENDED)
    assert done.status == "completed" and int(done.duration) >= 6, (done.status, done.duration)
    events = json.loads((tmp_path / "sandbox" / f"{live.sid}.json").read_text())["events"]
    assert [e["digits"] for e in events if e["event"] == "digits sent"] == ["5"]  # its old behaviour, after the reload
    assert json.loads((tmp_path / "sandbox" / f"{busy.sid}.json").read_text())["behaviour"] == "busy"

    # An unusable file: logged, nothing changes, the engine serves on.
    (tmp_path / "sandbox.toml").write_text(f'[numbers."{NUMBER}"]\nanswer = "{tmp_path / "missing.wav"}"\n')
    sighup_and_wait(engine, "not applied, the callees stay as they were")
    assert str(tmp_path / "missing.wav") in engine.log.read_text()
    again = client.calls.create(to=NUMBER, from_="+15005550100", twiml="<Response><Say>Hi</Say></Response>")
    assert wait_status(client, again.sid, ENDED).status == "busy"
    assert engine.proc is not None and engine.proc.poll() is None
