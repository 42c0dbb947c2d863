"""The chain over real providers and local vendor servers: every fallback path, the cache and its
LRU bound, one synthesis for concurrent identical texts, and no credential in any log line."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.media.tts.conftest import SECRET, make_settings
from tests.media.tts.vendors import AzureVendor, ElevenVendor, GoogleVendor, GttsVendor
from wirexa.media.tts.chain import Fallback, SynthesisFailed, TtsChain


def chain_for(tmp_path: Path, timeout_s: float = 3.0, cache_max_bytes: int = 0, **values: Any) -> TtsChain:
    s = make_settings(tmp_path, tts_timeout_s=timeout_s, tts_cache_max_bytes=cache_max_bytes, **values)
    return TtsChain.from_settings(s)


def google_on(v: GoogleVendor) -> dict[str, Any]:
    return {"tts_google_api_key": SECRET, "tts_google_endpoint_url": v.url}


def eleven_on(v: ElevenVendor) -> dict[str, Any]:
    return {"tts_elevenlabs_api_key": SECRET, "tts_elevenlabs_endpoint_url": v.url}


def azure_on(v: AzureVendor) -> dict[str, Any]:
    return {"tts_azure_key": SECRET, "tts_azure_endpoint_url": v.url}


def polly_on(url: str) -> dict[str, Any]:
    return {
        "tts_polly_access_key_id": "AKIAWIREXATEST",
        "tts_polly_secret_access_key": SECRET,
        "tts_polly_endpoint_url": url,
    }


async def test_defaults_render_with_espeak_and_no_fallbacks(tmp_path: Path) -> None:
    chain = chain_for(tmp_path)
    assert chain.status() == [
        ("polly", False),
        ("google", False),
        ("elevenlabs", False),
        ("azure", False),
        ("gtts", False),
        ("espeak", True),
    ]
    result = await chain.synthesize("Hello", "woman", "en-US")
    assert (result.provider, result.voice, result.fallbacks, result.cached) == ("espeak", "woman", (), False)
    assert (await chain.synthesize("Hello", "woman", "en-US")).path == result.path  # from the cache
    await chain.aclose()


async def test_requested_provider_not_configured(tmp_path: Path, google: GoogleVendor) -> None:
    chain = chain_for(tmp_path, **google_on(google))
    result = await chain.synthesize("Hi", "polly.Matthew", "en-US")
    assert result.provider == "google" and result.voice == "MALE"  # next in order, same gender
    assert result.fallbacks == (Fallback("polly", 13520, "not configured"),)
    assert "polly" in result.fallbacks[0].message
    await chain.aclose()


async def test_woman_starts_at_the_first_configured_provider(
    tmp_path: Path, eleven: ElevenVendor, azure: AzureVendor
) -> None:
    chain = chain_for(tmp_path, **eleven_on(eleven), **azure_on(azure))
    result = await chain.synthesize("Hi", "alice", "en-US")
    assert (result.provider, result.voice, result.fallbacks) == ("elevenlabs", "Rachel", ())
    man = await chain.synthesize("Hi", "man", "en-US")
    assert (man.provider, man.voice) == ("elevenlabs", "Adam")
    await chain.aclose()


async def test_401_falls_back(
    tmp_path: Path, google: GoogleVendor, azure: AzureVendor, caplog: pytest.LogCaptureFixture
) -> None:
    google.mode = "401"  # the server echoes the key in its error body
    chain = chain_for(tmp_path, **google_on(google), **azure_on(azure))
    with caplog.at_level(logging.DEBUG):
        result = await chain.synthesize("Hi", "google.en-US-Wavenet-F", "en-US")
    assert result.provider == "azure" and result.voice == "en-US-JennyNeural"
    assert result.fallbacks == (Fallback("google", 13520, "credentials refused (HTTP 401)"),)
    assert "tts: google failed (13520): credentials refused (HTTP 401)" in caplog.text
    assert SECRET not in caplog.text
    await chain.aclose()


async def test_500_falls_back(tmp_path: Path, eleven: ElevenVendor, azure: AzureVendor) -> None:
    eleven.mode = "500"
    chain = chain_for(tmp_path, **eleven_on(eleven), **azure_on(azure))
    result = await chain.synthesize("Hi", "eleven.Rachel", "en-US")
    assert result.provider == "azure"
    (fb,) = result.fallbacks
    assert (fb.provider, fb.code) == ("elevenlabs", 13520) and fb.reason.startswith("HTTP 500")
    await chain.aclose()


async def test_timeout_falls_back(tmp_path: Path, azure: AzureVendor) -> None:
    azure.mode, azure.delay_s = "slow", 1.0
    chain = chain_for(tmp_path, timeout_s=0.2, **azure_on(azure))
    result = await chain.synthesize("Hi", "azure.en-US-JennyNeural", "en-US")
    assert result.provider == "espeak" and result.voice == "woman"
    assert result.fallbacks == (Fallback("azure", 13520, "timed out after 0.2 s"),)
    await chain.aclose()


async def test_unknown_voice_falls_back_with_13511(tmp_path: Path, google: GoogleVendor, azure: AzureVendor) -> None:
    chain = chain_for(tmp_path, **google_on(google), **azure_on(azure))
    result = await chain.synthesize("Hi", "google.en-US-Nope-Z", "en-US")
    assert result.provider == "azure"
    (fb,) = result.fallbacks
    assert (fb.provider, fb.code) == ("google", 13511) and "does not exist" in fb.reason
    bad_azure = await chain.synthesize("Hi", "azure.en-US-NobodyNeural", "en-US")
    assert bad_azure.provider == "google" and bad_azure.fallbacks[0].code == 13511  # then the doc's order
    assert google.problems == [] and azure.problems == []
    await chain.aclose()


async def test_unknown_voice_name_is_reported_and_spoken_as_woman(tmp_path: Path) -> None:
    chain = chain_for(tmp_path)
    result = await chain.synthesize("Hi", "robot.Bender", "en-US")
    assert result.provider == "espeak"
    assert result.fallbacks == (Fallback("robot", 13511, "unknown voice 'robot.Bender'"),)
    await chain.aclose()


async def test_polly_unknown_voice_then_google(
    tmp_path: Path, moto_url: str, moto_requests: Callable[[], list[dict[str, Any]]], google: GoogleVendor
) -> None:
    chain = chain_for(tmp_path, **polly_on(moto_url), **google_on(google))
    ok = await chain.synthesize("Hi", "Polly.Joanna-Neural", "en-US")
    assert (ok.provider, ok.voice, ok.fallbacks) == ("polly", "Joanna-Neural", ())
    result = await chain.synthesize("Hi", "polly.Nobody", "en-US")
    assert result.provider == "google" and result.fallbacks[0].provider == "polly" and result.fallbacks[0].code == 13511
    assert [r["json"]["VoiceId"] for r in moto_requests()] == ["Joanna", "Nobody"]
    await chain.aclose()


async def test_every_provider_fails(tmp_path: Path, google: GoogleVendor) -> None:
    google.mode = "500"
    chain = chain_for(tmp_path, tts_espeak_binary="/nonexistent/espeak-ng", **google_on(google))
    with pytest.raises(SynthesisFailed) as err:
        await chain.synthesize("Hi", "woman", "en-US")
    assert [f.provider for f in err.value.fallbacks] == ["google"]
    with pytest.raises(SynthesisFailed, match="empty"):
        await chain.synthesize("  ", "woman", "en-US")
    await chain.aclose()


async def test_gtts_before_espeak_when_enabled(tmp_path: Path, gtts: GttsVendor) -> None:
    chain = chain_for(tmp_path, tts_gtts_enabled=True, tts_gtts_endpoint_url=gtts.url)
    result = await chain.synthesize("Hi", "woman", "fr-FR")
    assert result.provider == "gtts" and gtts.problems == [] and GttsVendor.parts(gtts.requests[0])[1] == "fr"
    await chain.aclose()


async def test_second_call_makes_no_request(tmp_path: Path, google: GoogleVendor) -> None:
    chain = chain_for(tmp_path, **google_on(google))
    first = await chain.synthesize("Cache me", "google.en-US-Wavenet-F", "en-US")
    second = await chain.synthesize("Cache me", "google.en-US-Wavenet-F", "en-US")
    assert len(google.synth_requests()) == 1
    assert (first.cached, second.cached, second.path) == (False, True, first.path)
    await chain.aclose()
    again = chain_for(tmp_path, **google_on(google))  # a new process: the cache is on disk
    assert (await again.synthesize("Cache me", "google.en-US-Wavenet-F", "en-US")).cached
    assert len(google.synth_requests()) == 1
    await chain.aclose()


async def test_cache_key_has_provider_voice_language_text(tmp_path: Path, google: GoogleVendor) -> None:
    chain = chain_for(tmp_path, **google_on(google))
    for voice, lang, text in [
        ("google.en-US-Wavenet-F", "en-US", "a"),
        ("google.en-US-Wavenet-D", "en-US", "a"),
        ("google.en-US-Wavenet-F", "en-US", "b"),
        ("woman", "en-US", "a"),
        ("woman", "es-ES", "a"),
    ]:
        assert not (await chain.synthesize(text, voice, lang)).cached
    assert len(google.synth_requests()) == 5
    await chain.aclose()


async def test_concurrent_identical_texts_synthesized_once(tmp_path: Path, azure: AzureVendor) -> None:
    azure.mode, azure.delay_s = "slow", 0.3
    azure_ok = azure_on(azure)
    chain = chain_for(tmp_path, **azure_ok)
    results = await asyncio.gather(
        *(chain.synthesize("Same text", "azure.en-US-JennyNeural", "en-US") for _ in range(8))
    )
    assert len(azure.synth_requests()) == 1
    assert len({r.path for r in results}) == 1 and all(r.provider == "azure" for r in results)
    await chain.aclose()


async def test_a_cancelled_caller_does_not_cancel_the_others(tmp_path: Path, azure: AzureVendor) -> None:
    azure.mode, azure.delay_s = "slow", 0.3
    chain = chain_for(tmp_path, **azure_on(azure))
    first = asyncio.ensure_future(chain.synthesize("Shared", "azure.en-US-JennyNeural", "en-US"))
    second = asyncio.ensure_future(chain.synthesize("Shared", "azure.en-US-JennyNeural", "en-US"))
    await asyncio.sleep(0.05)
    first.cancel()
    result = await second
    assert result.provider == "azure" and first.cancelled() and len(azure.synth_requests()) == 1
    await chain.aclose()


async def test_lru_bound_evicts_least_recently_used(tmp_path: Path) -> None:
    chain = chain_for(tmp_path)
    a = await chain.synthesize("alpha one two three", "woman", "en-US")
    size = a.path.stat().st_size
    bounded = chain_for(tmp_path, cache_max_bytes=int(size * 2.5))
    assert (await bounded.synthesize("alpha one two three", "woman", "en-US")).cached
    b = await bounded.synthesize("bravo one two three", "woman", "en-US")
    assert (await bounded.synthesize("alpha one two three", "woman", "en-US")).cached  # alpha is now the newest
    c = await bounded.synthesize("charlie one two three", "woman", "en-US")
    assert a.path.exists() and c.path.exists() and not b.path.exists()  # bravo was least recently used
    assert bounded.cache.total_bytes <= size * 2.5
    assert sorted(p.name for p in a.path.parent.iterdir()) == sorted([a.path.name, c.path.name])  # no temp files
    await chain.aclose()
    await bounded.aclose()


async def test_lru_order_survives_a_restart(tmp_path: Path) -> None:
    chain = chain_for(tmp_path)
    old = await chain.synthesize("old text here", "woman", "en-US")
    new = await chain.synthesize("new text here", "woman", "en-US")
    third = await chain.synthesize("third text here", "woman", "en-US")
    third_size = third.path.stat().st_size
    third.path.unlink()
    os.utime(old.path, (1, 1))  # written long ago: least recently used after a restart
    bounded = chain_for(tmp_path, cache_max_bytes=new.path.stat().st_size + third_size)
    assert not (await bounded.synthesize("third text here", "woman", "en-US")).cached
    assert not old.path.exists() and new.path.exists() and third.path.exists()
    await bounded.aclose()
    await chain.aclose()


async def test_no_credential_in_logs_or_reasons(
    tmp_path: Path, google: GoogleVendor, eleven: ElevenVendor, azure: AzureVendor, caplog: pytest.LogCaptureFixture
) -> None:
    for v in (google, eleven, azure):
        v.mode = "401"
    chain = chain_for(tmp_path, **google_on(google), **eleven_on(eleven), **azure_on(azure))
    with caplog.at_level(logging.DEBUG):
        result = await chain.synthesize("Hi", "google.en-US-Wavenet-F", "en-US")
        assert [f.provider for f in result.fallbacks] == ["google", "elevenlabs", "azure"]
        for v in (google, eleven, azure):
            v.mode = "500"
        result = await chain.synthesize("Hi again", "eleven.Rachel", "en-US")
    assert result.provider == "espeak"
    assert SECRET not in caplog.text and all(SECRET not in f.reason for f in result.fallbacks)
    assert SECRET not in repr(make_settings(tmp_path, **google_on(google)))
    await chain.aclose()
