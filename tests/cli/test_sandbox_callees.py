"""`wirexa sandbox callees`: the callees from the sandbox.toml the engine would use (the
[sandbox] config setting, else sandbox.toml beside the config file, else the built-in ones)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import one_red_line, run


def test_built_in_callees_as_plain_lines(tmp_path: Path) -> None:
    result = run("sandbox", "callees", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["Number", "Behaves as", "Settings"]
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines[1:]}
    assert rows["+15005550001"] == ["busy (486)", ""]
    assert rows["+15005550002"][0] == "rings, never answers"
    assert rows["+15005550004"][0] == "decline (603)"
    assert rows["+15005550005"][0].startswith("answering machine")
    assert rows["any other"][0] == "person" and "greeting='Hello?'" in rows["any other"][1]
    assert list(rows) == ["+15005550001", "+15005550002", "+15005550003", "+15005550004", "+15005550005", "any other"]


def test_the_config_files_callees_as_json(tmp_path: Path) -> None:
    wav = tmp_path / "hold.wav"
    wav.write_bytes(b"RIFF")  # only its existence is checked here
    (tmp_path / "wirexa.toml").write_text("")
    (tmp_path / "sandbox.toml").write_text(
        '[default]\nanswer = "silence"\n'
        '[numbers."+15005550001"]\nanswer = "human"\npress = "1"\npress_after = 2.5\n'
        '[numbers."+15005550077"]\nanswer = "hold.wav"\nloop = true\nhangup_after_s = 30\n'
    )
    result = run("sandbox", "callees", "--data-dir", str(tmp_path), "--config", str(tmp_path / "wirexa.toml"), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["config"] == str(tmp_path / "sandbox.toml")
    by = {c["number"]: c for c in body["callees"]}
    assert by["+15005550001"]["answer"] == "human" and by["+15005550001"]["settings"]["press"] == "1"
    assert by["+15005550077"]["answer"] == str(wav)  # relative to the sandbox.toml's folder
    assert (
        by["+15005550077"]["behaves_as"] == "plays a WAV in a loop"
        and by["+15005550077"]["settings"]["hangup_after_s"] == 30
    )
    assert by["*"]["answer"] == "silence" and by["+15005550005"]["answer"] == "machine"
    plain = run("sandbox", "callees", "--data-dir", str(tmp_path), "--config", str(tmp_path / "wirexa.toml"))
    line = next(x for x in plain.stdout.splitlines() if x.startswith("+15005550077"))
    assert line.split("\t")[1:] == ["plays a WAV in a loop", f"ring_s=1, file={wav}, hangup_after_s=30"]


def test_an_unusable_sandbox_toml_is_one_red_line(tmp_path: Path) -> None:
    bad = tmp_path / "sandbox.toml"
    bad.write_text('[numbers."+15005550077"]\nanswer = "nowhere.wav"\n')
    line = one_red_line(run("sandbox", "callees", "--data-dir", str(tmp_path), env={"WIREXA_SANDBOX_CONFIG": str(bad)}))
    assert str(tmp_path / "nowhere.wav") in line
    bad.write_text("[numbers\n")
    assert str(bad) in one_red_line(
        run("sandbox", "callees", "--data-dir", str(tmp_path), env={"WIREXA_SANDBOX_CONFIG": str(bad)})
    )
    bad.write_text('[numbers."+1"]\nanwser = "busy"\n')
    assert "anwser" in one_red_line(
        run("sandbox", "callees", "--data-dir", str(tmp_path), env={"WIREXA_SANDBOX_CONFIG": str(bad)})
    )
