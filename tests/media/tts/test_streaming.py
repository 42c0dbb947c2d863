"""Streaming synthesis over the local vendor servers: a streaming provider's first audio is on
disk (and handed to the caller) while the vendor is still sending, the growing file ends up
with every byte the vendor sent, the complete text lands in the cache as a WAV, and failures
before or after the first chunk behave as documented in media/tts/chain.py.

"While the vendor is still sending" is shown causally, not by timing: the vendor server stops
in the middle of its answer until the test opens its gate."""

from __future__ import annotations

import asyncio
import threading
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.media.tts.conftest import SECRET, make_settings
from tests.media.tts.vendors import AzureVendor, ElevenVendor, GoogleVendor, Pace, PollyVendor, Vendor, pcm_of
from wirexa.media.tts import chain as chain_mod
from wirexa.media.tts.base import SampleCutter, ulaw_to_pcm16
from wirexa.media.tts.chain import CutShort, Synthesis, TtsChain


def chain_for(tmp_path: Path, timeout_s: float = 3.0, **values: Any) -> TtsChain:
    return TtsChain.from_settings(make_settings(tmp_path, tts_timeout_s=timeout_s, **values))


def eleven_on(v: ElevenVendor) -> dict[str, Any]:
    return {"tts_elevenlabs_api_key": SECRET, "tts_elevenlabs_endpoint_url": v.url}


def azure_on(v: AzureVendor) -> dict[str, Any]:
    return {"tts_azure_key": SECRET, "tts_azure_endpoint_url": v.url}


def polly_on(v: PollyVendor) -> dict[str, Any]:
    return {
        "tts_polly_access_key_id": "AKIAWIREXATEST",
        "tts_polly_secret_access_key": SECRET,
        "tts_polly_endpoint_url": v.url,
    }


def gated(vendor: Vendor, after: int = 1, chunks: int = 8) -> threading.Event:
    gate = threading.Event()
    vendor.pace = Pace(chunks=chunks, gate_after=after, gate=gate)
    return gate


def wav_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return w.readframes(w.getnframes())


async def started_while_gated(
    chain: TtsChain, vendor: Vendor, gate: threading.Event, voice: str, text: str = "Streaming hello."
) -> Synthesis:
    """synthesize(stream=True) answers although the vendor is stopped mid-answer; then open it."""
    try:
        result = await chain.synthesize(text, voice, "en-US", stream=True)
        assert result.stream is not None and not result.stream.ended
        assert vendor.streams_done == 0  # the vendor has not finished: we got its first chunks
        return result
    finally:
        gate.set()


@pytest.mark.parametrize("provider", ["eleven", "azure", "polly"])
async def test_first_audio_is_handed_over_while_the_vendor_still_sends(
    tmp_path: Path, provider: str, eleven: ElevenVendor, azure: AzureVendor, polly_vendor: PollyVendor
) -> None:
    vendor: Vendor
    if provider == "eleven":
        vendor, settings, voice, full = eleven, eleven_on(eleven), "eleven.Rachel", ulaw_to_pcm16(eleven.audio.ulaw8k)
    elif provider == "azure":
        vendor, settings, voice, full = azure, azure_on(azure), "azure.en-US-JennyNeural", pcm_of(azure.audio.wav8k)
    else:
        vendor, settings = polly_vendor, polly_on(polly_vendor)
        voice, full = "polly.Joanna", pcm_of(polly_vendor.audio.wav8k)
    chain = chain_for(tmp_path, **settings)
    gate = gated(vendor)
    result = await started_while_gated(chain, vendor, gate, voice)
    assert result.path.suffix == ".pcm" and result.fallbacks == ()
    head = result.path.read_bytes()
    assert 0 < len(head) < len(full) and full.startswith(head)  # the first chunks, cut at samples
    assert result.stream is not None
    end = await result.stream.wait()
    assert end.failure is None and end.size == len(full)
    assert result.path.read_bytes() == full  # every byte the vendor sent, in order, no header
    assert vendor.problems == [] and len(vendor.synth_requests()) == 1
    if provider == "azure":
        assert vendor.requests[-1].headers["X-Microsoft-OutputFormat"] == "raw-8khz-16bit-mono-pcm"
    if provider == "eleven":
        assert vendor.requests[-1].path.endswith("/stream")
    again = await chain.synthesize("Streaming hello.", voice, "en-US", stream=True)  # now from the cache
    assert again.stream is None and again.cached and again.path.suffix == ".wav"
    assert wav_pcm(again.path) == full
    assert len(vendor.synth_requests()) == 1
    await chain.aclose()
    assert not result.path.exists()  # streamed files do not outlive the chain


