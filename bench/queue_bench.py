"""Issue 25 / Benchmarks: a call queue of many waiting callers with hold music, through `wirexa serve`.

The stack: a running `wirexa serve` (sandbox carrier off) places OUTBOUND calls through the REST
API with `<Response><Enqueue waitUrl=".../wait">bench</Enqueue></Response>` to its trunk, SIPp
(bench/sipp_uas_bench.xml, as bench/sip_bench.py runs it), which answers with an SDP naming
bench/rtp_sink.py's port, so every waiting caller's hold music arrives there (kernel receive
stamps, streams by SSRC). Outbound rather than INVITEs to the inbound front: the callers' RTP then
needs no SIP of its own, and what a waiting member costs (its session, its wait document, its
worker slot, the music's RTP) does not depend on who dialled. Nobody dequeues: they all wait.

The waitUrl (an aiohttp app on its own thread in this process) answers every request with
`<Response><Play>.../hold.wav</Play></Response>`, a HOLD_S clip: each member's wait document
runs out every HOLD_S and is requested again (calls/queues.py), so the expected fetch rate is
members / HOLD_S; the clip itself is fetched by the engine's audio cache (wirexa/http/audio.py:
one fetch, then revalidations or none). With QUEUE_BENCH_WAIT=builtin there is no waitUrl (the
built-in hold music loops in each worker, no fetch at all).

Calls come in steps (QUEUE_BENCH_STEPS, 200,300,400,500,750,1000): calls are created up to the step, the
bench waits until the queue's CurrentSize (Queues REST resource) reaches it or RAMP_TIMEOUT_S
passes, lets it SETTLE_S, and measures a MEASURE_S window: CPU (serve, every worker, SIPp, the
sink, this process with the waitUrl app, the machine and what else ran), RSS (serve and workers),
the waitUrl and clip requests per second, the hold music's RTP (inter-arrival gap p99 < 40 ms,
streams with audible packets). The pool has 4 calls per worker process (the pjsua2 wheel's
limit), so 1,000 callers need 250 workers; a step that does not get all its callers into the
queue, or whose RTP p99 gap is 40 ms or more, or whose own processes (engine, SIPp, sink, this
one) saturate the machine's cores, ends the ramp, and
the output says which limit it met (`ceiling`): the ceiling is measured, callers are never faked
(with QUEUE_BENCH_STOP_ON_FAIL=0 the ramp goes on past it, to show what breaks next).
The whole run stops ramping after BUDGET_S.

Run: `.venv/bin/python bench/queue_bench.py` (one JSON object on stdout, progress on stderr;
~4 minutes at full size). Env: QUEUE_BENCH_STEPS (200,300,400,500,750,1000), QUEUE_BENCH_WAIT (url|builtin),
QUEUE_BENCH_STOP_ON_FAIL (1; 0 goes on past a failed step, to see how far the engine gets),
QUEUE_BENCH_HOLD_S (10), QUEUE_BENCH_CPS (40), QUEUE_BENCH_SETTLE_S (3), QUEUE_BENCH_MEASURE_S (10),
QUEUE_BENCH_RAMP_TIMEOUT_S (120), QUEUE_BENCH_BUDGET_S (240), QUEUE_BENCH_BUSY_LIMIT_PCT (97),
QUEUE_BENCH_KEEP=1. Quick look: QUEUE_BENCH_STEPS=20,50.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import stop_process, total_rss_mb  # noqa: E402
from bench.conference_bench import Engine, gather_limited, log, stop_engine  # noqa: E402

STEPS = [int(x) for x in os.environ.get("QUEUE_BENCH_STEPS", "200,300,400,500,750,1000").split(",") if x.strip()]
STOP_ON_FAIL = os.environ.get("QUEUE_BENCH_STOP_ON_FAIL", "1") not in ("", "0")
WAIT = os.environ.get("QUEUE_BENCH_WAIT", "url")
HOLD_S = float(os.environ.get("QUEUE_BENCH_HOLD_S", "10"))
CPS = float(os.environ.get("QUEUE_BENCH_CPS", "40"))
SETTLE_S = float(os.environ.get("QUEUE_BENCH_SETTLE_S", "3"))
MEASURE_S = float(os.environ.get("QUEUE_BENCH_MEASURE_S", "10"))
RAMP_TIMEOUT_S = float(os.environ.get("QUEUE_BENCH_RAMP_TIMEOUT_S", "120"))
BUDGET_S = float(os.environ.get("QUEUE_BENCH_BUDGET_S", "240"))
BUSY_LIMIT_PCT = float(os.environ.get("QUEUE_BENCH_BUSY_LIMIT_PCT", "97"))
KEEP = os.environ.get("QUEUE_BENCH_KEEP", "") not in ("", "0")
CALLS_PER_WORKER = 4
WORKERS = math.ceil((max(STEPS) + 1) / CALLS_PER_WORKER) + 2
GAP_LIMIT_MS = 40.0
QUEUE = "bench"


class WaitApp(threading.Thread):
    """The waitUrl (POST /wait) and its clip (GET /hold.wav), on a thread and loop of their own."""

    def __init__(self, clip: bytes) -> None:
        super().__init__(daemon=True)
        self.clip = clip
        self.port = 0
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self.waits = self.clips = self.not_modified = 0
        self.positions: list[int] = []  # QueuePosition of each request (parameters arrive)
        self.params_missing = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.waits += 1
        try:
            self.positions.append(int(str(form["QueuePosition"])))
        except (KeyError, ValueError):
            self.params_missing += 1
        return web.Response(text=f"<Response><Play>{self.url('/hold.wav')}</Play></Response>", content_type="text/xml")

    async def hold(self, request: web.Request) -> web.Response:
        self.clips += 1
        if request.headers.get("If-None-Match") == '"hold-1"':
            self.not_modified += 1
            return web.Response(status=304, headers={"ETag": '"hold-1"'})
        return web.Response(body=self.clip, content_type="audio/wav", headers={"ETag": '"hold-1"'})

    def take(self) -> tuple[int, int, int, list[int], int]:
        out = (self.waits, self.clips, self.not_modified, self.positions, self.params_missing)
        self.waits = self.clips = self.not_modified = self.params_missing = 0
        self.positions = []
        return out

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        app = web.Application()
        app.router.add_post("/wait", self.wait)
        app.router.add_get("/hold.wav", self.hold)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        await self._done.wait()
        await runner.cleanup()

    def close(self) -> None:
        if self.loop is not None and self._done is not None:
            self.loop.call_soon_threadsafe(self._done.set)
        self.join(10)


def pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes together (shared pages split between their
    users: what the workers cost the machine, where RSS counts each shared library in each)."""
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next((int(ln.split()[1]) for ln in f if ln.startswith("Pss:")), 0) / 1024
        except OSError:
            pass
    return total


