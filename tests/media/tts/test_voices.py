"""Voice names as users write them, default voices, and the small codecs the providers share."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from wirexa.media.audio import wav_bytes
from wirexa.media.tts import base
from wirexa.media.tts.azure import ssml
from wirexa.media.tts.chain import REGISTRY
from wirexa.media.tts.gtts import gtts_language, rpc_body, split_text
from wirexa.media.tts.polly import split_voice
from wirexa.media.tts.voices import (
    AZURE_DEFAULTS,
    POLLY_DEFAULTS,
    PROVIDER_ORDER,
    VoiceRequest,
    gender_of,
    normalize_language,
    parse_voice,
    table_default,
)


@pytest.mark.parametrize(
    ("voice", "expected"),
    [
        # the product doc's spellings
        ("polly.Joanna", VoiceRequest("polly", "Joanna", "female")),
        ("polly.Miguel", VoiceRequest("polly", "Miguel", "male")),
        ("google.en-US-Wavenet-F", VoiceRequest("google", "en-US-Wavenet-F", "female")),
        ("eleven.Rachel", VoiceRequest("elevenlabs", "Rachel", "female")),
        ("azure.en-US-JennyNeural", VoiceRequest("azure", "en-US-JennyNeural", "female")),
        ("woman", VoiceRequest(None, "", "female")),
        ("man", VoiceRequest(None, "", "male")),
        # Twilio's spellings (case-insensitive prefixes and generic names)
        ("Polly.Joanna-Neural", VoiceRequest("polly", "Joanna-Neural", "female")),
        ("Polly.Matthew-Generative", VoiceRequest("polly", "Matthew-Generative", "male")),
        ("Google.en-US-Standard-C", VoiceRequest("google", "en-US-Standard-C", "female")),
        ("Google.en-US-Standard-D", VoiceRequest("google", "en-US-Standard-D", "male")),
        ("alice", VoiceRequest(None, "", "female")),
        ("ALICE", VoiceRequest(None, "", "female")),
        ("Man", VoiceRequest(None, "", "male")),
        ("WOMAN", VoiceRequest(None, "", "female")),
        ("", VoiceRequest(None, "", "female")),
        ("  polly.Joanna ", VoiceRequest("polly", "Joanna", "female")),
        ("ELEVENLABS.Adam", VoiceRequest("elevenlabs", "Adam", "male")),
        ("azure.en-US-GuyNeural", VoiceRequest("azure", "en-US-GuyNeural", "male")),
        ("gtts", VoiceRequest("gtts", "", "female")),
        ("gTTS.co.uk", VoiceRequest("gtts", "", "female")),
        ("espeak", VoiceRequest("espeak", "", "female")),
        ("espeak.man", VoiceRequest("espeak", "man", "male")),
        # unknown: reported (13511) and spoken as `woman`
        ("foo.Bar", VoiceRequest(None, "", "female", unknown=True)),
        ("Joanna", VoiceRequest(None, "", "female", unknown=True)),
        ("polly.", VoiceRequest(None, "", "female", unknown=True)),
        ("polly", VoiceRequest(None, "", "female", unknown=True)),
    ],
)
def test_parse_voice(voice: str, expected: VoiceRequest) -> None:
    assert parse_voice(voice) == expected


def test_registry_is_the_doc_order() -> None:
    assert tuple(REGISTRY) == PROVIDER_ORDER == ("polly", "google", "elevenlabs", "azure", "gtts", "espeak")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en-US", "en-US"),
        ("en-us", "en-US"),
        ("EN_gb", "en-GB"),
        ("", "en-US"),
        ("fr", "fr"),
        ("zh-Hant-TW", "zh-Hant-TW"),
    ],
)
def test_normalize_language(language: str, expected: str) -> None:
    assert normalize_language(language) == expected


def test_default_voice_tables() -> None:
    assert table_default(POLLY_DEFAULTS, "female", "en-US") == "Joanna"
    assert table_default(POLLY_DEFAULTS, "male", "en-us") == "Matthew"
    assert table_default(POLLY_DEFAULTS, "male", "es-ES") == "Enrique"
    assert table_default(POLLY_DEFAULTS, "female", "es-AR") == "Lucia"  # same base language
    assert table_default(POLLY_DEFAULTS, "female", "xx-YY") == "Joanna"  # else en-US
    assert table_default(AZURE_DEFAULTS, "male", "de-DE") == "de-DE-ConradNeural"
    assert gender_of("google", "es-ES-Standard-B") == "male" and gender_of("google", "xx-XX-Foo-B") == "female"


@pytest.mark.parametrize(
    ("voice", "expected"),
    [
        ("Joanna", ("Joanna", "standard")),
        ("Joanna-Neural", ("Joanna", "neural")),
        ("Ruth-Generative", ("Ruth", "generative")),
        ("Danielle-LongForm", ("Danielle", "long-form")),
        ("Joanna-Whatever", ("Joanna-Whatever", "standard")),
    ],
)
def test_polly_engine_from_the_suffix(voice: str, expected: tuple[str, str]) -> None:
    assert split_voice(voice, "standard") == expected


def test_ulaw_decoding_matches_ffmpeg(tmp_path: Path) -> None:
    """Our table-based G.711 expansion (audioop is deprecated) agrees with ffmpeg's on all 256 codes."""
    ulaw = bytes(range(256))
    src = tmp_path / "all.ulaw"
    src.write_bytes(ulaw)
    ref = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "mulaw",
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            str(src),
            "-f",
            "s16le",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert base.ulaw_to_pcm16(ulaw) == ref
    assert base.ulaw_to_pcm16(b"\xff\x7f\x00\x80") == (0).to_bytes(2, "little") * 2 + (-32124).to_bytes(
        2, "little", signed=True
    ) + (32124).to_bytes(2, "little")


