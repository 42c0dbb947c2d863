"""Build the labelled answering-machine-detection corpus (issue 10): 8 kHz telephone-line WAVs + manifest.json.

Every file is what the far end of a call sends after it answers, as a phone line delivers it: text
spoken by an offline TTS (espeak-ng voices and variants at several speeds and pitches, and flite's
voices), placed on a timeline with silences, synthetic music (chords) and beeps, mixed with noise
at a chosen SNR, band-limited to 300-3400 Hz (sox `sinc`) and passed through a G.711 mu-law round
trip. Everything is deterministic: the case table below is fixed, noise comes from seeded PRNGs,
and the TTS engines are deterministic for a given text and voice.

Labels: `human`, `machine`, `unknown` (silence or noise only: nobody there) and `fax`. Each entry
carries the facts a test needs: where the first speech starts and the last ends (measured on the
clean TTS audio, before noise), the greeting length, and the beep's pitch, start and end (ms from
answer = the file's first sample), plus the AnsweredBy values expected in both Twilio modes.

Usage: python bench/amd_corpus.py [OUT_DIR]  (default ~/.cache/wirexa/amd_corpus). A directory whose
manifest carries the same generator fingerprint is reused as it is. Tests take `cached()`: one
directory per fingerprint under ~/.cache/wirexa/amd_corpora, built once and shared by every run.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

RATE = 8000
DEFAULT_OUT = Path.home() / ".cache" / "wirexa" / "amd_corpus"
CACHE_ROOT = Path.home() / ".cache" / "wirexa" / "amd_corpora"
TOOLS = ("espeak-ng", "flite", "sox")


# -- the case table ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Say:
    text: str
    voice: str  # "espeak:<voice>[:speed[:pitch]]" or "flite:<voice>"


@dataclass(frozen=True)
class Gap:
    ms: int


@dataclass(frozen=True)
class Beep:
    hz: float
    ms: int
    level: float = 0.4  # peak, full scale = 1
    hz2: float = 0.0  # a second simultaneous tone (dual-tone beeps)


@dataclass(frozen=True)
class Music:
    ms: int
    level: float = 0.15


@dataclass(frozen=True)
class Tone:
    """Fax tones: a cadence of `on_ms` of `hz`, `off_ms` silence, repeated `count` times."""

    hz: float
    on_ms: int
    off_ms: int
    count: int


Part = Say | Gap | Beep | Music | Tone


@dataclass(frozen=True)
class Case:
    name: str
    label: str  # human | machine | unknown | fax
    parts: tuple[Part, ...]
    kind: str  # what item 3 of the issue this case stands for
    tail_ms: int = 4000  # silence after the last part (the line stays open)
    snr_db: float | None = None  # noise relative to the speech level; None = no added noise
    noise: str = "pink"  # white | pink | brown | babble
    noise_dbfs: float = -70.0  # level for noise-only files (and the line hiss floor)
    seed: int = 0
    series: int = 1  # 1: the first 66 files; 2: variants added to test later rules (appended: series 1 is unchanged)


ESPEAK = ["en-us", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-us+m7", "en+f4", "en-us+klatt", "en+m1", "en-gb+f5"]
FLITE = ["kal", "awb", "rms", "slt"]


def v(i: int) -> str:
    """A voice spec, cycling through espeak-ng variants (speed 140-200, pitch 30-70) and flite voices."""
    if i % 3 == 2:
        return f"flite:{FLITE[i // 3 % len(FLITE)]}"
    speed = 140 + (i * 37) % 61
    pitch = 30 + (i * 23) % 41
    return f"espeak:{ESPEAK[i % len(ESPEAK)]}:{speed}:{pitch}"


HELLOS = ["Hello?", "Hello.", "Yeah, hello?", "Hi.", "Hello?", "Yes, hello?", "Hey.", "Hello?"]
INTROS = ["Hi, this is Dan.", "Yeah, this is Maria.", "Hello, Bob speaking.", "Hi, it's Priya."]
RECEPTION = [
    "Acme Dental, this is Jane, how can I help you?",
    "Good morning, Baker and Sons, Tom speaking.",
    "Thanks for calling Northside Clinic, how may I help?",
    "City Plumbing, this is Rick, what can I do for you?",
]
PERSONAL = [
    "Hi, you've reached Dan. I can't come to the phone right now. Please leave a message after the beep.",
    "Hey, it's Maria. Leave me a message and I'll call you back.",
    "You have reached the voicemail of Priya Shah. Please leave your name, number and a short message.",
    "Hi, this is Bob. I'm away from my desk. Leave a message and I will get back to you as soon as I can.",
    "Hello, you've reached the Johnson family. We're not home right now, so please leave a message.",
    "This is Tom. I can't talk right now, so leave a message.",
    "Hi. Sorry I missed your call. Please leave your name and number, and I will call you back later today.",
    "Hey, this is Sam. You know what to do, so leave it after the beep.",
]
CARRIER = [
    ("The person you are trying to reach is not available. At the tone, please record your message. "
     "When you have finished recording, you may hang up, or press pound for more options."),
    "The wireless customer you are calling is not available. Please leave a message after the tone.",
    ("Your call has been forwarded to an automatic voice message system. Five five five, one two three four, "
     "is not available. At the tone, please record your message. When you are finished, simply hang up."),
    "The subscriber you have dialed is not available right now. Please try again later, or leave a message after the tone.",
    "Welcome to the voice mail system. The mailbox belongs to extension two four one. Please leave a message after the tone.",
]
BUSINESS = (
    "Thank you for calling Acme Incorporated. Our offices are currently closed. Our business hours are Monday "
    "through Friday, from nine in the morning until five in the evening, Eastern time. If you know your party's "
    "extension, you may dial it at any time. Otherwise, please leave your name, your number and a brief message "
    "after the tone, and a member of our team will return your call on the next business day. Thank you."
)


def cases() -> list[Case]:
    out: list[Case] = []
    n = 0

    def add(name: str, label: str, kind: str, *parts: Part, **kw: object) -> None:
        nonlocal n
        n += 1
        out.append(Case(f"{n:03d}_{label}_{name}", label, tuple(parts), kind, seed=n, **kw))  # type: ignore[arg-type]

    # -- people answering
    for i, text in enumerate(HELLOS):
        lead = [150, 300, 500, 250, 700, 400, 200, 350][i]
        again = i % 2 == 0  # half say hello again when nobody answers
        tail: list[Part] = [Gap(2500 + 200 * i), Say(HELLOS[(i + 3) % len(HELLOS)], v(i))] if again else []
        add("hello", "human", "hello", Gap(lead), Say(text, v(i)), *tail)
    for i, text in enumerate(INTROS):
        add("intro", "human", "intro", Gap(250 + 150 * i), Say(text, v(i + 11)))
    for i in range(4):
        add("two_bursts", "human", "two short bursts with a pause", Gap(300 + 100 * i), Say(HELLOS[i], v(i + 5)),
            Gap(800 + 250 * i), Say(["Hello?", "Who is this?", "Anyone there?", "Hello?"][i], v(i + 5)))
    for i in range(4):
        add("silence_then_yes", "human", "silence then Yes?", Gap(1500 + 600 * i), Say(["Yes?", "Hello?", "Yeah?", "Hi?"][i], v(i + 20)))
    for i, (snr, noise) in enumerate([(20, "pink"), (15, "white"), (10, "pink"), (15, "brown"), (20, "babble"), (12, "pink")]):
        add(f"noise_{noise}{snr}", "human", "background noise", Gap(300 + 100 * i), Say(HELLOS[(i + 2) % len(HELLOS)], v(i + 30)),
            snr_db=snr, noise=noise)
    for i, text in enumerate(RECEPTION):
        add("receptionist", "human", "receptionist greeting", Gap(300 + 100 * i), Say(text, v(40 + i) if i % 2 else f"espeak:{ESPEAK[i]}:195:50"),
            snr_db=[None, 25, None, 20][i])

    # -- voicemail greetings: personal, carrier-style, business; beeps of several pitches and lengths
    beeps = [Beep(1000, 500), Beep(850, 200), Beep(440, 1000), Beep(1400, 120), Beep(1000, 250), Beep(700, 300),
             Beep(950, 800), Beep(1200, 150), Beep(480, 350), Beep(600, 400)]
    for i, text in enumerate(PERSONAL):
        beep = beeps[i % len(beeps)] if i != 3 and i != 6 else None
        after: list[Part] = [Gap(300 + 150 * (i % 4)), beep] if beep else []
        add("personal" + ("_beep" if beep else ""), "machine", "personal greeting", Gap(200 + 100 * (i % 5)), Say(text, v(50 + i)),
            *after, snr_db=[None, 25, None, 15, None, 20, None, 10][i])
    for i, text in enumerate(CARRIER):
        beep = beeps[(i + 3) % len(beeps)] if i != 2 else None
        after = [Gap(400 + 100 * i), beep] if beep else []
        add("carrier" + ("_beep" if beep else ""), "machine", "carrier greeting", Gap(100 + 150 * i),
            Say(text, f"espeak:{['en-us', 'en-gb-x-rp+f2', 'en-us+f3'][i % 3]}:{165 + 8 * i}:45" if i != 4 else "flite:slt"),
            *after, snr_db=[None, 20, 30, None, 15][i])
    add("business_beep", "machine", "long business greeting", Gap(400), Say(BUSINESS, "espeak:en-us+f3:175:50"), Gap(600), Beep(1000, 700),
        tail_ms=3000)
    add("business", "machine", "long business greeting", Gap(300), Say(BUSINESS, "flite:awb"), tail_ms=3000, snr_db=25)
    # split greetings: a short phrase, a pause, then the rest (the hard case for a fast "human")
    for i, (first, rest, pause) in enumerate([
        ("Hi, this is Dan.", "Leave a message.", 500),
        ("Hey, it's Maria.", "I can't take your call, leave me a message.", 700),
        ("Hello.", "You've reached Tom and Ann. Please leave a message after the beep.", 400),
        ("Hi!", "This is Priya. Sorry I missed you. Leave a message.", 600),
    ]):
        beep = beeps[(i + 5) % len(beeps)] if i % 2 == 0 else None
        after = [Gap(400), beep] if beep else []
        add("split" + ("_beep" if beep else ""), "machine", "personal greeting, phrase then pause", Gap(300), Say(first, v(60 + i)),
            Gap(pause), Say(rest, v(60 + i)), *after)
    for i in range(4):
        beep = beeps[(i + 2) % len(beeps)] if i != 1 else None
        after = [Gap(500), beep] if beep else []
        add("music" + ("_beep" if beep else ""), "machine", "music before the greeting", Gap(200), Music(1500 + 700 * i),
            Gap(200), Say(PERSONAL[(i * 3) % len(PERSONAL)] if i % 2 else CARRIER[i % len(CARRIER)], v(70 + i)), *after,
            snr_db=[None, 25, None, 20][i])
    # beep-only tails at varied gaps after short greetings (beep timing table)
    for i, beep in enumerate([Beep(1000, 120), Beep(440, 1000), Beep(1400, 300), Beep(800, 500), Beep(1100, 200), Beep(520, 600)]):
        add("short_beep", "machine", "short (~3 s) greeting with beep", Gap(300), Say([
            "I'm not available right now. Please leave a message.", "You have reached my voicemail. Leave your message after the tone.",
            "Sorry, I can't answer the phone. Leave a message.", "Nobody is available. Record your message at the tone.",
            "Hi, I'm busy at the moment, so please leave a message.", "Please leave your name, your number and a short message after the beep."][i],
            v(80 + i)), Gap(200 + 120 * i), beep, snr_db=[None, 20, None, 15, 25, 10][i])

    # -- nobody there: silence, line noise; and fax machines
    add("silence", "unknown", "silence", Gap(100), tail_ms=8000, noise_dbfs=-90)
    add("silence_hiss", "unknown", "silence", Gap(100), tail_ms=8000, noise="white", noise_dbfs=-60)
    add("noise_pink", "unknown", "noise", Gap(100), tail_ms=8000, noise="pink", noise_dbfs=-35)
    add("noise_white", "unknown", "noise", Gap(100), tail_ms=8000, noise="white", noise_dbfs=-40)
    add("noise_brown", "unknown", "noise", Gap(100), tail_ms=8000, noise="brown", noise_dbfs=-30)
    add("fax_cng", "fax", "fax (CNG)", Gap(500), Tone(1100, 500, 3000, 3), tail_ms=1000)
    add("fax_ced", "fax", "fax (CED)", Gap(300), Tone(2100, 3000, 75, 1), tail_ms=3000)

    # -- series 2: variants that test the rules added after the first measurements, in both classes.
    # People: more ways of saying hello (fast, slow, one word, two), longer hellos (1.5-2 s, at the
    # quick-human rule's limit and past it), a receptionist in noise (webrtcvad drops single frames
    # in noise; bridging them must not push a 2-3 s greeting over the speech threshold).
    hellos2: list[tuple[str, str, int, float | None, str]] = [
        ("Hello, who's this?", "espeak:en-us+m3:200:55", 250, None, "pink"),
        ("Yeah?", "flite:rms", 400, 20, "pink"),
        ("Speaking.", "espeak:en-gb-x-rp+f2:160:40", 300, None, "pink"),
        ("Hello? Hello?", "flite:slt", 200, 15, "white"),
        ("Hi, this is Dan speaking.", "espeak:en-us:130:35", 300, None, "pink"),
        ("Good afternoon, this is Maria.", "flite:awb", 450, 20, "babble"),
    ]
    for text, voice, lead, snr2, nz in hellos2:
        add("hello2", "human", "more hellos, fast and slow", Gap(lead), Say(text, voice), snr_db=snr2, noise=nz, series=2)
    add("receptionist_noisy", "human", "receptionist greeting", Gap(350),
        Say("Hello, Smith Hardware, how can I help?", "espeak:en-us+f3:180:50"), snr_db=12, noise="pink", series=2)
    # Machines: fast greetings (espeak at 230-250 words a minute), choppy flite voices in noise (the
    # single-frame bridge), and beeps that come late (1-1.5 s after the last word: DetectMessageEnd
    # must not report machine_end_silence just before them) or quiet.
    add("fast_beep", "machine", "fast greeting", Gap(250),
        Say("Hi, you've reached Sam Carter. I can't take your call right now, please leave a message after the beep.",
            "espeak:en-us+m3:240:50"), Gap(500), Beep(1000, 300), snr_db=20, series=2)
    add("fast", "machine", "fast greeting", Gap(300),
        Say("You've reached the voicemail of Ana. Leave a message and I'll call you back.", "espeak:en+f4:230:60"),
        series=2)
    add("carrier_late_beep", "machine", "carrier greeting, late beep", Gap(200),
        Say("The number you have dialed is not available. Please leave a message after the tone.", "espeak:en-us:175:45"),
        Gap(1200), Beep(900, 300), snr_db=15, series=2)
    add("personal_choppy_beep", "machine", "personal greeting, slow voice in noise", Gap(300),
        Say("Hi, this is Rick. I'm out of the office. Leave your name and number, and I'll call you back.", "flite:rms"),
        Gap(1000), Beep(600, 250), snr_db=12, series=2)
    add("personal_choppy", "machine", "personal greeting, slow voice in noise", Gap(400),
        Say("Hello, you have reached Linda. Sorry I missed your call. Please leave a message.", "flite:awb"),
        snr_db=15, noise="brown", series=2)
    add("quiet_late_beep", "machine", "personal greeting, quiet late beep", Gap(300),
        Say("Hey, it's Jo. Can't talk now. Leave a message and I'll get back to you.", "espeak:en-gb+f5:170:55"),
        Gap(1400), Beep(1300, 200, level=0.1), snr_db=20, series=2)
    return out


# -- synthesis -----------------------------------------------------------------------------------

def tts(part: Say, work: Path) -> list[float]:
    """The text spoken by the voice, as 8 kHz floats in [-1, 1], leading/trailing silence kept."""
    kind, _, spec = part.voice.partition(":")
    fd, name = tempfile.mkstemp(suffix=".wav", dir=work)
    os.close(fd)
    raw = Path(name)
    if kind == "espeak":
        voice, *rest = spec.split(":")
        cmd = ["espeak-ng", "-v", voice, "-w", str(raw)]
        if rest:
            cmd += ["-s", rest[0]]
        if len(rest) > 1:
            cmd += ["-p", rest[1]]
        subprocess.run([*cmd, part.text], check=True, capture_output=True)
    else:
        subprocess.run(["flite", "-voice", spec, "-t", part.text, "-o", str(raw)], check=True, capture_output=True)
    pcm = subprocess.run(["sox", "-D", str(raw), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
                         check=True, capture_output=True).stdout
    raw.unlink()
    samples = array.array("h", pcm)
    peak = max(1, max(abs(x) for x in samples))
    return [x / peak * 0.5 for x in samples]  # normalise: every voice at the same peak level


def speech_bounds(x: list[float]) -> tuple[int, int]:
    """First and last sample above -40 dBFS-ish (the spoken part of a TTS clip)."""
    thr = 0.01
    first = next((i for i, s in enumerate(x) if abs(s) > thr), 0)
    last = next((i for i in range(len(x) - 1, -1, -1) if abs(x[i]) > thr), len(x) - 1)
    return first, last + 1


def sine(freqs: list[float], n: int, level: float, fade: int = 40) -> list[float]:
    w = [2 * math.pi * f / RATE for f in freqs]
    out = [level * sum(math.sin(k * i) for k in w) / len(w) for i in range(n)]
    for i in range(min(fade, n // 2)):  # 5 ms ramps: no clicks, as real beeps are shaped
        g = i / fade
        out[i] *= g
        out[n - 1 - i] *= g
    return out


def music(n: int, level: float, seed: int) -> list[float]:
    """Hold music: a melody over triads, every note with harmonics and a plucked (decaying)
    envelope, a new chord every 600 ms and a new melody note every 200 ms."""
    rnd = random.Random(seed)
    scale = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3, 587.3, 659.3, 698.5, 784.0]
    out = [0.0] * n
    step_chord, step_note = 4800, 1600
    for start in range(0, n, step_note):
        notes = [rnd.choice(scale[7:])]
        if start % step_chord == 0:
            root = rnd.randrange(0, 5)
            notes += [scale[root], scale[root + 2], scale[root + 4]]
        for k, f in enumerate(notes):
            length = min(n - start, step_chord if k else step_note)
            amp = level * (0.5 if k else 0.7)
            w = 2 * math.pi * f / RATE
            for i in range(length):
                env = amp * math.exp(-i / 2400) * min(1.0, i / 40)
                out[start + i] += env * (math.sin(w * i) + 0.5 * math.sin(2 * w * i) + 0.3 * math.sin(3 * w * i))
    return out


def noise(kind: str, n: int, seed: int, babble: list[list[float]]) -> list[float]:
    """Unit-RMS-ish noise: white, pink (Paul Kellet's filter), brown (leaky integrator), babble (TTS voices)."""
    rnd = random.Random(seed)
    if kind == "white":
        return [rnd.gauss(0, 1) for _ in range(n)]
    if kind == "babble":
        out = [0.0] * n
        for clip in babble:
            off = rnd.randrange(0, 4000)
            pos = -off
            while pos < n:
                for i, s in enumerate(clip):
                    if 0 <= pos + i < n:
                        out[pos + i] += s
                pos += len(clip) + rnd.randrange(0, 800)
        rms = math.sqrt(sum(s * s for s in out) / n) or 1.0
        return [s / rms for s in out]
    out = []
    b0 = b1 = b2 = 0.0
    for _ in range(n):
        w = rnd.gauss(0, 1)
        if kind == "pink":
            b0 = 0.99765 * b0 + w * 0.0990460
            b1 = 0.96300 * b1 + w * 0.2965164
            b2 = 0.57000 * b2 + w * 1.0526913
            out.append((b0 + b1 + b2 + w * 0.1848) / 3.5)
        else:
            b0 = 0.98 * b0 + w * 0.2
            out.append(b0)
    rms = math.sqrt(sum(s * s for s in out) / n) or 1.0
    return [s / rms for s in out]


def _mulaw_roundtrip_table() -> list[int]:
    """G.711 mu-law encode then decode, for every 16-bit sample value (index = value & 0xFFFF)."""
    bias, clip = 0x84, 32635
    table = []
    for u in range(65536):
        x = u - 65536 if u >= 32768 else u
        sign = 0x80 if x < 0 else 0
        m = min(abs(x), clip) + bias
        exp = max(0, m.bit_length() - 8)
        mant = (m >> (exp + 3)) & 0x0F
        code = ~(sign | (exp << 4) | mant) & 0xFF
        # decode
        c = ~code & 0xFF
        e, q = (c >> 4) & 7, c & 0x0F
        y = (((q << 3) + bias) << e) - bias
        table.append(-y if c & 0x80 else y)
    return table


MULAW = _mulaw_roundtrip_table()


def bandlimit(x: list[float], work: Path, name: str) -> list[float]:
    """300-3400 Hz telephone band (sox sinc filter), on 16-bit PCM."""
    src = work / f"{name}.in.raw"
    src.write_bytes(array.array("h", (max(-32767, min(32767, int(s * 32767))) for s in x)).tobytes())
    out = subprocess.run(["sox", "-D", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", str(src),
                          "-t", "raw", "-", "sinc", "300-3400"], check=True, capture_output=True).stdout
    src.unlink()
    return [s / 32767 for s in array.array("h", out)][: len(x)]


@dataclass
class Built:
    entry: dict[str, object]
    samples: list[int] = field(repr=False)


def build(case: Case, work: Path, babble: list[list[float]]) -> Built:
    sig: list[float] = []
    speech: list[tuple[int, int]] = []
    beep: dict[str, object] | None = None
    for part in case.parts:
        if isinstance(part, Gap):
            sig += [0.0] * (part.ms * RATE // 1000)
        elif isinstance(part, Say):
            clip = tts(part, work)
            a, b = speech_bounds(clip)
            speech.append((len(sig) + a, len(sig) + b))
            sig += clip
        elif isinstance(part, Beep):
            start = len(sig)
            sig += sine([part.hz] + ([part.hz2] if part.hz2 else []), part.ms * RATE // 1000, part.level)
            beep = {"hz": part.hz, "hz2": part.hz2 or None, "duration_ms": part.ms,
                    "start_ms": start * 1000 // RATE, "end_ms": len(sig) * 1000 // RATE}
        elif isinstance(part, Music):
            sig += music(part.ms * RATE // 1000, part.level, case.seed)
        else:
            for _ in range(part.count):
                sig += sine([part.hz], part.on_ms * RATE // 1000, 0.3)
                sig += [0.0] * (part.off_ms * RATE // 1000)
    sig += [0.0] * (case.tail_ms * RATE // 1000)
    n = len(sig)
    if case.snr_db is not None:
        # noise level relative to the RMS of the speech parts
        sp = [s for a, b in speech for s in sig[a:b]] or sig
        level = math.sqrt(sum(s * s for s in sp) / len(sp)) / 10 ** (case.snr_db / 20)
        kind = case.noise
    else:
        level, kind = 10 ** (case.noise_dbfs / 20), case.noise
    nz = noise(kind, n, case.seed * 7919, babble)
    sig = [s + level * z for s, z in zip(sig, nz, strict=True)]
    sig = bandlimit(sig, work, case.name)
    pcm = [MULAW[max(-32767, min(32767, int(s * 32767))) & 0xFFFF] for s in sig]
    first = speech[0][0] * 1000 // RATE if speech else None
    last = speech[-1][1] * 1000 // RATE if speech else None
    expect_start = {"human": "human", "machine": "machine_start", "unknown": "unknown", "fax": "fax"}[case.label]
    expect_end = ("machine_end_beep" if beep else "machine_end_silence") if case.label == "machine" else expect_start
    entry: dict[str, object] = {
        "file": f"{case.name}.wav", "label": case.label, "kind": case.kind,
        "expected": {"Enable": expect_start, "DetectMessageEnd": expect_end},
        "speech_start_ms": first, "speech_end_ms": last,
        "first_speech_end_ms": speech[0][1] * 1000 // RATE if speech else None,
        "greeting_ms": (last - first) if case.label == "machine" and first is not None and last is not None else None,
        "beep": beep, "snr_db": case.snr_db, "noise": case.noise if case.snr_db is not None or not speech else None,
        "voices": sorted({p.voice for p in case.parts if isinstance(p, Say)}),
        "texts": [p.text for p in case.parts if isinstance(p, Say)],
        "duration_ms": n * 1000 // RATE, "series": case.series,
    }
    return Built(entry, pcm)


def fingerprint() -> str:
    """Changes when this script or the TTS/sox versions change (then the corpus is rebuilt)."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for tool in TOOLS:
        r = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        h.update((r.stdout + r.stderr).encode())
    return h.hexdigest()[:16]


def generate(out: Path, workers: int = 2, log: Callable[[str], None] | None = None) -> list[dict[str, object]]:
    """Write every case's WAV and manifest.json into `out` (reused when its fingerprint matches);
    returns the manifest's entries."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"amd corpus needs {', '.join(missing)} (scripts/setup installs them)")
    fp = fingerprint()
    manifest = out / "manifest.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        if doc.get("fingerprint") == fp and all((out / e["file"]).exists() for e in doc["files"]):
            return list(doc["files"])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="amd-corpus-") as tmp:
        work = Path(tmp)
        babble_texts = ["So I told him we would meet on Tuesday", "No, the other one, by the window",
                        "Can you pass me that", "We should really get going soon"]
        babble = [tts(Say(t, v(90 + i)), work) for i, t in enumerate(babble_texts)]
        todo = cases()
        with ThreadPoolExecutor(workers) as pool:
            built = list(pool.map(lambda c: build(c, work, babble), todo))
    for b in built:
        with wave.open(str(out / str(b.entry["file"])), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(array.array("h", b.samples).tobytes())
    entries = [b.entry for b in built]
    manifest.write_text(json.dumps({"fingerprint": fp, "rate": RATE, "files": entries}, indent=1))
    if log:
        log(f"amd corpus: {len(entries)} files in {out}")
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


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    entries = generate(out, log=lambda m: print(m, file=sys.stderr))
    counts: dict[str, int] = {}
    for e in entries:
        counts[str(e["label"])] = counts.get(str(e["label"]), 0) + 1
    print(json.dumps({"out": str(out), "files": len(entries), "labels": counts}))


if __name__ == "__main__":
    main()