def hold_clip() -> bytes:
    """HOLD_S of 'music': a few notes in turn, 8 kHz WAV."""
    from wirexa.media.audio import tone_pcm, wav_bytes

    notes = (262, 330, 392, 523)
    step_ms = 500
    pcm = b"".join(tone_pcm(notes[i % len(notes)], step_ms, amplitude=0.2) for i in range(int(HOLD_S * 1000 / step_ms)))
    return wav_bytes(pcm)


async def queue_size(eng: Engine) -> int:
    async with eng.session.get(f"{eng.base}/Queues.json") as resp:
        body = await resp.json(content_type=None)
    return sum(int(q["current_size"]) for q in body.get("queues", []) if q["friendly_name"] == QUEUE)


async def run(tmp: Path) -> dict[str, Any]:
    from bench.sip_bench import Sink, start_sipp
    from bench.streams_bench import busy_processes, cpu_s, machine_busy, workers_of
    from tests.backends import free_udp_block
    from tests.conftest import make_live_server

    # SIP: worker N on sip+N, SIPp sip+300 (its unused media sip+310), the sink sip+320, the inbound
    # front sip+330, the sandbox's base sip+340; RTP: worker N's block at rtp + 100 N.
    sip = free_udp_block(10000, 19000, 400, (*range(0, WORKERS, 5), 300, 310, 320, 330, 340))
    rtp = free_udp_block(20000, 65000, WORKERS * 100 + 100, tuple(range(0, WORKERS * 100, 100)))
    sink = Sink(sip + 320)
    await sink.start()
    assert sink.proc is not None
    sipp = start_sipp(tmp, sip + 300, sip + 310, sip + 320)
    app = WaitApp(hold_clip())
    app.start()
    app.ready.wait(10)
    server = None
    eng: Engine | None = None
    t_start = time.monotonic()
    steps: list[dict[str, Any]] = []
    out: dict[str, Any] = {"workers_max": WORKERS, "steps": steps}
    try:
        await asyncio.sleep(0.5)
        if sipp.poll() is not None:
            raise RuntimeError(f"SIPp exited with {sipp.returncode}: {(tmp / 'sipp.stderr').read_text()[-500:]}")
        server = await asyncio.to_thread(
            make_live_server,
            tmp,
            {
                "WIREXA_CALLS_CPS": str(CPS),
                "WIREXA_CALLS_MAX_CONCURRENT": str(WORKERS * CALLS_PER_WORKER),
                "WIREXA_SIP_WORKERS_MAX": str(WORKERS),
                "WIREXA_SIP_PORT_BASE": str(sip),
                "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
                "WIREXA_SIP_INBOUND_PORT": str(sip + 330),
                "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{sip + 300}",
                "WIREXA_SIP_TRUNK_TRANSPORT": "udp",
                "WIREXA_SANDBOX_ENABLED": "false",
                "WIREXA_SANDBOX_PORT_BASE": str(sip + 340),
                "WIREXA_API_RATE_LIMIT_PER_S": "0",
                "WIREXA_LOG_LEVEL": "WARNING",
            },
        )
        assert server.proc is not None
        serve = server.proc.pid
        eng = Engine(server)
        async with eng.session.post(f"{eng.base}/Queues.json", data={"FriendlyName": QUEUE, "MaxSize": "5000"}) as r:
            if r.status != 201:
                raise RuntimeError(f"queue create: {r.status} {await r.text()}")
        wait_attr = f' waitUrl="{app.url("/wait")}"' if WAIT == "url" else ""
        twiml = f"<Response><Enqueue{wait_attr}>{QUEUE}</Enqueue></Response>"
        created = 0
        create_errors: Counter[str] = Counter()
        for target in STEPS:
            if time.monotonic() - t_start > BUDGET_S:
                out["stopped"] = f"time budget ({BUDGET_S:g} s) spent before step {target}"
                break
            step: dict[str, Any] = {"target": target}
            steps.append(step)
            t0 = time.monotonic()
            made = await gather_limited([eng.create(twiml) for _ in range(target - created)], 16)
            created = target
            for e in made:
                if isinstance(e, Exception):
                    create_errors[str(e)[:160]] += 1
            size = 0
            deadline = t0 + RAMP_TIMEOUT_S
            while time.monotonic() < deadline:
                size = await queue_size(eng)
                if size >= target:
                    break
                await asyncio.sleep(1.0)
            step["ramp_s"] = round(time.monotonic() - t0, 1)
            step["create_errors"] = dict(create_errors)
            await asyncio.sleep(SETTLE_S)
            workers = workers_of(serve)
            watched = {"engine_workers": workers, "serve_process": [serve], "sipp": [sipp.pid],
                       "rtp_sink": [sink.proc.pid], "bench_process_and_wait_url": [os.getpid()]}  # fmt: skip
            await sink.reset()
            app.take()
            before = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
            m0 = machine_busy()
            t1 = time.monotonic()
            await asyncio.sleep(MEASURE_S)
            wall = time.monotonic() - t1
            m1 = machine_busy()
            after = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
            waits, clips, not_modified, positions, params_missing = app.take()
            rtp_w = await sink.window()
            size_after = await queue_size(eng)
            statuses = await eng.statuses()
            health = await eng.health()
            cpu: dict[str, Any] = {}
            for k in watched:
                used = [y - x for x, y in zip(before[k], after[k], strict=True) if not (math.isnan(x) or math.isnan(y))]
                cpu[f"{k}_pct"] = round(100 * sum(used) / wall, 1)
            cores = os.cpu_count() or 1
            cpu["machine_busy_pct_of_all_cores"] = round(100 * (m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]), 1)
            ours = sum(v for k, v in cpu.items() if k.endswith("_pct"))
            cpu["other_processes_pct"] = round(max(0.0, cpu["machine_busy_pct_of_all_cores"] * cores - ours), 1)
            members = max(1, size_after)
            rss_workers = total_rss_mb(workers)
            rss_serve = total_rss_mb([serve])
            pss = pss_mb([serve, *workers])
            step.update(
                {
                    "queue_size": size,
                    "queue_size_after_window": size_after,
                    "call_statuses": dict(statuses),
                    "workers": len(workers),
                    "workers_health": health.get("workers"),
                    "worker_crashes": health.get("worker_crashes"),
                    "cpu": cpu,
                    "engine_cpu_pct_per_caller": round(
                        (cpu["engine_workers_pct"] + cpu["serve_process_pct"]) / members, 3
                    ),
                    "rss_mb": {
                        "serve": round(rss_serve, 1),
                        "workers": round(rss_workers, 1),
                        "per_worker": round(rss_workers / max(1, len(workers)), 1),
                        "per_caller": round((rss_serve + rss_workers) / members, 2),
                        "pss_serve_and_workers": round(pss, 1),
                    },
                    "wait_url_fetches_per_s": round(waits / wall, 1),
                    "wait_url_expected_per_s": round(size_after / HOLD_S, 1) if WAIT == "url" else 0,
                    "wait_url_params_missing": params_missing,
                    "queue_position_max_seen": max(positions) if positions else None,
                    "clip_requests_per_s": round(clips / wall, 2),
                    "clip_not_modified": not_modified,
                    "rtp": rtp_w,
                }
            )
            problems = []
            if size < target:
                problems.append(f"only {size} of {target} callers in the queue after {step['ramp_s']} s")
            if not rtp_w["gap_p99_ms"] < GAP_LIMIT_MS:
                problems.append(f"hold music RTP p99 gap {rtp_w['gap_p99_ms']} ms")
            if rtp_w["streams_with_packets"] < 0.98 * size_after:
                problems.append(f"hold music reaches {rtp_w['streams_with_packets']} of {size_after} callers")
            # saturated by this bench's own processes (others running meanwhile are recorded, not blamed)
            cpu["bench_stack_pct"] = round(ours, 1)
            if ours >= BUSY_LIMIT_PCT * cores:
                problems.append(f"the engine, SIPp, the sink and the bench use {ours:.0f}% of {cores} cores")
            step["held"] = not problems
            step["problems"] = problems
            step["busy_processes_after"] = busy_processes()
            log(
                f"step {target}: queue {size}->{size_after}, workers {len(workers)} {cpu['engine_workers_pct']}% + serve "
                f"{cpu['serve_process_pct']}%, RSS {rss_serve:.0f}+{rss_workers:.0f} MB, machine "
                f"{cpu['machine_busy_pct_of_all_cores']}%, waitUrl {step['wait_url_fetches_per_s']}/s (expected "
                f"{step['wait_url_expected_per_s']}), RTP p99 {rtp_w['gap_p99_ms']} ms on {rtp_w['streams_with_packets']} "
                f"streams, {problems or 'held'}"
            )
            if problems and STOP_ON_FAIL:
                break
        out["run_s"] = round(time.monotonic() - t_start, 1)
    finally:
        if eng is not None:
            await eng.close()
        if server is not None:
            await asyncio.to_thread(stop_engine, server)
        stop_process(sipp)
        await sink.stop()
        app.close()
    return out


