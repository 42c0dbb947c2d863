"""Issue 13 items 4/5: sustained call setups through the whole engine. A running `wirexa serve` with
calls_cps = 50 and SIPp (bench/sipp_uas_bench.xml, as in bench/sip_bench.py) as its SIP trunk gets
N calls (10,000) created through the REST API, each `<Pause length="2"/><Hangup/>` (held
2 s) with a status callback for every event (initiated, ringing, answered, completed) to a
receiver in this process. The path measured is the whole stack: REST create -> store -> the
dispatcher's CPS bucket -> SIP workers (spawned on demand) -> SIPp answers (180, 200; the engine's
RTP goes to bench/rtp_sink.py) -> the engine hangs up -> status callbacks from the outbox.

Calls are created by CREATE_CONCURRENCY clients at CPS_BENCH_CREATE_RATE (60/s: a dialer feeding
the queue a little faster than the engine places calls, so a backlog is always waiting; the API
rate limit is off) and the dispatcher paces the placing: that is what "configured to 50 CPS"
means. CPS_BENCH_CREATE_RATE=0 queues all N at once, as fast as the API takes them (~350/s):
while that storm lasts the API's inserts and the dispatcher share the store's one writer and the
placing rate dips (a backpressure case, see bench/backpressure_bench.py). The bench then waits for every call to be final, and for the callbacks (all 4 per call,
or up to CALLBACK_WAIT_S after the last call ended).

Reported, from the engine's SQLite database (read-only) and the receiver:
- calls created / create errors, final statuses, failures (anything not `completed`: target 0);
- placed rate: N / (last start_time - first start_time), dispatches per second over the run
  (histogram), and the highest and lowest rate over 10 s windows of the run (its last partial
  second left out; the first second holds the bucket's burst);
- setup latency answer_time - start_time (the INVITE sent to the 200 OK handled) p50/p90/p99/max;
- callbacks: expected (4 N), received (with duplicates: delivery is at least once), per event,
  calls missing any event (target 0), and the delivery lag (arrival at the receiver - the event's
  time in the database: start_time for initiated, answer_time for answered, end_time for
  completed; ringing has no stored time) p50/p99;
- peak live calls (initiated/ringing/in-progress, sampled every second), peak SIP worker
  processes (`_sip-worker` among serve's descendants, every second), engine CPU (serve and its
  descendants, the exited workers included through serve's cutime/cstime) in % of one core over
  the run, SIPp's, the RTP sink's and this process's CPU, serve's RSS max, RTP streams seen.
Prints one JSON object on stdout, progress every ~10 s on stderr. The data dir (serve's log,
the workers' stderr, the database) is kept under /tmp/cpsb_* when a call failed or a callback
is missing, or with CPS_BENCH_KEEP=1.
Env: CPS_BENCH_CALLS (10000), CPS_BENCH_CPS (the engine's calls_cps, 50), CPS_BENCH_HOLD_S (2),
CPS_BENCH_TIMEOUT_S (give up on the calls, default N / CPS * 3 + 120), CPS_BENCH_WORKERS
(sip_workers_max, default 80), CPS_BENCH_MAX_CONCURRENT (calls_max_concurrent, default 400),
CPS_BENCH_KEEP.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import ThreadedApp, pct, rss_mb, stop_process, total_rss_mb  # noqa: E402
from bench.sip_bench import Sink, start_sipp  # noqa: E402
from tests.backends import free_port, free_udp_block  # noqa: E402
from tests.conftest import LiveServer, make_live_server  # noqa: E402

N_CALLS = int(os.environ.get("CPS_BENCH_CALLS", "10000"))
CPS = float(os.environ.get("CPS_BENCH_CPS", "50"))
HOLD_S = float(os.environ.get("CPS_BENCH_HOLD_S", "2"))
TIMEOUT_S = float(os.environ.get("CPS_BENCH_TIMEOUT_S", str(N_CALLS / CPS * 3 + 120)))
WORKERS = int(os.environ.get("CPS_BENCH_WORKERS", "80"))
MAX_CONCURRENT = int(os.environ.get("CPS_BENCH_MAX_CONCURRENT", "400"))
KEEP = os.environ.get("CPS_BENCH_KEEP", "") not in ("", "0")
CREATE_CONCURRENCY = 32
# Calls created per second (a dialer feeding the queue a little faster than the engine places
# them, so a backlog is always there); 0 = all at once, as fast as the API takes them.
CREATE_RATE = float(os.environ.get("CPS_BENCH_CREATE_RATE", "60"))
CALLBACK_WAIT_S = 60.0  # after the last call ended, how long missing callbacks are waited for
PROGRESS_S = 10.0
TWIML = f'<Response><Pause length="{HOLD_S:g}"/><Hangup/></Response>'
FROM = "+15005550100"
EVENTS = ("initiated", "ringing", "answered", "completed")
LIVE = ("initiated", "ringing", "in-progress")
FINAL = ("completed", "busy", "failed", "no-answer", "canceled")
# The CallStatus a callback carries -> the StatusCallbackEvent it reports.
EVENT_OF = {
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    **{s: "completed" for s in FINAL},
}
HZ = os.sysconf("SC_CLK_TCK")


# --- /proc ----------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Children of every thread of pid (a child forked from any thread is listed under it)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of pid and all its descendants, live ones from their utime+stime and the exited
    (reaped) ones from pid's cutime+cstime."""
    total = 0
    for p in descendants(pid):
        try:
            f = stat_fields(p)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
        if p == pid:
            total += int(f[13]) + int(f[14])
    return total / HZ


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    return (total - v[3] - v[4]) / HZ, total / HZ


