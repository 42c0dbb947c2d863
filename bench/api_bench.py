"""Issue 2: Calls create/list/fetch throughput and latency at concurrency 32 with 100,000 calls in
the database, beside a bare aiohttp handler returning constant JSON, same machine, same run."""

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
from bench.common import load, pct  # noqa: E402
from tests.backends import free_port, free_udp_block, wait_http  # noqa: E402
from wirexa import config  # noqa: E402
from wirexa.store import repo  # noqa: E402
from wirexa.store.bootstrap import ensure_project, open_store  # noqa: E402

N_CALLS = 100_000
CONCURRENCY = 32
SECONDS = 8.0
BARE = """
from aiohttp import web
BODY = {"sid": "CA" + "0" * 32, "status": "completed", "to": "+15005550006", "from": "+15005550100"}
async def h(request): return web.json_response(BODY)
app = web.Application(); app.router.add_get("/x", h)
import sys; web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def seed(data: Path) -> tuple[str, str, list[str]]:
    s = config.load(overrides={"data_dir": str(data)}, env={})
    store = open_store(s)
    p = ensure_project(store)
    start = dt.datetime(2026, 1, 1)
    sids: list[str] = []
    for batch in range(N_CALLS // 5000):
        def tx(batch: int = batch) -> list[str]:
            return [
                repo.insert_call(
                    account_sid=p.sid, to_number="+15005550006", from_number="+15005550100", status="completed",
                    direction="outbound-api", url="http://h/x", now=start + dt.timedelta(seconds=batch * 5000 + i), duration_s=30,
                ).sid
                for i in range(5000)
            ]
        sids += store.write_sync(tx)
    store.close()
    return p.sid, p.auth_token, sids


async def measure(base: str, account: str, token: str, sids: list[str], bare: str) -> dict[str, object]:
    auth = {"Authorization": aiohttp.encode_basic_auth(account, token)}
    prefix = f"{base}/2010-04-01/Accounts/{account}"
    results: dict[str, object] = {}
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

        async def create() -> None:
            data = {"To": "+15005550001", "From": "+15005550100", "Twiml": "<Response><Hangup/></Response>"}
            async with session.post(f"{prefix}/Calls.json", data=data) as r:
                assert r.status == 201
                await r.read()

        async def bare_get() -> None:
            async with session.get(bare) as r:
                assert r.status == 200
                await r.read()

        for name, fn in (("bare", bare_get), ("fetch", fetch), ("list", list_), ("create", create)):
            n, lat, errors = await load(fn, CONCURRENCY, SECONDS)
            results[name] = {
                "per_s": round(n / SECONDS, 1), "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2), "errors": errors,
            }
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        t0 = time.time()
        account, token, sids = seed(data)
        seed_s = time.time() - t0
        port, bare_port = free_port(), free_port()
        sip = free_udp_block(40000, 49000, 100, (0, 1, 2, 20, 21, 22, 23))
        rtp = free_udp_block(20000, 29000, 8000, (0, 100, 5000, 5100))
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
        # calls_cps 0.001: created calls stay queued (one token of burst lets a single call out),
        # so "create" measures the API + store, not SIP.
        env.update({"WIREXA_PORT": str(port), "WIREXA_API_RATE_LIMIT_PER_S": "0", "WIREXA_CALLS_CPS": "0.001",
                    "WIREXA_SIP_PORT_BASE": str(sip), "WIREXA_SANDBOX_PORT_BASE": str(sip + 20), "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
                    "WIREXA_SANDBOX_PROCESSES": "1", "WIREXA_LOG_LEVEL": "WARNING"})
        server = subprocess.Popen([sys.executable, "-m", "wirexa", "serve", "--data-dir", str(data)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", 60, server)
            wait_http(f"http://127.0.0.1:{bare_port}/x", 20, bare)
            r = asyncio.run(measure(f"http://127.0.0.1:{port}", account, token, sids, f"http://127.0.0.1:{bare_port}/x"))
        finally:
            server.terminate()
            bare.terminate()
            server.wait(20)
            bare.wait(20)
    bare_rate = r["bare"]["per_s"]  # type: ignore[index]
    print(json.dumps({
        "benchmark": "api", "calls_in_db": N_CALLS, "concurrency": CONCURRENCY, "seconds_each": SECONDS, "seed_s": round(seed_s, 1),
        "results": r,
        "targets": [
            {"metric": "fetch p99 (ms)", "target": "< 15", "measured": r["fetch"]["p99_ms"], "met": r["fetch"]["p99_ms"] < 15,  # type: ignore[index]
             "note": f"p50 {r['fetch']['p50_ms']} ms, {r['fetch']['per_s']}/s"},  # type: ignore[index]
            {"metric": "list p99 (ms)", "target": "< 15", "measured": r["list"]["p99_ms"], "met": r["list"]["p99_ms"] < 15,  # type: ignore[index]
             "note": f"p50 {r['list']['p50_ms']} ms, {r['list']['per_s']}/s"},  # type: ignore[index]
            {"metric": "create (per s)", "target": ">= 300", "measured": r["create"]["per_s"], "met": r["create"]["per_s"] >= 300,  # type: ignore[index]
             "note": f"p50 {r['create']['p50_ms']} ms, p99 {r['create']['p99_ms']} ms; calls stay queued (calls_cps 0.001)"},  # type: ignore[index]
            *({"metric": f"{k} throughput / bare aiohttp", "target": ">= 0.3", "measured": round(r[k]["per_s"] / bare_rate, 3),  # type: ignore[index]
               "met": r[k]["per_s"] / bare_rate >= 0.3, "note": f"{r[k]['per_s']}/s vs bare {bare_rate}/s (bare p99 {r['bare']['p99_ms']} ms)"}  # type: ignore[index]
              for k in ("fetch", "list", "create")),
        ],
    }))


if __name__ == "__main__":
    main()
