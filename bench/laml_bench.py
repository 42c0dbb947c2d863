"""Issue 5: LaML latency and CPU over real SIP (live `wirexa serve` + sandbox carrier, loopback).

answer -> first audio: for a <Say> document, the offset of the first audible sample in the WAV the
sandbox callee records of what it hears. The callee's recorder starts when its media comes up at
answer, so this approximates answer -> first audio frame heard (it includes the document fetch,
TTS, and the RTP path). Cold = text never spoken before (espeak-ng runs); warm = the same text
again (TTS cache hit). Calls run one at a time.
key press -> action request: the callee (sandbox) presses 1, 1.5 s after answering (after the
prompt, while Gather waits); the bench polls the callee's event log every 2 ms for "digits sent"
(bench-side monotonic time) and takes the arrival of the Gather action request at the local web
app (same clock). Calls run one at a time.
p99 is nearest-rank over the samples: with fewer than 100 samples it is the largest or nearly so.

CPU per call: a second server (sip_workers_max and sandbox_processes raised for the load) runs
LAML_BENCH_CONCURRENT (50) calls at once; half run a <Gather> with a nested <Say> that times out
and loops through <Redirect>, the other half a <Say loop="0">. Once all are in progress, CPU
seconds are measured over a LAML_BENCH_WINDOW_S (20 s) window from /proc, for the engine (serve +
SIP workers + their short-lived children) and the sandbox carrier processes apart; then every call
is hung up and the same is measured over an idle window (workers still alive) for the baseline.
That all calls were live through the window is checked by the API (status in-progress at both
ends), by the Gather calls' document refetches inside the window, and by the audio each callee
recorded (the share of 20 ms frames with sound over the window).
"""

from __future__ import annotations

import array
import json
import os
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import pct
from bench.laml_procs import classify, cpu_delta, machine_busy
from tests.backends import free_udp_block
from tests.conftest import make_live_server
from tests.e2e.webapp import WebApp

N = int(os.environ.get("LAML_BENCH_CALLS", "20"))  # sequential calls for each latency
N_COLD = int(os.environ.get("LAML_BENCH_COLD", N))
N_WARM = int(os.environ.get("LAML_BENCH_WARM", N))
N_PRESS = int(os.environ.get("LAML_BENCH_PRESS", N))
CONCURRENT = int(os.environ.get("LAML_BENCH_CONCURRENT", "50"))
WINDOW_S = float(os.environ.get("LAML_BENCH_WINDOW_S", "20"))
IDLE_S = float(os.environ.get("LAML_BENCH_IDLE_S", "5"))
SETTLE_S = 3.0  # after the last call is in progress, before the window opens
SAY = "+15005550040"
PRESS = "+15005550041"
LISTEN = "+15005550042"
SANDBOX = f"""
[numbers."{SAY}"]
answer = "silence"
ring_s = 0.3
[numbers."{PRESS}"]
answer = "silence"
ring_s = 0.3
press = "1"
press_after = 1.5
[numbers."{LISTEN}"]
answer = "silence"
ring_s = 0.3

"""
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
GATHER_DOC = ('<Response><Gather numDigits="1" timeout="2" action="/cpu/g-done">'
              "<Say>For sales press one. For support press two.</Say></Gather>"
              '<Redirect method="POST">/cpu/g</Redirect></Response>')
SAY_LOOP_DOC = '<Response><Say loop="0">Thank you for holding. Your call is important to us.</Say></Response>'
ENGINE_KINDS = {b"_sandbox": "sandbox", b"_sip-worker": "worker"}


