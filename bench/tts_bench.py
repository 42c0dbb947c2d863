"""Issue 11: answer -> first audio of a <Say> over real SIP, through each cloud TTS provider's
local server (tests/media/tts/vendors.py), with the provider streaming or not.

Each vendor server answers a synthesis like a real streaming vendor: its first chunk 100 ms
after the request, the rest spread so that the answer ends 1 s after it (TTS_BENCH_FIRST_BYTE_S,
TTS_BENCH_TOTAL_S; 10 chunks of espeak-ng speech in the vendor's format). ElevenLabs (`/stream`,
mu-law), Azure (`raw-8khz-16bit-mono-pcm`) and Polly (boto3 reading the AudioStream, paced
server in place of moto) stream; Google's REST API does not, so its server sends the whole
answer after the same 1 s: the first audio of a provider that does not stream.

answer -> first audio: the offset of the first audible sample in the WAV the sandbox callee
records of what it hears (as bench/laml_bench.py). The callee's recorder starts when its media
comes up at answer, so this approximates answer -> first audio frame heard; the call is created
with inline TwiML (no document fetch), so it is the TTS path: render start at answer, vendor
request, first chunk on disk, play command, SIP worker, RTP. Uncached = a text never spoken
before (every call a new text: the provider is asked); cached = the same text again (the
render cache's WAV). One warm-up call per provider first (HTTP connection, ElevenLabs voice
list, boto3 import); calls run one at a time. p99 is nearest-rank: with fewer than 100 samples
it is the largest or nearly so. The figures move in 20 ms steps (one RTP packet of the callee's
recording) and include `vendor_audio_lead_ms`, where the vendor's own audio becomes audible.
"""

from __future__ import annotations

import array
import json
import os
import sys
import tempfile
import time
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import pct
from tests.conftest import make_live_server
from tests.media.tts.vendors import (
    AzureVendor,
    ElevenVendor,
    GoogleVendor,
    Pace,
    PollyVendor,
    Vendor,
    make_audio,
    serve,
)

N_UNCACHED = int(os.environ.get("TTS_BENCH_UNCACHED", "10"))
N_CACHED = int(os.environ.get("TTS_BENCH_CACHED", "10"))
FIRST_BYTE_S = float(os.environ.get("TTS_BENCH_FIRST_BYTE_S", "0.1"))
TOTAL_S = float(os.environ.get("TTS_BENCH_TOTAL_S", "1.0"))
CHUNKS = 10
SECRET = "bench-secret-0123456789"
CALLEE = "+15005550060"
SANDBOX = f"""
[numbers."{CALLEE}"]
answer = "silence"
ring_s = 0.3
"""
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
# provider -> (voice, streams?)
PROVIDERS = {
    "elevenlabs": ("eleven.Rachel", True),
    "azure": ("azure.en-US-JennyNeural", True),
    "polly": ("polly.Joanna", True),
    "google": ("google.en-US-Wavenet-F", False),
}


def log(msg: str) -> None:
    print(f"[tts {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def first_audio_s(path: Path, threshold: int = 500) -> float | None:
    with wave.open(str(path)) as w:
        rate, samples = w.getframerate(), array.array("h", w.readframes(w.getnframes()))
    for i, x in enumerate(samples):
        if abs(x) > threshold:
            return i / rate
    return None


def wait_wav(server: Any, sid: str, timeout: float = 15) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            doc = json.loads((server.data_dir / "sandbox" / f"{sid}.json").read_text())
        except (OSError, ValueError):
            doc = None
        if doc and any(e["event"] in ("wav saved", "no audio") for e in doc["events"]):
            break
        time.sleep(0.05)
    wav = server.data_dir / "sandbox" / f"{sid}.wav"
    return wav if wav.exists() else None


def say_call(server: Any, voice: str, text: str) -> float | None:
    client = server.client()
    call = client.calls.create(
        to=CALLEE, from_="+15005550100", twiml=f'<Response><Say voice="{voice}">{text}</Say><Hangup/></Response>'
    )
    deadline = time.monotonic() + 60
    while (status := client.calls(call.sid).fetch().status) not in ENDED:
        if time.monotonic() > deadline:
            log(f"call {call.sid} still {status}")
            return None
        time.sleep(0.05)
    wav = wait_wav(server, call.sid)
    if status != "completed" or wav is None:
        log(f"call {call.sid}: {status}, wav {wav}")
        return None
    notes = client.calls(call.sid).notifications.list()
    if notes:
        log(f"call {call.sid}: notifications {[n.message_text for n in notes]}")
        return None  # a provider fell back: not this provider's figure
    return first_audio_s(wav)


def summary(values: list[float], wanted: int) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "p50": round(pct(ms, 50), 1),
        "p99": round(pct(ms, 99), 1),
        "min": round(min(ms, default=float("nan")), 1),
        "max": round(max(ms, default=float("nan")), 1),
        "n": len(ms),
        "missing": wanted - len(ms),
    }


