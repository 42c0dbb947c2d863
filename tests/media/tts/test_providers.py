"""Each provider end to end against a local server speaking its API (moto for Polly)."""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.media.tts.conftest import SECRET
from tests.media.tts.vendors import (
    Audio,
    AzureVendor,
    ElevenVendor,
    GoogleVendor,
    GttsVendor,
)
from wirexa.media.tts.azure import AzureTts
from wirexa.media.tts.base import (
    CODE_INVALID_VOICE,
    CODE_NOT_RENDERED,
    ProviderError,
    ulaw_to_pcm16,
)
from wirexa.media.tts.elevenlabs import ElevenLabsTts
from wirexa.media.tts.espeak import EspeakTts
from wirexa.media.tts.google import GoogleTts
from wirexa.media.tts.gtts import GttsTts
from wirexa.media.tts.polly import PollyTts

TRICKY = 'Tom & Jerry <b>say</b> "hi" & it\'s 5 < 6 > 4'


def wav_info(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.readframes(w.getnframes())


def pcm_of(wav: bytes, tmp_path: Path) -> bytes:
    p = tmp_path / "ref.wav"
    p.write_bytes(wav)
    return wav_info(p)[3]


# --- Polly (moto) ------------------------------------------------------------------------------


def polly(moto_url: str, **kw: Any) -> PollyTts:
    return PollyTts(
        region="us-east-1", access_key_id="AKIAWIREXATEST", secret_access_key=SECRET, endpoint_url=moto_url, **kw
    )


async def test_polly_asks_for_8khz_pcm_and_writes_a_wav(
    moto_url: str, moto_requests: Callable[[], list[dict[str, Any]]], tmp_path: Path
) -> None:
    """moto's synthesize_speech validates the request but answers 8 placeholder bytes (zeros), so
    this asserts on the request Polly received and on the WAV framing we put around its PCM."""
    out = tmp_path / "p.wav"
    await polly(moto_url).render(TRICKY, "Joanna-Neural", "en-US", out)
    assert wav_info(out) == (8000, 1, 2, b"\x00" * 8)
    (req,) = moto_requests()
    assert req["method"] == "POST" and req["url"].endswith("/v1/speech")
    assert req["json"] == {
        "Text": TRICKY,
        "TextType": "text",
        "VoiceId": "Joanna",
        "Engine": "neural",
        "OutputFormat": "pcm",
        "SampleRate": "8000",
    }
    assert (
        "Credential=AKIAWIREXATEST/" in req["headers"]["Authorization"]
        and "/us-east-1/polly/aws4_request" in req["headers"]["Authorization"]
    )
    assert SECRET not in json.dumps(req)  # SigV4 signs with the secret, never sends it


async def test_polly_engine_default_and_unknown_voice(
    moto_url: str, moto_requests: Callable[[], list[dict[str, Any]]], tmp_path: Path
) -> None:
    p = polly(moto_url, engine="generative")
    await p.render("hello", "Matthew", "en-US", tmp_path / "a.wav")
    assert moto_requests()[-1]["json"]["Engine"] == "generative"
    with pytest.raises(ProviderError) as err:
        await p.render("hello", "Nobody", "en-US", tmp_path / "b.wav")
    assert err.value.code == CODE_INVALID_VOICE and "'Nobody'" in err.value.reason


async def test_polly_unreachable_endpoint_is_a_failure(tmp_path: Path) -> None:
    from tests.backends import free_port

    p = PollyTts(
        region="us-east-1",
        access_key_id="AKIAX",
        secret_access_key=SECRET,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        timeout_s=1,
    )
    with pytest.raises(ProviderError) as err:
        await p.render("hello", "Joanna", "en-US", tmp_path / "x.wav")
    assert (
        err.value.code == CODE_NOT_RENDERED
        and "EndpointConnectionError" in err.value.reason
        and SECRET not in err.value.reason
    )


def test_polly_configuration() -> None:
    assert not PollyTts(region="", access_key_id="", secret_access_key="").configured()
    p = PollyTts(region="", access_key_id="AKIA", secret_access_key="s", voice_man="Joey")
    assert p.configured() and p.region == "us-east-1"
    assert p.default_voice("female", "es-ES") == "Lucia" and p.default_voice("male", "en-US") == "Joey"


# --- Google ------------------------------------------------------------------------------------


async def test_google_api_key(google: GoogleVendor, audio: Audio, tmp_path: Path) -> None:
    out = tmp_path / "g.wav"
    g = GoogleTts(api_key=SECRET, endpoint_url=google.url)
    await g.render(TRICKY, "en-US-Wavenet-F", "es-ES", out)
    await g.aclose()
    assert google.problems == []
    (req,) = google.requests
    assert req.path == "/v1/text:synthesize" and req.headers["X-Goog-Api-Key"] == SECRET
    body = json.loads(req.body)
    assert body["input"] == {"text": TRICKY}
    assert body["voice"] == {"languageCode": "en-US", "name": "en-US-Wavenet-F"}  # the name's language wins
    assert wav_info(out) == (8000, 1, 2, pcm_of(audio.wav8k, tmp_path))


async def test_google_default_voice_is_a_gender(google: GoogleVendor, tmp_path: Path) -> None:
    g = GoogleTts(api_key=SECRET, endpoint_url=google.url)
    await g.render("hola", g.default_voice("male", "es-es"), "es-es", tmp_path / "g.wav")
    await g.aclose()
    assert google.problems == [] and json.loads(google.requests[0].body)["voice"] == {
        "languageCode": "es-ES",
        "ssmlGender": "MALE",
    }


async def test_google_service_account(google: GoogleVendor, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(google.service_account()))
    g = GoogleTts(service_account_file=str(key_file), endpoint_url=google.url)
    assert g.configured()
    await g.render("one", "en-US-Standard-C", "en-US", tmp_path / "1.wav")
    await g.render("two", "en-US-Standard-C", "en-US", tmp_path / "2.wav")
    await g.aclose()
    assert google.problems == []
    assert [r.path for r in google.requests] == ["/token", "/v1/text:synthesize", "/v1/text:synthesize"]  # token kept
    assert google.requests[1].headers["Authorization"] == f"Bearer {google.token}"


async def test_google_errors(google: GoogleVendor, tmp_path: Path) -> None:
    g = GoogleTts(api_key=SECRET, endpoint_url=google.url)
    with pytest.raises(ProviderError) as err:
        await g.render("x", "en-US-Nope-Z", "en-US", tmp_path / "x.wav")
    assert err.value.code == CODE_INVALID_VOICE and "does not exist" in err.value.reason
    bad = GoogleTts(api_key="wrong-key-123", endpoint_url=google.url)
    with pytest.raises(ProviderError) as err:
        await bad.render("x", "en-US-Wavenet-F", "en-US", tmp_path / "x.wav")
    assert err.value.code == CODE_NOT_RENDERED and "API key not valid" in err.value.reason
    google.mode = "401"
    with pytest.raises(ProviderError) as err:
        await g.render("x", "en-US-Wavenet-F", "en-US", tmp_path / "x.wav")
    assert err.value.reason == "credentials refused (HTTP 401)"
    await g.aclose()
    await bad.aclose()


# --- ElevenLabs --------------------------------------------------------------------------------


async def test_elevenlabs_names_to_ids_ulaw_8000(eleven: ElevenVendor, audio: Audio, tmp_path: Path) -> None:
    e = ElevenLabsTts(api_key=SECRET, endpoint_url=eleven.url)
    out = tmp_path / "e.wav"
    await e.render(TRICKY, "Rachel", "en-US", out)
    await e.render("again", "rachel", "en-US", tmp_path / "e2.wav")
    await e.render("short name", "Sarah", "en-US", tmp_path / "e3.wav")
    await e.render("by id", "pNInz6obpgDQGcFmaJgB", "en-US", tmp_path / "e4.wav")
    assert eleven.problems == []
    paths = [r.path for r in eleven.requests]
    assert paths == [
        "/v1/voices",  # fetched once, then cached
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM",
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM",
        "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL",
        "/v1/text-to-speech/pNInz6obpgDQGcFmaJgB",
    ]
    first = eleven.requests[1]
    assert first.headers["xi-api-key"] == SECRET and first.query == {"output_format": "ulaw_8000"}
    assert json.loads(first.body) == {"text": TRICKY, "model_id": "eleven_multilingual_v2"}
    assert wav_info(out) == (8000, 1, 2, ulaw_to_pcm16(audio.ulaw8k))
    with pytest.raises(ProviderError) as err:
        await e.render("x", "Nobody", "en-US", tmp_path / "x.wav")
    assert err.value.code == CODE_INVALID_VOICE
    assert [r.path for r in eleven.requests].count("/v1/voices") == 1  # refetched at most once a minute
    with pytest.raises(ProviderError) as err:
        await e.render("x", "ZZZZZZZZZZZZZZZZZZZZ", "en-US", tmp_path / "x.wav")  # an id the vendor does not know
    assert err.value.code == CODE_INVALID_VOICE and "not found" in err.value.reason
    await e.aclose()


async def test_elevenlabs_language_code_for_models_that_take_it(eleven: ElevenVendor, tmp_path: Path) -> None:
    e = ElevenLabsTts(api_key=SECRET, endpoint_url=eleven.url, model_id="eleven_flash_v2_5")
    await e.render("hola", "Adam", "es-MX", tmp_path / "e.wav")
    await e.aclose()
    assert json.loads(eleven.requests[-1].body) == {
        "text": "hola",
        "model_id": "eleven_flash_v2_5",
        "language_code": "es",
    }


async def test_elevenlabs_refused_key(eleven: ElevenVendor, tmp_path: Path) -> None:
    e = ElevenLabsTts(api_key="not-the-key", endpoint_url=eleven.url)
    with pytest.raises(ProviderError) as err:
        await e.render("x", "Rachel", "en-US", tmp_path / "x.wav")
    await e.aclose()
    assert err.value.reason == "credentials refused (HTTP 401)"


# --- Azure -------------------------------------------------------------------------------------


async def test_azure_ssml_and_riff_8khz(azure: AzureVendor, audio: Audio, tmp_path: Path) -> None:
    a = AzureTts(key=SECRET, endpoint_url=azure.url)
    out = tmp_path / "a.wav"
    await a.render(TRICKY, "en-US-GuyNeural", "en-US", out)
    with pytest.raises(ProviderError) as err:
        await a.render("x", "en-US-NobodyNeural", "en-US", tmp_path / "x.wav")
    await a.aclose()
    assert azure.problems == []
    assert err.value.code == CODE_INVALID_VOICE
    req = azure.requests[0]
    assert req.headers["Ocp-Apim-Subscription-Key"] == SECRET
    assert AzureVendor.spoken_text(req) == TRICKY  # escaped into the SSML, spoken as written
    assert wav_info(out) == (8000, 1, 2, pcm_of(audio.wav8k, tmp_path))


def test_azure_endpoint_from_region() -> None:
    assert (
        AzureTts(key="k", region="westeurope").url == "https://westeurope.tts.speech.microsoft.com/cognitiveservices/v1"
    )
    assert AzureTts(key="k", endpoint_url="http://x:1/").url == "http://x:1/cognitiveservices/v1"
    assert not AzureTts(key="k").configured() and not AzureTts(key="", region="eastus").configured()
    assert AzureTts(key="k", region="eastus").default_voice("female", "fr-FR") == "fr-FR-DeniseNeural"


# --- gTTS and espeak ---------------------------------------------------------------------------


async def test_gtts_batchexecute_mp3_to_8khz(gtts: GttsVendor, tmp_path: Path) -> None:
    g = GttsTts(enabled=True, endpoint_url=gtts.url)
    out = tmp_path / "g.wav"
    text = "Tom & Jerry <b>. " + "word " * 30
    await g.render(text, "", "en-GB", out)
    await g.aclose()
    assert gtts.problems == []
    parts = [GttsVendor.parts(r) for r in gtts.requests]
    assert len(parts) == 3 and all(p[1] == "en" for p in parts)  # cut after ". ", then at 100 chars
    assert " ".join(p[0] for p in parts) == " ".join(text.split())
    rate, channels, width, pcm = wav_info(out)
    assert (rate, channels, width) == (8000, 1, 2) and len(pcm) > 8000  # two parts of real speech
    assert not GttsTts(enabled=False).configured()


async def test_espeak_renders_8khz(tmp_path: Path) -> None:
    e = EspeakTts()
    assert e.configured() and e.default_voice("male", "en-US") == "man"
    out = tmp_path / "e.wav"
    await e.render(TRICKY, "woman", "en-US", out)
    rate, channels, width, pcm = wav_info(out)
    assert (rate, channels, width) == (8000, 1, 2) and len(pcm) > 8000
    assert not EspeakTts("/nonexistent/espeak-ng").configured()
    with pytest.raises(ProviderError):
        await EspeakTts("/nonexistent/espeak-ng").render("x", "woman", "en-US", tmp_path / "x.wav")
