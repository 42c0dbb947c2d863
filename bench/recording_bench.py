"""Issue 12: what whole-call recording costs, over real SIP (live `wirexa serve` + sandbox).

CPU per call: REC_BENCH_CALLS (50) calls at once, each callee playing a looping tone and the
engine a looping <Play>, in three rounds on one server: without recording, with Record=true mono,
with Record=true dual. In each round, once every call is in progress, the engine's CPU (serve +
SIP workers, from /proc) is measured over REC_BENCH_WINDOW_S (15 s); the calls are then hung up
and their recordings awaited. The cost of recording one call is (round - no-recording round) /
calls, in % of one core. Every recording of the round is checked afterwards (completed, the
channel count asked for, a duration near the call's).

MP3 throughput: REC_BENCH_MP3_FILES (24) recordings of 60 s (mono, then dual) converted with the
engine's own converter (media/recording.convert_mp3, ffmpeg), as many at once as there are cores;
recordings per second and seconds of audio per second of wall time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.laml_bench import in_progress, snapshot, wait_final, window
from tests.backends import free_udp_block
from tests.conftest import make_live_server
from tests.e2e.webapp import WebApp
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.recording import convert_mp3, merge_channels

CALLS = int(os.environ.get("REC_BENCH_CALLS", "50"))
WINDOW_S = float(os.environ.get("REC_BENCH_WINDOW_S", "15"))
MP3_FILES = int(os.environ.get("REC_BENCH_MP3_FILES", "24"))
SETTLE_S = 3.0
CALLEE = "+15005550070"
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
TARGET_PCT_PER_CALL = 0.3  # issue 13's per-call budget (all of a call, recording included)


def log(msg: str) -> None:
    print(f"[recording {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def call_round(server: Any, web: WebApp, label: str, extra: dict[str, Any]) -> dict[str, Any]:
    client = server.client()
    root = server.proc.pid
    sids = [
        client.calls.create(to=CALLEE, from_="+15005550100", url=web.url("/loop"), **extra).sid for _ in range(CALLS)
    ]
    wanted = set(sids)
    deadline = time.monotonic() + 90
    while len(live := in_progress(client, wanted)) < len(wanted) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(SETTLE_S)
    a = snapshot(root)
    time.sleep(WINDOW_S)
    b = snapshot(root)
    live_b = in_progress(client, wanted)
    r: dict[str, Any] = {"round": label, "in_progress_at_start": len(live), "in_progress_at_end": len(live_b)}
    r["window"] = window(a, b)
    for sid in sids:
        try:
            client.calls(sid).update(status="completed")
        except Exception as exc:  # noqa: BLE001 - ended meanwhile
            log(f"hangup {sid}: {exc}")
    for sid in sids:
        wait_final(client, sid)
    if extra.get("record"):
        want_channels = 2 if extra.get("recording_channels") == "dual" else 1
        ok, problems = 0, []
        deadline = time.monotonic() + 60
        for sid in sids:
            while True:
                recs = client.calls(sid).recordings.list()
                if recs and recs[0].status == "completed":
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            call = client.calls(sid).fetch()
            if not recs or recs[0].status != "completed":
                problems.append(f"{sid}: {recs[0].status if recs else 'no recording'}")
                continue
            rec = recs[0]
            if int(rec.channels) != want_channels or abs(int(rec.duration) - int(call.duration)) > 2:
                problems.append(f"{sid}: channels {rec.channels}, {rec.duration} s of a {call.duration} s call")
                continue
            ok += 1
        r["recordings_ok"] = ok
        r["recording_problems"] = problems[:5]
    log(f"{label}: {r['window']['cpu_pct_engine']}% engine CPU, {len(live_b)}/{CALLS} live through the window")
    return r


def cpu_rounds() -> dict[str, Any]:
    workers = max(16, (CALLS + 1) // 2 + 5)
    sandboxes = max(4, (CALLS + 3) // 4 + 1)
    web = WebApp()
    web.files["/t.wav"] = (wav_bytes(tone_pcm(1000, 2000, amplitude=0.2)), "audio/wav")
    web.docs["/loop"] = f'<Response><Play loop="0">{web.url("/t.wav")}</Play></Response>'
    env = {
        "WIREXA_LOG_LEVEL": "WARNING",
        "WIREXA_CALLS_CPS": "50",
        "WIREXA_CALLS_MAX_CONCURRENT": str(max(64, CALLS + 8)),
        "WIREXA_SIP_WORKERS_MAX": str(workers),
        "WIREXA_SANDBOX_PROCESSES": str(sandboxes),
    }
    gap = workers + 10
    base = free_udp_block(40000, 49000, gap + sandboxes + 10, (*range(workers), *range(gap, gap + sandboxes)))
    env |= {"WIREXA_SIP_PORT_BASE": str(base), "WIREXA_SANDBOX_PORT_BASE": str(base + gap)}
    out: dict[str, Any] = {"calls": CALLS, "window_s": WINDOW_S}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "callee.wav").write_bytes(wav_bytes(tone_pcm(440, 2000, amplitude=0.2)))
        sandbox = f'[numbers."{CALLEE}"]\nanswer = "{Path(tmp) / "callee.wav"}"\nloop = true\n'
        (Path(tmp) / "engine").mkdir()
        server = make_live_server(Path(tmp) / "engine", env, sandbox)
        try:
            rounds = [
                call_round(server, web, "no recording", {}),
                call_round(server, web, "mono", {"record": True, "trim": "do-not-trim"}),
                call_round(server, web, "dual", {"record": True, "recording_channels": "dual", "trim": "do-not-trim"}),
            ]
        finally:
            server.stop()
            web.close()
    out["rounds"] = rounds
    base_pct = rounds[0]["window"]["cpu_pct_engine"]
    for r in rounds[1:]:
        r["recording_pct_per_call"] = round((r["window"]["cpu_pct_engine"] - base_pct) / CALLS, 3)
        r["call_pct_per_call"] = round(r["window"]["cpu_pct_engine"] / CALLS, 3)
    return out


async def mp3_throughput(tmp: Path, channels: int) -> dict[str, Any]:
    src = tmp / f"src{channels}.wav"
    mono = tmp / "mono.wav"
    mono.write_bytes(wav_bytes(tone_pcm(440, 60_000, amplitude=0.3)))
    if channels == 2:
        assert await merge_channels(mono, mono, src)
    else:
        src = mono
    files = []
    for i in range(MP3_FILES):
        f = tmp / f"r{channels}-{i}.wav"
        f.write_bytes(src.read_bytes())
        files.append(f)
    sem = asyncio.Semaphore(os.cpu_count() or 1)
    failures = 0

    async def one(f: Path) -> None:
        nonlocal failures
        async with sem:
            if not await convert_mp3(f, f.with_suffix(".mp3")):
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(f) for f in files))
    wall = time.perf_counter() - t0
    with wave.open(str(src)) as w:
        seconds = w.getnframes() / w.getframerate()
    return {
        "channels": channels,
        "files": MP3_FILES,
        "audio_s_each": round(seconds),
        "wall_s": round(wall, 2),
        "recordings_per_s": round(MP3_FILES / wall, 2),
        "audio_s_per_s": round(MP3_FILES * seconds / wall),
        "failures": failures,
    }


def main() -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["mp3"] = [asyncio.run(mp3_throughput(Path(tmp), ch)) for ch in (1, 2)]
    log(f"mp3: {results['mp3']}")
    results["cpu"] = cpu_rounds()
    rounds = results["cpu"]["rounds"]
    mono, dual = rounds[1], rounds[2]
    targets = [
        {
            "metric": f"recording CPU per call, mono ({CALLS} calls)",
            "measured": f"{mono['recording_pct_per_call']}% of a core",
            "target": "report",
            "met": True,
            "note": f"whole call with recording: {mono['call_pct_per_call']}% (issue 13 budget {TARGET_PCT_PER_CALL}%)",
        },
        {
            "metric": f"recording CPU per call, dual ({CALLS} calls)",
            "measured": f"{dual['recording_pct_per_call']}% of a core",
            "target": "report",
            "met": True,
            "note": f"whole call with recording: {dual['call_pct_per_call']}%",
        },
        {
            "metric": "recordings complete and correct (mono + dual)",
            "measured": f"{mono['recordings_ok'] + dual['recordings_ok']}/{2 * CALLS}",
            "target": f"{2 * CALLS}/{2 * CALLS}",
            "met": mono["recordings_ok"] + dual["recordings_ok"] == 2 * CALLS,
        },
        {
            "metric": "calls live through each window",
            "measured": "/".join(str(r["in_progress_at_end"]) for r in rounds),
            "target": f"{CALLS} each",
            "met": all(r["in_progress_at_end"] == CALLS for r in rounds),
        },
    ]
    for m in results["mp3"]:
        targets.append(
            {
                "metric": f"MP3 conversion, {'dual' if m['channels'] == 2 else 'mono'} 60 s recordings",
                "measured": f"{m['recordings_per_s']} recordings/s ({m['audio_s_per_s']} s of audio/s)",
                "target": "report",
                "met": m["failures"] == 0,
                "note": f"{os.cpu_count()} at once",
            }
        )
    print(json.dumps({"benchmark": "recording", "targets": targets, "results": results}))


if __name__ == "__main__":
    main()