async def test_joiners_share_one_render_and_a_non_streaming_caller_gets_the_wav(
    tmp_path: Path, eleven: ElevenVendor
) -> None:
    chain = chain_for(tmp_path, **eleven_on(eleven))
    gate = gated(eleven)
    first = asyncio.ensure_future(chain.synthesize("Shared.", "eleven.Rachel", "en-US", stream=True))
    second = asyncio.ensure_future(chain.synthesize("Shared.", "eleven.Rachel", "en-US", stream=True))
    whole = asyncio.ensure_future(chain.synthesize("Shared.", "eleven.Rachel", "en-US"))
    a, b = await first, await second
    assert a.stream is b.stream and a.path == b.path  # both play the same growing file from its start
    assert not whole.done()  # the complete WAV needs the vendor's whole answer
    gate.set()
    done = await whole
    assert done.stream is None and done.path.suffix == ".wav" and not done.cached
    assert len(eleven.synth_requests()) == 1
    await chain.aclose()


async def test_prepare_then_say_streams_from_the_start_of_the_file(tmp_path: Path, eleven: ElevenVendor) -> None:
    chain = chain_for(tmp_path, **eleven_on(eleven))
    gate = gated(eleven)
    chain.prepare("Prepared.", "eleven.Rachel", "en-US")  # as MediaPrep.warm does at document load
    result = await started_while_gated(chain, eleven, gate, "eleven.Rachel", "Prepared.")
    assert result.stream is not None
    end = await result.stream.wait()
    assert result.path.read_bytes() == ulaw_to_pcm16(eleven.audio.ulaw8k)[: end.size]
    assert end.size == len(ulaw_to_pcm16(eleven.audio.ulaw8k))
    assert len(eleven.synth_requests()) == 1
    await chain.aclose()


async def test_failure_before_the_first_chunk_falls_back_as_before(
    tmp_path: Path, eleven: ElevenVendor, azure: AzureVendor
) -> None:
    eleven.mode = "500"
    chain = chain_for(tmp_path, **eleven_on(eleven), **azure_on(azure))
    result = await chain.synthesize("Fallback.", "eleven.Rachel", "en-US", stream=True)
    assert result.provider == "azure" and result.stream is not None  # the next provider streams
    assert [(f.provider, f.code) for f in result.fallbacks] == [("elevenlabs", 13520)]
    assert "HTTP 500" in result.fallbacks[0].reason
    assert (await result.stream.wait()).size == len(pcm_of(azure.audio.wav8k))
    await chain.synthesize("Fallback.", "eleven.Rachel", "en-US")  # the render is over
    assert list(chain.cache_dir.glob("*.tmp.*")) == [result.path]  # elevenlabs' empty stream file is gone
    await chain.aclose()


