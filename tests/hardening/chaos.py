"""The crash campaign (issue 15, item 1), shared by bench/chaos_bench.py (30 calls, 100+ kill
points) and tests/hardening/test_chaos.py (a short run).

Calls run Say, Gather, Record and Dial against a real `wirexa serve` and the sandbox carrier, with
status and recording callbacks to a receiver that fails a share of them (500); meanwhile, at
seeded random moments, `serve` or one of its SIP workers gets SIGKILL, and serve is started again
when it died. Afterwards the invariants: every call reached a final status; every callback row
was delivered or failed after its retries (none pending, none in flight); no SequenceNumber of a
call was delivered with two different payloads; every completed recording is a valid WAV as long
as its row says; `PRAGMA integrity_check` is ok; no worker outlived its serve and no port stayed
bound after the last stop."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import wave
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import LiveServer, make_live_server

FINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
SANDBOX = """
[default]
answer = "human"
[numbers."+15005550030"]
hangup_after_s = 2
"""
ENV = {
    "WIREXA_WEBHOOKS_SCHEDULE_S": "0,1,2,3",  # four attempts, quick: a row settles within seconds
    "WIREXA_WEBHOOKS_POLL_INTERVAL_S": "0.2",
    "WIREXA_SANDBOX_PROCESSES": "2",
    "WIREXA_SHUTDOWN_GRACE_S": "2",
}


class Receiver:
    """The customer's app: serves the call's documents and takes status and recording callbacks,
    failing `fail_share` of the callbacks with a 500 (seeded); records every callback it got."""

    def __init__(self, seed: int, fail_share: float) -> None:
        self.rng = random.Random(seed)
        self.fail_share = fail_share
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # (path, form, status answered)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                status, body = receiver.answer(self.path, form)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, bytes]:
        b = self.base
        docs = {
            "/xml": f'<Response><Say>Chaos call.</Say><Gather numDigits="1" timeout="2" action="{b}/after-gather">'
            f"<Say>Press one.</Say></Gather><Redirect>{b}/after-gather</Redirect></Response>",
            "/after-gather": f'<Response><Record maxLength="2" timeout="5" trim="do-not-trim" '
            f'action="{b}/after-record" recordingStatusCallback="{b}/recstatus"/></Response>',
            "/after-record": '<Response><Dial timeout="10"><Number>+15005550030</Number></Dial>'
            "<Say>Goodbye.</Say></Response>",
        }
        if path in docs:
            return 200, docs[path].encode()
        with self.lock:
            status = 500 if self.rng.random() < self.fail_share else 200
            self.callbacks.append((path, form, status))
        return status, b"OK"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass
class Report:
    kill_points: int = 0
    serve_kills: int = 0
    worker_kills: int = 0
    restarts: int = 0
    calls: int = 0
    dial_legs: int = 0
    call_statuses: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    callback_rows: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    callbacks_received: int = 0
    callbacks_failed_by_receiver: int = 0
    redelivered_same_payload: int = 0
    recordings: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    violations: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("call_statuses", "callback_rows", "recordings"):
            out[key] = dict(out[key])
        out["seconds"] = round(self.seconds, 1)
        out["lost"] = len(self.violations)
        out["violations"] = self.violations[:20]
        return out


def _children(pid: int) -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [(int(line.split(None, 1)[0]), line.split(None, 1)[1]) for line in out.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _create(server: LiveServer, receiver: Receiver) -> str | None:
    form = [
        ("To", "+15005550006"),
        ("From", "+15005550100"),
        ("Url", receiver.base + "/xml"),
        ("StatusCallback", receiver.base + "/status"),
        *(("StatusCallbackEvent", e) for e in ("initiated", "ringing", "answered", "completed")),
    ]
    req = urllib.request.Request(
        f"{server.base_url}/2010-04-01/Accounts/{server.project_id}/Calls.json",
        data=urllib.parse.urlencode(form).encode(),
        headers=server.auth,
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            return str(json.loads(resp.read())["sid"])
    except OSError:
        return None  # serve is down or restarting: created at a later point


def _db(server: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{server.data_dir / 'wirexa.db'}?mode=ro", uri=True, timeout=30)


def _settled(server: LiveServer, sids: list[str]) -> bool:
    with _db(server) as db:
        marks = ",".join("?" * len(sids))
        open_calls = db.execute(
            f"SELECT count(*) FROM calls WHERE sid IN ({marks}) AND status NOT IN "
            "('completed','busy','failed','no-answer','canceled')",
            sids,
        ).fetchone()[0]
        open_rows = db.execute("SELECT count(*) FROM webhooks WHERE status NOT IN ('delivered','failed')").fetchone()[0]
        open_recs = db.execute(
            "SELECT count(*) FROM recordings WHERE status IN ('in-progress','paused','stopped','processing')"
        ).fetchone()[0]
    return open_calls == 0 and open_rows == 0 and open_recs == 0


def run(
    tmp: Path,
    calls: int,
    kill_points: int,
    seed: int,
    serve_share: float = 0.3,
    gap_s: tuple[float, float] = (0.5, 2.5),
    fail_share: float = 0.3,
    quiet_share: float = 0.15,
    log: Callable[[str], None] | None = None,
) -> Report:
    rng = random.Random(seed)
    report = Report()
    receiver = Receiver(seed, fail_share)
    server = make_live_server(tmp, ENV, sandbox_toml=SANDBOX)
    started = time.monotonic()
    sids: list[str] = []
    old_children: list[int] = []
    create_at = {round(i * kill_points / calls) for i in range(calls)}
    try:
        pending_creates = 0
        for point in range(kill_points):
            if point in create_at:
                pending_creates += 1
            while pending_creates and (sid := _create(server, receiver)) is not None:
                sids.append(sid)
                pending_creates -= 1
            # Now and then a quiet spell, so calls live long enough to record and dial, and the
            # next kill lands in the middle of that.
            time.sleep(rng.uniform(6.0, 12.0) if rng.random() < quiet_share else rng.uniform(*gap_s))
            assert server.proc is not None
            workers = _workers(server)
            if rng.random() < serve_share or not workers:
                old_children += [pid for pid, _ in _children(server.proc.pid)]
                os.kill(server.proc.pid, signal.SIGKILL)
                server.proc.wait()
                report.serve_kills += 1
                server.start()
                report.restarts += 1
            else:
                os.kill(rng.choice(workers), signal.SIGKILL)
                report.worker_kills += 1
            report.kill_points += 1
            if log is not None and point % 10 == 0:
                log(
                    f"kill point {point}: {len(sids)} calls, {report.serve_kills} serve / {report.worker_kills} worker kills"
                )
        while pending_creates and (sid := _create(server, receiver)) is not None:
            sids.append(sid)
            pending_creates -= 1
        report.calls = len(sids)
        deadline = time.monotonic() + 120
        while not _settled(server, sids) and time.monotonic() < deadline:
            time.sleep(0.5)
        orphans = _eventually(lambda: [pid for pid in old_children if _alive(pid)])
        if orphans:
            report.violations.append(f"processes of a killed serve still running: {orphans}")
    finally:
        server.stop()
        receiver.close()
    report.seconds = time.monotonic() - started
    left = _eventually(lambda: _processes_of(tmp))
    if left:
        report.violations.append(f"processes left after the last stop: {left}")
    _check(server, sids, receiver, report)
    return report


def _workers(server: LiveServer, wait_s: float = 5.0) -> list[int]:
    """The SIP workers of the running serve (after a restart the first one may still be starting)."""
    assert server.proc is not None
    deadline = time.monotonic() + wait_s
    while True:
        workers = [pid for pid, args in _children(server.proc.pid) if "_sip-worker" in args]
        if workers or time.monotonic() > deadline:
            return workers
        time.sleep(0.2)


def _eventually(find: Callable[[], list[Any]], within_s: float = 10.0) -> list[Any]:
    """What `find` still finds after up to `within_s` (a process needs a moment to exit)."""
    deadline = time.monotonic() + within_s
    while (found := find()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _processes_of(data_dir: Path) -> list[int]:
    """Processes whose command line names the data dir (serve, workers, sandbox carriers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in cmdline and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _check(server: LiveServer, sids: list[str], receiver: Receiver, report: Report) -> None:
    with _db(server) as db:
        [integrity] = db.execute("PRAGMA integrity_check").fetchone()
        if integrity != "ok":
            report.violations.append(f"integrity_check: {integrity}")
        marks = ",".join("?" * len(sids))
        statuses = dict(db.execute(f"SELECT sid, status FROM calls WHERE sid IN ({marks})", sids).fetchall())
        legs = db.execute(f"SELECT sid, status FROM calls WHERE parent_call_sid IN ({marks})", sids).fetchall()
        rows = db.execute("SELECT id, call_sid, kind, status, sequence_number FROM webhooks").fetchall()
        recs = db.execute("SELECT sid, status, wav_path, duration_s FROM recordings").fetchall()
    for sid in sids:
        status = statuses.get(sid)
        report.call_statuses[str(status)] += 1
        if status not in FINAL:
            report.violations.append(f"call {sid} is {status}, not final")
    for sid, status in legs:
        report.dial_legs += 1
        if status not in FINAL:
            report.violations.append(f"<Dial> leg {sid} is {status}, not final")
    for row_id, call_sid, kind, status, _seq in rows:
        report.callback_rows[status] += 1
        if status not in ("delivered", "failed"):
            report.violations.append(f"callback row {row_id} ({kind} of {call_sid}) is {status}")
    payloads: dict[tuple[str, str, str], set[str]] = collections.defaultdict(set)
    for path, form, answered in receiver.callbacks:
        report.callbacks_received += 1
        report.callbacks_failed_by_receiver += answered >= 500
        key = (path, form.get("CallSid", ""), form.get("SequenceNumber", ""))
        payload = json.dumps(sorted(form.items()))
        if payload in payloads[key]:
            report.redelivered_same_payload += 1
        payloads[key].add(payload)
    for (path, call_sid, seq), seen in payloads.items():
        if seq and len(seen) > 1:
            report.violations.append(f"{path} SequenceNumber {seq} of {call_sid} delivered with {len(seen)} payloads")
    for sid, status, wav_path, duration_s in recs:
        report.recordings[status] += 1
        if status != "completed":
            continue
        try:
            with wave.open(str(wav_path)) as w:
                seconds = w.getnframes() / w.getframerate()
        except (OSError, EOFError, wave.Error, TypeError) as exc:
            report.violations.append(f"recording {sid}: {wav_path} is not a valid WAV ({exc})")
            continue
        if duration_s is None or abs(seconds - duration_s) > 1.5:
            report.violations.append(f"recording {sid}: the WAV has {seconds:.1f} s, the row says {duration_s}")
    base = int(server.env["WIREXA_SIP_PORT_BASE"])
    ports = [(socket.SOCK_STREAM, server.port)] + [
        (kind, base + offset) for offset in range(8) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)
    ]
    for kind, port in _eventually(lambda: [(k, p) for k, p in ports if not _free(k, p)]):
        report.violations.append(f"{'UDP' if kind == socket.SOCK_DGRAM else 'TCP'} port {port} bound after the stop")


def _free(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
