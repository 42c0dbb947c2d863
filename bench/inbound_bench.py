"""Issue 23 item 9 / Benchmarks: inbound call setups per second through the whole stack. SIPp plays
the carrier (tests/data/sipp/bench_inbound_uac.xml) and sends INVITEs at INBOUND_BENCH_RATE (50/s),
INBOUND_BENCH_CALLS of them (10,000), over UDP to a running `wirexa serve`'s inbound front
([sip] inbound_port, the carrier allowed by WIREXA_SIP_INBOUND_ALLOWED=127.0.0.1/32). The number
is registered through the REST API; its VoiceUrl is a local aiohttp app (a thread of this process)
that answers every POST with

    <Response><Say>Hi</Say><Hangup/></Response>

<Say> rather than <Pause>: it is what an IVR's first verb is, and it makes the engine answer
(200 OK once the document needs media), play the TTS prompt (espeak-ng, synthesised by the first
call and cached for the others) and hang up. So each call is the cycle the issue names: INVITE ->
front -> worker -> 180 (the call inserted `ringing`) -> VoiceUrl fetched -> 200 OK -> ACK -> the
prompt -> BYE from the engine -> 200.

Measured, not guessed: SIPp reads its clock (gettimeofday) as the INVITE goes out and as the 180,
the 200 and the BYE come in, and logs one line per completed call (-trace_logs); the web app
stamps each VoiceUrl request (From is +1555<call number>, so each fetch is tied to its INVITE).
Reported: calls completed / failed (SIPp's counts, its error log's SIP responses, and the engine's
call records by status), the achieved rate (INVITEs of completed calls over the whole run, per
second, and from second 30), INVITE -> 180, INVITE -> VoiceUrl request, INVITE -> 200 and
200 -> BYE p50/p90/p99/max, engine CPU (serve and its descendants, exited workers included) per
call and in % of a core, serve's and the tree's RSS, SIP worker processes, the machine's other load,
and the datagrams each UDP socket dropped on a full receive buffer (/proc/net/udp, sampled every
second: the front's, the workers', SIPp's; SIPp never reads the RTP the engine plays to it).
Then the baseline: the same UAC scenario, same rate and count, against a SIPp UAS
(tests/data/sipp/bench_inbound_uas.xml: 180 and 200 at once, held as long as the engine held its
calls, BYE) on the same machine, and the ratio of the engine's p50 / p99 to SIPp-to-SIPp.

Prints one JSON object on stdout, progress every ~10 s on stderr.
Env: INBOUND_BENCH_CALLS (10000), INBOUND_BENCH_RATE (50), INBOUND_BENCH_BASELINE_CALLS (the same
as CALLS; 0 = no baseline), INBOUND_BENCH_WORKERS (sip_workers_max, 40), INBOUND_BENCH_WORKERS_MIN
(sip_workers_min, 16: warm workers, as an office with a 50/s trunk sets it), INBOUND_BENCH_PROFILE (an
.svg path, or .txt for collapsed stacks: py-spy records serve's process during the run),
INBOUND_BENCH_KEEP=1 (keep the data dir /tmp/inb_*, kept anyway when a call failed), INBOUND_BENCH_LOG_LEVEL
(the engine's, WARNING; INFO logs each worker start and each INVITE a full worker passed on).
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import ThreadedApp, pct, stop_process  # noqa: E402
from bench.cps_bench import Sampler, alive, machine_busy, own_cpu_s, serve_log_summary, tree_cpu_s  # noqa: E402
from tests.backends import free_udp_block  # noqa: E402
from tests.conftest import LiveServer, make_live_server  # noqa: E402

N_CALLS = int(os.environ.get("INBOUND_BENCH_CALLS", "10000"))
RATE = float(os.environ.get("INBOUND_BENCH_RATE", "50"))
BASELINE_CALLS = int(os.environ.get("INBOUND_BENCH_BASELINE_CALLS", str(N_CALLS)))
WORKERS = int(os.environ.get("INBOUND_BENCH_WORKERS", "40"))
# Warm workers (sip.workers_min): room for the whole rate, as README's capacity section tells an
# office with a 50 calls/s trunk to set it: a call holds its worker slot ~2.2 s here (the INVITE,
# Say Hi, the BYE, and the slot kept a moment after), 50/s x 2.2 s / 4 calls a worker = 28 (the
# pool grew to 28 from 16 warm, and the INVITEs that waited for those workers made the 0.6 s p99
# over the whole run); 1 = a cold engine (the default).
WORKERS_MIN = int(os.environ.get("INBOUND_BENCH_WORKERS_MIN", "32"))
PROFILE = os.environ.get("INBOUND_BENCH_PROFILE", "")
KEEP = os.environ.get("INBOUND_BENCH_KEEP", "") not in ("", "0")
SIPP_DIR = Path(__file__).parent.parent / "tests" / "data" / "sipp"
UAC = SIPP_DIR / "bench_inbound_uac.xml"
UAS = SIPP_DIR / "bench_inbound_uas.xml"
NUMBER = "+15005550100"
TWIML = "<Response><Say>Hi</Say><Hangup/></Response>"
RECV_TIMEOUT_MS = 30_000  # a call SIPp waits longer than this for the next message failed
PROGRESS_S = 10.0
STEADY_FROM_S = 30
TARGETS = {"rate_per_s": 50.0, "ringing_p99_ms": 50.0, "answer_p50_ms": 60.0}


# --- the customer's web app ---------------------------------------------------------------------------


class VoiceApp(ThreadedApp):
    """The number's VoiceUrl: answers TWIML at once and stamps each request (epoch s) by its From
    (the call number SIPp put there)."""

    PATH = "/voice"

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.fetched: dict[str, float] = {}  # From -> first request's epoch s
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        t = time.time()
        form = await request.post()
        self.requests += 1
        self.fetched.setdefault(str(form.get("From", "")), t)
        return web.Response(text=TWIML, content_type="text/xml")


# --- SIPp ---------------------------------------------------------------------------------------------


def sipp_uac(cwd: Path, port: int, media_port: int, target: str, calls: int) -> subprocess.Popen[bytes]:
    argv = [
        "sipp", "-sf", str(UAC), "-s", NUMBER, "-t", "u1", "-i", "127.0.0.1", "-p", str(port),
        "-mp", str(media_port), "-r", f"{RATE:g}", "-m", str(calls), "-l", str(max(200, int(RATE * 20))),
        "-recv_timeout", str(RECV_TIMEOUT_MS), "-max_recv_loops", "10000", "-nostdin",
        "-trace_logs", "-trace_err", "-trace_stat", "-fd", "1", "-timeout", f"{int(calls / RATE * 3 + 120)}s",
        target,
    ]  # fmt: skip
    with open(cwd / "uac.stderr", "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=cwd)


def sipp_uas(cwd: Path, port: int, media_port: int, hold_ms: int) -> subprocess.Popen[bytes]:
    argv = [
        "sipp", "-sf", str(UAS), "-t", "u1", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
        "-d", str(hold_ms), "-max_recv_loops", "10000", "-nostdin", "-trace_err",
    ]  # fmt: skip
    with open(cwd / "uas.stderr", "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=cwd)


def call_lines(cwd: Path) -> list[tuple[int, float, float, float, float]]:
    """(call number, INVITE, 180, 200, BYE epoch s) of each completed call in the UAC's log."""
    out = []
    for log in cwd.glob("bench_inbound_uac_*_logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            f = line.split()
            if len(f) >= 10 and f[0] == "CALL":
                try:
                    n, v = int(f[1]), [float(x) for x in f[2:10]]
                except ValueError:  # SIPp's log lines of an aborted call may carry a message's text
                    continue
                out.append((n, v[0] + v[1] / 1e6, v[2] + v[3] / 1e6, v[4] + v[5] / 1e6, v[6] + v[7] / 1e6))
    return sorted(out)


def sipp_stats(cwd: Path) -> dict[str, int]:
    """SIPp's final counters from its -trace_stat file."""
    for stat in cwd.glob("bench_inbound_uac_*_.csv"):
        rows = [r.split(";") for r in stat.read_text(errors="replace").splitlines() if r.strip()]
        if len(rows) >= 2:
            last = dict(zip(rows[0], rows[-1], strict=False))
            keys = ("SuccessfulCall(C)", "FailedCall(C)", "FailedMaxUDPRetrans(C)", "FailedUnexpectedMessage(C)",
                    "FailedCallRejected(C)", "FailedCmdNotSent(C)", "FailedRegexpDoesntMatch(C)", "Retransmissions(C)",
                    "DeadCallMsgs(C)", "OutOfCallMsgs(C)")  # fmt: skip
            return {k.removesuffix("(C)"): int(last[k]) for k in keys if last.get(k, "").isdigit()}
    return {}


def sipp_errors(cwd: Path, t0: float | None) -> dict[str, Any]:
    """The UAC's error log: its events, the SIP responses that aborted calls (a 503 from a full
    engine) and by second of the run (t0: the first INVITE, epoch s) when they came, samples."""
    events: list[tuple[float, str]] = []
    for err in cwd.glob("bench_inbound_uac_*_errors.log"):
        for line in err.read_text(errors="replace").splitlines():
            match = re.match(r"^\S+\t\S+\t(\d+\.\d+): (.*)", line)
            if match:
                events.append((float(match.group(1)), match.group(2)))
    codes: Counter[str] = Counter()
    how: Counter[str] = Counter()
    by_second: Counter[int] = Counter()
    for t, what in events:
        got = re.search(r"^Aborting call .*while expecting '(\w+)'.*received 'SIP/2.0 (\d{3})", what)
        if got:
            codes[got.group(2)] += 1
            how[f"{got.group(2)} while expecting {got.group(1)}"] += 1
            if t0 is not None:
                by_second[int(t - t0)] += 1
        elif what.startswith("Dead call"):
            late = re.search(r"\((.*?)\), received 'SIP/2.0 (\d{3}) [^\n]*", what)
            if late:
                how[f"late {late.group(2)} for a call {late.group(1)}"] += 1
    other = Counter(re.sub(r"'[^']*'|\d+", "N", what)[:80] for _, what in events if "received 'SIP/2.0" not in what)
    return {
        "events": len(events),
        "aborted_by_response": dict(codes),
        "aborted_how_and_late_responses": dict(how.most_common(12)),
        "responses_by_second_of_run": dict(sorted(by_second.items())),
        "other_events": dict(other.most_common(5)),
    }


def ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p90": round(pct(values, 90), 2),
        "p99": round(pct(values, 99), 2),
        "max": round(max(values), 2),
    }


