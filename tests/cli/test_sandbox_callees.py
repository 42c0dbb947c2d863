"""`wirexa sandbox callees`: the callees from the sandbox.toml the engine would use (the
[sandbox] config setting, else sandbox.toml beside the config file, else the built-in ones), the
file's path (or where one would be read), and the commented sandbox.toml `wirexa init` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

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


def test_json_names_the_file_in_use_or_where_one_would_be_read(tmp_path: Path) -> None:
    where = tmp_path / "sandbox.toml"
    body = json.loads(run("sandbox", "callees", "--data-dir", str(tmp_path), "--json").stdout)
    assert body["config"] == str(where) and body["config_exists"] is False  # none yet: where to put one
    where.write_text('[numbers."+15005550077"]\nanswer = "busy"\n')
    body = json.loads(run("sandbox", "callees", "--data-dir", str(tmp_path), "--json").stdout)
    assert body["config"] == str(where) and body["config_exists"] is True
    assert {c["number"]: c["answer"] for c in body["callees"]}["+15005550077"] == "busy"
    # Beside the config file, when it is elsewhere (--config / WIREXA_CONFIG).
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "wirexa.toml").write_text("")
    body = json.loads(
        run("sandbox", "callees", "--data-dir", str(tmp_path), "--config", str(etc / "wirexa.toml"), "--json").stdout
    )
    assert body["config"] == str(etc / "sandbox.toml") and body["config_exists"] is False


def test_on_a_terminal_the_table_names_the_file(tmp_path: Path) -> None:
    terminal = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    text = run("sandbox", "callees", "--data-dir", str(tmp_path), env=terminal).stdout
    assert f"Built-in callees: no {tmp_path / 'sandbox.toml'}" in text, text
    (tmp_path / "sandbox.toml").write_text("")
    text = run("sandbox", "callees", "--data-dir", str(tmp_path), env=terminal).stdout
    assert f"From {tmp_path / 'sandbox.toml'}" in text, text


def test_init_writes_a_commented_sandbox_toml_that_changes_nothing(tmp_path: Path) -> None:
    from wirexa.sip.sandbox_config import DEFAULT_BEHAVIOUR, SETTING_HELP, commented_toml, load_config

    assert list(SETTING_HELP) == list(DEFAULT_BEHAVIOUR)  # every setting is explained in the file
    assert run("init", "--data-dir", str(tmp_path), "--json").exit_code == 0
    written = tmp_path / "sandbox.toml"
    text = written.read_text()
    assert text == commented_toml()
    assert all(line.startswith("#") for line in text.splitlines() if line.strip())  # every setting commented out
    assert "# answer = " in text and '# [numbers."+15005550001"]' in text
    assert load_config(str(written)) == load_config("")  # it parses, and the callees are the built-in ones
    # Uncommented, its settings are the built-in ones too (the file cannot drift from the code).
    uncommented = tmp_path / "uncommented.toml"
    settings = text.split("# Example")[0].splitlines()
    tables_and_settings = [line[2:] for line in settings if re.match(r"# (\[|\w+ = )", line)]
    uncommented.write_text("\n".join(tables_and_settings))
    assert load_config(str(uncommented)) == load_config("")
    body = json.loads(run("sandbox", "callees", "--data-dir", str(tmp_path), "--json").stdout)
    assert body["config"] == str(written) and body["config_exists"] is True
    assert [c["number"] for c in body["callees"]][-1] == "*" and len(body["callees"]) == 6
    # init again keeps a file the user changed.
    written.write_text('[default]\nanswer = "silence"\n')
    assert run("init", "--data-dir", str(tmp_path), "--json").exit_code == 0
    assert written.read_text() == '[default]\nanswer = "silence"\n'


def test_the_repositorys_sandbox_toml_is_the_one_init_writes() -> None:
    from wirexa.sip.sandbox_config import commented_toml

    repo_copy = Path(__file__).resolve().parents[2] / "config" / "sandbox.toml"
    assert repo_copy.read_text(encoding="utf-8") == commented_toml(), (
        "regenerate: python -c 'from wirexa.sip.sandbox_config import commented_toml as t; print(t(), end=\"\")'"
        " > config/sandbox.toml"
    )


def test_the_network_table_sets_the_carriers_loss_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    from wirexa.sip.sandbox_config import SandboxConfigError, load_config, network_settings

    path = tmp_path / "sandbox.toml"
    assert network_settings("") == {"loss_pct": 0}
    path.write_text("[network]\nloss_pct = 5\n")
    assert network_settings(str(path)) == {"loss_pct": 5}
    assert load_config(str(path)) == load_config("")  # the callees are untouched
    body = json.loads(run("sandbox", "callees", "--data-dir", str(tmp_path), "--json").stdout)
    assert body["network"] == {"loss_pct": 5}
    for bad, why in (
        ("[network]\nloss_pct = 2.5\n", "whole percent"),
        ("[network]\nloss_pct = 100\n", "whole percent"),
        ("[network]\njitter_ms = 5\n", "unknown setting"),
        ("[networks]\nloss_pct = 5\n", "unknown top-level"),
    ):
        path.write_text(bad)
        with pytest.raises(SandboxConfigError, match=why):
            load_config(str(path))
