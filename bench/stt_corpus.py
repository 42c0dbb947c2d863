"""Build the labelled speech-recognition corpus (issue 26): 8 kHz telephone-line WAVs + manifest.json.

Every file is one caller's answer to an IVR prompt, as a phone line delivers it: text spoken by an
offline TTS (espeak-ng voices and variants at several speeds and pitches, and flite's voices),
with a short silence before and after, mixed with noise at a chosen SNR (clean, 20 dB, 10 dB),
band-limited to 300-3400 Hz (sox `sinc`) and passed through a G.711 mu-law round trip. The
synthesis, noise, band filter and mu-law table are the AMD corpus's (bench/amd_corpus.py).
Everything is deterministic: the utterance table below is fixed (digit strings come from a seeded
PRNG), noise comes from seeded PRNGs, and the TTS engines are deterministic for a text and voice.

Categories, and the hints a real IVR's <Gather input="speech" hints="..."> would pass:
  yesno   "yes" / "no" answers (some with a few more words); hints "yes, no"; `command` the word.
  menu    menu choices ("sales", "billing", "technical support", "I need billing please" ...);
          hints the menu's choices; `command` the choice spoken.
  digits  digit strings spoken digit by digit ("four one five ..."); hints
          `$OOV_CLASS_DIGIT_SEQUENCE`; `digits` the string ("415...").
  names   a person's name from a directory; hints the directory's names.
  free    free sentences; no hints.

Each entry: `file`, `text` (the label: the words spoken, lower case, no punctuation; digits as
digit words), `category`, `hints`, `command`/`digits` where they apply, `spoken` (what the TTS was
given), `voice`, `snr_db` (None = clean), `noise`, `speech_start_ms`/`speech_end_ms` (the spoken
part, measured on the clean TTS audio, ms from the file's first sample) and `duration_ms`.

Usage: python bench/stt_corpus.py [OUT_DIR]  (default ~/.cache/wirexa/stt_corpus). A directory whose
manifest carries the same generator fingerprint is reused as it is. Tests and the bench take
`cached()`: one directory per fingerprint under ~/.cache/wirexa/stt_corpora, built once and shared.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

try:  # run as a script (python bench/stt_corpus.py) or imported as bench.stt_corpus
    from bench import amd_corpus as amd
except ImportError:  # pragma: no cover - script mode
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import amd_corpus as amd

RATE = amd.RATE
DEFAULT_OUT = Path.home() / ".cache" / "wirexa" / "stt_corpus"
CACHE_ROOT = Path.home() / ".cache" / "wirexa" / "stt_corpora"
TOOLS = amd.TOOLS

CATEGORIES = ("yesno", "menu", "digits", "names", "free")
SNRS: tuple[float | None, ...] = (None, 20.0, 10.0)
NOISES = ("pink", "white", "brown")
DIGIT_HINT = "$OOV_CLASS_DIGIT_SEQUENCE"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

YESNO_HINTS = ("yes", "no")
MENU_HINTS = (
    "sales",
    "support",
    "billing",
    "operator",
    "representative",
    "agent",
    "technical support",
    "account balance",
    "new order",
    "cancel",
)
NAMES = (
    "John Smith",
    "Maria Garcia",
    "David Johnson",
    "Linda Brown",
    "Michael Miller",
    "Sarah Davis",
    "Robert Wilson",
    "Karen Moore",
    "James Taylor",
)

ESPEAK = ["en-us", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-us+m7", "en+f4", "en-gb", "en+m1", "en-gb+f5", "en-us+f2"]
FLITE = ["kal", "awb", "rms", "slt"]

# (spoken text, command): the command is the yes/no or menu word the IVR acts on
YESNO: list[tuple[str, str]] = [
    ("Yes.", "yes"),
    ("No.", "no"),
    ("Yes please.", "yes"),
    ("No thank you.", "no"),
    ("Yes, that's right.", "yes"),
    ("No, it isn't.", "no"),
    ("Yes.", "yes"),
    ("No.", "no"),
    ("Yes I do.", "yes"),
    ("No I don't.", "no"),
    ("Yes.", "yes"),
    ("No.", "no"),
    ("Yes, correct.", "yes"),
    ("No, wrong.", "no"),
    ("Yes.", "yes"),
    ("No.", "no"),
    ("Oh yes.", "yes"),
    ("No, not now.", "no"),
    ("Yes.", "yes"),
    ("No.", "no"),
    ("Yes, go ahead.", "yes"),
    ("No, cancel that.", "no"),
    ("Yes.", "yes"),
    ("No.", "no"),
]
MENU: list[tuple[str, str]] = [
    ("Sales.", "sales"),
    ("Support.", "support"),
    ("Billing.", "billing"),
    ("Operator.", "operator"),
    ("Representative.", "representative"),
    ("Agent.", "agent"),
    ("Technical support.", "technical support"),
    ("Account balance.", "account balance"),
    ("New order.", "new order"),
    ("Cancel.", "cancel"),
    ("Sales please.", "sales"),
    ("I need billing.", "billing"),
    ("Operator please.", "operator"),
    ("Support.", "support"),
    ("Talk to a representative.", "representative"),
    ("Billing.", "billing"),
    ("Sales.", "sales"),
    ("My account balance.", "account balance"),
    ("Agent please.", "agent"),
    ("Technical support please.", "technical support"),
    ("Cancel.", "cancel"),
    ("I want a new order.", "new order"),
    ("Representative.", "representative"),
    ("Operator.", "operator"),
    ("Billing please.", "billing"),
    ("Support please.", "support"),
    ("Sales.", "sales"),
    ("Cancel please.", "cancel"),
    ("Agent.", "agent"),
    ("Account balance please.", "account balance"),
]
DIGIT_LENGTHS = [3, 4, 5, 6, 10, 4, 7, 5, 10, 6, 4, 8, 3, 5, 10, 4, 6, 9, 4, 5, 7, 10, 6, 4]
NAME_SAYINGS = ["{}.", "{} please.", "{}.", "Connect me to {}.", "{}."]
FREE = [
    "I would like to change my delivery address.",
    "My package never arrived.",
    "Can you tell me when the store opens tomorrow?",
    "I was charged twice for the same order.",
    "The internet has been down since this morning.",
    "I want to speak to someone about my bill.",
    "Please call me back later this afternoon.",
    "I lost my card and need a new one.",
    "What time does the office close today?",
    "I am calling about the job posting.",
    "My password does not work any more.",
    "Could you send me a copy of the invoice?",
    "The heating in my apartment is broken.",
    "I need to reschedule my appointment.",
    "Is the pharmacy open on the weekend?",
    "I would like to cancel my subscription.",
    "The driver left the box at the wrong house.",
    "Can I pay with a credit card over the phone?",
    "My flight was delayed and I missed the connection.",
    "Thank you, that is all I needed.",
    "I have a question about my last statement.",
    "The water pressure is very low in the kitchen.",
    "Please send a technician as soon as possible.",
    "I am not sure which option to choose.",
]


@dataclass(frozen=True)
class Utterance:
    name: str
    category: str
    spoken: str  # what the TTS engine is given
    text: str  # the label: normalized words
    hints: tuple[str, ...]
    voice: str  # "espeak:<voice>[:speed[:pitch]]" or "flite:<voice>"
    snr_db: float | None
    noise: str
    lead_ms: int
    seed: int
    command: str | None = None
    digits: str | None = None


def normalize(text: str) -> str:
    """Lower-case words, punctuation dropped (apostrophes inside words kept): how labels are written
    and how the bench compares a transcript with its label."""
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    return " ".join(words)


def voice(i: int) -> str:
    """A voice spec for the i-th utterance: the 14 voices (10 espeak-ng variants, speed 140-200 and
    pitch 30-70, and flite's 4) in a stride that does not line up with the SNR cycle."""
    k = (i * 5) % (len(ESPEAK) + len(FLITE))
    if k >= len(ESPEAK):
        return f"flite:{FLITE[k - len(ESPEAK)]}"
    speed = 140 + (i * 37) % 61
    pitch = 30 + (i * 23) % 41
    return f"espeak:{ESPEAK[k]}:{speed}:{pitch}"


def utterances() -> list[Utterance]:
    """The fixed utterance table: 24 yes/no, 30 menu, 24 digit strings, 18 names, 24 free sentences;
    within each category the SNRs cycle clean/20/10 and the voices cycle, independently."""
    out: list[Utterance] = []
    rnd = random.Random(26)

    def add(
        category: str,
        spoken: str,
        text: str,
        hints: tuple[str, ...],
        k: int,
        command: str | None = None,
        digits: str | None = None,
    ) -> None:
        n = len(out) + 1
        snr = SNRS[k % len(SNRS)]
        out.append(
            Utterance(
                name=f"{n:03d}_{category}",
                category=category,
                spoken=spoken,
                text=normalize(text),
                hints=hints,
                voice=voice(n),
                snr_db=snr,
                noise=NOISES[(k // 3) % len(NOISES)] if snr is not None else "",
                lead_ms=250 + (n * 53) % 300,
                seed=n,
                command=command,
                digits=digits,
            )
        )

    for k, (spoken, cmd) in enumerate(YESNO):
        add("yesno", spoken, spoken, YESNO_HINTS, k, command=cmd)
    for k, (spoken, cmd) in enumerate(MENU):
        add("menu", spoken, spoken, MENU_HINTS, k, command=cmd)
    for k, length in enumerate(DIGIT_LENGTHS):
        digits = "".join(str(rnd.randrange(10)) for _ in range(length))
        words = [DIGIT_WORDS[int(d)] for d in digits]
        # grouped as people say numbers: a pause (comma) every 3 (phone numbers 3-3-4)
        groups = [words[:3], words[3:6], words[6:]] if length == 10 else [words[i : i + 4] for i in range(0, length, 4)]
        spoken = ", ".join(" ".join(g) for g in groups if g) + "."
        add("digits", spoken, " ".join(words), (DIGIT_HINT,), k, digits=digits)
    for k in range(18):
        name = NAMES[k % len(NAMES)]
        spoken = NAME_SAYINGS[k % len(NAME_SAYINGS)].format(name)
        add("names", spoken, spoken, NAMES, k)
    for k, sentence in enumerate(FREE):
        add("free", sentence, sentence, (), k)
    return out


# -- synthesis -----------------------------------------------------------------------------------

TAIL_MS = 800  # silence after the speech: what an endpointer waits through before it calls finish


@dataclass
class Built:
    entry: dict[str, object]
    samples: list[int]


def build(u: Utterance, work: Path) -> Built:
    clip = amd.tts(amd.Say(u.spoken, u.voice), work)
    a, b = amd.speech_bounds(clip)
    clip = clip[a:b]  # the TTS's own leading/trailing silence replaced by ours
    lead = u.lead_ms * RATE // 1000
    sig = [0.0] * lead + clip + [0.0] * (TAIL_MS * RATE // 1000)
    n = len(sig)
    if u.snr_db is not None:
        level = math.sqrt(sum(s * s for s in clip) / max(1, len(clip))) / 10 ** (u.snr_db / 20)
        kind = u.noise
    else:
        level, kind = 10 ** (-70.0 / 20), "pink"  # the line's hiss floor
    nz = amd.noise(kind, n, u.seed * 7919, [])
    sig = [s + level * z for s, z in zip(sig, nz, strict=True)]
    sig = amd.bandlimit(sig, work, u.name)
    pcm = [amd.MULAW[max(-32767, min(32767, int(s * 32767))) & 0xFFFF] for s in sig]
    entry: dict[str, object] = {
        "file": f"{u.name}.wav",
        "category": u.category,
        "text": u.text,
        "spoken": u.spoken,
        "hints": list(u.hints),
        "command": u.command,
        "digits": u.digits,
        "voice": u.voice,
        "snr_db": u.snr_db,
        "noise": u.noise or None,
        "speech_start_ms": lead * 1000 // RATE,
        "speech_end_ms": (lead + len(clip)) * 1000 // RATE,
        "duration_ms": n * 1000 // RATE,
    }
    return Built(entry, pcm)


def fingerprint() -> str:
    """Changes when this script, the AMD corpus's synthesis it uses, or the TTS/sox versions change."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(Path(amd.__file__).read_bytes())
    for tool in TOOLS:
        r = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        h.update((r.stdout + r.stderr).encode())
    return h.hexdigest()[:16]


def generate(out: Path, workers: int = 2, log: Callable[[str], None] | None = None) -> list[dict[str, object]]:
    """Write every utterance's WAV and manifest.json into `out` (reused when its fingerprint matches);
    returns the manifest's entries."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"stt corpus needs {', '.join(missing)} (scripts/setup installs them)")
    fp = fingerprint()
    manifest = out / "manifest.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        if doc.get("fingerprint") == fp and all((out / e["file"]).exists() for e in doc["files"]):
            return list(doc["files"])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stt-corpus-") as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(workers) as pool:
            built = list(pool.map(lambda u: build(u, work), utterances()))
    for b in built:
        with wave.open(str(out / str(b.entry["file"])), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(array.array("h", b.samples).tobytes())
    entries = [b.entry for b in built]
    manifest.write_text(json.dumps({"fingerprint": fp, "rate": RATE, "files": entries}, indent=1))
    if log:
        log(f"stt corpus: {len(entries)} files in {out}")
    return entries


def cached(root: Path = CACHE_ROOT) -> tuple[Path, list[dict[str, object]]]:
    """The corpus in `root`/<fingerprint>, built on first use. It is built in a temporary sibling and
    renamed into place, so runs started side by side never read a half-written corpus (the loser of
    a race drops its copy: both are the same bytes)."""
    fp = fingerprint()
    out = root / fp
    manifest = out / "manifest.json"
    if manifest.exists():
        return out, list(json.loads(manifest.read_text())["files"])
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{fp}-", dir=root))
    try:
        generate(tmp)
        try:
            os.rename(tmp, out)
        except OSError:  # another run renamed its copy first
            if not manifest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, list(json.loads(manifest.read_text())["files"])


def pcm_of(path: Path) -> bytes:
    """A corpus file's audio: 8 kHz s16le mono PCM, no header (what a provider is fed)."""
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    entries = generate(out, log=lambda m: print(m, file=sys.stderr))
    counts: dict[str, int] = {}
    for e in entries:
        counts[str(e["category"])] = counts.get(str(e["category"]), 0) + 1
    print(json.dumps({"out": str(out), "files": len(entries), "categories": counts}))


if __name__ == "__main__":
    main()
