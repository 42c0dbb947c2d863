"""The speech-recognition corpus (bench/stt_corpus.py) and the bench's scoring (bench/stt_bench.py):
the utterance table covers the issue, a file builds to the same samples every time, the labels
agree with what is spoken, and WER / command / digit scoring count what they say they count.
Pure except the bit-reproducibility test (espeak-ng, flite and sox, two short files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stt_bench import (
    CHUNK_BYTES,
    NOHINTS_EVERY,
    Run,
    accuracy,
    chunks_to_speech_end,
    command_of,
    digits_of,
    distance,
    spread,
    wer,
    without_hints_subset,
    words,
)
from bench.stt_corpus import (
    CATEGORIES,
    DIGIT_HINT,
    DIGIT_WORDS,
    MENU_HINTS,
    NAMES,
    YESNO_HINTS,
    build,
    normalize,
    utterances,
)

# -- the corpus table ----------------------------------------------------------------------------


def test_table_covers_the_issue() -> None:
    us = utterances()
    assert len(us) >= 100
    assert len({u.name for u in us}) == len(us)
    assert {u.category for u in us} == set(CATEGORIES)
    for cat in CATEGORIES:
        mine = [u for u in us if u.category == cat]
        assert {u.snr_db for u in mine} == {None, 20.0, 10.0}, cat  # every category at every SNR
        assert {u.voice.split(":")[0] for u in mine} == {"espeak", "flite"}, cat
    assert len({u.voice.split(":")[1] for u in us}) >= 12  # 10 espeak-ng variants + flite voices
    assert len({u.voice for u in us if u.voice.startswith("espeak")}) >= 30  # speeds and pitches vary
    menu_words = {u.command for u in us if u.category == "menu"}
    assert {"sales", "support", "billing", "operator", "representative"} <= menu_words


def test_labels_and_hints_agree_with_what_is_spoken() -> None:
    for u in utterances():
        assert u.text == normalize(u.text) and u.text, u.name
        if u.category == "yesno":
            assert u.hints == YESNO_HINTS and u.command in u.text.split()
        elif u.category == "menu":
            assert u.hints == MENU_HINTS and f" {u.command} " in f" {u.text} "
            assert command_of(u.text, u.hints) == u.command  # the label itself scores as right
        elif u.category == "digits":
            assert u.hints == (DIGIT_HINT,) and u.digits and u.digits.isdigit()
            assert u.text.split() == [DIGIT_WORDS[int(d)] for d in u.digits]
            assert normalize(u.spoken).split() == u.text.split()  # spoken digit by digit, as labelled
        elif u.category == "names":
            assert u.hints == NAMES and any(normalize(n) in u.text for n in NAMES)
        else:
            assert u.hints == () and u.command is None and u.digits is None
        if u.category != "digits":
            assert normalize(u.spoken) == u.text


def test_table_is_deterministic() -> None:
    assert utterances() == utterances()


def test_files_are_bit_reproducible(tmp_path: Path) -> None:
    """The same utterance builds to the same samples (TTS, seeded noise, sox without dither, G.711),
    and the speech bounds sit inside the file with the silence around them."""
    us = utterances()
    picked = [next(u for u in us if u.voice.startswith("flite") and u.snr_db == 10.0)]
    picked.append(next(u for u in us if u.voice.startswith("espeak") and u.snr_db == 20.0 and u.category == "digits"))
    for u in picked:
        first, second = (build(u, tmp_path) for _ in range(2))
        assert first.samples == second.samples, u.name
        e = first.entry
        assert e["speech_start_ms"] == u.lead_ms
        assert u.lead_ms < int(e["speech_end_ms"]) < int(e["duration_ms"])  # type: ignore[call-overload]
        assert len(first.samples) // 8 == e["duration_ms"]
        assert max(abs(s) for s in first.samples) > 5000  # speech at a telephone level, not silence


# -- scoring -------------------------------------------------------------------------------------


def test_words_normalize_and_spell_digits() -> None:
    assert words("Yes, that's RIGHT!") == ["yes", "that's", "right"]
    assert words("415 5") == ["four", "one", "five", "five"]
    assert words("") == []


@pytest.mark.parametrize(
    ("ref", "hyp", "edits"),
    [
        ("a b c", "a b c", 0),
        ("a b c", "a x c", 1),  # substitution
        ("a b c", "a c", 1),  # deletion
        ("a b c", "a b c d", 1),  # insertion
        ("a b c", "", 3),
        ("", "a b", 2),
        ("one two three four", "two three four five", 2),
    ],
)
def test_distance(ref: str, hyp: str, edits: int) -> None:
    assert distance(ref.split(), hyp.split()) == edits


def test_wer_is_total_edits_over_total_reference_words() -> None:
    # 1 edit of 1 word and 0 of 9: 0.1 (a mean of per-file rates would say 0.5)
    pairs = [("yes", "no"), ("one two three four five six seven eight nine", "1 2 3 4 5 6 7 8 9")]
    assert wer(pairs) == pytest.approx(0.1)
    assert wer([]) is None
    assert wer([("sales", "Sales.")]) == 0.0


@pytest.mark.parametrize(
    ("hyp", "expected"),
    [
        ("technical support please", "technical support"),  # not also "support"
        ("support", "support"),
        ("I'd like billing", "billing"),
        ("billing or sales", None),  # ambiguous
        ("billings", None),  # whole words only
        ("", None),
        ("new order", "new order"),
    ],
)
def test_command_of(hyp: str, expected: str | None) -> None:
    assert command_of(hyp, MENU_HINTS) == expected


def test_digits_of() -> None:
    assert digits_of("four one five, 555 and zero") == "4155550"
    assert digits_of("hello") == ""
    assert digits_of("four oh one") == "401"  # an IVR's reading
    assert wer([("four zero one", "four oh one")]) == pytest.approx(1 / 3)  # the words: "oh" is not "zero"


def test_chunks_stop_at_the_chunk_holding_the_end_of_speech() -> None:
    pcm = bytes(16000)  # 1 s
    chunks = chunks_to_speech_end(pcm, 450)
    assert [len(c) for c in chunks] == [CHUNK_BYTES] * 5  # 0-500 ms: the end (450) is in the fifth
    assert len(chunks_to_speech_end(pcm, 400)) == 4
    assert sum(map(len, chunks_to_speech_end(pcm, 5000))) == len(pcm)


def test_accuracy_splits_by_hints_and_skips_fallbacks() -> None:
    def run(cat: str, hints: bool, ref: str, hyp: str, ok: bool = True, cmd: bool | None = None) -> Run:
        return Run(f"{cat}.wav", cat, None, hints, ref, hyp, ok, command_ok=cmd, cpu_s=0.5, audio_s=1.0)

    runs = [
        run("menu", True, "sales", "sales", cmd=True),
        run("menu", False, "sales", "sails", cmd=False),
        run("free", True, "a b", "a c"),
        run("menu", True, "billing", "billing", ok=False, cmd=True),  # answered by another provider
    ]
    with_hints, without = accuracy(runs, True), accuracy(runs, False)
    assert with_hints["commands"] == 1.0 and without["commands"] == 0.0
    assert with_hints["commands_n"] == without["commands_n"] == 1
    assert with_hints["wer"] == {"free": 0.5, "menu": 0.0}  # free sentences: with (empty) hints only
    assert without["wer"] == {"menu": 1.0}
    assert with_hints["cpu_per_audio_s"]["median"] == 0.5


def test_without_hints_subset_keeps_every_category_at_every_snr() -> None:
    entries = [
        {"file": u.name, "category": u.category, "snr_db": u.snr_db, "hints": list(u.hints)} for u in utterances()
    ]
    picked = without_hints_subset(entries)
    hinted = [e for e in entries if e["hints"]]
    assert len(hinted) // NOHINTS_EVERY <= len(picked) <= len(hinted) // NOHINTS_EVERY + 1
    for cat in ("yesno", "menu", "digits", "names"):
        assert {e["snr_db"] for e in hinted if e["file"] in picked and e["category"] == cat} == {None, 20.0, 10.0}


def test_spread_picks_over_the_whole_list() -> None:
    items = [{"i": i} for i in range(10)]
    assert [e["i"] for e in spread(items, 5)] == [0, 2, 4, 6, 8]
    assert spread(items, 0) == items and spread(items, 20) == items
