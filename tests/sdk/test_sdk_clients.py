"""The same API scenario through every client a user may have, each in its own virtualenv, against
a real engine: twilio-python 9, signalwire 2.1.1 (twilio 6.54), published wirexaapi 1.0.1, and
our sdk/ wirexaapi 2.x on twilio 9 and on twilio 6.54."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LiveServer, engine_fixture

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent.parent
VENVS = ROOT / ".venv-sdk"


def sdk_venvs() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "sdk-venvs")], check=True, capture_output=True)


# Its own engine: calls stay queued (nothing is dispatched) so the scenario sees stable states.
engine = engine_fixture("sdk", env={"WIREXA_CALLS_HOLD": "true"}, before=sdk_venvs)


def drive(engine: LiveServer, venv: str, kind: str) -> dict:  # type: ignore[type-arg]
    python = VENVS / venv / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            str(Path(__file__).parent / "driver.py"),
            kind,
            engine.base_url,
            engine.project_id,
            engine.auth_token,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in result, result.get("trace")
    return result  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("venv", "kind", "twilio_major"),
    [
        ("twilio9", "twilio", "9"),
        ("signalwire", "signalwire", "6"),
        ("twilio9", "ours", "9"),
        ("signalwire", "ours", "6"),
    ],
)
def test_twilio_based_clients(engine: LiveServer, venv: str, kind: str, twilio_major: str) -> None:
    r = drive(engine, venv, kind)
    assert r["twilio_version"].startswith(twilio_major)
    assert r["created"] == ["CA", "queued"]
    assert r["fetched"] == [True, "+15005550006"]
    assert r["listed"] == 5 or r["listed"] == r["paged"]
    assert r["paged"] >= 1
    assert r["updated"] == "canceled"
    assert r["missing"] == [404, 20404]
    assert r["bad_auth"] == [401, 20003]
    assert r["ended_update"] == [400, 21220]


def test_published_wirexaapi_1_0_1(engine: LiveServer) -> None:
    r = drive(engine, "wirexaapi101", "wirexaapi101")
    assert r["created"] == ["CA", "queued"] and r["fetched"] == [True, "+15005550006"]
    assert r["listed"] >= 1 and r["updated"] == "canceled"  # completed on a queued call cancels it


QUICK_START = """
import json
from wirexaapi import Client as SignalWireClient
with open("settings.json") as f:
    jsonsettings = json.load(f)
sw = jsonsettings["signalwire"]
signalwire_client = SignalWireClient(
    sw["project_id"],
    sw["api_token"],
    signalwire_space_url=sw["space_url"],
)
call = signalwire_client.calls.create(
    to="+13125551234",
    from_="+18005550100",
    url="https://your-backend.com/xml",
    status_callback="https://your-backend.com/status",
    status_callback_event=["initiated", "ringing", "completed"],
    recording_status_callback="https://your-backend.com/recording-status",
    machine_detection="Enable",
    record=True,
)
print(call.sid, call.status) # CAxxxxxxxx queued
"""


@pytest.mark.parametrize("venv", ["twilio9", "wirexaapi101"])
def test_product_doc_quick_start_runs_unchanged(engine: LiveServer, tmp_path: Path, venv: str) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps(
            {
                "signalwire": {
                    "project_id": engine.project_id,
                    "api_token": engine.auth_token,
                    "space_url": f"127.0.0.1:{engine.port}",
                }
            }
        )
    )
    (tmp_path / "quickstart.py").write_text(QUICK_START)
    out = subprocess.run(
        [str(VENVS / venv / "bin" / "python"), "quickstart.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    sid, status = out.stdout.split()
    assert sid.startswith("CA") and status == "queued"