def rate(starts: list[float]) -> dict[str, Any]:
    """Completed calls' INVITEs per second: over the whole run, from STEADY_FROM_S, 10 s windows."""
    if len(starts) < 2:
        return {"whole_run_per_s": None}
    t0 = starts[0]
    bins = [0] * (int(starts[-1] - t0) + 1)
    for s in starts:
        bins[int(s - t0)] += 1
    full = bins[:-1]  # the last second is partial
    windows = [sum(full[i : i + 10]) / 10 for i in range(0, len(full) - 9)]
    steady = [s for s in starts if s - t0 >= STEADY_FROM_S]
    return {
        "whole_run_per_s": round((len(starts) - 1) / (starts[-1] - t0), 2),
        "from_second_30_per_s": round((len(steady) - 1) / (steady[-1] - steady[0]), 2) if len(steady) > 1 else None,
        "min_10s_per_s": min(windows) if windows else None,
        "max_10s_per_s": max(windows) if windows else None,
        "per_second": bins if len(bins) <= 400 else bins[:: len(bins) // 200 + 1],
    }


def latencies(lines: list[tuple[int, float, float, float, float]]) -> dict[str, Any]:
    """INVITE -> 180 / 200, 200 -> BYE over all completed calls, and INVITE -> 180 / 200 over those
    from second STEADY_FROM_S (the pool has grown by then)."""
    t0 = lines[0][1] if lines else 0.0
    steady = [c for c in lines if c[1] - t0 >= STEADY_FROM_S]
    return {
        "invite_to_180_ms": ms([(r180 - inv) * 1000 for _, inv, r180, _, _ in lines]),
        "invite_to_200_ms": ms([(r200 - inv) * 1000 for _, inv, _, r200, _ in lines]),
        "answer_to_bye_ms": ms([(bye - r200) * 1000 for _, _, _, r200, bye in lines]),
        "from_second_30_invite_to_180_ms": ms([(r180 - inv) * 1000 for _, inv, r180, _, _ in steady]),
        "from_second_30_invite_to_200_ms": ms([(r200 - inv) * 1000 for _, inv, _, r200, _ in steady]),
    }


def run_uac(
    cwd: Path, port: int, media_port: int, target: str, calls: int, label: str
) -> tuple[subprocess.Popen[bytes], dict[int, int]]:
    """Start the UAC and wait for it, progress on stderr every PROGRESS_S; the finished process,
    and the UDP sockets' drop counts (local port -> drops) as last seen while it ran."""
    uac = sipp_uac(cwd, port, media_port, target, calls)
    t0 = time.monotonic()
    progress_at = t0 + PROGRESS_S
    drops: dict[int, int] = {}
    while uac.poll() is None:
        time.sleep(1.0)
        drops.update(udp_drops())
        if time.monotonic() >= progress_at:
            progress_at += PROGRESS_S
            done = sum(1 for log in cwd.glob("bench_inbound_uac_*_logs.log") for _ in log.open(errors="replace"))
            print(f"[{label} {time.monotonic() - t0:5.0f} s] completed {done}", file=sys.stderr, flush=True)
    return uac, drops


def udp_drops() -> dict[int, int]:
    """Local port -> datagrams dropped (a full receive buffer) of each UDP socket on 127.0.0.1
    (/proc/net/udp; a socket's count lives as long as the socket)."""
    out: dict[int, int] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        host, port = f[1].split(":")
        if host == "0100007F" and f[-1].isdigit():
            out[int(port, 16)] = int(f[-1])
    return out


def drops_by_socket(drops: dict[int, int], named: dict[str, range]) -> dict[str, int]:
    """The drops of the sockets in each named port range (the engine's, SIPp's)."""
    return {name: sum(n for port, n in drops.items() if port in ports) for name, ports in named.items()}


def udp_counters() -> dict[str, int]:
    """The machine's UDP error counters (/proc/net/snmp): a datagram dropped on a full receive
    buffer (a 180, which nobody retransmits) shows here."""
    rows = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines() if ln.startswith("Udp:")]
    values = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:]), strict=False))
    return {k: values.get(k, 0) for k in ("InDatagrams", "InErrors", "RcvbufErrors", "SndbufErrors")}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