def main() -> None:
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wirexa-tts-bench-") as tmp, ExitStack() as stack:
        audio = make_audio(Path(tmp))
        pace = Pace(first_byte_s=FIRST_BYTE_S, total_s=TOTAL_S, chunks=CHUNKS)
        vendors: dict[str, Vendor] = {
            "elevenlabs": stack.enter_context(serve(ElevenVendor(audio, SECRET))),
            "azure": stack.enter_context(serve(AzureVendor(audio, SECRET))),
            "polly": stack.enter_context(serve(PollyVendor(audio, SECRET))),
            "google": stack.enter_context(serve(GoogleVendor(audio, SECRET))),
        }
        for v in vendors.values():
            v.pace = pace
        vendors["google"].mode, vendors["google"].delay_s = "slow", TOTAL_S  # whole answer after TOTAL_S
        env = {
            "WIREXA_LOG_LEVEL": "WARNING",
            "WIREXA_CALLS_CPS": "50",
            "WIREXA_TTS_ELEVENLABS_API_KEY": SECRET,
            "WIREXA_TTS_ELEVENLABS_ENDPOINT_URL": vendors["elevenlabs"].url,
            "WIREXA_TTS_AZURE_KEY": SECRET,
            "WIREXA_TTS_AZURE_ENDPOINT_URL": vendors["azure"].url,
            "WIREXA_TTS_POLLY_ACCESS_KEY_ID": "AKIAWIREXATEST",
            "WIREXA_TTS_POLLY_SECRET_ACCESS_KEY": SECRET,
            "WIREXA_TTS_POLLY_ENDPOINT_URL": vendors["polly"].url,
            "WIREXA_TTS_GOOGLE_API_KEY": SECRET,
            "WIREXA_TTS_GOOGLE_ENDPOINT_URL": vendors["google"].url,
        }
        (Path(tmp) / "engine").mkdir()
        server = make_live_server(Path(tmp) / "engine", env, SANDBOX)
        try:
            for name, (voice, _) in PROVIDERS.items():
                log(f"{name}: warm-up, {N_UNCACHED} uncached, {N_CACHED} cached calls")
                say_call(server, voice, f"Warm up {name}.")
                before = len(vendors[name].synth_requests())
                uncached = [say_call(server, voice, f"New text {i} for {name}.") for i in range(N_UNCACHED)]
                asked = len(vendors[name].synth_requests()) - before
                say_call(server, voice, f"The cached text for {name}.")  # fills the cache
                before = len(vendors[name].synth_requests())
                cached = [say_call(server, voice, f"The cached text for {name}.") for _ in range(N_CACHED)]
                results[name] = {
                    "uncached_ms": summary([x for x in uncached if x is not None], N_UNCACHED),
                    "cached_ms": summary([x for x in cached if x is not None], N_CACHED),
                    "vendor_requests_uncached": asked,
                    "vendor_requests_cached": len(vendors[name].synth_requests()) - before,
                    "vendor_problems": vendors[name].problems[:3],
                }
        finally:
            server.stop()
    log(f"done in {time.monotonic() - t0:.0f} s")
    audio_lead_ms = round((first_audio_s_of(audio.wav8k) or 0.0) * 1000, 1)
    fb, total = FIRST_BYTE_S * 1000, TOTAL_S * 1000
    targets = []
    for name, (_, streams) in PROVIDERS.items():
        r = results[name]
        u, c = r["uncached_ms"], r["cached_ms"]
        ok = u["missing"] == 0 and r["vendor_requests_uncached"] == N_UNCACHED and not r["vendor_problems"]
        if streams:
            targets.append(
                {
                    "metric": f"{name} (streams): answer -> first audio, uncached, p50 (ms)",
                    "target": f"< {fb + 50:g}",
                    "measured": u["p50"],
                    "met": ok and u["p50"] < fb + 50,
                    "note": f"vendor first byte {fb:g} ms, whole answer {total:g} ms; n={u['n']}, missing {u['missing']}",
                }
            )
        else:
            targets.append(
                {
                    "metric": f"{name} (no streaming API): answer -> first audio, uncached, p50 (ms)",
                    "target": "report",
                    "measured": u["p50"],
                    "met": None,
                    "note": f"whole answer after {total:g} ms: the first audio waits for it; n={u['n']}",
                }
            )
        targets += [
            {
                "metric": f"{name}: answer -> first audio, uncached, p99 (ms)",
                "target": "report",
                "measured": u["p99"],
                "met": None,
                "note": f"nearest rank of n={u['n']}",
            },
            {
                "metric": f"{name}: answer -> first audio, cached, p50 / p99 (ms)",
                "target": "report",
                "measured": f"{c['p50']} / {c['p99']}",
                "met": None,
                "note": f"render cache hit (vendor asked {r['vendor_requests_cached']} times); n={c['n']}, missing {c['missing']}",
            },
        ]
    print(
        json.dumps(
            {
                "benchmark": "tts",
                "calls_each": {"uncached": N_UNCACHED, "cached": N_CACHED},
                "vendor_first_byte_ms": fb,
                "vendor_total_ms": total,
                "vendor_audio_lead_ms": audio_lead_ms,
                "results": results,
                "targets": targets,
            }
        )
    )


def first_audio_s_of(wav: bytes) -> float | None:
    """Where the vendor's own audio becomes audible (the floor under every figure above)."""
    with tempfile.NamedTemporaryFile(suffix=".wav", prefix="wirexa-tts-bench-") as f:
        f.write(wav)
        f.flush()
        return first_audio_s(Path(f.name))


if __name__ == "__main__":
    main()
