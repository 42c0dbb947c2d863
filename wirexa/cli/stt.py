"""`wirexa stt test FILE.wav`: one real recognition of a recorded file through the speech-to-text
chain, as a <Gather input="speech"> or a transcription would run it.

Reads any WAV (or any audio ffmpeg reads) as 8 kHz mono PCM, the telephone audio the recognizers
get on a call, runs the chain (--provider first, --hints, --language as in <Gather>) and prints
the transcript, its confidence, the provider that gave it, the providers passed over on the way
and the time the recognition took. A file that cannot be read is one red line and exit 2;
no recognizer that could be used, exit 1. Credentials are never printed: providers' reasons are
credential-free.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import USAGE_EXIT, App
from wirexa.cli.console import console, fail, print_json
from wirexa.config import Settings
from wirexa.errors import AudioError, WirexaError
from wirexa.media.stt.base import SAMPLE_BYTES, SAMPLE_RATE, Recognition, SpeechOptions
from wirexa.media.stt.chain import REGISTRY, SttChain
from wirexa.media.transcriptions import read_pcm_8k

app = App(help="Speech-to-text providers.", no_args_is_help=True)


@app.command("test")
def test(
    file: Annotated[
        Path, typer.Argument(help="A WAV file (any rate and channels; ffmpeg converts), e.g. a caller saying yes.")
    ],
    provider: Annotated[
        str,
        typer.Option(
            "--provider", help="Try this provider first: google, amazon, azure, deepgram, vosk, pocketsphinx."
        ),
    ] = "",
    hints: Annotated[
        str, typer.Option("--hints", help='Likely words and phrases, as in <Gather hints>: "yes,no,agent".')
    ] = "",
    language: Annotated[str, typer.Option("--language", help="BCP-47 language, as in <Gather language>.")] = "en-US",
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Recognize the speech in FILE through the provider chain and print what was understood."""
    settings = options.settings(data_dir, config_file)
    if provider and provider not in REGISTRY:
        fail(f"unknown provider {provider!r}: use one of {', '.join(REGISTRY)}", code=USAGE_EXIT)
    speech = SpeechOptions(
        language=language,
        hints=tuple(h.strip() for h in hints.split(",") if h.strip()),
        provider=provider,
    )
    try:
        pcm = asyncio.run(read_pcm_8k(file))
    except AudioError as exc:
        fail(str(exc), code=USAGE_EXIT)
    if len(pcm) < SAMPLE_BYTES:
        fail(f"{file}: holds no audio", code=USAGE_EXIT)
    audio_s = len(pcm) / (SAMPLE_RATE * SAMPLE_BYTES)
    try:
        result, took_s = asyncio.run(_recognize(settings, pcm, speech))
    except WirexaError as exc:
        fail(f"no speech recognizer could be used: {exc}")
    fallbacks = [{"provider": f.provider, "code": f.code, "reason": f.reason} for f in result.fallbacks]
    if json_out:
        print_json(
            {
                "transcript": result.text,
                "confidence": result.confidence,
                "provider": result.provider,
                "fallbacks": fallbacks,
                "notes": list(result.notes),
                "audio_s": round(audio_s, 2),
                "took_s": round(took_s, 3),
            }
        )
        return
    c = console()
    c.print(f"transcript: {result.text or '(nothing understood)'}", markup=False, soft_wrap=True)
    confidence = "-" if result.confidence is None else f"{result.confidence:.2f}"
    c.print(f"confidence: {confidence}", markup=False)
    c.print(f"provider:   {result.provider}", markup=False)
    for f in result.fallbacks:
        c.print(f"fallback:   {f.provider} ({f.code}): {f.reason}", markup=False, soft_wrap=True)
    for note in result.notes:
        c.print(f"note:       {note}", markup=False, soft_wrap=True)
    c.print(f"time:       {took_s:.2f} s for {audio_s:.1f} s of audio", markup=False)


async def _recognize(settings: Settings, pcm: bytes, speech: SpeechOptions) -> tuple[Recognition, float]:
    chain = SttChain.from_settings(settings)
    try:
        started = time.monotonic()
        result = await chain.recognize(pcm, speech)
        return result, time.monotonic() - started
    finally:
        await chain.aclose()
