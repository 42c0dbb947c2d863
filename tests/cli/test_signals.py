"""`wirexa serve` as a service stops and reloads: SIGTERM lets live calls finish (within
`shutdown_grace_s`), starts no queued call, hangs up what is left after the grace, delivers the
final callbacks and exits 0; SIGHUP re-reads the TTS settings while a call goes on."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, make_live_server

pytestmark = [pytest.mark.sip, pytest.mark.slow]


class Receiver:
    """A status-callback receiver on loopback: every POSTed form, in order."""

    def __init__(self) -> None:
        forms: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                forms.append(dict(urllib.parse.parse_qsl(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.forms = forms
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/status"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def statuses(self, sid: str) -> list[str]:
        return [f.get("CallStatus", "") for f in self.forms if f.get("CallSid") == sid]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def api(server: LiveServer, method: str, path: str, form: dict[str, str] | None = None) -> Any:
    data = urllib.parse.urlencode(form).encode() if form else None
    req = urllib.request.Request(
        f"{server.base_url}/2010-04-01/Accounts/{server.project_id}{path}",
        data=data,
        method=method,
        headers=server.auth,
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read())


def create(server: LiveServer, twiml: str, callback: str = "") -> str:
    form = {"To": "+15005550006", "From": "+15005550100", "Twiml": twiml}
    if callback:
        form.update(StatusCallback=callback, StatusCallbackEvent="initiated ringing answered completed")
    return str(api(server, "POST", "/Calls.json", form)["sid"])


def wait_status(server: LiveServer, sid: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api(server, "GET", f"/Calls/{sid}.json")["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{sid} never {status}")


def stored(server: LiveServer, sid: str) -> Any:
    from wirexa import config
    from wirexa.store.bootstrap import open_store
    from wirexa.store.repo.calls import get_call

    store = open_store(config.load(overrides={"data_dir": str(server.data_dir)}, env={}))
    try:
        return store.read_sync(get_call, sid)
    finally:
        store.close()


def stop(server: LiveServer, timeout: float) -> tuple[int, float]:
    assert server.proc is not None
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=timeout)
    return code, time.monotonic() - started


def test_sigterm_lets_a_live_call_finish_and_starts_no_queued_call(tmp_path: Path, receiver: Receiver) -> None:
    server = make_live_server(tmp_path, {"WIREXA_SANDBOX_PROCESSES": "1", "WIREXA_SHUTDOWN_GRACE_S": "30"})
    try:
        sid = create(
            server, '<Response><Say>One moment.</Say><Pause length="5"/><Say>Goodbye.</Say></Response>', receiver.url
        )
        wait_status(server, sid, "in-progress")
        code_started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        time.sleep(0.5)
        late = create(server, "<Response><Say>never</Say></Response>")  # the API still answers
        code = server.proc.wait(timeout=60)  # type: ignore[union-attr]
        elapsed = time.monotonic() - code_started
    finally:
        server.stop()
    log = server.log.read_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-5000:]
    call = stored(server, sid)
    assert call.status == "completed" and call.duration_s >= 5, call  # it ran to its end
    assert elapsed >= 3
    assert stored(server, late).status == "queued"  # left for the next start
    assert receiver.statuses(sid)[-1] == "completed"  # delivered before the exit
    assert not (tmp_path / "engine.json").exists()


def test_after_the_grace_live_calls_are_hung_up_and_finalized(tmp_path: Path, receiver: Receiver) -> None:
    server = make_live_server(tmp_path, {"WIREXA_SANDBOX_PROCESSES": "1", "WIREXA_SHUTDOWN_GRACE_S": "1"})
    try:
        sid = create(server, '<Response><Say>Hold on.</Say><Pause length="60"/></Response>', receiver.url)
        wait_status(server, sid, "in-progress")
        code, elapsed = stop(server, 60)
    finally:
        server.stop()
    log = server.log.read_text()
    assert code == 0 and elapsed < 20, (elapsed, log[-3000:])
    assert "hanging up 1 call(s) still live after the grace period" in log
    call = stored(server, sid)
    assert call.status == "completed" and call.end_time is not None and call.duration_s < 30, call
    assert receiver.statuses(sid)[-1] == "completed"


def test_sighup_rereads_the_tts_settings_while_a_call_goes_on(tmp_path: Path) -> None:
    server = make_live_server(tmp_path, {"WIREXA_SANDBOX_PROCESSES": "1"})
    spoken = tmp_path / "espeak-args.log"
    wrapper = tmp_path / "espeak-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {spoken}\nexec espeak-ng "$@"\n')
    wrapper.chmod(0o755)
    try:
        sid = create(
            server, '<Response><Say>Before the reload.</Say><Pause length="4"/><Say>Still here.</Say></Response>'
        )
        wait_status(server, sid, "in-progress")
        cfg = tmp_path / "wirexa.toml"
        text = cfg.read_text()
        assert 'espeak_binary = "espeak-ng"' in text
        cfg.write_text(text.replace('espeak_binary = "espeak-ng"', f'espeak_binary = "{wrapper}"'))
        server.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        wait_status(server, sid, "completed", timeout=40)
        assert stored(server, sid).duration_s >= 4  # the reload did not cut it short
        after = create(server, "<Response><Say>Rendered after the reload.</Say></Response>")
        wait_status(server, after, "completed", timeout=40)
        assert server.proc.poll() is None  # type: ignore[union-attr]
    finally:
        server.stop()
    assert "Rendered after the reload." in spoken.read_text()
    log = server.log.read_text()
    assert "reload done" in log and "Traceback" not in log, log[-3000:]