def ceiling(r: dict[str, Any]) -> dict[str, Any]:
    steps = r["steps"]
    held = [s for s in steps if s.get("held")]
    bad = next((s for s in steps if not s.get("held")), None)
    reason = ", ".join(bad["problems"]) if bad else r.get("stopped", "every step held")
    return {"callers_held": held[-1]["target"] if held else 0, "first_failed_step": bad["target"] if bad else None,
            "reason": reason}  # fmt: skip


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    steps = r["steps"]
    c = ceiling(r)
    best = next((s for s in reversed(steps) if s.get("held")), None)
    ref = best or (steps[-1] if steps else None)
    rows: list[dict[str, Any]] = [
        {
            "metric": "waiting callers held in one queue with hold music (all in, RTP p99 < 40 ms, cores not saturated by the stack)",
            "target": ">= 1000",
            "measured": c["callers_held"],
            "met": c["callers_held"] >= 1000,
            "note": f"ceiling: {c['reason']}; "
            + "; ".join(
                f"[{s['target']}: queue {s['queue_size']}, workers {s['workers']}, engine "
                f"{s['cpu']['engine_workers_pct'] + s['cpu']['serve_process_pct']:.0f}%, machine "
                f"{s['cpu']['machine_busy_pct_of_all_cores']}%, RTP p99 {s['rtp']['gap_p99_ms']} ms]"
                for s in steps
                if "cpu" in s
            ),
        }
    ]
    if ref and "cpu" in ref:
        cpu, rss = ref["cpu"], ref["rss_mb"]
        rows += [
            {
                "metric": f"engine CPU per waiting caller at {ref['target']} (% of one core: workers + serve)",
                "target": "report",
                "measured": ref["engine_cpu_pct_per_caller"],
                "met": "-",
                "note": f"workers {cpu['engine_workers_pct']}% ({ref['workers']} processes), serve {cpu['serve_process_pct']}%, "
                f"SIPp {cpu['sipp_pct']}%, RTP sink {cpu['rtp_sink_pct']}%, this process and the waitUrl "
                f"{cpu['bench_process_and_wait_url_pct']}%, others {cpu['other_processes_pct']}%"
                + ("" if ref.get("held") else f" (a failed step: {', '.join(ref['problems'])})"),
            },
            {
                "metric": f"memory (RSS) at {ref['target']} callers: serve + workers (MB)",
                "target": "report",
                "measured": round(rss["serve"] + rss["workers"]),
                "met": "-",
                "note": f"serve {rss['serve']} MB, workers {rss['workers']} MB ({rss['per_worker']} MB each), "
                f"{rss['per_caller']} MB per caller; PSS (shared pages split) {rss['pss_serve_and_workers']} MB",
            },
            {
                "metric": f"waitUrl fetches per second at {ref['target']} callers (measured / expected)",
                "target": "= expected" if WAIT == "url" else "0 (built-in music)",
                "measured": f"{ref['wait_url_fetches_per_s']} / {ref['wait_url_expected_per_s']}",
                "met": (
                    abs(ref["wait_url_fetches_per_s"] - ref["wait_url_expected_per_s"])
                    <= 0.1 * ref["wait_url_expected_per_s"] + 0.5
                )
                if WAIT == "url"
                else ref["wait_url_fetches_per_s"] == 0,
                "note": f"a {HOLD_S:g} s clip per wait document: expected = callers / {HOLD_S:g} s; clip requests "
                f"{ref['clip_requests_per_s']}/s ({ref['clip_not_modified']} answered 304); QueuePosition up to "
                f"{ref['queue_position_max_seen']}, {ref['wait_url_params_missing']} requests without it",
            },
            {
                "metric": f"hold music RTP inter-arrival gap p99 at {ref['target']} callers (ms)",
                "target": "< 40",
                "measured": ref["rtp"]["gap_p99_ms"],
                "met": ref["rtp"]["gap_p99_ms"] < GAP_LIMIT_MS,
                "note": f"{ref['rtp']['streams_with_packets']} streams, {ref['rtp']['audible_packets']} of "
                f"{ref['rtp']['packets']} packets audible, lost {ref['rtp']['lost_packets']}, max {ref['rtp']['gap_max_ms']} ms",
            },
        ]
    return rows


def main() -> None:
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    tmp = Path(tempfile.mkdtemp(prefix="queueb_", dir="/tmp"))
    load_before = os.getloadavg()
    try:
        r = asyncio.run(run(tmp))
    except BaseException:
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    r["ceiling"] = ceiling(r)
    r["load_avg_before"] = [round(x, 2) for x in load_before]
    r["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    if KEEP:
        r["data_dir"] = str(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {
        "benchmark": "queue",
        "steps": ",".join(map(str, STEPS)),
        "wait": WAIT,
        "hold_s": HOLD_S,
        "cps": CPS,
        "measure_s": MEASURE_S,
        "far_end": "SIPp UAS trunk + bench/rtp_sink.py; waitUrl: aiohttp on a thread of this process",
        "results": r,
        "targets": targets(r),
    }
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
