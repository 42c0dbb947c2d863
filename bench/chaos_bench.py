"""Issue 15, item 1: the crash campaign. 30 calls (Say, Gather, Record, Dial; status and recording
callbacks to a receiver that answers 30 % of them with a 500) against a real `wirexa serve` and
the sandbox carrier, while at 100+ seeded random moments `serve` or one
of its SIP workers gets SIGKILL (serve a fifth of the time, and whenever no worker is up: the pool
starts them for calls); serve is started again when it died. Then the invariants
(tests/hardening/chaos.py): every call final, every callback row delivered or failed after its
retries, no SequenceNumber with two payloads, recordings valid WAVs matching their rows,
PRAGMA integrity_check ok, no orphan worker, no port left bound. Target: nothing lost.
CHAOS_CALLS, CHAOS_KILL_POINTS and CHAOS_SEED change the run."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from tests.hardening import chaos  # noqa: E402

CALLS = int(os.environ.get("CHAOS_CALLS", "30"))
KILL_POINTS = int(os.environ.get("CHAOS_KILL_POINTS", "100"))
SEED = int(os.environ.get("CHAOS_SEED", "15"))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wirexa-chaos-") as tmp:
        report = chaos.run(
            Path(tmp), CALLS, KILL_POINTS, SEED, serve_share=0.2, gap_s=(0.3, 1.2), quiet_share=0.3,
            log=lambda m: print(m, file=sys.stderr),
        )
    r = report.summary()
    lost = r["lost"]
    targets = [
        {"metric": "kill points", "target": f">= {KILL_POINTS}", "measured": r["kill_points"],
         "met": r["kill_points"] >= KILL_POINTS, "note": f"{r['serve_kills']} of serve, {r['worker_kills']} of a SIP worker"},
        {"metric": "calls final", "target": f"{r['calls']} of {r['calls']}",
         "measured": sum(v for k, v in r["call_statuses"].items() if k in chaos.FINAL),
         "met": all(k in chaos.FINAL for k in r["call_statuses"]),
         "note": ", ".join(f"{k}: {v}" for k, v in r["call_statuses"].items())},
        {"metric": "callback rows delivered or failed", "target": "all",
         "measured": sum(r["callback_rows"].values()), "met": set(r["callback_rows"]) <= {"delivered", "failed"},
         "note": ", ".join(f"{k}: {v}" for k, v in r["callback_rows"].items())
         + f"; {r['callbacks_received']} POSTs received, {r['callbacks_failed_by_receiver']} answered 500, "
         f"{r['redelivered_same_payload']} redelivered with the same payload"},
        {"metric": "<Dial> legs final", "target": "all", "measured": r["dial_legs"],
         "met": not any("<Dial> leg" in v for v in r["violations"])},
        {"metric": "recordings", "target": "valid WAVs matching their rows", "measured": sum(r["recordings"].values()),
         "met": not any("recording" in v for v in r["violations"]),
         "note": ", ".join(f"{k}: {v}" for k, v in r["recordings"].items())},
        {"metric": "anything lost (violations)", "target": "0", "measured": lost, "met": lost == 0,
         "note": "; ".join(r["violations"][:3])[:400]},
    ]
    print(json.dumps({"benchmark": "chaos", "calls": CALLS, "seed": SEED, "results": r, "targets": targets}))


if __name__ == "__main__":
    main()
