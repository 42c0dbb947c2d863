"""The client matrix: the same production scenario through every client a team may run, each in
its own environment and through its own HTTP stack, only the base URL pointed at the shared
sandbox engine: twilio-python 9 and 7, twilio-node, signalwire 2.1.1 and our sdk/ (wirexaapi).

Each creates three calls (ringing at the sandbox), pages through them two at a time, fetches
one, cancels them, sees a 404 and a refused parameter as Twilio's errors, reads a recorded
call's recordings at account and call level, registers, lists, fetches, updates and releases
a number, and creates an API Key, works with it, renames, lists, fetches and deletes it (the
deleted key refused at once). The virtualenvs and node_modules come from scripts/sdk-venvs (scripts/setup)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ROOT = Path(__file__).parent.parent.parent
HERE = Path(__file__).parent
VENVS = ROOT / ".venv-sdk"
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")

engine = engine_fixture(shared=True)

# client -> (command before the scenario's JSON); each gets its own From (its calls, listed by
# that filter, are only its own) and its own number to register.
CLIENTS: dict[str, list[str]] = {
    "twilio-python 9": [str(VENVS / "twilio9" / "bin" / "python"), str(HERE / "matrix_driver.py"), "twilio"],
    "twilio-python 7": [str(VENVS / "twilio7" / "bin" / "python"), str(HERE / "matrix_driver.py"), "twilio"],
    "twilio-node": ["node", str(HERE / "node" / "matrix.js")],
    "signalwire 2.1.1": [str(VENVS / "signalwire" / "bin" / "python"), str(HERE / "matrix_driver.py"), "signalwire"],
    "wirexaapi (sdk/)": [str(VENVS / "twilio9" / "bin" / "python"), str(HERE / "matrix_driver.py"), "wirexaapi"],
}
VERSIONS = {
    "twilio-python 9": "twilio on twilio-python 9.",
    "twilio-python 7": "twilio on twilio-python 7.",
    "twilio-node": "twilio-node ",
    "signalwire 2.1.1": "signalwire on twilio-python 6.",
    "wirexaapi (sdk/)": "wirexaapi on twilio-python 9.",
}


@pytest.fixture(scope="module")
def ready() -> None:
    """The clients' environments (built once; a few seconds when they are there)."""
    assert shutil.which("node"), "node is required (scripts/setup installs it)"
    out = subprocess.run(["bash", str(ROOT / "scripts" / "sdk-venvs")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]


@pytest.fixture(scope="module")
def recorded(engine: LiveServer) -> Iterator[tuple[str, str]]:
    """(call sid, recording sid) of a call recorded whole (Record=true) to a sandbox person."""
    client = engine.client()
    call = client.calls.create(
        to="+15005550006",
        from_="+15005550100",
        twiml="<Response><Say>Recorded for the matrix</Say></Response>",
        record=True,
    )
    deadline = time.monotonic() + 60
    recs: list[Any] = []
    while time.monotonic() < deadline:
        recs = [r for r in client.recordings.list(call_sid=call.sid) if r.status == "completed"]
        if recs and client.calls(call.sid).fetch().status in ENDED:
            break
        time.sleep(0.25)
    assert recs, f"call {call.sid} left no completed recording"
    yield call.sid, recs[0].sid


@pytest.mark.parametrize("name", list(CLIENTS))
def test_client(engine: LiveServer, ready: None, recorded: tuple[str, str], name: str) -> None:
    i = list(CLIENTS).index(name)
    scenario = {
        "base_url": engine.base_url,
        "account": engine.project_id,
        "token": engine.auth_token,
        "from": f"+1500555{8100 + i}",
        "to": "+15005550002",  # the sandbox lets it ring
        "number": f"+1628555{9100 + i}",
        "recorded_call": recorded[0],
        "recording": recorded[1],
    }
    proc = subprocess.run([*CLIENTS[name], json.dumps(scenario)], capture_output=True, text=True, timeout=60, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in r, r.get("trace") or r["error"]
    assert r["client"].startswith(VERSIONS[name]), r["client"]
    assert [c[0] for c in r["created"]] == ["CA"] * 3
    assert all(c[1] == "queued" and c[2] == scenario["from"] for c in r["created"]), r["created"]
    assert r["fetched"] == [True, "+15005550002", "outbound-api"]
    assert r["pages"] == [2, 1, 0]  # two a page, then one, then no further page
    assert r["listed"] == r["created_sids"]
    assert r["updated"] == ["canceled"] * 3
    assert r["missing"] == [404, 20404]
    assert r["refused"] == [400, 20001]  # CallReason: never accepted and ignored
    rec_call, rec = recorded
    assert r["recordings"] == [rec]
    assert r["recording"] == [rec, rec_call, "completed", True]
    assert r["call_recordings"] == [rec]
    assert r["number"] == [
        "PN",
        [r["number_sid"]],
        scenario["number"],
        "http://127.0.0.1:9/in2",
        "GET",
        [404, 20404],
    ]
    assert r["key"] == ["SK", True, True, "renamed", True, "renamed"]
    # The scenario's one failed login: the shared engine slows an address's 401s after 5 in 10
    # minutes (api.auth_failures_free), so the matrix adds one per client, no more.
    assert r["key_deleted"] == [401, 20003]
    client = engine.client()
    for sid in r["created_sids"]:  # the engine as the module found it: nothing still ringing
        assert client.calls(sid).fetch().status == "canceled"
