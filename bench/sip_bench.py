"""Issue 4: the SIP engine (SipBridge: worker pool + sandbox carrier) on loopback.

(a) sustained call setups at a paced rate, each answered call held ~1 s then hung up;
(b) concurrent answered calls playing a looping prompt, ramped 8, 16, 24, 32 (the pool ceiling
    with sip_workers_max=16), CPU and RSS summed over worker + sandbox pids from /proc;
(c) start_call -> CallInitiated (the worker reports the INVITE sent) p50/p99, from (a).
The setup number uses a sandbox callee that answers at once (ring_s 0.2), so (a) measures the
engine, not the carrier's ring time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import pct, proc_times, rss_mb, tree  # noqa: E402
from tests.sip.conftest import SipHarness, make_settings  # noqa: E402
from wirexa.calls.ports import CallAnswered, CallEnded, CallInitiated  # noqa: E402
from wirexa.media.audio import tone_pcm, wav_bytes  # noqa: E402
from wirexa.sip.bridge import SipBridge  # noqa: E402

SETUP_CALLS = int(os.environ.get("SIP_BENCH_SETUPS", "300"))
SETUP_RATE = float(os.environ.get("SIP_BENCH_RATE", "25"))
HOLD_S = 1.0
STEPS = (8, 16, 24, 32)  # 32 = the pool ceiling with sip.workers_max = 16 (2 top-level calls per worker)
FAST = "+15005550020"
SANDBOX_TOML = f"""
[numbers."{FAST}"]
answer = "silence"
ring_s = 0.2
"""


async def setups(h: SipHarness) -> dict[str, object]:
    ok = failed = 0
    why: dict[str, int] = {}
    t_init: list[float] = []
    t_answer: list[float] = []
    blocked_s = 0.0

    async def one() -> None:
        nonlocal ok, failed
        t0 = time.perf_counter()
        try:
            sid = await h.dial(FAST)
            await h.wait(sid, CallInitiated)
            t_init.append((time.perf_counter() - t0) * 1000)
            await h.wait(sid, CallAnswered, timeout=15)
            t_answer.append((time.perf_counter() - t0) * 1000)
        except Exception as exc:  # noqa: BLE001 - counted
            failed += 1
            ended = [e for e in h.events.get(sid, []) if isinstance(e, CallEnded)] if "sid" in locals() else []
            key = f"not answered: {type(exc).__name__}" + (f" ended {getattr(ended[0], 'reason', '')} {getattr(ended[0], 'hangup_by', '')}" if ended else "")
            why[key] = why.get(key, 0) + 1
            return
        await asyncio.sleep(HOLD_S)
        if any(isinstance(e, CallEnded) for e in h.events[sid]):
            failed += 1  # dropped during the hold
            why["dropped during hold"] = why.get("dropped during hold", 0) + 1
            return
        try:
            await h.bridge.hangup(sid)
            await h.ended(sid)
        except Exception:  # noqa: BLE001 - counted
            failed += 1
            why["hangup not confirmed"] = why.get("hangup not confirmed", 0) + 1
            return
        ok += 1

    tasks = []
    start = time.perf_counter()
    for i in range(SETUP_CALLS):
        tb = time.perf_counter()
        while not h.bridge.can_start(1):
            await asyncio.sleep(0.005)
        blocked_s += time.perf_counter() - tb
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, start + (i + 1) / SETUP_RATE - time.perf_counter()))
    offered = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return {
        "calls": SETUP_CALLS, "rate_offered_per_s": SETUP_RATE, "hold_s": HOLD_S, "completed": ok, "failed": failed, "failures": why,
        "setups_per_s": round(SETUP_CALLS / offered, 1), "waited_for_capacity_s": round(blocked_s, 2),
        "start_call_to_invite_p50_ms": round(pct(t_init, 50), 2), "start_call_to_invite_p99_ms": round(pct(t_init, 99), 2),
        "start_call_to_answered_p50_ms": round(pct(t_answer, 50), 2), "start_call_to_answered_p99_ms": round(pct(t_answer, 99), 2),
    }


async def ramp(h: SipHarness, tone: str) -> list[dict[str, object]]:
    me = os.getpid()
    up: list[str] = []
    steps = []
    for target in STEPS:
        new = []
        while len(up) + len(new) < target and h.bridge.can_start(1):
            new.append(await h.dial("+15005550020", timeout_s=15))
        answered = await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in new), return_exceptions=True)
        for s, a in zip(new, answered, strict=True):
            if isinstance(a, CallAnswered):
                await h.bridge.play(s, "loop", tone, loop=0)
                up.append(s)
        await asyncio.sleep(2)
        pids = [p for p in tree(me) if p != me]
        before = {p: proc_times(p) for p in pids}
        t0 = time.perf_counter()
        await asyncio.sleep(5)
        pids_now = [p for p in pids if os.path.exists(f"/proc/{p}")]  # a worker that died meanwhile is left out
        cpu = sum(proc_times(p) - before[p] for p in pids_now)
        wall = time.perf_counter() - t0
        assert h.bridge.pool is not None and h.bridge.sandbox is not None
        worker_pids = {w.proc.pid for w in h.bridge.pool.workers.values()}
        alive = [s for s in up if not any(isinstance(e, CallEnded) for e in h.events[s])]
        steps.append({
            "target": target, "answered_playing": len(up), "still_up": len(alive),
            "cpu_pct_workers_and_sandbox": round(100 * cpu / wall, 1),
            "rss_mb_workers_and_sandbox": round(sum(rss_mb(p) for p in pids_now), 1),
            "engine_workers": len(worker_pids), "engine_worker_rss_mb": round(sum(rss_mb(p) for p in worker_pids), 1),
            "bench_process_rss_mb": round(rss_mb(me), 1),
        })
        if len(alive) < len(up):
            break
    for s in up:
        await h.bridge.hangup(s)
    await asyncio.gather(*(h.ended(s) for s in up), return_exceptions=True)
    return steps


async def run() -> dict[str, object]:
    keep = os.environ.get("SIP_BENCH_DIR")  # keep logs for a post-mortem
    with tempfile.TemporaryDirectory() if not keep else contextlib.nullcontext(keep) as tmp:
        tone = Path(tmp) / "prompt.wav"
        tone.write_bytes(wav_bytes(tone_pcm(440, 3000, amplitude=0.3)))
        sb = Path(tmp) / "sandbox.toml"
        sb.write_text(SANDBOX_TOML)
        settings = make_settings(Path(tmp), sip_workers_max=16, sandbox_processes=8, sandbox_config=str(sb))
        async with SipBridge(settings) as bridge:
            h = SipHarness(bridge, settings, Path(tmp))
            bridge.set_event_sink(h.sink)
            s = await setups(h)
            await asyncio.sleep(3)
            c = await ramp(h, str(tone))
    return {"setups": s, "concurrency_ramp": c}


def main() -> None:
    r = asyncio.run(run())
    s, steps = r["setups"], r["concurrency_ramp"]
    top = steps[-1]  # type: ignore[index]
    # Marginal engine-worker RSS per call between the first and the last step.
    first = steps[0]  # type: ignore[index]
    dcalls = top["still_up"] - first["still_up"]
    per_call = (top["engine_worker_rss_mb"] - first["engine_worker_rss_mb"]) / dcalls if dcalls > 0 else float("nan")
    per_call_all = (top["rss_mb_workers_and_sandbox"] - first["rss_mb_workers_and_sandbox"]) / dcalls if dcalls > 0 else float("nan")
    cpu_per_call = top["cpu_pct_workers_and_sandbox"] / max(1, top["still_up"])
    r["per_call"] = {"engine_worker_rss_mb": round(per_call, 1), "workers_plus_sandbox_rss_mb": round(per_call_all, 1),
                     "cpu_pct_workers_plus_sandbox": round(cpu_per_call, 2),
                     "extrapolated_200_calls_engine_rss_mb": round(per_call * 200),
                     "extrapolated_200_calls_cpu_pct_incl_sandbox": round(cpu_per_call * 200)}
    print(json.dumps({
        "benchmark": "sip", "results": r,
        "targets": [
            {"metric": "concurrent answered calls with a looping prompt (all stayed up)", "target": ">= 200",
             "measured": f"{top['still_up']}/{top['answered_playing']}", "met": top["still_up"] >= 200,
             "note": f"capped at 32 by sip_workers_max=16 (pjsua2 wheel: 4 calls/process); ~{round(per_call, 1)} MB engine-worker RSS per "
                     f"call -> ~{round(per_call * 200)} MB for 200; CPU {round(cpu_per_call, 2)}%/call incl. sandbox -> "
                     f"~{round(cpu_per_call * 200)}% of one core for 200 (machine has 200%)"},
            {"metric": "sustained setups per s, zero failures", "target": ">= 20", "measured": f"{s['setups_per_s']} ({s['failed']} failed)",  # type: ignore[index]
             "met": s["setups_per_s"] >= 20 and s["failed"] == 0},  # type: ignore[index]
            {"metric": "start_call -> INVITE sent (CallInitiated) p50 (ms)", "target": "< 50", "measured": s["start_call_to_invite_p50_ms"],  # type: ignore[index]
             "met": s["start_call_to_invite_p50_ms"] < 50,  # type: ignore[index]
             "note": "bridge-level: excludes the API request and the dispatcher's CPS queue"},
        ],
    }))


if __name__ == "__main__":
    main()