async def test_failure_after_audio_cuts_the_stream_and_the_render_falls_back(
    tmp_path: Path, eleven: ElevenVendor, azure: AzureVendor
) -> None:
    eleven.pace = Pace(chunks=8, cut_after=3)
    chain = chain_for(tmp_path, **eleven_on(eleven), **azure_on(azure))
    result = await chain.synthesize("Cut short.", "eleven.Rachel", "en-US", stream=True)
    assert result.provider == "elevenlabs" and result.stream is not None
    end = await result.stream.wait()
    full = ulaw_to_pcm16(eleven.audio.ulaw8k)
    assert 0 < end.size < len(full) and result.path.read_bytes() == full[: end.size]
    assert isinstance(end.failure, CutShort) and end.failure.provider == "elevenlabs" and end.failure.code == 13520
    assert "stopped after" in end.failure.message and SECRET not in end.failure.message
    # Whoever waits for the complete WAV gets the next provider's, with elevenlabs as a fallback.
    whole = await chain.synthesize("Cut short.", "eleven.Rachel", "en-US")
    assert whole.provider == "azure" and whole.stream is None
    assert [(f.provider, f.code) for f in whole.fallbacks] == [("elevenlabs", 13520)]
    assert "stopped after" in whole.fallbacks[0].reason
    assert wav_pcm(whole.path) == pcm_of(azure.audio.wav8k)
    await chain.aclose()


async def test_a_vendor_that_stalls_after_audio_is_cut_at_the_timeout(tmp_path: Path, eleven: ElevenVendor) -> None:
    gate = gated(eleven)  # never opened before the chain gives up
    chain = chain_for(tmp_path, timeout_s=0.3, **eleven_on(eleven))
    try:
        result = await chain.synthesize("Stall.", "eleven.Rachel", "en-US", stream=True)
        assert result.stream is not None
        end = await result.stream.wait()
        assert end.failure is not None and "no audio for 0.3 s" in end.failure.reason
        whole = await chain.synthesize("Stall.", "eleven.Rachel", "en-US")
        assert whole.provider == "espeak" and whole.fallbacks[0].provider == "elevenlabs"
    finally:
        gate.set()
        await chain.aclose()


async def test_non_streaming_providers_and_the_setting_give_the_complete_wav(
    tmp_path: Path, google: GoogleVendor, eleven: ElevenVendor
) -> None:
    chain = chain_for(tmp_path / "g", tts_google_api_key=SECRET, tts_google_endpoint_url=google.url)
    result = await chain.synthesize("Google.", "google.en-US-Wavenet-F", "en-US", stream=True)
    assert result.provider == "google" and result.stream is None and result.path.suffix == ".wav"
    await chain.aclose()
    chain = chain_for(tmp_path / "e", tts_stream=False, **eleven_on(eleven))
    result = await chain.synthesize("No stream.", "eleven.Rachel", "en-US", stream=True)
    assert result.provider == "elevenlabs" and result.stream is None
    assert not eleven.requests[-1].path.endswith("/stream")
    await chain.aclose()


async def test_streamed_files_are_deleted_after_their_keep_time(
    tmp_path: Path, eleven: ElevenVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain_mod, "STREAM_KEEP_S", 0.0)
    chain = chain_for(tmp_path, **eleven_on(eleven))
    result = await chain.synthesize("Keep.", "eleven.Rachel", "en-US", stream=True)
    assert result.stream is not None
    await result.stream.wait()
    await chain.synthesize("Keep.", "eleven.Rachel", "en-US")
    for _ in range(100):
        if not result.path.exists():
            break
        await asyncio.sleep(0.01)
    assert not result.path.exists()
    assert [p.suffix for p in chain.cache_dir.iterdir()] == [".wav"]
    await chain.aclose()


def test_sample_cutter_keeps_samples_whole() -> None:
    cutter = SampleCutter()
    data = bytes(range(11))
    out = cutter.feed(data[:3]) + cutter.feed(data[3:4]) + cutter.feed(data[4:9]) + cutter.feed(data[9:])
    assert out == data[:10]
    assert [len(cutter.feed(b"\x01\x02\x03")), len(cutter.feed(b"\x04"))] == [4, 0]  # carry + 3 bytes -> 4
