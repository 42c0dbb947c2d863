"""Issue 5: LaML latency over real SIP (live `wirexa serve` + sandbox carrier, loopback).

answer -> first audio: for a <Say> document, the offset of the first audible sample in the WAV the
sandbox callee records of what it hears. The callee's recorder starts when its media comes up at
answer, so this approximates answer -> first audio frame heard (it includes the document fetch,
TTS, and the RTP path). Cold = text never spoken before (espeak-ng runs); warm = the same text
again (TTS cache hit).
key press -> action request: the callee (sandbox) presses 1, 1.5 s after answering (during the prompt); the bench polls the
callee's event log every 2 ms for "digits sent" (absolute monotonic time) and takes the arrival
of the Gather action request at the local web app (same clock).
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
from bench.common import pct  # noqa: E402
from tests.conftest import make_live_server  # noqa: E402
from tests.e2e.webapp import WebApp  # noqa: E402

N = int(os.environ.get("LAML_BENCH_CALLS", "6"))
SAY = "+15005550040"
PRESS = "+15005550041"
SANDBOX = f"""
[numbers."{SAY}"]
answer = "silence"
ring_s = 0.3
[numbers."{PRESS}"]
answer = "silence"
ring_s = 0.3
press = "1"
press_after = 1.5

"""
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def first_audio_s(path: Path, threshold: int = 500) -> float | None:
    with wave.open(str(path)) as w:
        rate, width = w.getframerate(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        return None
    samples = array.array("h", frames)
    for i, x in enumerate(samples):
        if abs(x) > threshold:
            return i / rate
    return None


def wait_final(client: Any, sid: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.calls(sid).fetch().status
        if status in ENDED:
            return str(status)
        time.sleep(0.2)
    raise TimeoutError(f"call {sid} not finished")


def wait_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def say_call(server: Any, web: WebApp, text: str, path: str) -> float | None:
    web.docs[path] = f"<Response><Say>{text}</Say><Hangup/></Response>"
    call = server.client().calls.create(to=SAY, from_="+15005550100", url=web.url(path))
    assert wait_final(server.client(), call.sid) == "completed"
    log = server.data_dir / "sandbox" / f"{call.sid}.json"
    wav = server.data_dir / "sandbox" / f"{call.sid}.wav"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the callee saves its WAV a moment after the hangup
        if log.exists() and any(e["event"] in ("wav saved", "no audio") for e in json.loads(log.read_text())["events"]):
            break
        time.sleep(0.05)
    return first_audio_s(wav) if wav.exists() else None


def press_call(server: Any, web: WebApp, i: int) -> float | None:
    web.docs[f"/g{i}"] = f'<Response><Gather numDigits="1" timeout="10" action="/g{i}-done"><Say>Press one now.</Say></Gather></Response>'
    web.docs[f"/g{i}-done"] = "<Response><Hangup/></Response>"
    call = server.client().calls.create(to=PRESS, from_="+15005550100", url=web.url(f"/g{i}"))
    log = server.data_dir / "sandbox" / f"{call.sid}.json"
    pressed: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                events = json.loads(log.read_text())["events"]
            except (OSError, ValueError, KeyError):
                events = []
            if any(e["event"] == "digits sent" for e in events):
                pressed.append(time.monotonic())
                return
            time.sleep(0.002)

    t = threading.Thread(target=watch)
    t.start()
    hits = web.wait(f"/g{i}-done", call.sid, timeout=30)
    t.join()
    wait_final(server.client(), call.sid)
    if not pressed:
        return None
    return (hits[0].t - pressed[0]) * 1000


def main() -> None:
    web = WebApp()
    with tempfile.TemporaryDirectory() as tmp:
        server = make_live_server(Path(tmp), {"WIREXA_LOG_LEVEL": "WARNING", "WIREXA_CALLS_CPS": "50"}, SANDBOX)
        try:
            cold, warm, press = [], [], []
            for i in range(N):
                text = f"Cold prompt {i}: {WORDS[i % len(WORDS)]} {WORDS[(i * 7 + 3) % len(WORDS)]} {time.time_ns() % 100000}."
                cold.append(say_call(server, web, text, f"/c{i}"))
            say_call(server, web, "Welcome to the warm prompt.", "/w")  # prime the TTS cache
            for i in range(N):
                warm.append(say_call(server, web, "Welcome to the warm prompt.", f"/w{i}"))
            for i in range(N):
                press.append(press_call(server, web, i))
        finally:
            server.stop()
            web.close()
    ms = lambda xs: [x * 1000 for x in xs if x is not None]  # noqa: E731
    cold_ms, warm_ms, press_ms = ms(cold), ms(warm), [x for x in press if x is not None]
    r = {
        "answer_to_first_audio_cold_ms": {"p50": round(pct(cold_ms, 50), 1), "max": round(max(cold_ms, default=float("nan")), 1), "n": len(cold_ms), "missing": N - len(cold_ms)},
        "answer_to_first_audio_warm_ms": {"p50": round(pct(warm_ms, 50), 1), "max": round(max(warm_ms, default=float("nan")), 1), "n": len(warm_ms), "missing": N - len(warm_ms)},
        "key_press_to_action_request_ms": {"p50": round(pct(press_ms, 50), 1), "max": round(max(press_ms, default=float("nan")), 1), "n": len(press_ms), "missing": N - len(press_ms)},
    }
    print(json.dumps({
        "benchmark": "laml", "calls_each": N, "results": r,
        "targets": [
            {"metric": "answer -> first audio, warm TTS cache, p50 (ms)", "target": "report", "measured": r["answer_to_first_audio_warm_ms"]["p50"], "met": None,
             "note": "callee-side WAV offset; includes document fetch; recorder starts at callee media-up"},
            {"metric": "answer -> first audio, cold TTS cache, p50 (ms)", "target": "report", "measured": r["answer_to_first_audio_cold_ms"]["p50"], "met": None,
             "note": "each text new to espeak-ng"},
            {"metric": "key press -> action request arrival p50 (ms)", "target": "report", "measured": r["key_press_to_action_request_ms"]["p50"], "met": None,
             "note": "RFC 2833 digit from the sandbox callee; 2 ms log polling"},
        ],
    }))


if __name__ == "__main__":
    main()