def test_pcm_from_wav_checks_the_format(tmp_path: Path) -> None:
    assert base.pcm_from_wav(wav_bytes(b"\x01\x00\x02\x00")) == b"\x01\x00\x02\x00"
    with pytest.raises(base.ProviderError, match="16000 Hz"):
        base.pcm_from_wav(wav_bytes(b"\x00\x00", rate=16000))
    with pytest.raises(base.ProviderError, match="no WAV"):
        base.pcm_from_wav(b"ID3 this is an mp3")
    out = tmp_path / "x.wav"
    base.write_wav(out, b"\x01\x00\x02")  # odd byte dropped
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (8000, 1, 2, 1)


def test_redact() -> None:
    assert base.redact("bad key sk-123456 in sk-123456", ["sk-123456", "", "ab"]) == "bad key **** in ****"


def test_azure_ssml_escapes_the_text() -> None:
    doc = ssml("Tom & Jerry <3 'x' \"y\"", "en-US-GuyNeural", "en-US")
    assert "Tom &amp; Jerry &lt;3 'x' \"y\"</voice>" in doc
    assert "name='en-US-GuyNeural'" in doc.replace('"', "'") and "xml:gender='Male'" in doc.replace('"', "'")


def test_gtts_request_pieces() -> None:
    long = "One two three. " * 20
    parts = split_text(long)
    assert all(len(p) <= 100 for p in parts) and " ".join(parts) == " ".join(long.split())
    assert split_text("x" * 250) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_text("  ") == []
    assert rpc_body("Hi & bye", "en") == (
        "f.req=%5B%5B%5B%22jQ1olc%22%2C%22%5B%5C%22Hi%20%26%20bye%5C%22%2C%5C%22en%5C%22%2Cnull%2C%5C%22null%5C%22%5D%22%2Cnull%2C%22generic%22%5D%5D%5D&"
    )
    assert [gtts_language(x) for x in ("en-US", "pt-BR", "zh-TW", "zh-cn", "")] == ["en", "pt", "zh-TW", "zh-CN", "en"]