# --- the engine ---------------------------------------------------------------------------------------


def register_number(server: LiveServer, voice_url: str) -> None:
    token = base64.b64encode(f"{server.project_id}:{server.auth_token}".encode()).decode()
    body = urllib.parse.urlencode({"PhoneNumber": NUMBER, "VoiceUrl": voice_url, "VoiceMethod": "POST"}).encode()
    req = urllib.request.Request(
        f"{server.base_url}/2010-04-01/Accounts/{server.project_id}/IncomingPhoneNumbers.json",
        data=body,
        headers={"Authorization": "Basic " + token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        assert resp.status == 201, resp.status


def wait_warm(server: LiveServer, workers: int, timeout: float = 120.0) -> float:
    """Wait until the engine's warm workers (sip.workers_min) are all up and none is starting, then
    SETTLE_S more for the machine to go quiet: the burst meets an engine that has been running,
    as a carrier's traffic does, not one still spawning its workers. The seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{server.base_url}/health", timeout=10) as resp:  # noqa: S310 - loopback
            sip = json.load(resp)["sip"]
        if sip.get("workers", 0) >= workers and not sip.get("workers_starting"):
            took = time.monotonic() - t0
            time.sleep(SETTLE_S)
            return took
        time.sleep(0.5)
    raise AssertionError(f"{workers} warm workers not up after {timeout:g} s")


SETTLE_S = 3.0


def engine_calls(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Inbound calls by status, and the failed ones' SIP response codes."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        statuses = dict(con.execute("SELECT status, COUNT(*) FROM calls WHERE direction = 'inbound' GROUP BY status"))
        codes = dict(
            con.execute(
                "SELECT COALESCE(sip_response_code, 0), COUNT(*) FROM calls WHERE direction = 'inbound'"
                " AND status != 'completed' GROUP BY 1"
            )
        )
        return statuses, {str(k): v for k, v in codes.items()}
    finally:
        con.close()


def engine_run(tmp: Path, sip: int, rtp: int, app: VoiceApp) -> dict[str, Any]:
    inbound = sip + WORKERS + 10
    uac_port, uac_media = sip + WORKERS + 20, sip + WORKERS + 22
    server = make_live_server(
        tmp,
        {
            "WIREXA_SIP_INBOUND_PORT": str(inbound),
            "WIREXA_SIP_INBOUND_ALLOWED": "127.0.0.1/32",
            "WIREXA_SIP_WORKERS_MAX": str(WORKERS),
            "WIREXA_SIP_WORKERS_MIN": str(WORKERS_MIN),
            "WIREXA_CALLS_MAX_CONCURRENT": str(WORKERS * 4),
            "WIREXA_SIP_PORT_BASE": str(sip),
            "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
            # No outbound call is placed: the trunk only has to name an address (nobody listens there).
            "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{sip + WORKERS + 40}",
            "WIREXA_SANDBOX_ENABLED": "false",
            "WIREXA_SANDBOX_PORT_BASE": str(sip + WORKERS + 50),
            "WIREXA_API_RATE_LIMIT_PER_S": "0",
            "WIREXA_LOG_LEVEL": os.environ.get("INBOUND_BENCH_LOG_LEVEL", "WARNING"),
        },
    )
    assert server.proc is not None
    serve_pid = server.proc.pid
    sampler = Sampler(serve_pid)
    profiler: subprocess.Popen[bytes] | None = None
    uac_cwd = tmp / "uac"
    uac_cwd.mkdir()
    try:
        register_number(server, app.url)
        warm_s = wait_warm(server, WORKERS_MIN)
        print(f"[engine] {WORKERS_MIN} warm workers up in {warm_s:.1f} s", file=sys.stderr, flush=True)
        sampler.start()
        if PROFILE:
            profiler = subprocess.Popen(
                [
                    shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "-o",
                    PROFILE,
                    "--pid",
                    str(serve_pid),
                    "--rate",
                    "50",
                    "--nonblocking",
                ]
                + (["--format", "raw"] if PROFILE.endswith(".txt") else []),
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "py-spy.stderr", "wb"),  # the child keeps it
            )
        cpu0, machine0, self0 = tree_cpu_s(serve_pid), machine_busy(), resource.getrusage(resource.RUSAGE_SELF)
        serve0 = own_cpu_s(serve_pid)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # SIPp's, once it is reaped
        udp0 = udp_counters()
        t0 = time.monotonic()
        uac, drops = run_uac(uac_cwd, uac_port, uac_media, f"127.0.0.1:{inbound}", N_CALLS, "engine")
        run_s = time.monotonic() - t0
        cpu1, machine1, self1 = tree_cpu_s(serve_pid), machine_busy(), resource.getrusage(resource.RUSAGE_SELF)
        serve_cpu = own_cpu_s(serve_pid) - serve0
        kids1, udp1 = resource.getrusage(resource.RUSAGE_CHILDREN), udp_counters()
        uac_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        time.sleep(2.0)  # the last calls' records end
        statuses, codes = engine_calls(tmp / "wirexa.db")
    finally:
        sampler.stop.set()
        sampler.join(5)
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        server.stop()
    lines = call_lines(uac_cwd)
    engine_cpu = cpu1 - cpu0
    machine_cpu = machine1[0] - machine0[0]
    bench_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    fetch = [(app.fetched[f"+1555{n}"] - inv) * 1000 for n, inv, _, _, _ in lines if f"+1555{n}" in app.fetched]
    stats = sipp_stats(uac_cwd)
    first_invite = lines[0][1] if lines else None
    return {
        "warm_workers_up_s": round(warm_s, 1),
        "uac_exit": uac.returncode,
        "sipp": stats,
        "sipp_errors": sipp_errors(uac_cwd, first_invite),
        "completed": len(lines),
        "failed": N_CALLS - len(lines),
        "udp_counters_machine": delta(udp1, udp0),
        "udp_drops_by_socket": drops_by_socket(
            drops,
            {
                "front": range(inbound, inbound + 1),
                "workers_sip": range(sip, sip + WORKERS),
                "workers_rtp": range(rtp, rtp + WORKERS * 100),
                "sipp_uac_sip": range(uac_port, uac_port + 1),
                "sipp_uac_media_unread": range(uac_media, uac_media + 4),
            },
        ),
        "engine_calls_by_status": statuses,
        "engine_failed_calls_sip_codes": codes,
        "voice_url_requests": app.requests,
        "rate": rate([inv for _, inv, _, _, _ in lines]),
        **latencies(lines),
        "invite_to_voice_url_request_ms": ms(fetch),
        "run_s": round(run_s, 1),
        "engine_cpu_pct_of_a_core": round(100 * engine_cpu / run_s, 1),
        "engine_cpu_ms_per_call": round(1000 * engine_cpu / max(1, len(lines)), 2),
        "serve_process_cpu_pct_of_a_core": round(100 * serve_cpu / run_s, 1),
        "workers_cpu_pct_of_a_core": round(100 * (engine_cpu - serve_cpu) / run_s, 1),
        "machine_cpu_pct_of_a_core": round(100 * machine_cpu / run_s, 1),
        "bench_process_cpu_pct_of_a_core": round(100 * bench_cpu / run_s, 1),
        "sipp_uac_cpu_pct_of_a_core": round(100 * uac_cpu / run_s, 1),
        "other_cpu_pct_of_a_core": round(100 * (machine_cpu - engine_cpu - bench_cpu - uac_cpu) / run_s, 1),
        "rss_serve_mb_max": round(max(sampler.rss_serve, default=0.0), 1),
        "rss_tree_mb_max": round(max(sampler.rss_tree, default=0.0), 1),
        "peak_sip_workers": max(sampler.workers, default=0),
        "sip_workers_started": len(sampler.worker_pids),
        "orphan_workers_after_stop": sum(1 for p in sampler.worker_pids if alive(p)),
        "serve_log": serve_log_summary(tmp),
    }


def baseline_run(tmp: Path, sip: int, hold_ms: int) -> dict[str, Any]:
    uas_port, uas_media = sip + WORKERS + 30, sip + WORKERS + 32
    uac_port, uac_media = sip + WORKERS + 20, sip + WORKERS + 22
    cwd = tmp / "baseline"
    cwd.mkdir()
    uas = sipp_uas(cwd, uas_port, uas_media, hold_ms)
    try:
        time.sleep(0.5)
        if uas.poll() is not None:
            raise RuntimeError(f"SIPp UAS exited with {uas.returncode}: {(cwd / 'uas.stderr').read_text()[-500:]}")
        machine0, kids0, udp0 = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), udp_counters()
        t0 = time.monotonic()
        uac, drops = run_uac(cwd, uac_port, uac_media, f"127.0.0.1:{uas_port}", BASELINE_CALLS, "baseline")
        run_s = time.monotonic() - t0
        machine1, kids1, udp1 = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), udp_counters()
        uas_cpu = own_cpu_s(uas.pid)
        uac_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    finally:
        stop_process(uas)
    lines = call_lines(cwd)
    return {
        "calls": BASELINE_CALLS,
        "uas_hold_ms": hold_ms,
        "uac_exit": uac.returncode,
        "sipp": sipp_stats(cwd),
        "udp_counters_machine": delta(udp1, udp0),
        "udp_drops_by_socket": drops_by_socket(
            drops,
            {
                "sipp_uas_sip": range(uas_port, uas_port + 1),
                "sipp_uac_sip": range(uac_port, uac_port + 1),
                "sipp_media_unread": range(uac_media, uas_media + 4),
            },
        ),
        "completed": len(lines),
        "failed": BASELINE_CALLS - len(lines),
        "rate": rate([inv for _, inv, _, _, _ in lines]),
        **latencies(lines),
        "run_s": round(run_s, 1),
        "uas_cpu_pct_of_a_core": round(100 * uas_cpu / run_s, 1),
        "uac_cpu_pct_of_a_core": round(100 * uac_cpu / run_s, 1),
        "machine_cpu_pct_of_a_core": round(100 * (machine1[0] - machine0[0]) / run_s, 1),
    }


def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float | None:
    return round(a[key] / b[key], 1) if key in a and key in b and b[key] else None


def failure_note(engine: dict[str, Any]) -> str:
    """What ended the failed calls, in a line: the answers that aborted them (SIPp expected a 100 or
    180 and got 486: a worker's pjsua had no call slot; 503: the front found no worker with room;
    a 200 before any 180), when, and the datagrams the front's socket dropped."""
    errors = engine["sipp_errors"]
    how = errors["aborted_how_and_late_responses"]
    early = sum(n for sec, n in errors["responses_by_second_of_run"].items() if int(sec) < 5)
    return (
        f"aborted on: {', '.join(f'{k} x{v}' for k, v in how.items() if not k.startswith('late'))}; {early} of them in "
        f"the first 5 s (the pool starting workers); UDP datagrams dropped by the front's socket (receive buffer "
        f"full) {engine['udp_drops_by_socket']['front']}; SIPp retransmissions {engine['sipp'].get('Retransmissions')}"
        f"; engine call records {engine['engine_calls_by_status']}"
    )


def main() -> None:
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    tmp = Path(tempfile.mkdtemp(prefix="inb_", dir="/tmp"))
    # SIP: worker N on sip + N, the inbound front on sip + WORKERS + 10, SIPp's UAC on +20 (its media
    # ports +22..+25: audio, RTCP, video, RTCP), the baseline UAS on +30 (+32..+35), the unused trunk
    # address +40, the VoiceUrl app +45 (TCP). RTP: worker N from rtp + 100 N.
    sip = free_udp_block(
        40000, 49000, WORKERS + 60, (*range(WORKERS), *(WORKERS + k for k in (10, *range(20, 26), *range(30, 36), 40)))
    )
    rtp = free_udp_block(20000, 32000, WORKERS * 100 + 100, tuple(range(0, WORKERS * 100, 100)))
    app = VoiceApp(sip + WORKERS + 45)
    app.start()
    app.ready.wait(10)
    load_before = os.getloadavg()
    try:
        engine = engine_run(tmp, sip, rtp, app)
    finally:
        app.close()
    hold_ms = int(engine["answer_to_bye_ms"].get("p50", 500))
    base = baseline_run(tmp, sip, hold_ms) if BASELINE_CALLS else {}
    load_after = os.getloadavg()
    ok = engine["failed"] == 0 and not base.get("failed")
    if ok and not KEEP:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = {
        f"{which}_{p}": ratio(engine[f"{which}_ms"], base.get(f"{which}_ms", {}), p)
        for which in ("invite_to_180", "invite_to_200")
        for p in ("p50", "p99")
    }
    result: dict[str, Any] = {
        "engine": engine,
        "baseline_sipp_to_sipp": base,
        "ratio_engine_to_baseline": ratios,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "data_dir": None if ok and not KEEP else str(tmp),
    }
    ringing, answer, r = engine["invite_to_180_ms"], engine["invite_to_200_ms"], engine["rate"]
    s180, s200 = engine["from_second_30_invite_to_180_ms"], engine["from_second_30_invite_to_200_ms"]
    b180, b200 = base.get("invite_to_180_ms", {}), base.get("invite_to_200_ms", {})
    targets = [
        {
            "metric": f"{N_CALLS} inbound calls offered at {RATE:g}/s (INVITE -> VoiceUrl -> 200 -> Say Hi -> BYE)",
            "measured": f"{engine['completed']} completed, {engine['failed']} failed",
            "target": "0 failures",
            "met": engine["failed"] == 0,
            "note": failure_note(engine),
        },
        {
            "metric": "achieved setup rate (completed calls' INVITEs, whole run / from second 30)",
            "measured": f"{r['whole_run_per_s']}/s / {r.get('from_second_30_per_s')}/s "
            f"(10 s windows {r.get('min_10s_per_s')}..{r.get('max_10s_per_s')}/s)",
            "target": f">= {TARGETS['rate_per_s']:g}/s over {N_CALLS}",
            "met": r["whole_run_per_s"] is not None
            and r["whole_run_per_s"] >= 0.98 * TARGETS["rate_per_s"]
            and engine["failed"] == 0,
        },
        {
            "metric": "INVITE -> 180 p50 / p99 (ms, SIPp's clock)",
            "measured": f"{ringing.get('p50')} / {ringing.get('p99')} (max {ringing.get('max')})",
            "target": f"p99 < {TARGETS['ringing_p99_ms']:g}",
            "met": ringing.get("p99", 1e9) < TARGETS["ringing_p99_ms"],
            "note": f"from second 30: {s180.get('p50')} / {s180.get('p99')} ms; SIPp-to-SIPp {b180.get('p50')} / "
            f"{b180.get('p99')} ms: x{ratios['invite_to_180_p50']} / x{ratios['invite_to_180_p99']}",
        },
        {
            "metric": "INVITE -> 200 OK p50 / p99 (ms, local VoiceUrl)",
            "measured": f"{answer.get('p50')} / {answer.get('p99')} (max {answer.get('max')})",
            "target": f"p50 < {TARGETS['answer_p50_ms']:g}",
            "met": answer.get("p50", 1e9) < TARGETS["answer_p50_ms"],
            "note": f"from second 30: {s200.get('p50')} / {s200.get('p99')} ms; SIPp-to-SIPp {b200.get('p50')} / "
            f"{b200.get('p99')} ms: x{ratios['invite_to_200_p50']} / "
            f"x{ratios['invite_to_200_p99']}; INVITE -> VoiceUrl request p50 / p99 "
            f"{engine['invite_to_voice_url_request_ms'].get('p50')} / "
            f"{engine['invite_to_voice_url_request_ms'].get('p99')} ms",
        },
        {
            "metric": "engine CPU per call (serve + workers) / RSS",
            "measured": f"{engine['engine_cpu_ms_per_call']} ms per call ({engine['engine_cpu_pct_of_a_core']}% of a "
            f"core: serve's process {engine['serve_process_cpu_pct_of_a_core']}%, the workers "
            f"{engine['workers_cpu_pct_of_a_core']}%); RSS serve {engine['rss_serve_mb_max']} MB, with workers "
            f"{engine['rss_tree_mb_max']} MB",
            "target": "report",
            "met": None,
            "note": f"{engine['peak_sip_workers']} SIP workers at most; machine {engine['machine_cpu_pct_of_a_core']}% "
            f"of a core (2 cores = 200%): SIPp {engine['sipp_uac_cpu_pct_of_a_core']}%, the bench process (VoiceUrl) "
            f"{engine['bench_process_cpu_pct_of_a_core']}%, other processes {engine['other_cpu_pct_of_a_core']}%; "
            f"loadavg before {result['loadavg_before']}",
        },
    ]
    print(
        json.dumps(
            {
                "benchmark": "inbound",
                "calls": N_CALLS,
                "rate_per_s": RATE,
                "sip_workers_min": WORKERS_MIN,
                "twiml": f"`{TWIML}`",
                "results": result,
                "targets": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
