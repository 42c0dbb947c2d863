"""Issue 15 item 8: a soak run. Not run by bench/run unless SOAK=1 (or `bench/run soak`).

A live `wirexa serve` with the sandbox carrier gets mixed traffic at a steady rate for
SOAK_MINUTES (default 120): every SOAK_INTERVAL_S (3 s) one call, in turn
  say     <Say> then <Hangup>
  gather  <Gather> with a <Say> inside; the callee presses 1; the action says goodbye
  record  <Say>, <Record> (a sandbox person replies to the beep; it ends on silence) with a
          recording status callback
  dial    <Say>, <Dial timeLimit=3> to a second sandbox number, then <Say> after it
each with a status callback for every event (initiated, ringing, answered, completed). Every
SOAK_SAMPLE_S (60 s) it samples RSS and open file descriptors of serve, of each SIP worker and of
the sandbox processes (from /proc). At the end it waits for every call to end and reports: calls
by final status, callbacks received, recordings, calls that never ended (target 0), and the
slopes of RSS (MB/hour) and fds (per hour) of serve and of the workers (least squares over the
samples after the first SOAK_WARMUP_MIN minutes; target flat). Workers come and go with the
load (spares): their slope is over the sum of all live workers, and per worker that lived through
the whole run.
  SOAK_MINUTES=5 .venv/bin/python bench/soak_bench.py      # a short proof run
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.laml_procs import classify
from tests.conftest import make_live_server
from tests.e2e.webapp import WebApp

MINUTES = float(os.environ.get("SOAK_MINUTES", "120"))
INTERVAL_S = float(os.environ.get("SOAK_INTERVAL_S", "3"))
SAMPLE_S = float(os.environ.get("SOAK_SAMPLE_S", "60"))
WARMUP_MIN = float(os.environ.get("SOAK_WARMUP_MIN", "1" if MINUTES < 30 else "10"))
CALLEE = "+15005550050"  # silent
PRESSER = "+15005550051"  # presses 1 after 1.5 s
LEG = "+15005550052"  # the <Dial> target: silent
SPEAKER = "+15005550053"  # a person: answers each prompt (and <Record>'s beep) with a short reply
SANDBOX = f"""
[numbers."{CALLEE}"]
answer = "silence"
ring_s = 0.3
[numbers."{PRESSER}"]
answer = "silence"
ring_s = 0.3
press = "1"
press_after = 1.5
[numbers."{LEG}"]
answer = "silence"
ring_s = 0.5
[numbers."{SPEAKER}"]
answer = "human"
ring_s = 0.3
"""
MIXES = ("say", "gather", "record", "dial")
FINAL = ("completed", "busy", "failed", "no-answer", "canceled")
KINDS = {b"_sandbox": "sandbox", b"_sip-worker": "worker"}


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def documents(web: WebApp) -> None:
    cb = web.url("/rec-cb")
    web.docs["/say"] = "<Response><Say>This is the soak test. Goodbye.</Say><Hangup/></Response>"
    web.docs["/gather"] = (
        '<Response><Gather numDigits="1" timeout="5" action="/gather-done">'
        "<Say>Press one to continue.</Say></Gather><Say>No input.</Say></Response>"
    )
    web.docs["/gather-done"] = "<Response><Say>Thank you.</Say><Hangup/></Response>"
    web.docs["/record"] = (
        "<Response><Say>Leave a message.</Say>"
        f'<Record maxLength="6" timeout="3" playBeep="true" action="/record-done" recordingStatusCallback="{cb}"/>'
        "</Response>"
    )
    web.docs["/record-done"] = "<Response><Hangup/></Response>"
    web.docs["/dial"] = (
        f'<Response><Say>Connecting.</Say><Dial timeLimit="3" timeout="10">{LEG}</Dial>'
        "<Say>The other party hung up.</Say></Response>"
    )


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def sample(serve_pid: int, t0: float) -> dict[str, Any]:
    procs = classify(serve_pid, KINDS, "serve")
    out: dict[str, Any] = {"t_min": round((time.monotonic() - t0) / 60, 2), "workers": {}, "sandbox": {}}
    for pid, p in procs.items():
        entry = {"rss_mb": round(p.rss_mb, 1), "fds": fds(pid)}
        if pid == serve_pid:
            out["serve"] = entry
        elif p.kind in ("worker", "sandbox"):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}/cmdline").exists() else b""
            if (b"_sip-worker" if p.kind == "worker" else b"_sandbox") in argv:  # not their espeak/ffmpeg children
                out[p.kind + ("s" if p.kind == "worker" else "")][str(pid)] = entry
    return out


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minutes, value) points, per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in points) / sxx * 60, 2)


def slopes(samples: list[dict[str, Any]]) -> dict[str, Any]:
    late = [s for s in samples if s["t_min"] >= WARMUP_MIN] or samples
    res: dict[str, Any] = {}
    for key in ("rss_mb", "fds"):
        unit = "mb_per_hour" if key == "rss_mb" else "per_hour"
        res[f"serve_{key}_{unit}"] = slope_per_hour([(s["t_min"], s["serve"][key]) for s in late if "serve" in s])
        res[f"workers_total_{key}_{unit}"] = slope_per_hour(
            [(s["t_min"], sum(w[key] for w in s["workers"].values())) for s in late]
        )
        res[f"sandbox_total_{key}_{unit}"] = slope_per_hour(
            [(s["t_min"], sum(w[key] for w in s["sandbox"].values())) for s in late]
        )
        lasting = set.intersection(*(set(s["workers"]) for s in late)) if late else set()
        res[f"per_worker_{key}_{unit}"] = {
            pid: slope_per_hour([(s["t_min"], s["workers"][pid][key]) for s in late]) for pid in sorted(lasting)
        }
    return res


def main() -> None:
    web = WebApp()
    documents(web)
    status_cb = web.url("/status")
    created: list[tuple[str, str]] = []  # (sid, mix)
    create_errors: list[str] = []
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wirexa-soak-") as tmp:
        server = make_live_server(Path(tmp), {"WIREXA_LOG_LEVEL": "WARNING"}, SANDBOX)
        try:
            assert server.proc is not None
            client = server.client()
            t0 = time.monotonic()
            end = t0 + MINUTES * 60
            stop = threading.Event()

            def sampler() -> None:
                while not stop.is_set():
                    samples.append(sample(server.proc.pid, t0))  # type: ignore[union-attr]
                    last = samples[-1]
                    log(
                        f"t={last['t_min']} min: serve {last.get('serve')}, {len(last['workers'])} workers "
                        f"{sum(w['rss_mb'] for w in last['workers'].values()):.0f} MB "
                        f"{sum(w['fds'] for w in last['workers'].values())} fds; calls {len(created)}"
                    )
                    stop.wait(SAMPLE_S)

            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            log(f"{MINUTES} min, a call every {INTERVAL_S} s ({', '.join(MIXES)} in turn), samples every {SAMPLE_S} s")
            i = 0
            next_at = t0
            while time.monotonic() < end:
                mix = MIXES[i % len(MIXES)]
                to = {"gather": PRESSER, "record": SPEAKER}.get(mix, CALLEE)
                try:
                    call = client.calls.create(
                        to=to,
                        from_="+15005550100",
                        url=web.url(f"/{mix}"),
                        status_callback=status_cb,
                        status_callback_event=["initiated", "ringing", "answered", "completed"],
                    )
                    created.append((call.sid, mix))
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    create_errors.append(f"{type(exc).__name__}: {exc}"[:200])
                i += 1
                next_at += INTERVAL_S
                time.sleep(max(0.0, next_at - time.monotonic()))
            log("traffic over; waiting for the calls to end")
            deadline = time.monotonic() + 120
            statuses: dict[str, str] = {}
            db = f"file:{server.data_dir / 'wirexa.db'}?mode=ro"
            while time.monotonic() < deadline:
                # From the database, not 2,400 API fetches a second (the API's rate limit answers 429)
                con = sqlite3.connect(db, uri=True, timeout=30)
                try:
                    statuses = dict(con.execute("SELECT sid, status FROM calls").fetchall())
                finally:
                    con.close()
                if all(statuses.get(sid) in FINAL for sid, _ in created):
                    break
                time.sleep(1)
            time.sleep(5)  # the last callbacks
            stop.set()
            th.join()
            samples.append(sample(server.proc.pid, t0))
        finally:
            server.stop()
    with web.lock:
        reqs = list(web.requests)
    cb_events: dict[str, int] = {}
    for r in reqs:
        if r.path == "/status":
            cb_events[r.form.get("CallStatus", "?")] = cb_events.get(r.form.get("CallStatus", "?"), 0) + 1
    by_status: dict[str, int] = {}
    by_mix: dict[str, dict[str, int]] = {}
    for sid, mix in created:
        st = statuses.get(sid, "unknown")
        by_status[st] = by_status.get(st, 0) + 1
        by_mix.setdefault(mix, {}).setdefault(st, 0)
        by_mix[mix][st] += 1
    completed_cbs = cb_events.get("completed", 0)
    result = {
        "bench": "soak",
        "minutes": MINUTES,
        "interval_s": INTERVAL_S,
        "sample_s": SAMPLE_S,
        "warmup_min": WARMUP_MIN,
        "calls_created": len(created),
        "create_errors": len(create_errors),
        "create_error_examples": create_errors[:3],
        "calls_by_status": by_status,
        "calls_by_mix": by_mix,
        "calls_not_ended": sum(1 for sid, _ in created if statuses.get(sid) not in FINAL),
        "status_callbacks": cb_events,
        "completed_callbacks_missing": len(created) - completed_cbs,
        "gather_actions": sum(1 for r in reqs if r.path == "/gather-done"),
        "recording_callbacks": sum(1 for r in reqs if r.path == "/rec-cb"),
        "samples": len(samples),
        "peak_workers": max((len(s["workers"]) for s in samples), default=0),
        "serve_rss_mb_first_last": [samples[0]["serve"]["rss_mb"], samples[-1]["serve"]["rss_mb"]] if samples else None,
        "serve_fds_first_last": [samples[0]["serve"]["fds"], samples[-1]["serve"]["fds"]] if samples else None,
        **slopes(samples),
        "series": samples,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