def own_cpu_s(pid: int) -> float:
    try:
        f = stat_fields(pid)
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / HZ


class Sampler(threading.Thread):
    """Every second: SIP worker processes among serve's descendants, RSS of serve and of the tree."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.workers: list[int] = []  # live worker count per sample
        self.rss_serve: list[float] = []
        self.rss_tree: list[float] = []
        self.worker_pids: set[int] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.rss_serve.append(rss_mb(self.pid))
            except OSError:
                return
            pids = descendants(self.pid)
            workers = [p for p in pids if "_sip-worker" in cmdline(p)]
            self.worker_pids.update(workers)
            self.workers.append(len(workers))
            self.rss_tree.append(total_rss_mb(pids))


# --- the callback receiver -------------------------------------------------------------------------


class Receiver(ThreadedApp):
    """Answers 200 at once and records (CallSid, CallStatus, SequenceNumber, arrival epoch s)
    for each status callback."""

    PATH = "/status"

    def __init__(self) -> None:
        super().__init__(free_port())
        self.got: list[tuple[str, str, str, float]] = []
        self.bad = 0

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        t = time.time()
        sid, status = str(form.get("CallSid", "")), str(form.get("CallStatus", ""))
        if sid and status:
            self.got.append((sid, status, str(form.get("SequenceNumber", "")), t))
        else:
            self.bad += 1
        return web.Response(text="")


# --- database --------------------------------------------------------------------------------------


def db_connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def db_progress(db: Path) -> tuple[dict[str, int], int]:
    con = db_connect(db)
    try:
        statuses = dict(con.execute("SELECT status, COUNT(*) FROM calls GROUP BY status").fetchall())
        placed = int(con.execute("SELECT COUNT(*) FROM calls WHERE start_time IS NOT NULL").fetchone()[0])
        return statuses, placed
    finally:
        con.close()


def epoch(value: str | None) -> float | None:
    """The store's datetimes (naive = UTC) as epoch seconds."""
    if not value:
        return None
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def db_calls(db: Path) -> dict[str, tuple[str, float | None, float | None, float | None, int | None]]:
    """sid -> (status, start, answer, end (epoch s), sip_response_code)."""
    con = db_connect(db)
    try:
        rows = con.execute("SELECT sid, status, start_time, answer_time, end_time, sip_response_code FROM calls")
        return {r[0]: (r[1], epoch(r[2]), epoch(r[3]), epoch(r[4]), r[5]) for r in rows}
    finally:
        con.close()


def db_webhooks(db: Path) -> dict[str, Any]:
    con = db_connect(db)
    try:
        statuses = dict(con.execute("SELECT status, COUNT(*) FROM webhooks GROUP BY status").fetchall())
        retried = int(con.execute("SELECT COUNT(*) FROM webhooks WHERE attempts > 1").fetchone()[0])
        errors = [r[0] for r in con.execute("SELECT DISTINCT last_error FROM webhooks WHERE last_error IS NOT NULL")]
        return {"rows_by_status": statuses, "rows_attempted_more_than_once": retried, "errors": errors[:5]}
    finally:
        con.close()


