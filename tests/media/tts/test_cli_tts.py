"""`wirexa tts test`: configured providers, the rendering provider, fallbacks, WAV path, exit codes,
and never a credential in its output."""

from __future__ import annotations

import json
import wave
from pathlib import Path

from typer.testing import CliRunner

from tests.media.tts.conftest import SECRET
from tests.media.tts.vendors import AzureVendor, GoogleVendor
from wirexa.cli.main import app

runner = CliRunner()


def test_tts_test_renders_and_shows_fallbacks(tmp_path: Path, google: GoogleVendor, azure: AzureVendor) -> None:
    google.mode = "401"  # echoes the key in its error body
    env = {
        "WIREXA_TTS_GOOGLE_API_KEY": SECRET,
        "WIREXA_TTS_GOOGLE_ENDPOINT_URL": google.url,
        "WIREXA_TTS_AZURE_KEY": SECRET,
        "WIREXA_TTS_AZURE_ENDPOINT_URL": azure.url,
    }
    out = tmp_path / "out.wav"
    result = runner.invoke(
        app,
        [
            "tts",
            "test",
            "Hello & welcome",
            "--voice",
            "Google.en-US-Standard-C",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(out),
            "--each",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert SECRET not in text
    assert "google" in text and "yes" in text and "polly" in text and "no" in text
    assert "fallback: google (13520): credentials refused (HTTP 401)" in text
    assert f"rendered by azure (voice en-US-JennyNeural): {out}" in text
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)

    as_json = runner.invoke(
        app,
        ["tts", "test", "Hi", "--voice", "azure.en-US-GuyNeural", "--data-dir", str(tmp_path), "--json", "--each"],
        env=env,
    )
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)
    assert doc["provider"] == "azure" and doc["voice"] == "en-US-GuyNeural" and doc["fallbacks"] == []
    assert doc["configured"] == {
        "polly": False,
        "google": True,
        "elevenlabs": False,
        "azure": True,
        "gtts": False,
        "espeak": True,
    }
    assert (
        doc["each"]["azure"] == "ok"
        and doc["each"]["espeak"] == "ok"
        and doc["each"]["google"].startswith("failed (13520)")
    )
    assert Path(doc["path"]).is_file() and SECRET not in as_json.output


def test_tts_test_exits_1_when_nothing_renders(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["tts", "test", "Hi", "--voice", "polly.Joanna", "--data-dir", str(tmp_path)],
        env={"WIREXA_TTS_ESPEAK_BINARY": "/nonexistent/espeak-ng"},
    )
    assert result.exit_code == 1
    assert "fallback: polly (13520): not configured" in result.output
    assert "no TTS provider could render the text" in result.output
