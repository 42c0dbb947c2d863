"""`wirexa stt test FILE.wav`: a real recording (flite's voice, 16 kHz: converted to the telephone's
8 kHz) through the real chain (pocketsphinx): the transcript, confidence, provider,
fallbacks and time; --provider, --hints, --language, --json; a file that is not audio, a missing
one and an unknown provider are one red line, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run


@pytest.fixture(scope="module")
def said(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stt") / "said.wav"
    # flite's voice: pocketsphinx gets it word for word (espeak-ng's it mangles); 16 kHz, converted.
    subprocess.run([shutil.which("flite") or "flite", "-t", "please call me back tomorrow", "-o", str(out)], check=True)
    return out


def usage_error(result: Any) -> str:
    """One red line on stderr, exit 2, nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    return lines[0]  # type: ignore[no-any-return]


def test_it_prints_what_was_understood(said: Path, tmp_path: Path) -> None:
    result = run("stt", "test", str(said), "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["transcript"].strip() == "please call me back tomorrow", result.stdout
    assert lines["provider"].strip() == "pocketsphinx"
    confidence = lines["confidence"].strip()
    assert confidence == "-" or 0.0 <= float(confidence) <= 1.0
    assert lines["time"].strip().endswith("s of audio") and "fallback" not in lines


def test_json_with_a_provider_that_is_not_configured(said: Path, tmp_path: Path) -> None:
    result = run(
        "stt", "test", str(said), "--provider", "vosk", "--hints", "call me back tomorrow, agent", "--language", "en-US",
        "--json", "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["provider"] == "pocketsphinx" and "tomorrow" in body["transcript"]
    [fallback] = body["fallbacks"]
    assert fallback["provider"] == "vosk" and "not configured" in fallback["reason"]  # no model directory
    assert 0 < body["took_s"] and 1 < body["audio_s"] < 4


def test_bad_input_is_one_red_line_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("these are notes, not audio\n")
    assert "not audio" in usage_error(run("stt", "test", str(text), "--data-dir", str(tmp_path)))
    missing = usage_error(run("stt", "test", str(tmp_path / "none.wav"), "--data-dir", str(tmp_path)))
    assert "no such file" in missing
    empty = tmp_path / "empty.wav"
    empty.write_bytes(bytes.fromhex("52494646240000005741564566"))  # a header cut short
    usage_error(run("stt", "test", str(empty), "--data-dir", str(tmp_path)))
    unknown = usage_error(run("stt", "test", str(text), "--provider", "nope", "--data-dir", str(tmp_path)))
    assert "unknown provider 'nope'" in unknown and "pocketsphinx" in unknown
