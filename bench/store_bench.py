"""Issue 27: the store on PostgreSQL vs SQLite, same machine, same run.

1. The store writer's cost per call lifecycle, in this process: StoreCalls as the engine wires it
   (the outbox's status callbacks), each call inserted queued, then dispatched, rang, answered and
   completed (four transitions, each with its callback row and sequence number), its four outbox
   rows claimed and finished as the delivery worker does, and the quality summary stored once.
   STORE_BENCH_CALLS lifecycles one after another (latency of one lifecycle: the writer's round
   trips), then the same number CONCURRENCY at a time (throughput: what one writer thread does).
   Reported per lifecycle: wall ms, the writer thread's CPU ms (time.thread_time on it), this
   process's CPU ms, and the PostgreSQL server's CPU ms (its processes' /proc times).
2. API create/fetch throughput: the engine without SIP (runtime.Engine(with_sip=False), as
   bench/api_bench.py runs it) over STORE_BENCH_API_CALLS seeded calls, aiohttp client at
   concurrency 32 for STORE_BENCH_SECONDS per scenario.

PostgreSQL is a temporary cluster (tests/pg.py) with its defaults (fsync, synchronous_commit on:
a commit waits for its WAL flush), on 127.0.0.1 over TCP; SQLite is the engine's file with its
pragmas (WAL, synchronous=normal: no flush per commit). STORE_BENCH_PG_ASYNC=1 adds a run with
synchronous_commit=off (PostgreSQL's counterpart of SQLite's synchronous=normal). Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import load, pct, proc_times, tree  # noqa: E402
from tests.backends import free_port, wait_http  # noqa: E402
from tests.pg import PgCluster  # noqa: E402
from wirexa import config  # noqa: E402
from wirexa.calls import state  # noqa: E402
from wirexa.calls.records import CallChanges, NewCall  # noqa: E402
from wirexa.calls.statuses import WebhookStatus  # noqa: E402
from wirexa.clock import utcnow  # noqa: E402
from wirexa.media.quality import DirectionSummary, Summary  # noqa: E402
from wirexa.store.bootstrap import ensure_project, open_store  # noqa: E402
from wirexa.store.calls import StoreCalls  # noqa: E402
from wirexa.store.db import Store  # noqa: E402
from wirexa.store.repo.calls import insert_call  # noqa: E402
from wirexa.store.repo.webhooks import claim_webhooks, finish_webhook  # noqa: E402
from wirexa.webhooks import outbox  # noqa: E402

CALLS = int(os.environ.get("STORE_BENCH_CALLS", "2000"))
CONCURRENCY = int(os.environ.get("STORE_BENCH_CONCURRENCY", "50"))
API_CALLS = int(os.environ.get("STORE_BENCH_API_CALLS", "20000"))
SECONDS = float(os.environ.get("STORE_BENCH_SECONDS", "8"))
API_CONCURRENCY = 32

FACTS = (state.Fact.DISPATCHED, state.Fact.RANG, state.Fact.ANSWERED, state.Fact.ENDED_COMPLETED)


def _summary() -> Summary:
    """A plausible quality summary (stored once per call, as at its end)."""
    side = DirectionSummary(samples=2, loss_pct=0.2, loss_max_pct=1.0, jitter_avg_ms=2.0, jitter_max_ms=5.0,
                            mos_avg=4.3, mos_min=4.1)  # fmt: skip
    return Summary(samples=2, inbound=side, outbound=side, rtt_avg_ms=20.0, rtt_max_ms=30.0)


async def lifecycle(calls: StoreCalls, account: str, summary: Summary) -> None:
    new = NewCall(to_number="+15005550006", from_number="+15005550100", url="http://127.0.0.1:9/x",
                  status_callback="http://127.0.0.1:9/status", status_callback_events=state.ALL_EVENTS)  # fmt: skip
    call = await calls.insert(account, new)
    now = utcnow()
    changes = {
        state.Fact.DISPATCHED: CallChanges(start_time=now),
        state.Fact.ANSWERED: CallChanges(answer_time=now),
        state.Fact.ENDED_COMPLETED: CallChanges(end_time=now, duration_s=12, sip_response_code=200),
    }
    for fact in FACTS:
        await calls.transition(call.sid, fact, changes.get(fact, CallChanges()))
    await calls.quality_sampled(call.sid, None, None, summary)
    worker = f"w-{call.sid}"

    def deliver() -> int:
        at = utcnow()
        rows = [r for r in claim_webhooks(worker, at, at + dt.timedelta(seconds=30), 10) if r.call_sid == call.sid]
        for r in rows:
            finish_webhook(r.id, worker, status=WebhookStatus.DELIVERED, attempts=1, next_attempt_at=None,
                           status_code=200, error=None, now=at)  # fmt: skip
        return len(rows)

    # The delivery worker claims in batches and finishes each row in its own write.
    await calls.store.write(deliver)


def server_cpu(cluster: PgCluster | None) -> float:
    if cluster is None:
        return 0.0
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for p in tree(pid):
        try:
            total += proc_times(p)
        except OSError:
            pass
    return total


async def writer_cost(url: str, cluster: PgCluster | None) -> dict[str, Any]:
    store = Store(url)
    store.migrate()
    project = ensure_project(store)
    calls = StoreCalls(
        store, status_callbacks=outbox.call_status_callbacks, recording_callbacks=outbox.recording_callbacks("")
    )
    summary = _summary()
    writer_cpu = lambda: time.thread_time()  # noqa: E731 - read on the writer thread
    out: dict[str, Any] = {}
    for _ in range(20):  # warm-up: connections, compiled statements, psycopg's prepared ones
        await lifecycle(calls, project.sid, summary)
    for mode, width in (("sequential", 1), ("concurrent", CONCURRENCY)):
        w0, c0, s0, t0 = await store.write(writer_cpu), time.process_time(), server_cpu(cluster), time.perf_counter()
        latencies: list[float] = []

        async def one(latencies: list[float]) -> None:
            start = time.perf_counter()
            await lifecycle(calls, project.sid, summary)
            latencies.append((time.perf_counter() - start) * 1000)

        done = 0
        while done < CALLS:
            n = min(width, CALLS - done)
            await asyncio.gather(*(one(latencies) for _ in range(n)))
            done += n
        wall = time.perf_counter() - t0
        w1, c1, s1 = await store.write(writer_cpu), time.process_time(), server_cpu(cluster)
        out[mode] = {
            "lifecycles": CALLS,
            "per_s": round(CALLS / wall, 1),
            "wall_ms_per_call": round(wall * 1000 / CALLS, 3),
            "lifecycle_p50_ms": round(pct(latencies, 50), 2),
            "lifecycle_p99_ms": round(pct(latencies, 99), 2),
            "writer_thread_cpu_ms_per_call": round((w1 - w0) * 1000 / CALLS, 3),
            "process_cpu_ms_per_call": round((c1 - c0) * 1000 / CALLS, 3),
            "db_server_cpu_ms_per_call": round((s1 - s0) * 1000 / CALLS, 3) if cluster else None,
        }
    store.close()
    return out


# The engine without SIP, as `wirexa serve` composes it (runtime.Engine), on the given database.
ENGINE = """
import asyncio, signal, sys
from wirexa import config
from wirexa.runtime import Engine
async def main():
    s = config.load(overrides={"data_dir": sys.argv[1], "host": "127.0.0.1", "port": int(sys.argv[2]),
                               "database_url": sys.argv[3], "api_rate_limit_per_s": 0, "log_level": "WARNING"}, env={})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Engine(s, with_sip=False):
        print("ready", flush=True)
        await stop.wait()
