"""Issue 2: Calls create/list/fetch throughput and latency at concurrency 32 with 100,000 calls in
the database, beside a bare aiohttp handler returning constant JSON, same machine, same run.

Three processes: the engine (runtime.Engine(with_sip=False): store, webhooks, REST API, as
`wirexa serve` runs them minus SIP), the bare aiohttp app, and this one generating the load
(aiohttp client, keep-alive, CONCURRENCY workers, SECONDS per scenario). Prints one JSON object.
Env: API_BENCH_CALLS, API_BENCH_SECONDS, API_BENCH_PROFILE=1 (pyinstrument the engine; the
report's path goes to stderr).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import load, pct, proc_times, rss_mb  # noqa: E402
from tests.backends import free_port, wait_http  # noqa: E402
from wirexa import config  # noqa: E402
from wirexa.store.bootstrap import ensure_project, open_store  # noqa: E402
from wirexa.store.repo.calls import insert_call  # noqa: E402

N_CALLS = int(os.environ.get("API_BENCH_CALLS", "100000"))
BATCH = 5000
CONCURRENCY = 32
SECONDS = float(os.environ.get("API_BENCH_SECONDS", "8"))

BARE = """
import sys
from aiohttp import web
BODY = {"sid": "CA" + "0" * 32, "status": "completed", "to": "+15005550006", "from": "+15005550100"}
async def h(request): return web.json_response(BODY)
app = web.Application(); app.router.add_get("/x", h)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

# The engine without SIP, as `wirexa serve` composes it (runtime.Engine), until SIGTERM.
ENGINE = """
import asyncio, signal, sys
from wirexa import config
from wirexa.runtime import Engine
async def main():
    s = config.load(overrides={"data_dir": sys.argv[1], "host": "127.0.0.1", "port": int(sys.argv[2]),
                               "api_rate_limit_per_s": 0, "log_level": "WARNING"}, env={})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Engine(s, with_sip=False):
        print("ready", flush=True)
        await stop.wait()
if len(sys.argv) > 3:
    from pyinstrument import Profiler
    p = Profiler(async_mode="disabled", interval=0.0005)
    p.start()
    try:
        asyncio.run(main())
    finally:
        p.stop()
        open(sys.argv[3], "w").write(p.output_text(unicode=False, color=False, show_all=False))
else:
    asyncio.run(main())
"""


def seed(data: Path) -> tuple[str, str, list[str]]:
    """N_CALLS completed calls through the repo, BATCH per write transaction, one second apart."""
    s = config.load(overrides={"data_dir": str(data)}, env={})
    store = open_store(s)
    p = ensure_project(store)
    start = dt.datetime(2026, 1, 1)
    sids: list[str] = []
    for batch in range(0, N_CALLS, BATCH):

        def tx(batch: int = batch) -> list[str]:
            return [
                insert_call(
                    account_sid=p.sid, to_number="+15005550006", from_number="+15005550100", status="completed",
                    direction="outbound-api", url="http://h/x", now=start + dt.timedelta(seconds=batch + i),
                    start_time=start + dt.timedelta(seconds=batch + i), end_time=start + dt.timedelta(seconds=batch + i + 30),
                    duration_s=30,
                ).sid
                for i in range(min(BATCH, N_CALLS - batch))
            ]

        sids += store.write_sync(tx)
    store.close()
    return p.sid, p.auth_token, sids