# --- the run ---------------------------------------------------------------------------------------


async def create_all(session: aiohttp.ClientSession, base: str, callback: str) -> tuple[list[str], Counter[str]]:
    """Create N_CALLS calls with CREATE_CONCURRENCY clients; (sids, errors by HTTP status or exception)."""
    sids: list[str] = []
    errors: Counter[str] = Counter()
    numbers = iter(range(N_CALLS))
    events = [("StatusCallbackEvent", e) for e in EVENTS]
    t0 = time.monotonic()

    async def worker() -> None:
        for i in numbers:
            if CREATE_RATE > 0:
                await asyncio.sleep(max(0.0, t0 + i / CREATE_RATE - time.monotonic()))
            data = [
                ("To", f"+1415{5550000 + i:07d}"),  # distinct callees, +14155550000 up
                ("From", FROM),
                ("Twiml", TWIML),
                ("StatusCallback", callback),
                *events,
            ]
            try:
                async with session.post(f"{base}/Calls.json", data=data) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status == 201:
                        sids.append(body["sid"])
                    else:
                        errors[f"{resp.status} {body.get('code')} {body.get('message')}"[:160]] += 1
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                errors[type(exc).__name__] += 1

    await asyncio.gather(*(worker() for _ in range(CREATE_CONCURRENCY)))
    return sids, errors


def rate_windows(starts: list[float]) -> dict[str, Any]:
    """Dispatches per second over the run, and the highest / lowest 10 s window."""
    if len(starts) < 2:
        return {"per_second": [len(starts)], "max_10s_per_s": None, "min_10s_per_s": None}
    t0 = starts[0]
    bins = [0] * (int(starts[-1] - t0) + 1)
    for s in starts:
        bins[int(s - t0)] += 1
    full = bins[:-1]  # the last second is partial
    windows = [sum(full[i : i + 10]) / 10 for i in range(0, len(full) - 9)]
    return {
        "per_second": bins,
        "max_10s_per_s": max(windows) if windows else None,
        "min_10s_per_s": min(windows) if windows else None,
        "min_10s_after_first_s_per_s": min(windows[1:]) if len(windows) > 1 else None,
        # From a cold engine the first ~20 s also start the SIP workers the load needs.
        "steady_from_s": STEADY_FROM_S,
        "steady_per_s": round(sum(full[STEADY_FROM_S:]) / len(full[STEADY_FROM_S:]), 2)
        if len(full) > STEADY_FROM_S
        else None,
        "min_10s_steady_per_s": min(windows[STEADY_FROM_S:]) if len(windows) > STEADY_FROM_S else None,
    }


STEADY_FROM_S = 30


def ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 1),
        "p90": round(pct(values, 90), 1),
        "p99": round(pct(values, 99), 1),
        "max": round(max(values), 1),
    }


