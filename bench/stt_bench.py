"""Issue 26 item 4: speech recognition on the labelled corpus (bench/stt_corpus.py), through SttChain.

Every utterance is fed to a recognition session as the SIP worker's tap feeds a live call: the
chain's `open(options)` with the provider under test first (`SpeechOptions.provider`), then the
file's audio in 100 ms chunks (1600 bytes of 8 kHz s16le) from its first sample up to the chunk
that holds the end of speech, then `finish()` (what the endpointer does at the end of speech).
A recognition counts for the provider only when that provider produced it with no fallback;
the others are counted as fallbacks (with their reasons) and not scored.

Two passes per provider:
- accuracy (unpaced): every corpus file, chunks fed back to back, with the hints a real IVR would
  pass (the entry's `hints`; free sentences have none); pocketsphinx also without hints on one
  hinted file in STT_BENCH_NOHINTS_EVERY (4; every category at every SNR), reported beside the
  with-hints figures of the same files (the whole corpus twice would not fit the 5 minutes the
  bench may take on this 2-core machine). Scored: WER per category (words as
  stt_corpus.normalize writes them, digits in a transcript spelled as digit words: "415" ->
  "four one five"; edits over reference words, summed over the files, not a mean of per-file
  rates); command accuracy (yes/no and menu files: the one menu choice found in the transcript is
  the one spoken, see command_of); digit strings also as whole strings; everything per SNR too.
  CPU: process CPU seconds (time.process_time: the decoder threads, the loop, and for the cloud
  providers the local vendor server's thread too) over each recognition, per second of audio fed;
  runs are sequential, so each delta is that recognition's; and the decoding thread's own CPU
  (time.thread_time) where the session counts it (pocketsphinx, Vosk). pocketsphinx's first recognition
  (its decoders loading) comes before and is timed apart.
- latency (paced): STT_BENCH_PACED (10) files spread over the categories, with hints, each chunk
  fed when it would arrive on a live call (chunk k at t0 + (k+1) * 100 ms, t0 when the session is
  open). finish -> result is the time `finish()` takes; end of speech -> result is from the
  moment the file's speech ends in that feed to the result: finish -> result plus the part of the
  last chunk after the end of speech (0-100 ms), the floor an endpointer working in 100 ms chunks
  would add. pocketsphinx's pass runs alone; the cloud providers' (STT_BENCH_PACED_CLOUD, 5 each)
  run side by side, as they wait on loopback I/O.

pocketsphinx always runs (it ends every chain). The cloud providers (Google, Amazon, Azure,
Deepgram) run against their local servers (tests/media/stt/vendors.py), scripted to answer each
file's label whatever the audio: their rows measure the plumbing (session, streaming, finish ->
result over loopback, the words arriving intact, client CPU), NOT the vendor's accuracy. Vosk runs
when STT_BENCH_VOSK_MODEL names a model directory. Peak RSS is the bench process's (ru_maxrss),
with its RSS after each provider's accuracy pass.

Settings: stt_timeout_s is STT_BENCH_TIMEOUT_S (30) so the unpaced pass, which hands the decoder
a whole utterance at once, is never cut short by the chain's live-call timeout; the paced pass's
figures are what a caller waits. STT_BENCH_LIMIT=N takes N files spread over the corpus for a
quick look; STT_BENCH_PROVIDERS=pocketsphinx,... picks providers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import pct, rss_mb
from bench.stt_corpus import DIGIT_WORDS, normalize, pcm_of

CHUNK_MS = 100
CHUNK_BYTES = 8000 * 2 * CHUNK_MS // 1000
PACED_N = int(os.environ.get("STT_BENCH_PACED", "10"))
PACED_CLOUD_N = int(os.environ.get("STT_BENCH_PACED_CLOUD", "5"))
LIMIT = int(os.environ.get("STT_BENCH_LIMIT", "0"))
NOHINTS_EVERY = int(os.environ.get("STT_BENCH_NOHINTS_EVERY", "4"))
TIMEOUT_S = float(os.environ.get("STT_BENCH_TIMEOUT_S", "30"))
CLOUD = ("google", "amazon", "azure", "deepgram")
TARGET_COMMANDS = 0.90
TARGET_DIGITS_WER = 0.15
TARGET_EOS_P50_MS = 300.0


def log(msg: str) -> None:
    print(f"[stt {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- scoring (pure) ------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """A transcript or label as scored words: normalized (stt_corpus.normalize), a token of digits
    spelled digit by digit ("415" -> four one five), as the corpus labels digit strings."""
    out: list[str] = []
    for w in normalize(text).split():
        if w.isdigit():
            out += [DIGIT_WORDS[int(d)] for d in w]
        else:
            out.append(w)
    return out


def distance(ref: list[str], hyp: list[str]) -> int:
    """Word edit distance: substitutions + deletions + insertions (Levenshtein over words)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def wer(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Word error rate over (reference, hypothesis) pairs: total edits over total reference words
    (the corpus-level WER, not a mean of per-file rates); None for no pairs."""
    edits = ref_words = 0
    seen = False
    for ref, hyp in pairs:
        seen = True
        r = words(ref)
        edits += distance(r, words(hyp))
        ref_words += len(r)
    if not seen:
        return None
    return edits / ref_words if ref_words else float(edits > 0)


def command_of(hyp: str, choices: Iterable[str]) -> str | None:
    """The menu choice a transcript names, as an IVR matching its menu would take it: the choices
    found in it as whole words (a choice inside a longer found choice, "support" in "technical
    support", does not count apart); exactly one, else None (nothing, or ambiguous)."""
    h = f" {' '.join(words(hyp))} "
    found = {c for c in (normalize(c) for c in choices) if c and f" {c} " in h}
    found = {c for c in found if not any(c != o and f" {c} " in f" {o} " for o in found)}
    return found.pop() if len(found) == 1 else None


def digits_of(hyp: str) -> str:
    """The digits a transcript spells (digit words and numerals, in order; other words ignored), as
    an IVR reads them: "oh" is 0 here (the WER, on words, counts it as a wrong word for "zero")."""
    return "".join(
        str(DIGIT_WORDS.index(w)) for w in ("zero" if w == "oh" else w for w in words(hyp)) if w in DIGIT_WORDS
    )


# -- one recognition -----------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    file: str
    category: str
    snr_db: float | None
    hints: bool
    ref: str
    hyp: str = ""
    ok: bool = False  # produced by the provider under test, no fallback
    error: str = ""
    finish_s: float = 0.0  # finish() call -> result
    eos_s: float | None = None  # end of speech in the file -> result (paced runs)
    cpu_s: float = 0.0
    thread_cpu_s: float | None = None  # the provider session's decoding thread, when it counts it
    audio_s: float = 0.0
    command: str | None = None
    command_ok: bool | None = None
    digits_ok: bool | None = None


def chunks_to_speech_end(pcm: bytes, speech_end_ms: int) -> list[bytes]:
    """The 100 ms chunks from the file's start through the one holding the end of speech."""
    n = min(len(pcm), -(-speech_end_ms // CHUNK_MS) * CHUNK_BYTES)
    return [pcm[i : i + CHUNK_BYTES] for i in range(0, n, CHUNK_BYTES)]


async def recognize(chain: Any, provider: str, entry: dict[str, Any], pcm: bytes, hints: bool, paced: bool) -> Run:
    from wirexa.media.stt.base import SpeechOptions

    run = Run(str(entry["file"]), str(entry["category"]), entry["snr_db"], hints, str(entry["text"]))
    options = SpeechOptions(hints=tuple(entry["hints"]) if hints else (), provider=provider)
    chunks = chunks_to_speech_end(pcm, int(entry["speech_end_ms"]))
    run.audio_s = sum(len(c) for c in chunks) / 16000
    cpu0 = time.process_time()
    t0 = time.monotonic()
    session = None
    try:
        session = await chain.open(options)
        if paced:
            t0 = time.monotonic()  # the caller starts speaking once the session is up
        for k, chunk in enumerate(chunks):
            if paced:
                await asyncio.sleep(max(0.0, t0 + (k + 1) * CHUNK_MS / 1000 - time.monotonic()))
            session.feed(chunk)
            if not paced:
                await asyncio.sleep(0)  # let a streaming provider's tasks send
        tf = time.monotonic()
        rec = await session.finish()
        done = time.monotonic()
    except Exception as e:  # noqa: BLE001 - recorded: a failed recognition is a figure
        run.error = f"{type(e).__name__}: {e}"[:200]
        if session is not None:
            await session.cancel()
        return run
    finally:
        run.cpu_s = time.process_time() - cpu0
    run.finish_s = done - tf
    # pocketsphinx and Vosk sessions count their decoding thread's CPU (time.thread_time) for the
    # benchmarks; the chain's session holds the provider's as _current
    run.thread_cpu_s = getattr(getattr(session, "_current", None), "cpu_s", None)
    if paced:
        run.eos_s = done - (t0 + int(entry["speech_end_ms"]) / 1000)
    run.hyp = rec.text
    run.ok = rec.provider == provider and not rec.fallbacks
    if not run.ok:
        why = "; ".join(f"{f.provider}: {f.reason}" for f in rec.fallbacks)
        run.error = f"answered by {rec.provider} ({why})"[:200]
    if entry.get("command"):
        run.command = command_of(rec.text, entry["hints"] or [entry["command"]])
        run.command_ok = run.command == entry["command"]
    if entry.get("digits"):
        run.digits_ok = digits_of(rec.text) == entry["digits"]
    return run


# -- summaries -----------------------------------------------------------------------------------


def rate(flags: list[bool | None]) -> float | None:
    got = [f for f in flags if f is not None]
    return round(sum(got) / len(got), 4) if got else None


def rnd(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


def snr_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def accuracy(runs: list[Run], hints: bool) -> dict[str, Any]:
    """Scores of the runs with (or without) hints. Free sentences have no hints: their one run is
    with the (empty) hints, so they are in the with-hints figures only."""
    rs = [r for r in runs if r.ok and r.hints == hints]
    out: dict[str, Any] = {"n": len(rs)}
    cmd = [r for r in rs if r.command_ok is not None]
    out["commands"] = rate([r.command_ok for r in cmd])
    out["commands_n"] = len(cmd)
    out["wer"] = {c: rnd(wer((r.ref, r.hyp) for r in rs if r.category == c)) for c in sorted({r.category for r in rs})}
    out["wer_all"] = rnd(wer((r.ref, r.hyp) for r in rs))
    out["digits_exact"] = rate([r.digits_ok for r in rs])
    by_snr: dict[str, Any] = {}
    for snr in sorted({r.snr_db for r in rs}, key=lambda s: -1.0 if s is None else -s):
        sub = [r for r in rs if r.snr_db == snr]
        by_snr[snr_name(snr)] = {
            "commands": rate([r.command_ok for r in sub]),
            "digits_wer": rnd(wer((r.ref, r.hyp) for r in sub if r.category == "digits")),
            "wer_all": rnd(wer((r.ref, r.hyp) for r in sub)),
            "n": len(sub),
        }
    out["by_snr"] = by_snr
    ratios = [r.cpu_s / r.audio_s for r in rs if r.audio_s]
    out["cpu_per_audio_s"] = {
        "median": rnd(statistics.median(ratios)) if ratios else None,
        "p95": rnd(pct(ratios, 95)) if ratios else None,
        "total": rnd(sum(r.cpu_s for r in rs) / sum(r.audio_s for r in rs)) if rs else None,
        "decoder_thread_median": rnd(statistics.median(th)) if (th := thread_ratios(rs)) else None,
    }
    out["wrong_commands"] = [f"{r.file}: {r.ref!r} -> {r.hyp!r}" for r in cmd if not r.command_ok][:20]
    return out


def thread_ratios(rs: list[Run]) -> list[float]:
    return [r.thread_cpu_s / r.audio_s for r in rs if r.thread_cpu_s is not None and r.audio_s]


def latency(runs: list[Run]) -> dict[str, Any]:
    rs = [r for r in runs if r.ok]
    fin = [r.finish_s * 1000 for r in rs]
    eos = [r.eos_s * 1000 for r in rs if r.eos_s is not None]
    ratios = [r.cpu_s / r.audio_s for r in rs if r.audio_s]
    return {
        "n": len(rs),
        "finish_ms": {"p50": rnd(pct(fin, 50), 1), "p95": rnd(pct(fin, 95), 1), "max": rnd(max(fin, default=0), 1)},
        "eos_ms": {"p50": rnd(pct(eos, 50), 1), "p95": rnd(pct(eos, 95), 1), "max": rnd(max(eos, default=0), 1)},
        "cpu_per_audio_s_median": rnd(statistics.median(ratios)) if ratios else None,
        "wer": rnd(wer((r.ref, r.hyp) for r in rs)),
    }


def failures(runs: list[Run]) -> dict[str, Any]:
    bad = [r for r in runs if not r.ok]
    reasons: dict[str, int] = {}
    for r in bad:
        reasons[r.error] = reasons.get(r.error, 0) + 1
    return {"count": len(bad), "of": len(runs), "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5])}


# -- the run -------------------------------------------------------------------------------------


def spread(entries: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """n entries spread evenly over the list (the corpus is ordered by category)."""
    if n <= 0 or n >= len(entries):
        return list(entries)
    return [entries[i * len(entries) // n] for i in range(n)]


SECRET = "bench-secret-0123456789"


@contextlib.contextmanager
def cloud_servers() -> Iterator[tuple[dict[str, Any], list[str], dict[str, Any]]]:
    """The cloud providers' local servers (tests/media/stt/vendors.py), each in its own thread:
    (settings overrides pointing the providers at them, provider names, servers by name)."""
    from tests.media.stt.vendors import (
        AmazonSttVendor,
        AzureSttVendor,
        DeepgramSttVendor,
        GoogleSttVendor,
        serve,
    )

    with contextlib.ExitStack() as stack:
        servers: dict[str, Any] = {
            "google": stack.enter_context(serve(GoogleSttVendor(SECRET))),
            "amazon": stack.enter_context(serve(AmazonSttVendor(SECRET, access_key_id="AKIAWIREXABENCH"))),
            "azure": stack.enter_context(serve(AzureSttVendor(SECRET))),
            "deepgram": stack.enter_context(serve(DeepgramSttVendor(SECRET))),
        }
        ws = {n: v.url.replace("http://", "ws://") for n, v in servers.items()}
        overrides = {
            "stt_google_api_key": SECRET,
            "stt_google_endpoint_url": servers["google"].url,
            "stt_amazon_access_key_id": "AKIAWIREXABENCH",
            "stt_amazon_secret_access_key": SECRET,
            "stt_amazon_endpoint_url": ws["amazon"],
            "stt_azure_key": SECRET,
            "stt_azure_endpoint_url": servers["azure"].url,
            "stt_deepgram_api_key": SECRET,
            "stt_deepgram_endpoint_url": ws["deepgram"],
        }
        yield overrides, list(servers), servers


def without_hints_subset(entries: list[dict[str, Any]]) -> set[str]:
    """The files also run without hints: one hinted file in NOHINTS_EVERY, the pick's phase moving
    by one every block so that every category keeps every SNR (they cycle with the index)."""
    hinted = [e for e in entries if e["hints"]]
    k = max(1, NOHINTS_EVERY)
    return {str(e["file"]) for i, e in enumerate(hinted) if i % k == (i // k) % k}


async def accuracy_pass(
    chain: Any, name: str, entries: list[dict[str, Any]], pcms: dict[str, bytes], server: Any
) -> list[Run]:
    cloud = name in CLOUD
    nohints = set() if cloud else without_hints_subset(entries)
    runs: list[Run] = []
    t = time.monotonic()
    for e in entries:
        if server is not None:
            server.transcript = e["text"]  # the scripted vendor "recognizes" the label
        runs.append(await recognize(chain, name, e, pcms[str(e["file"])], True, False))
        if str(e["file"]) in nohints:
            runs.append(await recognize(chain, name, e, pcms[str(e["file"])], False, False))
    log(f"{name}: accuracy pass, {len(runs)} recognitions in {time.monotonic() - t:.0f} s")
    return runs


async def paced_pass(
    chain: Any, name: str, entries: list[dict[str, Any]], pcms: dict[str, bytes], server: Any
) -> list[Run]:
    t = time.monotonic()
    runs = []
    for e in spread(entries, PACED_CLOUD_N if name in CLOUD else PACED_N):
        if server is not None:
            server.transcript = e["text"]
        runs.append(await recognize(chain, name, e, pcms[str(e["file"])], True, True))
    log(f"{name}: latency pass, {len(runs)} recognitions in {time.monotonic() - t:.0f} s")
    return runs


async def bench(
    settings: Any, providers: list[str], corpus: Path, entries: list[dict[str, Any]], servers: dict[str, Any]
) -> dict[str, Any]:
    """Both passes for every provider (see the module docstring): the accuracy passes one provider
    after another, then the paced passes, pocketsphinx's alone and the cloud providers' side by side
    (they wait on loopback I/O, and pacing makes each take real time). A cloud vendor's local server
    is scripted to answer each file's label, so its transcripts check that the plumbing carried the
    vendor's words unchanged. Before pocketsphinx's passes one recognition warms its decoder pool up
    (loading the models: timed apart, as `cold_first_s`)."""
    from wirexa.media.stt.chain import SttChain

    chain = SttChain.from_settings(settings)
    configured = chain.configured()
    out: dict[str, Any] = {"configured": configured, "rss_mb_start": round(rss_mb(os.getpid()), 1)}
    pcms = {str(e["file"]): pcm_of(corpus / str(e["file"])) for e in entries}
    runs: dict[str, list[Run]] = {}
    paced: dict[str, list[Run]] = {}
    rss_after: dict[str, float] = {}
    try:
        names = [n for n in providers if n in configured]
        for name in names:
            if name not in CLOUD:
                t = time.monotonic()
                first = await recognize(chain, name, entries[0], pcms[str(entries[0]["file"])], True, False)
                out.setdefault("cold_first_s", {})[name] = round(time.monotonic() - t, 3)
                if not first.ok:
                    log(f"{name}: warm-up recognition failed: {first.error}")
            runs[name] = await accuracy_pass(chain, name, entries, pcms, servers.get(name))
            rss_after[name] = round(rss_mb(os.getpid()), 1)
        for name in names:
            if name not in CLOUD:
                paced[name] = await paced_pass(chain, name, entries, pcms, servers.get(name))
        cloud = [n for n in names if n in CLOUD]
        done = await asyncio.gather(*(paced_pass(chain, n, entries, pcms, servers.get(n)) for n in cloud))
        paced.update(zip(cloud, done, strict=True))
    finally:
        await chain.aclose()
    for name in providers:
        if name not in runs:
            out[name] = {"skipped": "not configured"}
            continue
        cloud_name = name in CLOUD
        out[name] = {
            "with_hints": accuracy(runs[name], True),
            "without_hints": None if cloud_name else accuracy(runs[name], False),
            "paced": latency(paced[name]),
            "failures": failures(runs[name] + paced[name]),
            "rss_mb_after": rss_after[name],
        }
        if not cloud_name:  # the same files with hints, beside the without-hints figures
            same = {r.file for r in runs[name] if not r.hints}
            out[name]["with_hints_same_files"] = accuracy([r for r in runs[name] if r.file in same], True)
        server = servers.get(name)
        if server is not None:
            out[name]["vendor_problems"] = server.problems[:3]
            out[name]["vendor_sessions"] = server.sessions
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def targets(res: dict[str, Any], providers: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ps = res.get("pocketsphinx") or {}
    if "with_hints" in ps:
        wh, nh, pa, fl = ps["with_hints"], ps["without_hints"], ps["paced"], ps["failures"]
        same = ps["with_hints_same_files"]
        rows += [
            {
                "metric": "pocketsphinx: yes/no + menu command right, with hints",
                "target": f">= {TARGET_COMMANDS:g}",
                "measured": wh["commands"],
                "met": wh["commands"] is not None and wh["commands"] >= TARGET_COMMANDS,
                "note": f"n={wh['commands_n']}; without hints {nh['commands']} on {nh['commands_n']} of them "
                f"(with hints on those {same['commands']}); per SNR "
                + ", ".join(f"{k} {v['commands']}" for k, v in wh["by_snr"].items()),
            },
            {
                "metric": "pocketsphinx: digit strings WER, with hints",
                "target": f"<= {TARGET_DIGITS_WER:g}",
                "measured": wh["wer"].get("digits"),
                "met": wh["wer"].get("digits") is not None and wh["wer"]["digits"] <= TARGET_DIGITS_WER,
                "note": f"whole string right {wh['digits_exact']}; without hints WER {nh['wer'].get('digits')} "
                f"(with hints on those files {same['wer'].get('digits')}); per SNR "
                + ", ".join(f"{k} {v['digits_wer']}" for k, v in wh["by_snr"].items()),
            },
            {
                "metric": "pocketsphinx: end of speech -> result p50 (ms), fed in real time",
                "target": f"<= {TARGET_EOS_P50_MS:g}",
                "measured": pa["eos_ms"]["p50"],
                "met": pa["n"] > 0 and pa["eos_ms"]["p50"] <= TARGET_EOS_P50_MS,
                "note": f"p95 {pa['eos_ms']['p95']}, max {pa['eos_ms']['max']}; finish() -> result p50 "
                f"{pa['finish_ms']['p50']}, p95 {pa['finish_ms']['p95']}; n={pa['n']} with hints",
            },
            {
                "metric": "pocketsphinx: WER per category, with hints",
                "target": "report",
                "measured": ", ".join(f"{c} {v}" for c, v in wh["wer"].items()) + f"; all {wh['wer_all']}",
                "met": None,
                "note": f"without hints on {nh['n']} of the hinted files (with hints on the same files): "
                + ", ".join(f"{c} {v} ({same['wer'].get(c)})" for c, v in nh["wer"].items())
                + "; free sentences have no hints",
            },
            {
                "metric": "pocketsphinx: WER of all files per SNR, with hints",
                "target": "report",
                "measured": ", ".join(f"{k} {v['wer_all']}" for k, v in wh["by_snr"].items()),
                "met": None,
                "note": "noise added before the 300-3400 Hz band and mu-law; without hints (their files) "
                + ", ".join(f"{k} {v['wer_all']}" for k, v in nh["by_snr"].items()),
            },
            {
                "metric": "pocketsphinx: CPU s per audio s, median (p95), with hints / without",
                "target": "report",
                "measured": f"{wh['cpu_per_audio_s']['median']} ({wh['cpu_per_audio_s']['p95']}) / "
                f"{nh['cpu_per_audio_s']['median']} ({nh['cpu_per_audio_s']['p95']})",
                "met": None,
                "note": "process CPU per recognition (decoder threads + loop), fed unpaced; the decoding thread "
                f"alone {wh['cpu_per_audio_s']['decoder_thread_median']}; fed in real time "
                f"{pa['cpu_per_audio_s_median']}; first recognition (models loading) "
                f"{(res.get('cold_first_s') or {}).get('pocketsphinx')} s; failed/fell back {fl['count']} of {fl['of']}"
                + (f" {fl['reasons']}" if fl["count"] else ""),
            },
        ]
    for name in providers:
        r = res.get(name) or {}
        if name == "pocketsphinx":
            continue
        if "with_hints" not in r:
            rows.append({"metric": f"{name}", "target": "report", "measured": r.get("skipped", "absent"), "met": None})
            continue
        pa, fl, wh = r["paced"], r["failures"], r["with_hints"]
        plumbing = name in CLOUD
        problems = r.get("vendor_problems") or []
        intact = wh["wer_all"] == 0 and pa["wer"] == 0
        rows.append(
            {
                "metric": f"{name}{' (local vendor server: plumbing, not accuracy)' if plumbing else ''}: "
                "recognitions answered by it, no fallback"
                + (", the vendor's words carried intact" if plumbing else ""),
                "target": "all",
                "measured": f"{fl['of'] - fl['count']} of {fl['of']}",
                "met": fl["count"] == 0 and (intact and not problems if plumbing else True),
                "note": "; ".join(
                    [
                        f"transcript WER against the server's script {wh['wer_all']}, fed in real time {pa['wer']}"
                        if plumbing
                        else f"commands {wh['commands']}, WER {wh['wer_all']}",
                        *([f"contract problems {problems}"] if problems else []),
                        *([f"failures {fl['reasons']}"] if fl["count"] else []),
                    ]
                ),
            }
        )
        rows.append(
            {
                "metric": f"{name}: end of speech -> result p50 (ms), fed in real time",
                "target": "report" if plumbing else f"<= {TARGET_EOS_P50_MS:g}",
                "measured": pa["eos_ms"]["p50"],
                "met": None if plumbing else pa["n"] > 0 and pa["eos_ms"]["p50"] <= TARGET_EOS_P50_MS,
                "note": f"p95 {pa['eos_ms']['p95']}; finish() -> result p50 {pa['finish_ms']['p50']}, p95 "
                f"{pa['finish_ms']['p95']} (n={pa['n']}); CPU s per audio s {wh['cpu_per_audio_s']['median']}"
                + (" (client and the in-process server)" if plumbing else ""),
            }
        )
    rows.append(
        {
            "metric": "bench process peak RSS (MB)",
            "target": "report",
            "measured": res.get("peak_rss_mb"),
            "met": None,
            "note": f"at start {res.get('rss_mb_start')}; after each provider "
            + ", ".join(f"{n} {res[n].get('rss_mb_after')}" for n in providers if isinstance(res.get(n), dict)),
        }
    )
    return rows


def main() -> None:
    from bench import stt_corpus
    from wirexa import config
    from wirexa.media.stt.chain import REGISTRY

    t0 = time.monotonic()
    corpus, entries = stt_corpus.cached()
    if LIMIT:
        entries = spread(entries, LIMIT)
    with tempfile.TemporaryDirectory(prefix="wirexa-stt-bench-") as tmp, cloud_servers() as (over, cloud, servers):
        wanted = os.environ.get("STT_BENCH_PROVIDERS", "")
        providers = [p for p in wanted.split(",") if p] if wanted else [*cloud, "pocketsphinx"]
        overrides: dict[str, Any] = {"data_dir": tmp, "stt_timeout_s": TIMEOUT_S, **over}
        if os.environ.get("STT_BENCH_VOSK_MODEL"):
            overrides["stt_vosk_model_path"] = os.environ["STT_BENCH_VOSK_MODEL"]
            if not wanted:
                providers.insert(0, "vosk")
        # the chain holds the providers under test that it knows, pocketsphinx last
        overrides["stt_providers"] = ",".join(
            [p for p in providers if p in REGISTRY and p != "pocketsphinx"] + ["pocketsphinx"]
        )
        settings = config.load(env={}, overrides=overrides)  # data_dir is empty: defaults + these
        log(f"{len(entries)} files, providers {providers}")
        res = asyncio.run(bench(settings, providers, corpus, entries, servers))
    log(f"done in {time.monotonic() - t0:.0f} s")
    print(
        json.dumps(
            {
                "benchmark": "stt",
                "files": len(entries),
                "chunk_ms": CHUNK_MS,
                "paced_files": {"pocketsphinx": PACED_N, "cloud": PACED_CLOUD_N},
                "without_hints_every": NOHINTS_EVERY,
                "stt_timeout_s": TIMEOUT_S,
                "corpus": corpus.name,
                "results": res,
                "targets": targets(res, providers),
            }
        )
    )


if __name__ == "__main__":
    main()