asyncio.run(main())
"""


def seed(data: Path, url: str) -> tuple[str, str, list[str]]:
    store = open_store(config.load(overrides={"data_dir": str(data), "database_url": url}, env={}))
    p = ensure_project(store)
    start = dt.datetime(2026, 1, 1)
    sids: list[str] = []
    for batch in range(0, API_CALLS, 5000):

        def tx(batch: int = batch) -> list[str]:
            return [
                insert_call(
                    account_sid=p.sid,
                    to_number="+15005550006",
                    from_number="+15005550100",
                    status="completed",
                    direction="outbound-api",
                    url="http://h/x",
                    now=start + dt.timedelta(seconds=batch + i),
                    duration_s=30,
                ).sid  # fmt: skip
                for i in range(min(5000, API_CALLS - batch))
            ]

        sids += store.write_sync(tx)
    store.close()
    return p.sid, p.auth_token, sids


async def api_measure(base: str, account: str, token: str, sids: list[str], pids: list[int]) -> dict[str, Any]:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()}
    prefix = f"{base}/2010-04-01/Accounts/{account}"
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=API_CONCURRENCY), headers=auth) as session:

        async def fetch() -> None:
            async with session.get(f"{prefix}/Calls/{random.choice(sids)}.json") as r:
                assert r.status == 200
                await r.read()

        async def create() -> None:
            data = {"To": "+15005550001", "From": "+15005550100", "Url": "http://127.0.0.1:9/x"}
            async with session.post(f"{prefix}/Calls.json", data=data) as r:
                assert r.status == 201
                await r.read()

        for name, fn in (("fetch", fetch), ("create", create)):
            await load(fn, API_CONCURRENCY, 1.0)
            cpu0 = [proc_times(p) for p in pids]
            n, lat, errors = await load(fn, API_CONCURRENCY, SECONDS)
            cpu = [proc_times(p) - c for p, c in zip(pids, cpu0, strict=True)]
            out[name] = {
                "per_s": round(n / SECONDS, 1),
                "p50_ms": round(pct(lat, 50), 2),
                "p99_ms": round(pct(lat, 99), 2),
                "errors": errors,
                "engine_cpu_ms_per_req": round(cpu[0] * 1000 / max(n, 1), 3),
            }
    return out


def api_throughput(url: str, cluster: PgCluster | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        account, token, sids = seed(data, url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
        server = subprocess.Popen([sys.executable, "-c", ENGINE, str(data), str(port), url], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/health", 60, server)
            s0 = server_cpu(cluster)
            r = asyncio.run(api_measure(f"http://127.0.0.1:{port}", account, token, sids, [server.pid]))
            r["db_server_cpu_s_both"] = round(server_cpu(cluster) - s0, 2) if cluster else None
        finally:
            server.terminate()
            server.wait(60)
    return r


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rows: PostgreSQL beside SQLite (no targets: issue 27 asks for the figures)."""
    sq, pg = r["sqlite"], r["postgresql"]
    rows = []
    for mode, what in (("sequential", "one lifecycle at a time"), ("concurrent", f"{CONCURRENCY} at a time")):
        a, b = sq["writer"][mode], pg["writer"][mode]
        rows += [
            {
                "metric": f"writer: wall ms per call lifecycle, {what} (PostgreSQL)",
                "target": "report",
                "measured": b["wall_ms_per_call"],
                "met": None,
                "note": f"SQLite {a['wall_ms_per_call']} ms; {b['per_s']} vs {a['per_s']} lifecycles/s; lifecycle p50/p99 "
                f"{b['lifecycle_p50_ms']}/{b['lifecycle_p99_ms']} ms vs {a['lifecycle_p50_ms']}/{a['lifecycle_p99_ms']} ms",
            },
            {
                "metric": f"writer thread CPU ms per lifecycle, {what} (PostgreSQL)",
                "target": "report",
                "measured": b["writer_thread_cpu_ms_per_call"],
                "met": None,
                "note": f"SQLite {a['writer_thread_cpu_ms_per_call']} ms; process {b['process_cpu_ms_per_call']} vs "
                f"{a['process_cpu_ms_per_call']} ms; PostgreSQL server {b['db_server_cpu_ms_per_call']} ms",
            },
        ]
    for name in ("fetch", "create"):
        a, b = sq["api"][name], pg["api"][name]
        rows.append(
            {
                "metric": f"API {name} per s (PostgreSQL)",
                "target": "report",
                "measured": b["per_s"],
                "met": None,
                "note": f"SQLite {a['per_s']}/s (PostgreSQL/SQLite {round(b['per_s'] / max(a['per_s'], 0.1), 2)}); p50/p99 "
                f"{b['p50_ms']}/{b['p99_ms']} ms vs {a['p50_ms']}/{a['p99_ms']} ms; engine CPU "
                f"{b['engine_cpu_ms_per_req']} vs {a['engine_cpu_ms_per_req']} ms a request",
            }
        )
    return rows  # fmt: skip


def main() -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = {
            "writer": asyncio.run(writer_cost(f"sqlite:///{Path(tmp) / 'w.db'}", None)),
            "api": api_throughput("", None),
        }
    cluster = PgCluster(durable=True)
    try:
        results["postgresql"] = {
            "writer": asyncio.run(writer_cost(cluster.new_database(), cluster)),
            "api": api_throughput(cluster.new_database(), cluster),
        }
        if os.environ.get("STORE_BENCH_PG_ASYNC"):
            cluster.sql("ALTER SYSTEM SET synchronous_commit = off")
            cluster.sql("SELECT pg_reload_conf()")
            results["postgresql_synchronous_commit_off"] = {
                "writer": asyncio.run(writer_cost(cluster.new_database(), cluster)),
            }
    finally:
        cluster.stop()
    print(json.dumps({
        "benchmark": "store", "targets": targets(results), "lifecycles": CALLS, "concurrency": CONCURRENCY, "api_calls_in_db": API_CALLS,
        "api_seconds_each": SECONDS, "api_concurrency": API_CONCURRENCY,
        "postgresql": "15, temporary cluster on 127.0.0.1 (TCP), defaults (fsync on, synchronous_commit on)",
        "results": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
