"""sandbox.toml settings that name files: a `reply` ending in .wav is a recorded utterance,
resolved beside the config file; one that does not exist stops the load, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirexa.sip.sandbox_config import SandboxConfigError, is_reply_file, load_config


def test_a_wav_reply_is_resolved_beside_the_config_and_words_stay_words(tmp_path: Path) -> None:
    (tmp_path / "yes.wav").write_bytes(b"RIFF")
    toml = tmp_path / "sandbox.toml"
    toml.write_text('[numbers."+15005550100"]\nreply = "yes.wav"\n[numbers."+15005550101"]\nreply = "Sales, please"\n')
    _, numbers = load_config(str(toml))
    assert numbers["+15005550100"]["reply"] == str(tmp_path / "yes.wav")
    assert numbers["+15005550101"]["reply"] == "Sales, please"
    assert is_reply_file("YES.WAV") and not is_reply_file("yes") and not is_reply_file(None)


def test_a_missing_reply_file_is_refused_naming_it(tmp_path: Path) -> None:
    toml = tmp_path / "sandbox.toml"
    toml.write_text('[default]\nreply = "gone.wav"\n')
    with pytest.raises(SandboxConfigError, match=r"\[default\] reply file .*gone\.wav does not exist"):
        load_config(str(toml))
