"""The cloud recognizers (Google, Amazon Transcribe, Azure, Deepgram) against local servers speaking
each vendor's wire protocol (tests/media/stt/vendors.py): streaming while audio is fed, partials,
results, refused credentials, timeouts, vendor errors, language and model refusals."""

from __future__ import annotations

import asyncio
import binascii
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from google.cloud.speech_v1.types import cloud_speech as cs

from tests.media.stt.vendors import (
    AmazonSttVendor,
    AzureSttVendor,
    DeepgramSttVendor,
    GoogleSttVendor,
    SttVendor,
    serve,
)
from wirexa import config
from wirexa.media.stt import google as google_stt
from wirexa.media.stt.amazon import AmazonStt, audio_event, encode_event, presigned_url
from wirexa.media.stt.azure import AzureStt, streaming_wav_header
from wirexa.media.stt.base import (
    CODE_LANGUAGE,
    CODE_MODEL,
    CODE_PROVIDER,
    Partial,
    ProviderError,
    SpeechOptions,
    SttProvider,
)
from wirexa.media.stt.chain import SttChain
from wirexa.media.stt.deepgram import DeepgramStt
from wirexa.media.stt.google import GoogleStt
from wirexa.media.stt.profanity import mask

SECRET = "sk-STT-TEST-0123456789abcdef"  # every fake vendor's credential: never in a reason
WRONG = "sk-WRONG-9876543210fedcba"
AWS_KEY = "AKIAWIREXATEST"
# 1 s of "speech" and one odd byte: fed in odd pieces, so samples are split across feeds; the last
# half sample is dropped.
SPEECH = bytes((i * 37 + i // 7) % 256 for i in range(16001))
SENT = SPEECH[:16000]
NAMES = ("google", "amazon", "azure", "deepgram")
VENDORS: dict[str, type[SttVendor]] = {
    "google": GoogleSttVendor,
    "amazon": AmazonSttVendor,
    "azure": AzureSttVendor,
    "deepgram": DeepgramSttVendor,
}


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def vendor(name: str) -> Iterator[SttVendor]:
    with serve(VENDORS[name](SECRET)) as v:
        yield v


def make(name: str, url: str, tmp_path: Path, *, secret: str = SECRET, timeout_s: float = 3.0) -> SttProvider:
    """The provider built by from_settings, as the chain builds it, pointed at `url`."""
    ws = url.replace("http://", "ws://")
    values: dict[str, Any] = {
        "google": {"stt_google_api_key": secret, "stt_google_endpoint_url": url},
        "amazon": {
            "stt_amazon_access_key_id": AWS_KEY,
            "stt_amazon_secret_access_key": secret,
            "stt_amazon_endpoint_url": ws,
        },
        "azure": {"stt_azure_key": secret, "stt_azure_endpoint_url": url},
        "deepgram": {"stt_deepgram_api_key": secret, "stt_deepgram_endpoint_url": ws},
    }[name]
    s = config.load(env={}, overrides={"data_dir": str(tmp_path), "stt_timeout_s": timeout_s, **values})
    cls = {"google": GoogleStt, "amazon": AmazonStt, "azure": AzureStt, "deepgram": DeepgramStt}[name]
    provider: SttProvider = cls.from_settings(s)  # type: ignore[attr-defined]
    assert provider.configured() and provider.name == name
    return provider


@pytest.fixture
async def provider(name: str, vendor: SttVendor, tmp_path: Path) -> AsyncIterator[SttProvider]:
    p = make(name, vendor.url, tmp_path)
    yield p
    await p.aclose()


async def wait_until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


async def speak(rec: Any, audio: bytes = SPEECH, piece: int = 333) -> None:
    """Feed `audio` in odd-sized pieces, as the SIP tap would (a little at a time)."""
    for i in range(0, len(audio), piece):
        rec.feed(audio[i : i + piece])
        await asyncio.sleep(0.001)


async def recognize(provider: SttProvider, options: SpeechOptions, audio: bytes = SPEECH) -> Any:
    rec = await provider.open(options, None)
    await speak(rec, audio)
    return await rec.finish()


# --- every vendor -------------------------------------------------------------------------------


async def test_audio_streams_while_fed_and_partials_arrive(name: str, vendor: SttVendor, provider: SttProvider) -> None:
    partials: list[Partial] = []
    rec = await provider.open(SpeechOptions(language="en-US"), partials.append)
    await speak(rec)
    # All the audio reached the vendor while "the caller spoke": before finish was called.
    await wait_until(lambda: len(vendor.audio) == len(SENT))
    if name != "azure":  # and the partials came back meanwhile
        await wait_until(lambda: any(p.text == "hello world how are" for p in partials))
    assert not vendor.ended
    result = await rec.finish()
    assert vendor.ended and bytes(vendor.audio) == SENT
    assert result.text == vendor.transcript and result.provider == name
    assert result.confidence == pytest.approx(0.87, abs=1e-3)
    assert result.fallbacks == () and result.notes == ()
    assert vendor.problems == [] and vendor.sessions == 1
    if name == "azure":
        assert partials == []  # the REST API for short audio answers once
    else:
        texts = [p.text for p in partials]
        assert texts[0] == "hello" and "hello world how are" in texts, texts
        assert all(p.text.startswith(p.stable) for p in partials), partials
        if name != "deepgram":  # Deepgram's stable part is its final pieces (none before the end here)
            assert any(p.stable == "hello world how" for p in partials), partials
    # The session is over: finish again gives the same result, cancel is harmless.
    assert (await rec.finish()) == result
    await rec.cancel()


async def test_audio_fed_at_once_and_finished_at_once(name: str, vendor: SttVendor, provider: SttProvider) -> None:
    """The chain's replay into the next provider, and the whole-file recognize: one big feed, then finish."""
    rec = await provider.open(SpeechOptions(), None)
    rec.feed(SPEECH * 3)
    result = await rec.finish()
    assert result.text == vendor.transcript
    assert bytes(vendor.audio) == (SPEECH * 3)[:48002]  # its last byte is half a sample: dropped
    assert vendor.problems == []


async def test_refused_credentials_are_13343_without_the_key(name: str, vendor: SttVendor, tmp_path: Path) -> None:
    provider = make(name, vendor.url, tmp_path, secret=WRONG)
    try:
        with pytest.raises(ProviderError) as err:
            await recognize(provider, SpeechOptions())
    finally:
        await provider.aclose()
    assert err.value.code == CODE_PROVIDER
    assert "credentials refused" in err.value.reason, err.value.reason
    assert WRONG not in str(err.value) and SECRET not in str(err.value)
    assert vendor.problems == []


async def test_a_vendor_that_never_answers_times_out(name: str, vendor: SttVendor, tmp_path: Path) -> None:
    vendor.mode = "hang"
    provider = make(name, vendor.url, tmp_path, timeout_s=0.5)
    try:
        rec = await provider.open(SpeechOptions(), None)
        await speak(rec)
        await wait_until(lambda: len(vendor.audio) == len(SENT))
        start = time.monotonic()
        with pytest.raises(ProviderError) as err:
            await rec.finish()
        assert time.monotonic() - start < 2.0
    finally:
        await provider.aclose()
    assert err.value.code == CODE_PROVIDER and "no result within 0.5 s" in err.value.reason


async def test_a_silent_server_times_out_at_open_or_finish(name: str, tmp_path: Path) -> None:
    """A server that takes the TCP connection and never says a word (no HTTP/2 or WebSocket
    handshake, no HTTP answer): the provider gives up after its timeout, not never."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = make(name, f"http://127.0.0.1:{port}", tmp_path, timeout_s=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(ProviderError) as err:
            await recognize(provider, SpeechOptions())
    finally:
        await provider.aclose()
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - start < 3.0
    assert err.value.code == CODE_PROVIDER
    assert "within 0.5 s" in err.value.reason, err.value.reason


async def test_a_vendor_error_mid_stream_is_13343(name: str, vendor: SttVendor, provider: SttProvider) -> None:
    vendor.mode = "error"
    with pytest.raises(ProviderError) as err:
        await recognize(provider, SpeechOptions())
    assert err.value.code == CODE_PROVIDER
    expected = {
        # or, when the end raced an audio write, grpc.aio's cause lost (google.py _real_status)
        "google": "UNAVAILABLE" if "audio was being sent" not in err.value.reason else "INTERNAL",
        "amazon": "InternalFailureException",
        "azure": "HTTP 500",
        "deepgram": "1011",
    }[name]
    assert expected in err.value.reason, err.value.reason
    assert SECRET not in err.value.reason


async def test_an_unknown_language_is_13331(name: str, vendor: SttVendor, provider: SttProvider) -> None:
    with pytest.raises(ProviderError) as err:
        await recognize(provider, SpeechOptions(language="xx-XX"))
    assert err.value.code == CODE_LANGUAGE, err.value.reason
    assert "xx-XX" in err.value.reason


@pytest.mark.parametrize(
    "name,model",
    [
        ("google", "deepgram_nova-3"),
        ("amazon", "googlev2_long"),
        ("azure", "deepgram_nova-2"),
        ("deepgram", "googlev2_short"),
    ],
)
async def test_a_model_of_another_vendor_is_13334_before_connecting(
    name: str, model: str, vendor: SttVendor, provider: SttProvider
) -> None:
    with pytest.raises(ProviderError) as err:
        await provider.open(SpeechOptions(model=model), None)
    assert err.value.code == CODE_MODEL and model in err.value.reason
    assert vendor.sessions == 0


async def test_cancel_drops_the_session(name: str, vendor: SttVendor, provider: SttProvider) -> None:
    rec = await provider.open(SpeechOptions(), None)
    await speak(rec, SPEECH[:4000])
    await wait_until(lambda: len(vendor.audio) >= 3000)
    await rec.cancel()
    await rec.cancel()  # idempotent
    rec.feed(SPEECH)  # ignored after cancel
    with pytest.raises(ProviderError):
        await rec.finish()
    assert not vendor.ended and vendor.sessions == 1  # the audio was never ended: the connection was dropped
    # The provider is still usable.
    assert (await recognize(provider, SpeechOptions())).text == vendor.transcript


# --- what each vendor is asked ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["google"])
@pytest.mark.parametrize(
    "model,enhanced,google_model,use_enhanced",
    [
        ("default", False, "default", False),
        ("phone_call", True, "phone_call", True),
        ("numbers_and_commands", False, "command_and_search", False),
        ("experimental_conversations", False, "latest_long", False),
        ("googlev2_telephony_short", False, "telephony_short", False),
    ],
)
async def test_google_config(
    vendor: GoogleSttVendor,
    provider: SttProvider,
    model: str,
    enhanced: bool,
    google_model: str,
    use_enhanced: bool,
) -> None:
    hints = ("yes please", "$OOV_CLASS_DIGIT_SEQUENCE")
    options = SpeechOptions(language="es-ES", hints=hints, model=model, profanity_filter=False, enhanced=enhanced)
    await recognize(provider, options)
    (seen,) = vendor.seen
    c = seen["config"]
    assert seen["interim_results"] is True
    assert (c.language_code, c.model, c.use_enhanced, c.profanity_filter) == (
        "es-ES",
        google_model,
        use_enhanced,
        False,
    )
    assert [list(sc.phrases) for sc in c.speech_contexts] == [list(hints)]  # class tokens as given
    assert c.enable_automatic_punctuation and c.audio_channel_count == 1 and c.max_alternatives == 1
    assert vendor.problems == []


@pytest.mark.parametrize("name", ["google"])
async def test_google_refusing_a_model_for_the_language_is_13334(
    vendor: GoogleSttVendor, provider: SttProvider
) -> None:
    with pytest.raises(ProviderError) as err:
        await recognize(provider, SpeechOptions(language="fr-FR", model="googlev2_telephony_short"))
    assert err.value.code == CODE_MODEL, err.value.reason
    assert "'googlev2_telephony_short' (telephony_short) refused: INVALID_ARGUMENT" in err.value.reason
    assert "not supported for language : fr-FR" in err.value.reason


@pytest.mark.parametrize("name", ["google"])
async def test_google_enhanced_with_another_model_is_a_note(vendor: GoogleSttVendor, provider: SttProvider) -> None:
    result = await recognize(provider, SpeechOptions(model="default", enhanced=True))
    assert vendor.seen[0]["config"].use_enhanced is False
    assert result.notes == ("enhanced applies to the phone_call speechModel only; recognized without it",)


def test_google_wire_format_against_google_cloud_speech() -> None:
    """What we write parses as google-cloud-speech's StreamingRecognizeRequest; what Google
    writes (google-cloud-speech's StreamingRecognizeResponse, with fields we skip) we read."""
    options = SpeechOptions(language="de-DE", hints=("ja", "nein"), model="phone_call", enhanced=True)
    request = cs.StreamingRecognizeRequest.deserialize(google_stt.encode_config(google_stt.recognition_config(options)))
    c = request.streaming_config.config
    assert request.streaming_config.interim_results and not request.streaming_config.single_utterance
    assert (c.encoding, c.sample_rate_hertz, c.audio_channel_count) == (
        cs.RecognitionConfig.AudioEncoding.LINEAR16,
        8000,
        1,
    )
    assert (c.language_code, c.model, c.use_enhanced, c.profanity_filter) == ("de-DE", "phone_call", True, True)
    assert [list(sc.phrases) for sc in c.speech_contexts] == [["ja", "nein"]]
    audio = bytes(range(256)) * 20
    assert cs.StreamingRecognizeRequest.deserialize(google_stt.audio_request(audio)).audio_content == audio
    response = cs.StreamingRecognizeResponse(
        results=[
            cs.StreamingRecognitionResult(
                alternatives=[
                    {"transcript": "grüß gott", "confidence": 0.75, "words": [{"word": "grüß"}]},
                    {"transcript": "second best"},
                ],
                is_final=True,
                result_end_time={"seconds": 2},
                language_code="de-de",
            ),
            cs.StreamingRecognitionResult(alternatives=[{"transcript": " und"}], stability=0.5),
        ],
        speech_event_type=cs.StreamingRecognizeResponse.SpeechEventType.END_OF_SINGLE_UTTERANCE,
        total_billed_time={"seconds": 15},
        request_id=1234567890123,
    )
    answer = google_stt.decode_response(cs.StreamingRecognizeResponse.serialize(response))
    assert answer == google_stt.Answer(
        results=(
            google_stt.Result("grüß gott", pytest.approx(0.75), True, 0.0),  # type: ignore[arg-type]
            google_stt.Result(" und", 0.0, False, 0.5),
        )
    )
    error = cs.StreamingRecognizeResponse(error={"code": 3, "message": "bad"})
    assert google_stt.decode_response(cs.StreamingRecognizeResponse.serialize(error)).error_code == 3
    with pytest.raises(ValueError):
        google_stt.decode_response(b"\x12\x05ab")  # a field longer than the message


@pytest.mark.parametrize("name", ["amazon"])
async def test_amazon_presigned_query_and_hints_note(vendor: AmazonSttVendor, provider: SttProvider) -> None:
    result = await recognize(provider, SpeechOptions(language="en-GB", hints=("yes", "no"), enhanced=True))
    (q,) = vendor.seen
    assert q["language-code"] == "en-GB" and q["X-Amz-Credential"].startswith(AWS_KEY + "/")
    assert q["X-Amz-Credential"].endswith("/us-east-1/transcribe/aws4_request")
    assert result.notes == (
        "Amazon Transcribe takes no per-request hints (only a custom vocabulary created in the AWS account); recognized without them",
        "enhanced applies to Google's phone_call speechModel only; Amazon Transcribe recognized without it",
    )
    assert vendor.problems == []


@pytest.mark.parametrize("name", ["amazon"])
@pytest.mark.parametrize("profanity,expected", [(True, "what the f*** is this"), (False, "what the fuck is this")])
async def test_amazon_profanity_is_masked_here(
    vendor: AmazonSttVendor, provider: SttProvider, profanity: bool, expected: str
) -> None:
    """Transcribe filters only with a vocabulary filter made in the account: we mask as Twilio does."""
    vendor.transcript = "what the fuck is this"
    partials: list[Partial] = []
    rec = await provider.open(SpeechOptions(profanity_filter=profanity), partials.append)
    await speak(rec)
    assert (await rec.finish()).text == expected
    assert (
        "what the f*** is" in [p.text for p in partials]
        if profanity
        else "what the fuck is" in [p.text for p in partials]
    )
    assert all(p.text == mask(p.text) and p.stable == mask(p.stable) for p in partials) == profanity
    assert "vocabulary-filter-name" not in vendor.seen[0]


def test_amazon_presigned_url_default_endpoint() -> None:
    url = presigned_url(
        "wss://transcribestreaming.eu-west-1.amazonaws.com:8443", "eu-west-1", AWS_KEY, SECRET, {"a": "b"}
    )
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "wss",
        "transcribestreaming.eu-west-1.amazonaws.com:8443",
        "/stream-transcription-websocket",
    )
    q = urllib.parse.parse_qs(parts.query)
    assert q["a"] == ["b"] and q["X-Amz-Expires"] == ["300"] and q["X-Amz-SignedHeaders"] == ["host"]
    assert SECRET not in url
    assert AmazonStt(access_key_id=AWS_KEY, secret_access_key=SECRET, region="eu-west-1").endpoint_url == (
        "wss://transcribestreaming.eu-west-1.amazonaws.com:8443"
    )


def test_event_stream_frames_decode_with_botocore() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(audio_event(b"\x01\x02\x03\x04") + audio_event(b"") + encode_event({"näme": "välue"}, b"x"))
    messages = list(buffer)
    assert [m.payload for m in messages] == [b"\x01\x02\x03\x04", b"", b"x"]
    assert messages[0].headers == {
        ":content-type": "application/octet-stream",
        ":event-type": "AudioEvent",
        ":message-type": "event",
    }
    assert messages[2].headers == {"näme": "välue"}
    frame = audio_event(b"ab")
    total, head_len, prelude_crc = struct.unpack("!III", frame[:12])
    assert total == len(frame) and prelude_crc == binascii.crc32(frame[:8])


@pytest.mark.parametrize("name", ["azure"])
@pytest.mark.parametrize("profanity,expected", [(True, "masked"), (False, "raw")])
async def test_azure_query_headers_and_notes(
    vendor: AzureSttVendor, provider: SttProvider, profanity: bool, expected: str
) -> None:
    options = SpeechOptions(language="fr-FR", hints=("oui",), profanity_filter=profanity, enhanced=True)
    result = await recognize(provider, options)
    (seen,) = vendor.seen
    assert seen["query"] == {"language": "fr-FR", "format": "detailed", "profanity": expected}
    assert result.notes == (
        "Azure's REST API for short audio takes no hints (phrase lists); recognized without them",
        "enhanced applies to Google's phone_call speechModel only; Azure recognized without it",
    )
    assert vendor.problems == []


@pytest.mark.parametrize("name", ["azure"])
async def test_azure_no_match_is_an_empty_text(vendor: AzureSttVendor, provider: SttProvider) -> None:
    vendor.transcript = ""
    result = await recognize(provider, SpeechOptions())
    assert (result.text, result.confidence) == ("", None)


def test_azure_wav_header_is_8khz_16bit_mono_of_unknown_length() -> None:
    header = streaming_wav_header()
    assert len(header) == 44
    assert struct.unpack("<4sI4s4sIHHIIHH4sI", header) == (
        b"RIFF",
        0xFFFFFFFF,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        8000,
        16000,
        2,
        16,
        b"data",
        0xFFFFFFFF,
    )
    assert AzureStt(key=SECRET, region="westeurope").url == (
        "https://westeurope.stt.speech.microsoft.com/speech/recognition/conversation/cognitiveservices/v1"
    )
    assert not AzureStt(key=SECRET).configured()


@pytest.mark.parametrize("name", ["deepgram"])
@pytest.mark.parametrize(
    "model,dg_model,hint_param",
    [
        ("default", "nova-3", "keyterm"),
        ("deepgram_nova-3", "nova-3", "keyterm"),
        ("deepgram_nova-2", "nova-2", "keywords"),
        ("phone_call", "nova-2-phonecall", "keywords"),
    ],
)
async def test_deepgram_query(
    vendor: DeepgramSttVendor, provider: SttProvider, model: str, dg_model: str, hint_param: str
) -> None:
    enhanced = model == "phone_call"
    options = SpeechOptions(
        hints=("yes please", "$OOV_CLASS_DIGIT_SEQUENCE", "no"), model=model, profanity_filter=False, enhanced=enhanced
    )
    result = await recognize(provider, options)
    (seen,) = vendor.seen
    q = seen["query"]
    assert ("model", dg_model) in q and ("profanity_filter", "false") in q and ("language", "en-US") in q
    assert [v for k, v in q if k == hint_param] == ["yes please", "no"]
    assert not [k for k, _ in q if k in ("keyterm", "keywords") and k != hint_param]
    assert result.notes == ("Deepgram has no class tokens; hints $OOV_CLASS_DIGIT_SEQUENCE were not used",) + (
        ("enhanced applies to Google's phone_call speechModel only; Deepgram recognized without it",)
        if enhanced
        else ()
    )
    assert vendor.problems == []


def test_unconfigured_providers(tmp_path: Path) -> None:
    s = config.load(env={}, overrides={"data_dir": str(tmp_path)})
    for cls in (GoogleStt, AmazonStt, AzureStt, DeepgramStt):
        assert not cls.from_settings(s).configured()


# --- through the chain --------------------------------------------------------------------------


async def test_the_chain_replays_into_the_next_cloud_provider(tmp_path: Path) -> None:
    """Google fails in the middle of the utterance: Deepgram gets all of it and answers."""
    with serve(GoogleSttVendor(SECRET)) as google, serve(DeepgramSttVendor(SECRET)) as deepgram:
        google.mode = "error"
        deepgram.transcript = "press one"
        s = config.load(
            env={},
            overrides={
                "data_dir": str(tmp_path),
                "stt_providers": "google,deepgram,pocketsphinx",
                "stt_google_api_key": SECRET,
                "stt_google_endpoint_url": google.url,
                "stt_deepgram_api_key": SECRET,
                "stt_deepgram_endpoint_url": deepgram.url.replace("http://", "ws://"),
            },
        )
        chain = SttChain.from_settings(s)
        try:
            assert chain.configured() == ["google", "deepgram", "pocketsphinx"]
            rec = await chain.open(SpeechOptions(), None)
            await speak(rec)
            result = await rec.finish()
            assert (result.text, result.provider) == ("press one", "deepgram")
            assert [(f.provider, f.code) for f in result.fallbacks] == [("google", CODE_PROVIDER)]
            assert bytes(deepgram.audio) == SENT  # the whole utterance, replayed
            # A Deepgram speechModel puts Deepgram first: Google is not asked.
            google.sessions = 0
            result = await chain.recognize(SPEECH, SpeechOptions(model="deepgram_nova-3"))
            assert (result.text, result.provider, result.fallbacks) == ("press one", "deepgram", ())
            assert google.sessions == 0 and ("model", "nova-3") in deepgram.seen[-1]["query"]
        finally:
            await chain.aclose()
