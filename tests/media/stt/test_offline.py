"""The offline recognizers with the real decoders: pocketsphinx on espeak-ng speech (telephone
band, 8 kHz, as a call delivers it), streaming partials, hints as a grammar, cancel, refusals;
Vosk's refusals (no Vosk model exists on a test machine: what needs one is not tested here)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from pathlib import Path

import pytest

from wirexa import config
from wirexa.media.stt.base import CODE_LANGUAGE, CODE_MODEL, CODE_PROVIDER, Partial, ProviderError, SpeechOptions
from wirexa.media.stt.chain import SttChain
from wirexa.media.stt.pocketsphinx import (
    DIGIT_WORDS,
    PAD_MS,
    PocketsphinxStt,
    _Quietest,
    choose,
    hint_grammar,
    stable_prefix,
    upsample,
)
from wirexa.media.stt.profanity import mask
from wirexa.media.stt.vosk import VoskStt

FRAME = 320  # 20 ms of 8 kHz s16le


def spoken(out: Path, text: str, voice: str = "en-us") -> bytes:
    """espeak-ng -> 8 kHz s16le mono, band-limited to the telephone band, 0.3 s of silence after."""
    wav = out / "say.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
    raw = subprocess.run(
        ["sox", str(wav), "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-", "sinc", "300-3400"],
        check=True,
        capture_output=True,
    ).stdout
    return raw + bytes(2 * 8000 * 3 // 10)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("stt-offline")
    return {
        "yes": spoken(out, "yes"),
        "digits": spoken(out, "one two three"),
        "sentence": spoken(out, "I would like to speak to someone about my bill"),
    }


async def stream(session: object, pcm: bytes, realtime: float = 0.25) -> None:
    """Feed 20 ms frames at `realtime` x their duration (faster than a call, as a test affords)."""
    for i in range(0, len(pcm), FRAME):
        session.feed(pcm[i : i + FRAME])  # type: ignore[attr-defined]
        await asyncio.sleep(0.02 * realtime)


async def test_yes_with_hints_and_a_posterior_confidence(audio: dict[str, bytes]) -> None:
    stt = PocketsphinxStt()
    try:
        session = await stt.open(SpeechOptions(hints=("yes", "no")), None)
        await stream(session, audio["yes"])
        result = await session.finish()
        assert (result.text, result.provider, result.notes) == ("yes", "pocketsphinx", ())
        assert result.confidence is not None and 0.0 < result.confidence <= 1.0
    finally:
        await stt.aclose()


async def test_digit_class_hint_gives_spoken_digits_and_the_result_soon_after_the_audio(
    audio: dict[str, bytes],
) -> None:
    stt = PocketsphinxStt()
    try:
        session = await stt.open(SpeechOptions(hints=("$OOV_CLASS_DIGIT_SEQUENCE", "$OOV_CLASS_UNKNOWN")), None)
        await stream(session, audio["digits"], realtime=1.0)
        started = time.monotonic()
        result = await session.finish()
        waited = time.monotonic() - started
        # The grammar answers (digit words only): a fresh decoder's first digits are not always right.
        assert result.text and set(result.text.split()) <= set(DIGIT_WORDS), result.text
        assert result.notes == ("pocketsphinx: hint class tokens it does not know were ignored: $OOV_CLASS_UNKNOWN",)
        assert waited < 1.0, waited  # decoded while fed: the end only waits for the last slice
    finally:
        await stt.aclose()


async def test_partials_arrive_while_fed_with_growing_text_and_a_stable_prefix(audio: dict[str, bytes]) -> None:
    stt = PocketsphinxStt()
    got: list[Partial] = []
    try:
        session = await stt.open(SpeechOptions(), got.append)
        await stream(session, audio["sentence"], realtime=0.5)
        await asyncio.sleep(0.3)
        before_finish = list(got)
        result = await session.finish()
    finally:
        await stt.aclose()
    assert len(before_finish) >= 2, before_finish
    assert len(before_finish[-1].text.split()) > len(before_finish[0].text.split())
    for earlier, later in zip(before_finish, before_finish[1:], strict=False):
        assert later.text.startswith(later.stable) and earlier.text.split()[: len(later.stable.split())] == (
            later.stable.split()
        )
    assert any(p.stable for p in before_finish)
    # Free speech beside yes/no hints keeps the language model's words.
    assert len(result.text.split()) >= 4, result.text


async def test_free_speech_is_not_forced_into_the_hints(audio: dict[str, bytes]) -> None:
    stt = PocketsphinxStt()
    try:
        session = await stt.open(SpeechOptions(hints=("yes", "no")), None)
        session.feed(audio["sentence"])
        result = await session.finish()
    finally:
        await stt.aclose()
    assert result.text not in ("yes", "no", "")
    assert len(result.text.split()) >= 4, result.text


async def test_cancel_ends_the_session_and_the_decoder_serves_the_next_one(audio: dict[str, bytes]) -> None:
    stt = PocketsphinxStt()
    try:
        session = await stt.open(SpeechOptions(hints=("yes", "no")), None)
        session.feed(audio["sentence"][:8000])
        await session.cancel()
        await session.cancel()
        session.feed(b"\x00\x00")  # ignored after cancel
        with pytest.raises(ProviderError) as info:
            await session.finish()
        assert info.value.code == CODE_PROVIDER
        again = await stt.open(SpeechOptions(hints=("yes", "no")), None)
        again.feed(audio["yes"][:1])  # an odd byte: kept until its sample completes
        again.feed(audio["yes"][1:])
        assert (await again.finish()).text == "yes"
    finally:
        await stt.aclose()


async def test_language_and_model_refused() -> None:
    stt = PocketsphinxStt()
    with pytest.raises(ProviderError) as info:
        await stt.open(SpeechOptions(language="fr-FR"), None)
    assert info.value.code == CODE_LANGUAGE and "fr-FR" in info.value.reason
    with pytest.raises(ProviderError) as info:
        await stt.open(SpeechOptions(model="whisper_large"), None)
    assert info.value.code == CODE_MODEL
    assert stt.configured()
    # Provider-specific models are served when pocketsphinx is the last resort.
    session = await stt.open(SpeechOptions(model="deepgram_nova-3"), None)
    await session.cancel()
    await stt.aclose()


async def test_chain_falls_back_from_a_refusing_vosk_to_pocketsphinx(audio: dict[str, bytes], tmp_path: Path) -> None:
    s = dataclasses.replace(config.Settings(), stt_providers="vosk,pocketsphinx", stt_vosk_model_path=str(tmp_path))
    chain = SttChain.from_settings(s)
    try:
        assert chain.configured() == ["vosk", "pocketsphinx"]  # a directory: configured, not yet loaded
        result = await chain.recognize(audio["yes"], SpeechOptions(hints=("yes", "no")))
    finally:
        await chain.aclose()
    assert result.text == "yes" and result.provider == "pocketsphinx"
    assert [(f.provider, f.code) for f in result.fallbacks] == [("vosk", CODE_PROVIDER)]
    assert "not a Vosk model directory" in result.fallbacks[0].reason


async def test_vosk_not_configured_and_bad_directories(tmp_path: Path) -> None:
    assert not VoskStt("").configured()
    assert not VoskStt(str(tmp_path / "missing")).configured()
    with pytest.raises(ProviderError, match="not configured"):
        await VoskStt("").open(SpeechOptions(), None)
    with pytest.raises(ProviderError, match="is not a directory"):
        await VoskStt(str(tmp_path / "missing")).open(SpeechOptions(), None)
    fake = tmp_path / "model"
    (fake / "am").mkdir(parents=True)
    (fake / "am" / "final.mdl").write_bytes(b"not a model")
    with pytest.raises(ProviderError) as info:
        await VoskStt(str(fake)).open(SpeechOptions(), None)
    assert info.value.code == CODE_PROVIDER and "could not load the model" in info.value.reason


def test_hint_grammar_words_classes_and_what_is_left_out() -> None:
    g = hint_grammar(
        ("Yes", "no", "room 12", "xyzzy please", "$OOV_CLASS_FULLPHONENUM", "$ADDRESSNUM"),
        "default",
        lambda w: w != "xyzzy",
    )
    assert g.digits
    assert g.accepts("yes") and g.accepts("yes please") and g.accepts("room one two")
    assert g.accepts("four one five") and not g.accepts("maybe") and not g.accepts("")
    assert g.notes == (
        "pocketsphinx: hint words not in its dictionary were left out: xyzzy",
        "pocketsphinx: hint class tokens it does not know were ignored: $ADDRESSNUM",
    )
    assert hint_grammar((), "default", lambda w: True).jsgf == ""
    assert hint_grammar((), "numbers_and_commands", lambda w: True).digits
    assert hint_grammar(("$OOV_CLASS_TEMPERATURE",), "default", lambda w: True).jsgf == ""


def test_choice_partials_upsampling_and_profanity() -> None:
    assert choose("yeah", "yes") and choose("yeah sure thing", "yes")
    assert not choose("i would like to speak to someone", "no")
    assert not choose("anything", "")
    assert choose("i would like to speak to someone", "one two", digits=True)
    assert stable_prefix(["i", "would", "like"], ["i", "would", "bike", "it"]) == ["i", "would"]
    assert upsample(b"") == b""
    assert upsample((100).to_bytes(2, "little", signed=True) + (300).to_bytes(2, "little", signed=True)) == (
        b"".join(v.to_bytes(2, "little", signed=True) for v in (100, 200, 300, 300))
    )
    assert mask("what the Fuck, shit happens") == "what the F***, s*** happens"
    assert mask("class assessment") == "class assessment"


def test_the_pad_tops_up_the_trailing_quiet_with_the_calls_own_line_noise() -> None:
    def slices(*levels: int) -> _Quietest:
        q = _Quietest()
        for level in levels:  # 20 ms slices of a square wave at `level`
            q.add(b"".join(v.to_bytes(2, "little", signed=True) for v in [level, -level] * 80))
        return q

    noise, speech = 30, 3000
    cut = slices(*[noise] * 6, *[speech] * 20)  # cut right at the end of speech
    pad = cut.pad(PAD_MS)
    assert len(pad) == 2 * 2 * 8000 * PAD_MS // 1000  # 16 kHz after upsampling
    assert set(int.from_bytes(pad[i : i + 2], "little", signed=True) for i in range(0, len(pad), 2)) <= {
        noise,
        -noise,
        0,
    }
    part = slices(*[noise] * 6, *[speech] * 20, *[noise] * 10)  # 200 ms of the pause heard
    assert len(part.pad(PAD_MS)) == 2 * 2 * 8000 * (PAD_MS - 200) // 1000
    assert slices(*[noise] * 6, *[speech] * 20, *[noise] * 40).pad(PAD_MS) == b""  # the whole pause heard
    assert slices(speech, speech).pad(PAD_MS) == b""  # too little audio to tell the line's noise