async def run(server: LiveServer, receiver: Receiver, sink: Sink, sipp_pid: int, sampler: Sampler) -> dict[str, Any]:
    assert server.proc is not None
    serve_pid = server.proc.pid
    base = f"{server.base_url}/2010-04-01/Accounts/{server.project_id}"
    db = server.data_dir / "wirexa.db"
    token = base64.b64encode(f"{server.project_id}:{server.auth_token}".encode()).decode()
    headers = {"Authorization": "Basic " + token}
    rtp = {"new_streams": 0, "packets": 0, "lost_packets": 0}

    async def sink_window() -> None:
        w = await sink.window()
        for k in rtp:
            rtp[k] += int(w.get(k, 0))

    cpu0 = (tree_cpu_s(serve_pid), own_cpu_s(sipp_pid), own_cpu_s(sink.proc.pid if sink.proc else 0))
    rusage0 = resource.getrusage(resource.RUSAGE_SELF)
    machine0 = machine_busy()
    t0 = time.monotonic()
    timeline: list[tuple[float, int, int, int, int]] = []  # (t, placed, live, queued, workers) every second
    peak_live = 0
    progress_at = t0 + PROGRESS_S
    created_s = None

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=64), timeout=timeout
    ) as session:
        creating = asyncio.create_task(create_all(session, base, receiver.url))
        all_final_at: float | None = None
        while True:
            await asyncio.sleep(1.0)
            statuses, placed = await asyncio.to_thread(db_progress, db)
            live = sum(statuses.get(s, 0) for s in LIVE)
            peak_live = max(peak_live, live)
            final = sum(statuses.get(s, 0) for s in FINAL)
            workers = sampler.workers[-1] if sampler.workers else 0
            timeline.append((round(time.monotonic() - t0, 1), placed, live, statuses.get("queued", 0), workers))
            if creating.done() and created_s is None:
                created_s = time.monotonic() - t0
            now = time.monotonic()
            if now >= progress_at:
                progress_at += PROGRESS_S
                await sink_window()
                print(
                    f"[{now - t0:6.0f} s] created {sum(statuses.values())}, placed {placed}, live {live}, "
                    f"queued {statuses.get('queued', 0)}, final {final}, callbacks {len(receiver.got)}, "
                    f"workers {workers}",
                    file=sys.stderr,
                    flush=True,
                )
            if creating.done() and final >= sum(statuses.values()):
                all_final_at = now
                break
            if now - t0 > TIMEOUT_S:
                print("timeout: calls still not final", file=sys.stderr, flush=True)
                break
        sids, create_errors = await creating
    expected = len(sids) * len(EVENTS)
    wait_from = time.monotonic()
    while time.monotonic() - wait_from < CALLBACK_WAIT_S:
        have = {(sid, EVENT_OF.get(status, status)) for sid, status, _, _ in receiver.got}
        if len(have) >= expected:
            break
        await asyncio.sleep(0.5)
    run_s = time.monotonic() - t0
    cpu1 = (tree_cpu_s(serve_pid), own_cpu_s(sipp_pid), own_cpu_s(sink.proc.pid if sink.proc else 0))
    rusage1 = resource.getrusage(resource.RUSAGE_SELF)
    machine1 = machine_busy()
    await sink_window()

    calls = await asyncio.to_thread(db_calls, db)
    mine = {sid: calls[sid] for sid in sids if sid in calls}
    statuses = Counter(c[0] for c in mine.values())
    failures = {sid: c for sid, c in mine.items() if c[0] != "completed"}
    starts = sorted(c[1] for c in mine.values() if c[1] is not None)
    span = starts[-1] - starts[0] if len(starts) > 1 else 0.0
    setup = [(c[2] - c[1]) * 1000 for c in mine.values() if c[1] is not None and c[2] is not None]

    got = list(receiver.got)
    per_event: Counter[str] = Counter()
    seen: dict[str, set[str]] = {sid: set() for sid in sids}
    lag: dict[str, list[float]] = {"initiated": [], "answered": [], "completed": []}
    first_arrival: dict[tuple[str, str], float] = {}
    for sid, status, _seq, t in got:
        event = EVENT_OF.get(status, status)
        per_event[event] += 1
        if sid in seen:
            seen[sid].add(event)
        key = (sid, event)
        if key not in first_arrival or t < first_arrival[key]:
            first_arrival[key] = t
    for (sid, event), t in first_arrival.items():
        c = mine.get(sid)
        if c is None or event not in lag:
            continue
        at = {"initiated": c[1], "answered": c[2], "completed": c[3]}[event]
        if at is not None:
            lag[event].append((t - at) * 1000)
    missing = {sid: sorted(set(EVENTS) - ev) for sid, ev in seen.items() if len(ev) < len(EVENTS)}
    missing_by_event = Counter(e for ev in missing.values() for e in ev)
    unique = sum(len(ev) for ev in seen.values())
    arrivals = sorted(t for _, _, _, t in got)
    ends = [c[3] for c in mine.values() if c[3] is not None]

    engine_cpu = cpu1[0] - cpu0[0]
    bench_cpu = (rusage1.ru_utime + rusage1.ru_stime) - (rusage0.ru_utime + rusage0.ru_stime)
    sipp_cpu, sink_cpu = cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]
    machine_cpu = machine1[0] - machine0[0]
    cores = (machine1[1] - machine0[1]) / run_s
    return {
        "calls": N_CALLS,
        "created": len(sids),
        "create_errors": sum(create_errors.values()),
        "create_error_kinds": dict(create_errors.most_common(5)),
        "queued_all_in_s": round(created_s, 1) if created_s is not None else None,
        "all_final": all_final_at is not None,
        "statuses": dict(statuses),
        "failures": len(failures),
        "failure_examples": [
            {"sid": sid, "status": c[0], "sip_response_code": c[4], "answered": c[2] is not None}
            for sid, c in list(failures.items())[:10]
        ],
        "placed": len(starts),
        "placed_span_s": round(span, 2),
        "placed_per_s": round(len(starts) / span, 2) if span else None,
        "dispatch_rate": rate_windows(starts),
        "setup_ms": ms(setup),
        "callbacks": {
            "expected": expected,
            "received": len(got),
            "unique_call_events": unique,
            "duplicates": len(got) - unique,
            "per_event": {e: per_event.get(e, 0) for e in EVENTS},
            "malformed": receiver.bad,
            "calls_missing_any": len(missing),
            "missing_by_event": dict(missing_by_event),
            "missing_examples": dict(list(missing.items())[:5]),
            "lag_ms": {e: ms(v) for e, v in lag.items()},
            "lag_all_ms": ms([x for v in lag.values() for x in v]),
            "last_arrival_after_last_call_end_s": round(arrivals[-1] - max(ends), 2) if arrivals and ends else None,
        },
        "webhook_rows": await asyncio.to_thread(db_webhooks, db),
        "peak_live_calls": peak_live,
        "peak_sip_workers": max(sampler.workers, default=0),
        "sip_workers_started": len(sampler.worker_pids),
        "run_s": round(run_s, 1),
        "cpu_pct_of_a_core": {
            "engine": round(100 * engine_cpu / run_s, 1),
            "sipp": round(100 * sipp_cpu / run_s, 1),
            "rtp_sink": round(100 * sink_cpu / run_s, 1),
            "bench_process": round(100 * bench_cpu / run_s, 1),
            "machine_all": round(100 * machine_cpu / run_s, 1),
            "other_processes": round(100 * (machine_cpu - engine_cpu - sipp_cpu - sink_cpu - bench_cpu) / run_s, 1),
            "cores": round(cores, 1),
        },
        "engine_cpu_ms_per_call": round(1000 * engine_cpu / max(1, len(sids)), 1),
        "rtp": rtp,
        "timeline_t_placed_live_queued_workers": timeline[:: max(1, len(timeline) // 60)],
    }


def serve_log_summary(data_dir: Path) -> dict[str, Any]:
    """WARNING/ERROR lines of serve's log (a sample of distinct messages), and the workers' stderr."""
    lines: list[str] = []
    for log in sorted(data_dir.glob("serve-*.log")):
        lines += [ln for ln in log.read_text(errors="replace").splitlines() if "WARNING" in ln or "ERROR" in ln]
    distinct: dict[str, str] = {}
    for ln in lines:
        key = " ".join(w for w in ln.split() if not w.startswith("[CA") and not w[:1].isdigit())[:80]
        distinct.setdefault(key, ln[:300])
    logs = data_dir / "logs"
    worker_stderr = sum(p.stat().st_size for p in logs.glob("sip-worker-*.stderr")) if logs.is_dir() else 0
    return {
        "warning_or_error_lines": len(lines),
        "samples": list(distinct.values())[:8],
        "worker_stderr_bytes": worker_stderr,
    }


def alive(pid: int) -> bool:
    try:
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def main() -> None:
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    tmp = Path(tempfile.mkdtemp(prefix="cpsb_", dir="/tmp"))
    # SIP: worker N on sip + N (UDP and TCP), SIPp on sip + WORKERS + 10 (its unused media port
    # + 20/22), the RTP sink on sip + WORKERS + 30. RTP: worker N from rtp + 100 N.
    sip = free_udp_block(
        40000, 49000, WORKERS + 40, (*range(WORKERS), WORKERS + 10, WORKERS + 20, WORKERS + 22, WORKERS + 30)
    )
    rtp = free_udp_block(20000, 32000, WORKERS * 100 + 100, tuple(range(0, WORKERS * 100, 100)))
    sipp_port, sink_port = sip + WORKERS + 10, sip + WORKERS + 30
    receiver = Receiver()
    receiver.start()
    receiver.ready.wait(10)
    sipp = start_sipp(tmp, sipp_port, sip + WORKERS + 20, sink_port)
    server: LiveServer | None = None
    sampler: Sampler | None = None
    result: dict[str, Any] = {}
    try:
        time.sleep(0.5)
        if sipp.poll() is not None:
            raise RuntimeError(f"SIPp exited with {sipp.returncode}: {(tmp / 'sipp.stderr').read_text()[-500:]}")
        server = make_live_server(
            tmp,
            {
                "WIREXA_CALLS_CPS": f"{CPS:g}",
                "WIREXA_CALLS_MAX_CONCURRENT": str(MAX_CONCURRENT),
                "WIREXA_SIP_WORKERS_MAX": str(WORKERS),
                "WIREXA_SIP_PORT_BASE": str(sip),
                "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
                "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{sipp_port}",
                "WIREXA_SIP_TRUNK_TRANSPORT": "udp",
                "WIREXA_SANDBOX_ENABLED": "false",
                "WIREXA_SANDBOX_PORT_BASE": str(sip + WORKERS + 50),  # unused: the sandbox is off
                "WIREXA_API_RATE_LIMIT_PER_S": "0",  # the load generator queues as fast as the API takes it
                "WIREXA_LOG_LEVEL": "WARNING",
            },
        )
        assert server.proc is not None
        sampler = Sampler(server.proc.pid)
        sampler.start()

        async def go() -> dict[str, Any]:
            sink = Sink(sink_port)
            await sink.start()
            try:
                return await run(server, receiver, sink, sipp.pid, sampler)
            finally:
                await sink.stop()

        result = asyncio.run(go())
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(5)
        if server is not None:
            server.stop()
        stop_process(sipp)
        receiver.close()
    assert server is not None and sampler is not None
    time.sleep(1.0)
    result["orphan_workers_after_stop"] = sum(1 for p in sampler.worker_pids if alive(p))
    result["rss_serve_mb_max"] = round(max(sampler.rss_serve, default=0.0), 1)
    result["rss_tree_mb_max"] = round(max(sampler.rss_tree, default=0.0), 1)
    err = tmp / "sipp_errors.log"
    errors = err.read_text(errors="replace").splitlines() if err.exists() else []
    result["sipp_error_log"] = {"lines": len(errors), "first": [ln[:200] for ln in errors[:3]]}
    result["serve_log"] = serve_log_summary(tmp)
    ok = (
        result["failures"] == 0
        and result["create_errors"] == 0
        and result["created"] == N_CALLS
        and result["callbacks"]["calls_missing_any"] == 0
    )
    if ok and not KEEP:
        shutil.rmtree(tmp, ignore_errors=True)
        result["data_dir"] = None
    else:
        result["data_dir"] = str(tmp)
    cb = result["callbacks"]
    rate = result["dispatch_rate"]
    targets = [
        {
            "metric": f"{N_CALLS} calls at calls_cps {CPS:g}, held {HOLD_S:g} s",
            "measured": f"{result['statuses'].get('completed', 0)} completed, {result['failures']} failed, "
            f"{result['create_errors']} create errors",
            "target": "0 failures",
            "met": result["failures"] == 0 and result["create_errors"] == 0 and result["created"] == N_CALLS,
        },
        {
            "metric": "placed rate (first to last dispatch)",
            "measured": f"{result['placed_per_s']}/s (10 s windows {rate['min_10s_per_s']}..{rate['max_10s_per_s']}/s; "
            f"from second {rate.get('steady_from_s')}: {rate.get('steady_per_s')}/s, 10 s windows from "
            f"{rate.get('min_10s_steady_per_s')}/s)",
            "target": f"{CPS:g}/s",
            "met": result["placed_per_s"] is not None and result["placed_per_s"] >= 0.95 * CPS,
        },
        {
            "metric": "setup latency (INVITE sent -> answered) p50 / p99",
            "measured": f"{result['setup_ms'].get('p50')} / {result['setup_ms'].get('p99')} ms",
            "target": "report",
            "met": None,
        },
        {
            "metric": "status callbacks delivered",
            "measured": f"{cb['unique_call_events']} of {cb['expected']} ({cb['calls_missing_any']} calls missing one)",
            "target": "all",
            "met": cb["calls_missing_any"] == 0 and cb["unique_call_events"] == cb["expected"],
        },
    ]
    print(
        json.dumps(
            {
                "benchmark": "cps",
                "calls": N_CALLS,
                "cps": CPS,
                "hold_s": HOLD_S,
                "create_rate_per_s": CREATE_RATE or "all at once",
                "results": result,
                "targets": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
