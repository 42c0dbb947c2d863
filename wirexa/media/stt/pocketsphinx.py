"""pocketsphinx: the offline, always-configured, last-resort recognizer (en-US, the PyPI wheel's model).

Theory of operation. A session owns one worker thread and a queue: `feed` puts the caller's
8 kHz PCM on the queue and returns; the thread upsamples it to 16 kHz (the wheel's acoustic
model is a wideband one: measured on telephone-band, G.711 espeak-ng/flite speech, recognizing
the upsampled audio with the model's own 16 kHz filterbank got 20 of 72 test utterances exactly
right, against 3 of 72 for 8 kHz features with the filterbank cut at 3.7 kHz), and decodes it as
it arrives, so `finish` only waits for the last chunk and the end of the utterance (one forward
pass: the second "flat" pass is off, it doubled the wait at the end for no measured gain).
Decoders are expensive to load (0.55 s, the 3-gram language model) and are kept in a small
pool of idle ones, handed to one session at a time.

Every ~PARTIAL_EVERY_S of new audio the thread reads the current hypothesis and hands it to the
loop (call_soon_threadsafe) as a Partial whose `stable` part is the words it shares with the
previous partial. Confidence: a grammar answer's posterior probability (0..1); None for the
language model's answers (its lattice pass, which gives the posterior, held the GIL up to 0.84 s
after a 3 s sentence: the answer waited that long and so did the whole loop).

Hints. The general language model gets short answers wrong (a synthetic "yes" comes out as
"yeah", "billing" as "the link"), so when the gather names its likely phrases a second, small
decoder runs a JSGF grammar of those phrases over the same audio (a few percent of the CPU of
the language model). Google's digit class tokens ($OOV_CLASS_DIGIT_SEQUENCE, ...FULLPHONENUM,
...DIGIT, alone or inside a phrase) and the `numbers_and_commands` model become a rule of
spoken digits (with a stronger word insertion penalty). At the end the grammar's answer wins
unless the search could not reach the end of the grammar, or the language model heard clearly
more words than the grammar's answer has (free speech: the grammar forces its nearest phrase,
which would be wrong); with a digit rule it always wins. Hint words the dictionary lacks cannot
be in the grammar: their phrase is left out, and the Recognition's notes say so, as for unknown
`$` class tokens. Digits stay words ("four one five"), as the language model writes them.
When the audio ends right at the end of speech (before the endpointer's pause), the grammar's
decoder hears the rest of that pause as the call's own line noise before its answer is read
(see PAD_MS): a grammar search answers only when a path ends at the last frame.

Accuracy (bench/stt_corpus.py, 120 synthetic telephone-band utterances, G.711, noise): this
model is weak on synthetic 8 kHz speech; see BENCHMARKS.md for the figures. The acoustic model is
the limit, not the choice between the two decoders: the hint grammar alone, given its best case
(the whole utterance decoded at once with its own cepstral mean, padded as PAD_MS says), got 43
of the corpus's 54 yes/no and menu answers and a digit WER of 0.49 (0.46 unpadded), so no chooser
reaches 90% and 15%. Beams, -lw, -pip, -wip, -silprob, -topn, VTLN warps (fixed, or the best
scoring of five), other upsamplings and a loop of short filler words before a hint phrase did not
do better on a dev set (see PAD_MS for how it was made); the loop made it much worse.

The GIL. pocketsphinx's Cython `Decoder.process_raw` does not release the GIL (no `with nogil`
around ps_process_raw in _pocketsphinx.pyx; measured: a Python loop on the main thread got 2% of
its iterations while a decoder thread ran). The worker thread keeps the loop responsive only by
feeding the decoder small slices (DECODE_SLICE_S, 20 ms of audio, about 10 ms of CPU each) and
by skipping the lattice pass (see Confidence); decoder loading (0.55 s, once per pooled decoder)
holds the GIL too. Measured, warm decoders, six 3 s utterances fed in real time: the loop's lag
p50 0.2 ms, p99 24 ms, max 101 ms. The CPU the decoding takes is the engine process's: a real
fix is a decoding process, not done here.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from wirexa.config import Settings
from wirexa.media.stt.base import (
    CODE_LANGUAGE,
    CODE_MODEL,
    CODE_PROVIDER,
    SAMPLE_BYTES,
    SAMPLE_RATE,
    SPEECH_MODELS,
    Partial,
    PartialCallback,
    ProviderError,
    Recognition,
    SpeechOptions,
)
from wirexa.media.stt.profanity import mask

log = logging.getLogger(__name__)

LANGUAGES = ("en-us",)
DECODE_RATE = 16000
DECODE_SLICE_S = 0.02
PARTIAL_EVERY_S = 0.4
POOL_MAX = 4
_FINISH = object()
_CANCEL = object()

DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGIT_CHARS = dict(zip("0123456789", ("zero", *DIGIT_WORDS[2:]), strict=True))
# Google class tokens whose words are spoken digits; any other $TOKEN is ignored (with a note).
_DIGIT_CLASS = re.compile(r"^\$OOV_CLASS_(DIGIT_SEQUENCE|DIGIT|FULLPHONENUM|PHONE_?NUMBER|POSTALCODE|OPERAND)$", re.I)
# Words of more than this many beyond the grammar's answer: the caller said something else.
FREE_SPEECH_MARGIN = 2
# What callers put around an answer: one optional tail after a hint phrase ("billing please"),
# kept in the answer. Measured on the corpus (bench/stt_corpus.py): the tail "please" took menu
# choices from 14 to 19 of 30 right; more tails ("thanks", "thank you") or lead-ins ("I need",
# "connect me to") made it worse (the search ends inside a lead-in it cannot leave), and a Kleene
# loop of ~40 filler words made the grammar search 20 times slower than real time.
LEAD_INS: tuple[str, ...] = ()
TAILS: tuple[str, ...] = ("please",)
# A digit string has no language model to hold it together: a stronger word insertion penalty
# (pocketsphinx's -wip; default 0.65) halved the digit WER on the corpus (0.79 -> 0.46).
# Checked again on the dev set with the pad (see PAD_MS): 0.65, 0.1, 0.01, 1e-4 all worse.
DIGITS_WIP = 1e-3
# Cepstral mean normalization: a decoder estimates the channel's mean cepstrum as it hears audio
# and keeps it from one utterance to the next (pooled decoders keep what they learnt). A fresh
# decoder starts from the model's default (40,3,-1,0...), far from upsampled telephone speech,
# and gets its first utterance or two worse. Starting new decoders from a telephone mean measured
# on the corpus (39.92,2.05,-10.62,...) helped those but made the corpus as a whole worse (yes/no
# and menu right 34 of 54 instead of 40, grammar and language model on whole files): not done.
#
# The end of the audio. The grammar search answers only when some path reaches the grammar's end
# at the very last frame; audio cut right at the end of speech often has none (the answer is lost:
# 14 to 17 of 78 dev-set answers). The endpointer (media/stt/endpoint.py) feeds the recognizer the
# pause it waited through, AUTO_END_MS of quiet; a session whose audio ends sooner has its grammar
# decoder (not the language model's) hear the rest of PAD_MS as the call's own line noise: its
# quietest QUIET_RUN slices, repeated. Slices at most QUIET_FACTOR times that run's mean energy
# count as quiet already heard. Measured on a dev set (bench/stt_corpus.py's machinery with other
# texts, digits, voices' speeds and pitches and noise seeds; 54 yes/no and menu answers, 24 digit
# strings), fed to the end of speech as bench/stt_bench.py does: commands right 34 -> 38 of 54,
# digit WER 0.68 -> 0.61; fed with the endpointer's 700 ms of quiet, unchanged (36, 0.58: no pad
# then). Padding always (whatever the audio ends in) did better on cut audio (40, 0.59) but worse
# with the endpointer's quiet (digit WER 0.68), so it is not done; padding the language model's
# decoder too inserted words and took commands to 38 with a slower finish; 1000 ms did worse than
# 700 (42 against 45 of 54, grammar alone); zeros instead of line noise did worse than no pad.
# (An earlier flush of faint noise into both decoders: grammar alone 33 -> 36 of 54 on the bench
# corpus, the whole session no better, more words inserted in free speech and a slower finish.)
PAD_MS = 700
QUIET_RUN = 5
QUIET_FACTOR = 4.0


def upsample(pcm: bytes) -> bytes:
    """8 kHz s16le -> 16 kHz by linear interpolation (as good as sox's filter here, 20x cheaper)."""
    x = array.array("h")
    x.frombytes(pcm)
    if not x:
        return b""
    out = array.array("h", bytes(4 * len(x)))
    out[0::2] = x
    nxt = x[1:]
    nxt.append(x[-1])
    out[1::2] = array.array("h", [(a + b) >> 1 for a, b in zip(x, nxt, strict=True)])
    return out.tobytes()


@dataclasses.dataclass(frozen=True, slots=True)
class Grammar:
    """The JSGF built from hints: `jsgf` ("" = no grammar), `digits` when it has the digit rule,
    `pattern` a regex of the sentences it accepts (a grammar search that could not reach the end
    of the grammar answers with its best partial path, which must not be taken for an answer),
    `notes` about what was left out."""

    jsgf: str
    digits: bool
    pattern: re.Pattern[str] | None
    notes: tuple[str, ...]

    def accepts(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.fullmatch(text) is not None


def hint_grammar(hints: tuple[str, ...], model: str, known: Callable[[str], bool]) -> Grammar:
    """Build the grammar of the hint phrases; `known(word)` says whether the dictionary has it."""
    phrases: list[list[str]] = []  # words, and "<digits>" for a digit class
    notes: list[str] = []
    digits = model == "numbers_and_commands"
    unknown_words: list[str] = []
    ignored_tokens: list[str] = []
    for hint in hints:
        parts: list[str] = []
        ok = True
        for token in hint.split():
            if token.startswith("$"):
                if _DIGIT_CLASS.match(token):
                    parts.append("<digits>")
                    digits = True
                else:
                    ignored_tokens.append(token)
                continue
            for word in _words(token):
                if known(word):
                    parts.append(word)
                else:
                    unknown_words.append(word)
                    ok = False
        if ok and parts and parts not in phrases:
            phrases.append(parts)
    if digits and ["<digits>"] not in phrases:
        phrases.append(["<digits>"])
    if unknown_words:
        notes.append(
            "pocketsphinx: hint words not in its dictionary were left out: " + ", ".join(sorted(set(unknown_words)))
        )
    if ignored_tokens:
        notes.append("pocketsphinx: hint class tokens it does not know were ignored: " + ", ".join(ignored_tokens))
    if not phrases:
        return Grammar("", False, None, tuple(notes))
    leads = [p for p in LEAD_INS if all(known(w) for w in p.split())]
    tails = [p for p in TAILS if all(known(w) for w in p.split())]
    plain = [" ".join(p) for p in phrases if "<digits>" not in p]
    with_digits = [" ".join(p) for p in phrases if "<digits>" in p]
    rules = []
    if plain:
        lead = "[<lead>] " if leads else ""
        tail = " [<tail>]" if tails else ""
        rules.append(lead + "(" + " | ".join(f"( {a} )" for a in plain) + ")" + tail)
    rules += [f"( {a} )" for a in with_digits]
    jsgf = "#JSGF V1.0;\ngrammar hints;\n"
    jsgf += "<digits> = (" + " | ".join(DIGIT_WORDS) + ")+;\n"
    if leads:
        jsgf += "<lead> = " + " | ".join(f"( {p} )" for p in leads) + ";\n"
    if tails:
        jsgf += "<tail> = " + " | ".join(f"( {p} )" for p in tails) + ";\n"
    jsgf += "public <hint> = " + " | ".join(rules) + ";\n"
    # The same sentences as a regex over the space-separated answer.
    digit_re = "(?:" + "|".join(DIGIT_WORDS) + ")(?: (?:" + "|".join(DIGIT_WORDS) + "))*"

    def phrase_re(phrase: str) -> str:
        return " ".join(digit_re if w == "<digits>" else re.escape(w) for w in phrase.split())

    alts = []
    if plain:
        lead_re = "(?:(?:" + "|".join(map(re.escape, leads)) + ") )?" if leads else ""
        tail_re = "(?: (?:" + "|".join(map(re.escape, tails)) + "))?" if tails else ""
        alts.append(lead_re + "(?:" + "|".join(phrase_re(a) for a in plain) + ")" + tail_re)
    alts += [phrase_re(a) for a in with_digits]
    return Grammar(jsgf, digits, re.compile("(?:" + "|".join(alts) + ")"), tuple(notes))


def _words(token: str) -> list[str]:
    """A hint token -> dictionary words: lower case, digits spelled, punctuation dropped."""
    out: list[str] = []
    for piece in re.findall(r"[a-z']+|[0-9]", token.lower()):
        out.append(_DIGIT_CHARS.get(piece, piece.strip("'")))
    return [w for w in out if w]


def choose(lm_text: str, grammar_text: str, digits: bool = False) -> bool:
    """True when the grammar's answer wins over the language model's (see the module docstring).

    With a digit rule the grammar always wins: the language model turns a digit string into
    more words than the digits (measured: picking it by length doubled the digit WER)."""
    if not grammar_text:
        return False
    return digits or len(lm_text.split()) <= len(grammar_text.split()) + FREE_SPEECH_MARGIN


def stable_prefix(previous: list[str], current: list[str]) -> list[str]:
    n = 0
    for a, b in zip(previous, current, strict=False):
        if a != b:
            break
        n += 1
    return current[:n]


class _DecoderPool:
    """Idle decoders, loaded on a worker thread when none is free. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lm: list[Any] = []
        self._grammar: dict[bool, list[Any]] = {False: [], True: []}  # by "digits" (its -wip)
        self.closed = False

    @staticmethod
    def _load(**kwargs: Any) -> Any:
        try:
            import pocketsphinx
        except ImportError as exc:
            raise ProviderError(CODE_PROVIDER, "the pocketsphinx package is not installed") from exc
        try:
            # The model's feat.params overrides -cmn and -remove_noise whatever is passed here (only
            # a featparams file of one's own changes them; cmn "none" that way: 40 -> 13 of 54 on the
            # dev set): cmn is "batch", the live estimate in a stream; a true batch mean needs
            # process_raw(full_utt=True).
            decoder = pocketsphinx.Decoder(loglevel="FATAL", fwdflat=False, **kwargs)
        except RuntimeError as exc:
            raise ProviderError(CODE_PROVIDER, f"pocketsphinx could not load its model: {exc}") from exc
        return decoder

    def take_lm(self) -> Any:
        with self._lock:
            if self._lm:
                return self._lm.pop()
        # No lattice pass (bestpath): its posterior took up to 0.84 s after a 3 s sentence, all of
        # it holding the GIL (the loop stalled as long) and for the same words.
        return self._load(bestpath=False)

    def take_grammar(self, digits: bool) -> Any:
        with self._lock:
            if self._grammar[digits]:
                return self._grammar[digits].pop()
        return self._load(lm=None, wip=DIGITS_WIP) if digits else self._load(lm=None)

    def give(self, lm: Any | None, grammar: Any | None = None, digits: bool = False) -> None:
        with self._lock:
            if self.closed:
                return
            if lm is not None and len(self._lm) < POOL_MAX:
                self._lm.append(lm)
            if grammar is not None and len(self._grammar[digits]) < POOL_MAX:
                self._grammar[digits].append(grammar)

    def clear(self) -> None:
        with self._lock:
            self.closed = True
            self._lm.clear()
            for idle in self._grammar.values():
                idle.clear()


class ThreadedSession:
    """A Recognizing whose decoding runs on its own thread (pocketsphinx, Vosk). Loop-only API.

    Subclasses implement `_decode(chunks)` on the thread: it takes items from `chunks` (bytes,
    or the _FINISH / _CANCEL sentinels), calls `self._partial_threadsafe(text)` as it goes and
    returns the Recognition (or None when cancelled)."""

    provider = ""

    def __init__(self, on_partial: PartialCallback | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_partial = on_partial
        self._chunks: queue.Queue[object] = queue.Queue()
        self._result: asyncio.Future[Recognition] = self._loop.create_future()
        self._fed = 0
        self._carry = b""
        self._state = "open"  # open -> finishing -> done | cancelled
        self._last_words: list[str] = []
        self._last_text = ""
        self.cpu_s = 0.0  # CPU seconds the thread spent (time.thread_time), for the benchmarks
        self.finish_wait_s = 0.0  # from finish() to the result
        self._thread = threading.Thread(target=self._run, name=f"stt-{self.provider}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def audio_s(self) -> float:
        return self._fed / (SAMPLE_RATE * SAMPLE_BYTES)

    def feed(self, pcm: bytes) -> None:
        if self._state != "open" or not pcm:
            return
        data = self._carry + pcm
        cut = len(data) - len(data) % SAMPLE_BYTES
        self._carry = data[cut:]
        if cut:
            self._fed += cut
            self._chunks.put(data[:cut])

    async def finish(self) -> Recognition:
        if self._state == "cancelled":
            raise ProviderError(CODE_PROVIDER, f"{self.provider}: the recognition was cancelled")
        if self._state == "open":
            self._state = "finishing"
            self._chunks.put(_FINISH)
        started = time.monotonic()
        try:
            return await asyncio.shield(self._result)
        finally:
            self.finish_wait_s = time.monotonic() - started

    async def cancel(self) -> None:
        if self._state in ("cancelled", "done"):
            return
        self._state = "cancelled"
        self._chunks.put(_CANCEL)
        if not self._result.done():
            self._result.cancel()

    def _run(self) -> None:
        started = time.thread_time()
        result: Recognition | None = None
        error: ProviderError | None = None
        try:
            result = self._decode(self._chunks)
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # the decoder's own failure: logged, and the chain moves on
            log.exception("stt: %s decoder failed", self.provider)
            error = ProviderError(CODE_PROVIDER, f"{self.provider} decoder failed: {type(exc).__name__}: {exc}")
        finally:
            self.cpu_s = time.thread_time() - started
        self._call_threadsafe(self._deliver, result, error)

    def _call_threadsafe(self, fn: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed (the engine stopped): nobody waits for this any more
            pass

    async def join(self) -> None:
        """Wait for the decoding thread to end (after finish or cancel)."""
        await asyncio.to_thread(self._thread.join)

    def _deliver(self, result: Recognition | None, error: ProviderError | None) -> None:
        if self._result.done():
            return
        if error is not None:
            self._result.set_exception(error)
        elif result is None:
            self._result.cancel()
        else:
            self._state = "done"
            self._result.set_result(result)

    def _decode(self, chunks: queue.Queue[object]) -> Recognition | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _partial_threadsafe(self, text: str) -> None:
        if self._on_partial is None or not text or text == self._last_text:
            return
        words = text.split()
        stable = stable_prefix(self._last_words, words)
        self._last_words, self._last_text = words, text
        self._call_threadsafe(self._emit, Partial(text, " ".join(stable)))

    def _emit(self, partial: Partial) -> None:
        if self._state in ("open", "finishing") and self._on_partial is not None:
            self._on_partial(partial)


class PocketsphinxSession(ThreadedSession):
    provider = "pocketsphinx"

    def __init__(self, pool: _DecoderPool, options: SpeechOptions, on_partial: PartialCallback | None) -> None:
        super().__init__(on_partial)
        self._pool = pool
        self._options = options
        self._notes: tuple[str, ...] = ()
        self._grammar: Grammar | None = None

    def _decode(self, chunks: queue.Queue[object]) -> Recognition | None:
        lm = self._pool.take_lm()
        gram: Any | None = None
        grammar = hint_grammar(self._options.hints, self._options.model, lambda w: lm.lookup_word(w) is not None)
        self._notes = grammar.notes
        if grammar.jsgf:
            gram = self._pool.take_grammar(grammar.digits)
            try:
                gram.add_jsgf_string("hints", grammar.jsgf)  # replaces the search a pooled decoder had
                gram.activate_search("hints")
            except (ValueError, RuntimeError) as exc:
                log.warning("stt: pocketsphinx could not build the hints grammar: %s", exc)
                self._notes += ("pocketsphinx: the hints could not be made a grammar and were not used",)
                self._pool.give(None, gram, grammar.digits)
                gram = None
        # A decoder that raises mid-utterance is not given back to the pool.
        result = self._stream([lm] if gram is None else [lm, gram], grammar, chunks)
        self._pool.give(lm, gram, grammar.digits)
        return result

    def _stream(self, decoders: list[Any], grammar: Grammar, chunks: queue.Queue[object]) -> Recognition | None:
        for d in decoders:
            d.start_utt()
        # Audio is decoded in slices of DECODE_SLICE_S (8 kHz bytes here), each upsampled with the
        # next slice's first sample in hand: upsampling each feed alone would repeat a sample at
        # every 20 ms frame edge (a 50 Hz buzz in the audio the decoder hears).
        slice_bytes = int(SAMPLE_RATE * DECODE_SLICE_S) * SAMPLE_BYTES
        partial_bytes = int(SAMPLE_RATE * PARTIAL_EVERY_S) * SAMPLE_BYTES
        pending = bytearray()
        since_partial = 0
        quiet = _Quietest()
        while True:
            item = chunks.get()
            if item is _CANCEL:
                for d in decoders:
                    d.end_utt()
                return None
            if item is _FINISH:
                break
            assert isinstance(item, bytes)
            pending += item
            while len(pending) > slice_bytes:
                piece, last = bytes(pending[: slice_bytes + SAMPLE_BYTES]), slice_bytes
                del pending[:last]
                wide = upsample(piece)[: 2 * last]
                quiet.add(piece[:last])
                for d in decoders:
                    d.process_raw(wide, False, False)
                since_partial += last
            if since_partial >= partial_bytes and self._on_partial is not None:
                since_partial = 0
                self._partial_threadsafe(self._text(*self._hyps(decoders), grammar)[0])
        if pending:
            wide = upsample(bytes(pending))
            for d in decoders:
                d.process_raw(wide, False, False)
        if len(decoders) > 1:
            quiet.add(bytes(pending))
            pad = quiet.pad(PAD_MS)
            for i in range(0, len(pad), 2 * slice_bytes):  # in slices: process_raw holds the GIL
                decoders[1].process_raw(pad[i : i + 2 * slice_bytes], False, False)
        for d in decoders:
            d.end_utt()
        text, confidence = self._text(*self._hyps(decoders), grammar)
        if self._options.profanity_filter:
            text = mask(text)
        return Recognition(text, confidence, self.provider, notes=self._notes)

    @staticmethod
    def _hyps(decoders: list[Any]) -> tuple[Any, Any]:
        lm = decoders[0].hyp()
        gram = decoders[1].hyp() if len(decoders) > 1 else None
        return lm, gram

    @staticmethod
    def _text(lm: Any, gram: Any, grammar: Grammar) -> tuple[str, float | None]:
        lm_text = lm.hypstr if lm is not None else ""
        gram_text = gram.hypstr if gram is not None and grammar.accepts(gram.hypstr) else ""
        if choose(lm_text, gram_text, grammar.digits):
            # The grammar's posterior: a small lattice, computed in a few ms.
            prob = float(gram.prob)
            return gram_text, (min(1.0, prob) if prob > 0 else None)
        # The language model's answer has no posterior (no lattice pass, see _DecoderPool.take_lm).
        return lm_text, None


class _Quietest:
    """The audio's slices and their energies: its quietest QUIET_RUN slices in a row are the
    caller's line noise, the pad (see PAD_MS)."""

    def __init__(self) -> None:
        self._slices: list[bytes] = []
        self._energy: list[int] = []

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        x = array.array("h")
        x.frombytes(piece)
        self._slices.append(piece)
        self._energy.append(sum(v * v for v in x))

    def pad(self, ms: int) -> bytes:
        """What tops the audio's trailing quiet up to `ms`: the quietest run repeated, upsampled to
        16 kHz ("" when the audio already ends in that much quiet, or is too short to tell)."""
        n = len(self._energy)
        if n < QUIET_RUN or ms <= 0:
            return b""
        sums = [sum(self._energy[i : i + QUIET_RUN]) for i in range(n - QUIET_RUN + 1)]
        best = min(range(len(sums)), key=sums.__getitem__)
        floor = QUIET_FACTOR * sums[best] / QUIET_RUN
        trailing = 0
        for e in reversed(self._energy):
            if e > floor:
                break
            trailing += 1
        want = (ms - trailing * round(DECODE_SLICE_S * 1000)) * SAMPLE_RATE // 1000 * SAMPLE_BYTES
        if want <= 0:
            return b""
        run = b"".join(self._slices[best : best + QUIET_RUN])
        return upsample((run * (want // len(run) + 1))[:want])


class PocketsphinxStt:
    """The offline last resort: always configured, en-US only."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        self._pool = _DecoderPool()
        self._sessions: set[PocketsphinxSession] = set()

    @classmethod
    def from_settings(cls, s: Settings) -> PocketsphinxStt:
        return cls()

    def configured(self) -> bool:
        return True

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> PocketsphinxSession:
        if options.language.lower() not in LANGUAGES:
            raise ProviderError(CODE_LANGUAGE, f"pocketsphinx recognizes en-US only, not {options.language!r}")
        if options.model not in SPEECH_MODELS:
            raise ProviderError(CODE_MODEL, f"unknown speechModel {options.model!r}")
        session = PocketsphinxSession(self._pool, options, on_partial)
        self._sessions.add(session)
        session._result.add_done_callback(lambda _f: self._sessions.discard(session))
        session.start()
        return session

    async def aclose(self) -> None:
        """Cancel the sessions and wait for their threads (a decoder is freed by its thread)."""
        sessions = list(self._sessions)
        for session in sessions:
            await session.cancel()
        await asyncio.gather(*(s.join() for s in sessions))
        self._pool.clear()
