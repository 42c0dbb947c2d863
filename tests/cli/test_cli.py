"""The Typer CLI through CliRunner: init, projects, calls, recordings, errors and help texts."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from wirexa import config
from wirexa.cli.main import _register_optional, app
from wirexa.store import repo
from wirexa.store.bootstrap import open_store

_register_optional()
runner = CliRunner()


def run(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("wirexa ")  # type: ignore[attr-defined]


def test_init_json_twice_keeps_the_project(tmp_path: Path) -> None:
    first = run("init", "--data-dir", str(tmp_path), "--json")
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    info = json.loads(first.stdout)  # type: ignore[attr-defined]
    assert set(info) == {"project_id", "auth_token", "api_url", "space_url"}
    assert info["api_url"] == "http://127.0.0.1:5000" and info["space_url"] == "127.0.0.1:5000"
    second = json.loads(run("init", "--data-dir", str(tmp_path), "--json").stdout)  # type: ignore[attr-defined]
    assert second == info
    assert (tmp_path / "wirexa.toml").exists() and (tmp_path / "wirexa.db").exists()
    table = run("init", "--data-dir", str(tmp_path))
    assert info["project_id"] in table.stdout and info["auth_token"] in table.stdout  # type: ignore[attr-defined]


def test_projects_commands(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path)]
    created = json.loads(run("projects", "create", "Acme", *d, "--json").stdout)  # type: ignore[attr-defined]
    sid, token = created["sid"], created["auth_token"]
    listed = [json.loads(line) for line in run("projects", "list", *d, "--json").stdout.splitlines()]  # type: ignore[attr-defined]
    assert sid in [p["sid"] for p in listed]
    rotated = json.loads(run("projects", "rotate-token", sid, *d, "--json").stdout)  # type: ignore[attr-defined]
    assert rotated["auth_token"] != token
    assert json.loads(run("projects", "credits", sid, "--set", "60", *d, "--json").stdout)["credits"] == 60  # type: ignore[attr-defined]
    assert json.loads(run("projects", "credits", sid, "--add", "-10", *d, "--json").stdout)["credits"] == 50  # type: ignore[attr-defined]
    assert json.loads(run("projects", "credits", sid, "--unlimited", *d, "--json").stdout)["credits"] == "unlimited"  # type: ignore[attr-defined]
    shown = run("projects", "show", sid, *d)
    assert "Acme" in shown.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "args",
    [
        ["projects", "credits", "ACnope", "--set", "1"],
        ["projects", "show", "ACnope"],
        ["calls", "show", "CAnope"],
        ["tail-webhooks", "--status", "bogus", "--no-follow"],
        ["recordings", "export", "OUT", "--format", "ogg"],
    ],
)
def test_known_errors_are_one_red_line(tmp_path: Path, args: list[str]) -> None:
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    result = run(*args, "--data-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1  # type: ignore[attr-defined]


def test_conflicting_credit_flags(tmp_path: Path) -> None:
    sid = json.loads(run("init", "--data-dir", str(tmp_path), "--json").stdout)["project_id"]  # type: ignore[attr-defined]
    result = run("projects", "credits", sid, "--set", "1", "--unlimited", "--data-dir", str(tmp_path))
    assert result.exit_code == 1 and "only one" in result.stderr  # type: ignore[attr-defined]


def test_bad_config_file_is_one_red_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("port = 'x'\n")
    result = run("calls", "list", "--config", str(cfg))
    assert result.exit_code == 1 and "port must be int" in result.stderr  # type: ignore[attr-defined]


def test_calls_and_recordings_listing(tmp_path: Path) -> None:
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(s)
    project = store.write_sync(repo.create_project, "p")
    call = store.write_sync(
        lambda: repo.insert_call(account_sid=project.sid, to_number="+15005550006", from_number="+15005550100", status="completed", direction="outbound-api")
    )
    wav = tmp_path / "r.wav"
    wav.write_bytes(b"RIFF....WAVE")
    rec = store.write_sync(lambda: repo.insert_recording(account_sid=project.sid, call_sid=call.sid, status="completed", source="RecordVerb", wav_path=str(wav)))
    store.close()
    d = ["--data-dir", str(tmp_path)]
    lines = run("calls", "list", *d, "--json").stdout.splitlines()  # type: ignore[attr-defined]
    assert [json.loads(line)["sid"] for line in lines] == [call.sid]
    assert json.loads(run("calls", "show", call.sid, *d, "--json").stdout)["status"] == "completed"  # type: ignore[attr-defined]
    assert call.sid in run("calls", "list", *d).stdout  # type: ignore[attr-defined]
    exported = run("recordings", "export", str(tmp_path / "out"), *d, "--json")
    assert json.loads(exported.stdout)["path"].endswith(f"{call.sid}_{rec.sid}.wav")  # type: ignore[attr-defined]
    assert (tmp_path / "out" / f"{call.sid}_{rec.sid}.wav").read_bytes() == b"RIFF....WAVE"


def test_every_option_has_help() -> None:
    missing: list[str] = []

    def walk(cmd: click.Command, path: str) -> None:
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.help and p.name != "help":
                missing.append(f"{path} {p.name}")
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")

    walk(get_command(app), "wirexa")
    assert missing == []
