"""`wirexa tts test "text" --voice V`: which TTS providers are configured, and one real synthesis.

Renders into a fresh temporary cache (a test must reach the vendor, not an old file), removed
when the command ends, and prints the providers (a listing: a table on a terminal, plain lines
into a pipe), the fallbacks on the way, the provider that rendered and the WAV: --out FILE, else
<data_dir>/tts-test/last.wav, overwritten by the next run, so that it can be listened to.
Credentials are never printed: only whether each provider is configured, and reasons that
providers redact.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.config import Settings
from wirexa.media.tts.chain import Fallback, Synthesis, SynthesisFailed, TtsChain

app = App(help="Text-to-speech providers.", no_args_is_help=True)


@app.command("test")
def test(
    text: Annotated[str, typer.Argument(help="Text to speak.")],
    voice: Annotated[
        str,
        typer.Option(
            "--voice",
            help="Voice as in <Say voice>: polly.Joanna, google.en-US-Wavenet-F, eleven.Rachel, azure.en-US-JennyNeural, woman, man.",
        ),
    ] = "woman",
    language: Annotated[str, typer.Option("--language", help="BCP-47 language, as in <Say language>.")] = "en-US",
    each: Annotated[
        bool, typer.Option("--each", help="Also make one test synthesis with every configured provider.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the WAV here (default: <data-dir>/tts-test/last.wav).")
    ] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show the configured providers and render TEXT through the fallback chain; exit 1 if none could."""
    settings = options.settings(data_dir, config_file)
    wav = out if out is not None else settings.data_path / "tts-test" / "last.wav"
    with tempfile.TemporaryDirectory(prefix="wirexa-tts-", ignore_cleanup_errors=True) as workdir:
        result, error, per_provider, status = asyncio.run(_run(settings, Path(workdir), text, voice, language, each))
        if result is not None:
            try:
                wav.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result.path, wav)
            except OSError as exc:
                fail(f"cannot write {wav}: {exc}")
    path = str(wav) if result is not None else None
    fallbacks = result.fallbacks if result is not None else (error.fallbacks if error else ())
    if json_out:
        print_json(
            {
                "configured": dict(status),
                "provider": result.provider if result else None,
                "voice": result.voice if result else None,
                "fallbacks": [{"provider": f.provider, "code": f.code, "reason": f.reason} for f in fallbacks],
                "path": path,
                "each": {name: ok for name, ok in per_provider},
            }
        )
    else:
        c = console()
        columns = [Column("Provider", keep=True), Column("Configured"), *([Column("Test synthesis")] if each else [])]
        tests = dict(per_provider)
        rows = [
            [name, "yes" if configured else "no", *([tests.get(name, "-")] if each else [])]
            for name, configured in status
        ]
        render_rows(columns, rows, out=c)
        for f in fallbacks:
            c.print(f"fallback: {f.provider} ({f.code}): {f.reason}", markup=False)
        if result is not None:
            c.print(f"rendered by {result.provider} (voice {result.voice or 'default'}): {path}", markup=False)
    if result is None:
        fail(str(error) if error else "no TTS provider could render the text")


async def _run(
    settings: Settings, workdir: Path, text: str, voice: str, language: str, each: bool
) -> tuple[Synthesis | None, SynthesisFailed | None, list[tuple[str, str]], list[tuple[str, bool]]]:
    chain = TtsChain.from_settings(settings, workdir / "chain")
    per_provider: list[tuple[str, str]] = []
    try:
        status = chain.status()
        try:
            result, error = await chain.synthesize(text, voice, language), None
        except SynthesisFailed as exc:
            result, error = None, exc
        if each:
            for provider in chain.providers:
                if not provider.configured():
                    continue
                single = TtsChain(workdir / provider.name, [provider], timeout_s=chain.timeout_s)
                own = f"{provider.name}.{provider.default_voice('female', language)}"
                try:
                    await single.synthesize(text, own, language)
                    per_provider.append((provider.name, "ok"))
                except SynthesisFailed as exc:
                    per_provider.append((provider.name, _why(exc.fallbacks)))
        return result, error, per_provider, status
    finally:
        await chain.aclose()


def _why(fallbacks: tuple[Fallback, ...]) -> str:
    return "; ".join(f"failed ({f.code}): {f.reason}" for f in fallbacks) or "failed"