async def measure(base: str, account: str, token: str, sids: list[str], bare: str, engine_pid: int) -> dict[str, dict[str, float]]:
    auth = {"Authorization": aiohttp.BasicAuth(account, token).encode()}
    prefix = f"{base}/2010-04-01/Accounts/{account}"
    results: dict[str, dict[str, float]] = {}
    conn = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=conn, headers=auth) as session:

        async def fetch() -> None:
            async with session.get(f"{prefix}/Calls/{random.choice(sids)}.json") as r:
                assert r.status == 200
                await r.read()

        async def list_() -> None:
            async with session.get(f"{prefix}/Calls.json?PageSize=50") as r:
                assert r.status == 200
                await r.read()

        async def list_deep() -> None:
            # A different page each time (Page 1..200 of 50, To filter): what the page cache
            # cannot serve whole; rows come from the row cache or the store.
            url = f"{prefix}/Calls.json?PageSize=50&Page={random.randint(1, 200)}&To=%2B15005550006"
            async with session.get(url) as r:
                assert r.status == 200
                await r.read()

        async def create() -> None:
            data = {"To": "+15005550001", "From": "+15005550100", "Url": "http://127.0.0.1:9/x"}
            async with session.post(f"{prefix}/Calls.json", data=data) as r:
                assert r.status == 201
                await r.read()

        async def bare_get() -> None:
            async with session.get(bare) as r:
                assert r.status == 200
                await r.read()

        for name, fn in (("bare", bare_get), ("fetch", fetch), ("list", list_), ("list_deep", list_deep), ("create", create)):
            await load(fn, CONCURRENCY, 1.0)  # warm-up: connections, caches
            cpu0 = proc_times(engine_pid)
            n, lat, errors = await load(fn, CONCURRENCY, SECONDS)
            results[name] = {
                "per_s": round(n / SECONDS, 1),
                "p50_ms": round(pct(lat, 50), 2),
                "p99_ms": round(pct(lat, 99), 2),
                "errors": errors,
            }
            if name != "bare":
                results[name]["engine_cpu_ms_per_req"] = round((proc_times(engine_pid) - cpu0) * 1000 / max(n, 1), 3)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        t0 = time.time()
        account, token, sids = seed(data)
        seed_s = time.time() - t0
        port, bare_port = free_port(), free_port()
        profile = str(data / "profile.txt") if os.environ.get("API_BENCH_PROFILE") else None
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
        server = subprocess.Popen(
            [sys.executable, "-c", ENGINE, str(data), str(port), *([profile] if profile else [])],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", 60, server)
            wait_http(f"http://127.0.0.1:{bare_port}/x", 20, bare)
            r = asyncio.run(measure(f"http://127.0.0.1:{port}", account, token, sids, f"http://127.0.0.1:{bare_port}/x", server.pid))
            engine_rss = rss_mb(server.pid)
        finally:
            server.terminate()
            bare.terminate()
            server.wait(60)
            bare.wait(20)
        if profile and Path(profile).exists():
            out = Path(tempfile.gettempdir()) / f"api_bench_profile_{int(time.time())}.txt"
            out.write_text(Path(profile).read_text())
            print(f"engine profile: {out}", file=sys.stderr)
    bare_rate = r["bare"]["per_s"]
    targets = [
        {"metric": "fetch p99 (ms)", "target": "< 15", "measured": r["fetch"]["p99_ms"], "met": r["fetch"]["p99_ms"] < 15,
         "note": f"p50 {r['fetch']['p50_ms']} ms, {r['fetch']['per_s']}/s"},
        {"metric": "list p99 (ms)", "target": "< 15", "measured": r["list"]["p99_ms"], "met": r["list"]["p99_ms"] < 15,
         "note": f"the first page (PageSize=50) polled, as a dashboard does: served whole while no call on it changes; p50 {r['list']['p50_ms']} ms, {r['list']['per_s']}/s"},
        {"metric": "list of a different page each time, p99 (ms)", "target": "report", "measured": r["list_deep"]["p99_ms"], "met": None,
         "note": f"Page=1..200 at random, PageSize=50, To filter (reader thread, OFFSET); p50 {r['list_deep']['p50_ms']} ms, {r['list_deep']['per_s']}/s"},
        {"metric": "create (per s)", "target": ">= 300", "measured": r["create"]["per_s"], "met": r["create"]["per_s"] >= 300,
         "note": f"p50 {r['create']['p50_ms']} ms, p99 {r['create']['p99_ms']} ms; calls stay queued (no SIP)"},
    ]
    for k in ("fetch", "list", "create"):
        ratio = round(r[k]["per_s"] / bare_rate, 3)
        targets.append({
            "metric": f"{k} throughput / bare aiohttp", "target": ">= 0.3", "measured": ratio, "met": ratio >= 0.3,
            "note": f"{r[k]['per_s']}/s vs bare {bare_rate}/s (bare p50 {r['bare']['p50_ms']} ms, p99 {r['bare']['p99_ms']} ms)",
        })
    print(json.dumps({
        "benchmark": "api", "calls_in_db": N_CALLS, "concurrency": CONCURRENCY, "seconds_each": SECONDS,
        "seed_s": round(seed_s, 1), "engine": "runtime.Engine(with_sip=False) subprocess", "engine_rss_mb": round(engine_rss, 1),
        "results": r, "targets": targets,
    }))


if __name__ == "__main__":
    main()