def log(msg: str) -> None:
    print(f"[laml {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_pcm(path: Path) -> tuple[int, array.array[int]] | None:
    with wave.open(str(path)) as w:
        rate, width = w.getframerate(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        return None
    return rate, array.array("h", frames)


def first_audio_s(path: Path, threshold: int = 500) -> float | None:
    pcm = read_pcm(path)
    if pcm is None:
        return None
    rate, samples = pcm
    for i, x in enumerate(samples):
        if abs(x) > threshold:
            return i / rate
    return None


def sound_share(path: Path, start_s: float, end_s: float, threshold: int = 500) -> float | None:
    """Share of 20 ms frames in [start_s, end_s) of the WAV with a sample above threshold."""
    pcm = read_pcm(path)
    if pcm is None:
        return None
    rate, samples = pcm
    step = rate // 50
    a, b = int(start_s * rate), min(len(samples), int(end_s * rate))
    frames = loud = 0
    for i in range(a, b - step + 1, step):
        frames += 1
        chunk = samples[i:i + step]
        if max(chunk) > threshold or min(chunk) < -threshold:
            loud += 1
    return loud / frames if frames else None


def callee_log(server: Any, sid: str) -> dict[str, Any] | None:
    try:
        return json.loads((server.data_dir / "sandbox" / f"{sid}.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def wait_wav(server: Any, sid: str, timeout: float = 10) -> Path | None:
    """The callee's WAV once it is complete (it is saved a moment after the hangup)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = callee_log(server, sid)
        if doc and any(e["event"] in ("wav saved", "no audio") for e in doc["events"]):
            break
        time.sleep(0.05)
    wav = server.data_dir / "sandbox" / f"{sid}.wav"
    return wav if wav.exists() else None


def wait_final(client: Any, sid: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.calls(sid).fetch().status
        if status in ENDED:
            return str(status)
        time.sleep(0.05)
    raise TimeoutError(f"call {sid} not finished")


# --- latency: one call at a time ----------------------------------------------------------------


def say_call(server: Any, web: WebApp, text: str, path: str) -> float | None:
    web.docs[path] = f"<Response><Say>{text}</Say><Hangup/></Response>"
    client = server.client()
    call = client.calls.create(to=SAY, from_="+15005550100", url=web.url(path))
    status = wait_final(client, call.sid)
    wav = wait_wav(server, call.sid)
    if status != "completed" or wav is None:
        log(f"say call {call.sid}: {status}, wav {wav}")
        return None
    return first_audio_s(wav)


def press_call(server: Any, web: WebApp, i: int) -> float | None:
    web.docs[f"/g{i}"] = f'<Response><Gather numDigits="1" timeout="10" action="/g{i}-done"><Say>Press one now.</Say></Gather></Response>'
    web.docs[f"/g{i}-done"] = "<Response><Hangup/></Response>"
    client = server.client()
    call = client.calls.create(to=PRESS, from_="+15005550100", url=web.url(f"/g{i}"))
    log_path = server.data_dir / "sandbox" / f"{call.sid}.json"
    pressed: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not stop.is_set():
            try:
                events = json.loads(log_path.read_text())["events"]
            except (OSError, ValueError, KeyError):
                events = []
            if any(e["event"] == "digits sent" for e in events):
                pressed.append(time.monotonic())
                return
            time.sleep(0.002)

    t = threading.Thread(target=watch)
    t.start()
    try:
        hits = web.wait(f"/g{i}-done", call.sid, timeout=30)
    except AssertionError as exc:
        log(f"press call {call.sid}: {exc}")
        hits = []
    t.join(timeout=2 if hits else 0)  # the watcher may see the log a moment after the action came
    stop.set()
    t.join()
    wait_final(client, call.sid)
    if not pressed or not hits:
        return None
    return (hits[0].t - pressed[0]) * 1000


def summary(values: list[float], wanted: int) -> dict[str, Any]:
    return {"p50": round(pct(values, 50), 1), "p99": round(pct(values, 99), 1), "min": round(min(values, default=float("nan")), 1),
            "max": round(max(values, default=float("nan")), 1), "n": len(values), "missing": wanted - len(values)}


def latency() -> dict[str, Any]:
    web = WebApp()
    with tempfile.TemporaryDirectory() as tmp:
        server = make_live_server(Path(tmp), {"WIREXA_LOG_LEVEL": "WARNING", "WIREXA_CALLS_CPS": "50"}, SANDBOX)
        try:
            cold: list[float | None] = []
            warm: list[float | None] = []
            press: list[float | None] = []
            log(f"latency: {N_COLD} cold, {N_WARM} warm, {N_PRESS} key-press calls, one at a time")
            for i in range(N_COLD):  # distinct per call; the TTS cache lives in this fresh data dir
                text = f"Cold prompt {i}: {WORDS[i % len(WORDS)]} {WORDS[(i * 7 + 3) % len(WORDS)]} {WORDS[(i * 5 + 11) % len(WORDS)]}."
                cold.append(say_call(server, web, text, f"/c{i}"))
            say_call(server, web, "Welcome to the warm prompt.", "/w")  # prime the TTS cache
            for i in range(N_WARM):
                warm.append(say_call(server, web, "Welcome to the warm prompt.", f"/w{i}"))
            for i in range(N_PRESS):
                press.append(press_call(server, web, i))
        finally:
            server.stop()
            web.close()
    return {
        "answer_to_first_audio_cold_ms": summary([x * 1000 for x in cold if x is not None], N_COLD),
        "answer_to_first_audio_warm_ms": summary([x * 1000 for x in warm if x is not None], N_WARM),
        "key_press_to_action_request_ms": summary([x for x in press if x is not None], N_PRESS),
    }


# --- CPU per call: CONCURRENT calls at once ---------------------------------------------------


def in_progress(client: Any, sids: set[str]) -> set[str]:
    return {c.sid for c in client.calls.list(status="in-progress", page_size=200, limit=1000)} & sids


def snapshot(root: int) -> dict[str, Any]:
    procs = classify(root, ENGINE_KINDS, "serve")
    busy, total = machine_busy()
    me = os.times()
    return {"procs": procs, "t": time.monotonic(), "busy": busy, "total": total, "self": me.user + me.system}


def window(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    wall = b["t"] - a["t"]
    per, new, gone = cpu_delta(a["procs"], b["procs"])
    engine = per.get("serve", 0.0) + per.get("worker", 0.0)
    sandbox = per.get("sandbox", 0.0)
    procs = b["procs"].values()

    def mem(kinds: tuple[str, ...], attr: str) -> float:
        return round(float(sum(getattr(p, attr) for p in procs if p.kind in kinds)), 1)

    return {
        "wall_s": round(wall, 2),
        "cpu_pct_engine": round(100 * engine / wall, 1),  # % of one core
        "cpu_pct_serve": round(100 * per.get("serve", 0.0) / wall, 1),
        "cpu_pct_workers": round(100 * per.get("worker", 0.0) / wall, 1),
        "cpu_pct_sandbox": round(100 * sandbox / wall, 1),
        "cpu_pct_bench_process": round(100 * (b["self"] - a["self"]) / wall, 1),  # the backend web app + this driver
        "machine_busy_pct": round(100 * (b["busy"] - a["busy"]) / wall, 1),
        "machine_capacity_pct": round(100 * (b["total"] - a["total"]) / wall),
        "cpu_pct_other_processes": round(100 * ((b["busy"] - a["busy"]) - engine - sandbox - (b["self"] - a["self"])) / wall, 1),
        "engine_workers": sum(1 for p in procs if p.kind == "worker"),
        "sandbox_processes": sum(1 for p in procs if p.kind == "sandbox"),
        "engine_rss_mb": mem(("serve", "worker"), "rss_mb"), "engine_pss_mb": mem(("serve", "worker"), "pss_mb"),
        "sandbox_rss_mb": mem(("sandbox",), "rss_mb"), "sandbox_pss_mb": mem(("sandbox",), "pss_mb"),
        "processes_started": new, "processes_gone": gone,
    }


def cpu_load() -> dict[str, Any]:
    workers = max(16, (CONCURRENT + 1) // 2 + 5)  # 2 top-level calls per worker, plus headroom
    sandboxes = max(4, (CONCURRENT + 3) // 4 + 1)  # 4 calls per sandbox process, plus one
    web = WebApp()
    web.docs["/cpu/g"] = GATHER_DOC
    web.docs["/cpu/g-done"] = "<Response><Hangup/></Response>"
    web.docs["/cpu/s"] = SAY_LOOP_DOC
    env = {"WIREXA_LOG_LEVEL": "WARNING", "WIREXA_CALLS_CPS": "50", "WIREXA_CALLS_MAX_CONCURRENT": str(max(64, CONCURRENT + 8)),
           "WIREXA_SIP_WORKERS_MAX": str(workers), "WIREXA_SANDBOX_PROCESSES": str(sandboxes)}
    # make_live_server puts the sandbox's SIP ports at the workers' base + 20, where workers 20+
    # would collide with them: give both blocks room (worker N binds base+N, sandbox M base+gap+M).
    gap = workers + 10
    base = free_udp_block(40000, 49000, gap + sandboxes + 10, (*range(workers), *range(gap, gap + sandboxes)))
    env |= {"WIREXA_SIP_PORT_BASE": str(base), "WIREXA_SANDBOX_PORT_BASE": str(base + gap)}
    kinds: dict[str, str] = {}
    r: dict[str, Any] = {"calls": CONCURRENT, "sip_workers_max": workers, "sandbox_processes": sandboxes}
    with tempfile.TemporaryDirectory() as tmp:
        server = make_live_server(Path(tmp), env, SANDBOX)
        try:
            assert server.proc is not None
            root = server.proc.pid
            client = server.client()
            # Prime the TTS cache (one call per document, at once) so the window is the steady
            # state, not espeak-ng runs.
            primers = [client.calls.create(to=LISTEN, from_="+15005550100", url=web.url(path)).sid for path in ("/cpu/g", "/cpu/s")]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(in_progress(client, set(primers))) < len(primers):
                time.sleep(0.1)
            time.sleep(1.5)
            for sid in primers:
                client.calls(sid).update(status="completed")
            for sid in primers:
                wait_final(client, sid)
            time.sleep(2)
            before = snapshot(root)
            time.sleep(2)
            r["before_calls"] = window(before, snapshot(root))
            log(f"cpu: starting {CONCURRENT} calls (sip_workers_max={workers}, sandbox_processes={sandboxes})")
            t_start = time.monotonic()
            for i in range(CONCURRENT):
                kind = "gather" if i % 2 == 0 else "say"
                sid = client.calls.create(to=LISTEN, from_="+15005550100", url=web.url("/cpu/g" if kind == "gather" else "/cpu/s")).sid
                kinds[sid] = kind
            sids = set(kinds)
            live: set[str] = set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                live = in_progress(client, sids)
                ended = {c.sid for c in client.calls.list(page_size=200, limit=1000) if c.status in ENDED} & sids
                if len(live) == len(sids) or len(live) + len(ended) == len(sids):
                    break
                time.sleep(0.5)
            r["all_in_progress_after_s"] = round(time.monotonic() - t_start, 1) if len(live) == len(sids) else None
            r["in_progress_before_window"] = len(live)
            log(f"cpu: {len(live)}/{len(sids)} in progress after {time.monotonic() - t_start:.1f} s; window {WINDOW_S} s")
            time.sleep(SETTLE_S)
            live_a = in_progress(client, sids)
            a = snapshot(root)
            a_wall = time.time()
            time.sleep(WINDOW_S)
            b = snapshot(root)
            b_wall = time.time()
            statuses = {c.sid: str(c.status) for c in client.calls.list(page_size=200, limit=1000) if c.sid in sids}
            live_b = {sid for sid, st in statuses.items() if st == "in-progress"}
            load = window(a, b)
            live_both = live_a & live_b
            refetch: dict[str, int] = {}
            for req in web.to("/cpu/g"):
                if a["t"] <= req.t <= b["t"]:
                    refetch[req.form.get("CallSid", "")] = refetch.get(req.form.get("CallSid", ""), 0) + 1
            gathers = [s for s in sids if kinds[s] == "gather"]
            r["window"] = load
            r["in_progress_at_window_start"] = len(live_a)
            r["in_progress_at_window_end"] = len(live_b)
            r["in_progress_through_window"] = len(live_both)
            others: dict[str, int] = {}
            for sid in sids - live_b:
                others[statuses.get(sid, "missing")] = others.get(statuses.get(sid, "missing"), 0) + 1
            r["status_at_window_end_of_calls_not_in_progress"] = others
            r["gather_calls"] = len(gathers)
            r["gather_calls_refetched_in_window"] = sum(1 for s in gathers if refetch.get(s, 0) > 0)
            r["gather_refetches_in_window"] = sum(refetch.get(s, 0) for s in gathers)
            r["say_loop_calls"] = len(sids) - len(gathers)
            log("cpu: hanging up")
            for sid in sids:
                try:
                    client.calls(sid).update(status="completed" if sid in live_b else "canceled")
                except Exception as exc:  # noqa: BLE001 - ended meanwhile
                    log(f"hangup {sid}: {exc}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ended = {c.sid for c in client.calls.list(page_size=200, limit=1000) if c.status in ENDED} & sids
                if ended == sids:
                    break
                time.sleep(0.5)
            time.sleep(2)
            c = snapshot(root)
            time.sleep(IDLE_S)
            r["idle_after_calls"] = window(c, snapshot(root))
            # What each callee live through the window heard over it (its WAV starts at its answer).
            shares: dict[str, list[float]] = {"gather": [], "say": []}
            no_audio = 0
            deadline = time.monotonic() + 15
            for sid in live_both:
                wav = wait_wav(server, sid, timeout=max(0.1, deadline - time.monotonic()))
                share = sound_share(wav, *window_in_wav(wav, a_wall, b_wall)) if wav is not None else None
                if share is None:
                    no_audio += 1
                else:
                    shares[kinds[sid]].append(share)
            r["callees_without_audio"] = no_audio
            for k, v in shares.items():
                r[f"{k}_sound_share_in_window"] = {"min": round(min(v, default=float("nan")), 2), "p50": round(pct(v, 50), 2), "n": len(v)}
        finally:
            server.stop()
            web.close()
    return r


def window_in_wav(wav: Path, a_wall: float, b_wall: float) -> tuple[float, float]:
    """The window [a_wall, b_wall] as offsets into a callee WAV. The WAV runs from the callee's
    media-up to its hangup and is closed (mtime) a tick after the hangup, so it started at about
    mtime - length (off by that tick, well under a second of a 20 s window)."""
    with wave.open(str(wav)) as w:
        length = w.getnframes() / w.getframerate()
    start_wall = wav.stat().st_mtime - length
    return max(0.0, a_wall - start_wall), max(0.0, b_wall - start_wall)


def main() -> None:
    t0 = time.monotonic()
    lat = latency() if N_COLD + N_WARM + N_PRESS > 0 else {}
    log(f"latency done in {time.monotonic() - t0:.0f} s")
    cpu = cpu_load() if CONCURRENT > 0 else {}
    log(f"all done in {time.monotonic() - t0:.0f} s")
    r: dict[str, Any] = {**lat, "concurrent_load": cpu}
    nan = float("nan")
    targets = []
    if lat:
        warm, cold, press = r["answer_to_first_audio_warm_ms"], r["answer_to_first_audio_cold_ms"], r["key_press_to_action_request_ms"]
        note = "callee-side WAV offset; includes document fetch; recorder starts at callee media-up"
        targets += [
            {"metric": "answer -> first audio, warm TTS cache, p50 (ms)", "target": "< 300", "measured": warm["p50"], "met": warm["p50"] < 300 and warm["missing"] == 0,
             "note": f"{note}; n={warm['n']}, missing {warm['missing']}"},
            {"metric": "answer -> first audio, warm TTS cache, p99 (ms)", "target": "report", "measured": warm["p99"], "met": None,
             "note": f"nearest rank of n={warm['n']}"},
            {"metric": "answer -> first audio, cold TTS cache, p50 (ms)", "target": "report", "measured": cold["p50"], "met": None,
             "note": f"each text new to espeak-ng; n={cold['n']}, missing {cold['missing']}"},
            {"metric": "answer -> first audio, cold TTS cache, p99 (ms)", "target": "report", "measured": cold["p99"], "met": None,
             "note": f"nearest rank of n={cold['n']}"},
            {"metric": "key press -> action request arrival p50 (ms)", "target": "< 50", "measured": press["p50"], "met": press["p50"] < 50 and press["missing"] == 0,
             "note": f"RFC 2833 digit from the sandbox callee; 2 ms log polling; n={press['n']}, missing {press['missing']}"},
            {"metric": "key press -> action request arrival p99 (ms)", "target": "report", "measured": press["p99"], "met": None,
             "note": f"nearest rank of n={press['n']}"},
        ]
    if cpu:
        w, idle = cpu["window"], cpu["idle_after_calls"]
        live = cpu["in_progress_through_window"] or 0

        def per(x: float) -> float:
            return round(x / live, 2) if live else nan

        cpu["per_call"] = {
            "cpu_pct_engine": per(w["cpu_pct_engine"]),
            "cpu_pct_engine_incl_sandbox": per(w["cpu_pct_engine"] + w["cpu_pct_sandbox"]),
            "cpu_pct_engine_above_idle": per(w["cpu_pct_engine"] - idle["cpu_pct_engine"]),
            "cpu_pct_engine_incl_sandbox_above_idle": per(w["cpu_pct_engine"] + w["cpu_pct_sandbox"] - idle["cpu_pct_engine"] - idle["cpu_pct_sandbox"]),
            "engine_rss_mb": per(w["engine_rss_mb"]), "engine_pss_mb": per(w["engine_pss_mb"]),
            "engine_pss_mb_above_before_calls": per(w["engine_pss_mb"] - cpu["before_calls"]["engine_pss_mb"]),
            "sandbox_pss_mb": per(w["sandbox_pss_mb"]),
        }
        pc = cpu["per_call"]
        saturated = w["machine_busy_pct"] >= 0.9 * w["machine_capacity_pct"]
        mix = f"{cpu['gather_calls']} Gather+Say/Redirect loops, {cpu['say_loop_calls']} Say loop=0"
        targets += [
            {"metric": f"calls in progress through the {WINDOW_S:g} s CPU window", "target": f"{CONCURRENT}", "measured": f"{live}/{CONCURRENT}",
             "met": live == CONCURRENT,
             "note": f"{mix}; API status in-progress at both ends; {cpu['gather_calls_refetched_in_window']}/{cpu['gather_calls']} Gather calls "
                     f"refetched in the window; callees without audio: {cpu['callees_without_audio']}"},
            {"metric": "CPU per call, engine (serve + SIP workers), % of one core", "target": "report", "measured": pc["cpu_pct_engine"], "met": None,
             "note": f"engine total {w['cpu_pct_engine']}% over {w['engine_workers']} workers; idle baseline after the calls "
                     f"{idle['cpu_pct_engine']}% -> {pc['cpu_pct_engine_above_idle']}%/call above idle"},
            {"metric": "CPU per call incl. sandbox carrier, % of one core", "target": "report", "measured": pc["cpu_pct_engine_incl_sandbox"], "met": None,
             "note": f"sandbox {w['cpu_pct_sandbox']}% over {w['sandbox_processes']} processes; machine busy {w['machine_busy_pct']}% of "
                     f"{w['machine_capacity_pct']}% (other processes {w['cpu_pct_other_processes']}%)" + (" (saturated: per-call figures are a floor)" if saturated else "")},
            {"metric": "memory per call, engine PSS (MB)", "target": "report", "measured": pc["engine_pss_mb"], "met": None,
             "note": f"engine PSS {w['engine_pss_mb']} MB (RSS {w['engine_rss_mb']} MB, shared pages counted per process); "
                     f"{pc['engine_pss_mb_above_before_calls']} MB/call above the engine before the calls"},
        ]
    print(json.dumps({
        "benchmark": "laml", "calls_each": {"cold": N_COLD, "warm": N_WARM, "press": N_PRESS}, "concurrent_calls": CONCURRENT,
        "cpu_window_s": WINDOW_S, "results": r, "targets": targets,
    }))


if __name__ == "__main__":
    main()
