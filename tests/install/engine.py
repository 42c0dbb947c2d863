"""Drive an installed wirexa (a venv's console script or the binary) from a temporary directory,
as a user would: `init`, `serve`, `call --wait --json` to a sandbox person with <Say> and
<Record>, the recording's MP3 downloaded, a busy call's exit code, SIGTERM's exit 0."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.backends import free_port, free_udp_block

SAY_RECORD = '<Response><Say>Please leave a message.</Say><Record maxLength="6" timeout="3"/></Response>'


@dataclass
class Outcome:
    start_s: float  # serve's start to /health answering
    call: dict[str, object]
    mp3: bytes
    log: str


def port_env() -> dict[str, str]:
    sip = free_udp_block(40000, 49000, 100, (0, 1, 2, 60, 61, 90))
    return {
        "WIREXA_SIP_PORT_BASE": str(sip),
        "WIREXA_SIP_INBOUND_PORT": str(sip + 90),
        "WIREXA_SANDBOX_PORT_BASE": str(sip + 60),
        "WIREXA_SIP_RTP_PORT_BASE": str(free_udp_block(20000, 29000, 8000, (0, 100, 5000))),
        "WIREXA_SANDBOX_PROCESSES": "1",
    }


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def exercise(wirexa: list[str], cwd: Path, env: dict[str, str]) -> Outcome:
    """init, serve, a completed <Say>+<Record> call and its MP3, a busy call, SIGTERM."""
    env = {**env, **port_env()}
    data = cwd / "data"
    port = free_port()
    init = run([*wirexa, "init", "--data-dir", str(data), "--port", str(port), "--json"], cwd, env)
    assert init.returncode == 0, init.stderr[-3000:]
    creds = json.loads(init.stdout)
    log = cwd / "serve.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*wirexa, "serve", "--data-dir", str(data)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        start_s = _wait_healthy(proc, port, log, started)
        # No port given: `call` finds the engine of this data dir through its engine.json.
        done = run(
            [*wirexa, "call", "+15005550006", "--twiml", SAY_RECORD, "--wait", "--json", "--data-dir", str(data)],
            cwd,
            env,
        )
        assert done.returncode == 0, (done.stdout, done.stderr[-3000:], log.read_text()[-3000:])
        call = json.loads(done.stdout)
        assert call["status"] == "completed" and call["sip_response_code"] == 200, call
        recordings = call["recordings"]
        assert isinstance(recordings, list) and len(recordings) == 1, call
        mp3 = _get(recordings[0], creds["project_id"], creds["auth_token"])
        assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0), mp3[:16]
        assert len(mp3) > 2000, len(mp3)
        busy = run([*wirexa, "call", "+15005550001", "--say", "hi", "--data-dir", str(data)], cwd, env)
        assert busy.returncode == 3 and "busy" in busy.stdout and "486" in busy.stdout, (busy.stdout, busy.stderr)
        # The web console's templates and static files came along (package data, the binary's datas).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/login", timeout=10) as resp:  # noqa: S310
            assert resp.status == 200 and b'name="csrf"' in resp.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/static/console.css", timeout=10) as resp:  # noqa: S310
            assert resp.status == 200 and len(resp.read()) > 100
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-5000:]
    assert not (data / "engine.json").exists()  # removed on a clean stop
    return Outcome(start_s, call, mp3, text)


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, started: float) -> float:
    deadline = started + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not become healthy:\n" + log.read_text()[-3000:])


def _get(url: str, user: str, password: str) -> bytes:
    """The media, waiting out the 202s an MP3 answers while it is being converted."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(req, timeout=30) as resp:
            if resp.status == 200:
                return bytes(resp.read())
            assert resp.status == 202 and time.monotonic() < deadline, resp.status
        time.sleep(0.3)
