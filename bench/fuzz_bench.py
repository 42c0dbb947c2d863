"""Issue 15, item 2: schemathesis fuzzing of the API of a real `wirexa serve` with at least
20,000 generated requests (valid and invalid per Twilio's OpenAPI, filtered to what Wirexa
implements, plus the product doc's routes). Reports requests by status, 5xx (target 0) and any
failure: a 5xx, an answer that does not match the schema, an error body that is not Twilio's
with `detail`. tests/hardening/api_fuzz.py does the work; tests/hardening/test_fuzz_api.py is
the bounded run in the suite. FUZZ_BENCH_REQUESTS changes the floor (default 20000)."""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import rss_mb, tree  # noqa: E402
from tests.conftest import make_live_server  # noqa: E402
from tests.hardening import api_fuzz  # noqa: E402

FLOOR = int(os.environ.get("FUZZ_BENCH_REQUESTS", "20000"))
EXAMPLES = 110  # per operation and mode in one round; rounds (new seeds) until FLOOR requests


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wirexa-fuzz-") as tmp:
        server = make_live_server(Path(tmp), api_fuzz.SERVER_ENV)
        try:
            target = api_fuzz.seed_target(server)
            total = api_fuzz.Outcome()
            rounds = 0
            while total.requests < FLOOR:
                rounds += 1
                out = api_fuzz.run(
                    target, EXAMPLES, seed=rounds, log=lambda m: print(m, file=sys.stderr) if "DELETE" in m else None
                )
                total.requests += out.requests
                total.by_status.update(out.by_status)
                total.by_operation.update(out.by_operation)
                total.failures.extend(out.failures)
                total.seconds += out.seconds
                # Deletes ran last and took the seeded rows: seed anew for the next round.
                target = api_fuzz.seed_target(server)
            assert server.proc is not None
            alive = server.proc.poll() is None
            rss = round(sum(rss_mb(p) for p in tree(server.proc.pid)), 1) if alive else None
            log = server.log.read_text(errors="replace")
        finally:
            server.stop()
    s = total.summary()
    failure_kinds = collections.Counter(f.split(" -> ")[1].split(":")[0] for f in total.failures if " -> " in f)
    results = {
        **s,
        "per_s": round(total.requests / total.seconds, 1) if total.seconds else None,
        "rounds": rounds,
        "examples_per_operation_and_mode": EXAMPLES,
        "failure_statuses": dict(failure_kinds),
        "server_alive_after": alive,
        "server_tree_rss_mb": rss,
        "unhandled_errors_logged": log.count("unhandled error"),
        "requests_by_operation": dict(sorted(total.by_operation.items())),
    }
    targets = [
        {
            "metric": "generated requests",
            "target": f">= {FLOOR}",
            "measured": total.requests,
            "met": total.requests >= FLOOR,
            "note": f"{s['operations']} operations, positive and negative, {results['per_s']}/s",
        },
        {
            "metric": "5xx answers",
            "target": "0",
            "measured": s["server_errors"],
            "met": s["server_errors"] == 0,
            "note": "by status: " + ", ".join(f"{k}: {v}" for k, v in s["by_status"].items()),
        },
        {
            "metric": "failures (5xx, schema, error shape)",
            "target": "0",
            "measured": s["failures"],
            "met": s["failures"] == 0,
            "note": "; ".join(total.failures[:3])[:400],
        },
        {
            "metric": "unhandled errors in serve's log",
            "target": "0",
            "measured": results["unhandled_errors_logged"],
            "met": results["unhandled_errors_logged"] == 0,
        },
    ]
    print(
        json.dumps(
            {
                "benchmark": "fuzz",
                "schema": "Twilio 2010-04-01 (filtered) + product doc routes",
                "results": results,
                "targets": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
