"""`wirexa call --wait` against a real `wirexa serve` and the sandbox carrier: the exit code says
how the call ended (it used to be 0 for a busy callee), the engine is found through the data
dir's engine.json (no port given), and a missing engine is one red line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.backends import free_port
from tests.conftest import LiveServer

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def wirexa(
    server_or_dir: LiveServer | Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if isinstance(server_or_dir, LiveServer):
        data_dir = server_or_dir.data_dir
        # No WIREXA_PORT: the CLI must find the engine through <data_dir>/engine.json.
        env = {k: v for k, v in server_or_dir.env.items() if k != "WIREXA_PORT"}
    else:
        data_dir = server_or_dir
    env = env or {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    return subprocess.run(
        [sys.executable, "-m", "wirexa", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_engine_json_names_the_running_engine(live_server: LiveServer) -> None:
    info = json.loads((live_server.data_dir / "engine.json").read_text())
    assert info["api_url"] == live_server.base_url and info["pid"] == live_server.proc.pid  # type: ignore[union-attr]
    assert info["data_dir"] == str(live_server.data_dir)


def test_a_busy_callee_exits_3_with_its_sip_code(live_server: LiveServer) -> None:
    done = wirexa(live_server, "call", "+15005550001", "--say", "hi")
    assert done.returncode == 3, (done.stdout, done.stderr)
    lines = dict(line.split("\t", 1) for line in done.stdout.splitlines()[1:])
    assert lines["Status"] == "busy" and lines["SIP code"] == "486", done.stdout


def test_a_failing_callee_exits_5(live_server: LiveServer) -> None:
    done = wirexa(live_server, "call", "+15005550003", "--say", "hi", "--json")
    body = json.loads(done.stdout)
    assert (body["status"], body["sip_response_code"], done.returncode) == ("failed", 503, 5), done.stderr


def test_a_completed_call_exits_0_with_one_json_document(live_server: LiveServer) -> None:
    done = wirexa(live_server, "call", "+15005550006", "--say", "Hello there", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    body = json.loads(done.stdout)
    assert body["status"] == "completed" and body["sip_response_code"] == 200 and body["recordings"] == []
    assert int(body["duration"]) >= 1


def test_no_wait_prints_the_queued_call_and_exits_0(live_server: LiveServer) -> None:
    done = wirexa(live_server, "call", "+15005550001", "--no-wait", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "queued", done.stderr


def _calls(server: LiveServer) -> list[str]:
    url = f"{server.base_url}/2010-04-01/Accounts/{server.project_id}/Calls.json?PageSize=1000"
    with urllib.request.urlopen(urllib.request.Request(url, headers=server.auth), timeout=10) as resp:  # noqa: S310
        return [c["sid"] for c in json.loads(resp.read())["calls"]]


@pytest.mark.parametrize("wait", ["--wait", "--no-wait"])
def test_twiml_that_does_not_parse_is_one_red_line_and_no_call(live_server: LiveServer, wait: str) -> None:
    """It used to ring the callee for nothing (the engine hung up after 2 s) and exit 0."""
    before = _calls(live_server)
    done = wirexa(live_server, "call", "+15005550006", "--twiml", "<Response><Say>x</Response>", wait)
    assert done.returncode == 1 and done.stdout == "", (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "Error: 21205: Twiml is not valid TwiML (12100): document parse failure: mismatched tag: line 1, column"
    ), lines[0]
    assert _calls(live_server) == before


def test_no_engine_running_is_one_red_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    subprocess.run(
        [sys.executable, "-m", "wirexa", "init", "--data-dir", str(tmp_path), "--port", str(free_port())],
        env=env,
        check=True,
        capture_output=True,
    )
    # A stale engine.json (its engine was killed) does not count either.
    (tmp_path / "engine.json").write_text(
        json.dumps(
            {
                "pid": 2**22 + 7,
                "api_url": "http://127.0.0.1:9",
                "port": 9,
                "host": "127.0.0.1",
                "data_dir": str(tmp_path),
                "config_file": "",
                "version": "0",
                "started_at": 0,
            }
        )
    )
    done = wirexa(tmp_path, "call", "+15005550006", env=env)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no engine is running for data dir"), done.stderr
    assert lines[0].endswith(f"start one with `wirexa serve --data-dir {tmp_path}`"), lines[0]  # the whole command
