"""The Typer CLI through CliRunner: init, projects, calls, recordings, serve (its engine start
patched out), errors as one red line, --version and help texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from wirexa import config
from wirexa.cli import serve as serve_cli
from wirexa.cli.main import _register_optional, app
from wirexa.store.bootstrap import open_store
from wirexa.store.repo import CallRecord, ProjectRecord, RecordingRecord
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.notifications import insert_notification
from wirexa.store.repo.projects import create_project, get_project, list_projects
from wirexa.store.repo.recordings import insert_recording

_register_optional()
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def one_red_line(result: Any) -> str:
    """A known error: exit 1, exactly one line on stderr starting 'Error:', no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    return lines[0]  # type: ignore[no-any-return]


def test_version() -> None:
    import wirexa

    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"wirexa {wirexa.__version__}\n"


def test_no_arguments_shows_help() -> None:
    result = run()
    assert "init" in result.output and "serve" in result.output and "projects" in result.output


def test_init_json_twice_keeps_the_project(tmp_path: Path) -> None:
    first = run("init", "--data-dir", str(tmp_path), "--json")
    assert first.exit_code == 0, first.output
    info = json.loads(first.stdout)
    assert set(info) == {"project_id", "auth_token", "api_url", "space_url"}
    assert info["api_url"] == "http://127.0.0.1:5000" and info["space_url"] == "127.0.0.1:5000"
    assert info["project_id"].startswith("AC") and len(info["auth_token"]) == 32
    assert first.stdout.count("\n") == 1  # exactly one object, nothing else on stdout
    cfg = (tmp_path / "wirexa.toml").read_text()
    assert f'data_dir = "{tmp_path}"' in cfg
    second = json.loads(run("init", "--data-dir", str(tmp_path), "--json").stdout)
    assert second == info
    assert (tmp_path / "wirexa.toml").read_text() == cfg  # an existing config is kept
    assert (tmp_path / "wirexa.db").exists()
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(s)
    assert [p.sid for p in store.read_sync(list_projects)] == [info["project_id"]]
    store.close()


def test_init_table(tmp_path: Path) -> None:
    table = run("init", "--data-dir", str(tmp_path))
    assert table.exit_code == 0
    info = json.loads(run("init", "--data-dir", str(tmp_path), "--json").stdout)
    for text in (
        "Project ID",
        info["project_id"],
        "Auth Token",
        info["auth_token"],
        "http://127.0.0.1:5000",
        str(tmp_path / "wirexa.toml"),
    ):
        assert text in table.stdout


def test_init_port_and_env_data_dir(tmp_path: Path) -> None:
    result = run("init", "--port", "6123", "--json", env={"WIREXA_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["api_url"] == "http://127.0.0.1:6123" and info["space_url"] == "127.0.0.1:6123"
    assert config.load(env={"WIREXA_DATA_DIR": str(tmp_path)}).port == 6123  # written to the new config


@pytest.mark.parametrize("how", ["flag", "env"])
def test_init_creates_the_config_file_it_is_named(tmp_path: Path, how: str) -> None:
    """`--config NEW` (or WIREXA_CONFIG=NEW) is the file init writes, not one it must find."""
    cfg, data = tmp_path / "etc" / "wirexa.toml", tmp_path / "data"
    cfg.parent.mkdir()
    args, env = ["init", "--data-dir", str(data), "--port", "6124", "--json"], {}
    if how == "flag":
        args += ["--config", str(cfg)]
    else:
        env["WIREXA_CONFIG"] = str(cfg)
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["api_url"] == "http://127.0.0.1:6124"
    s = config.load(str(cfg), env={})
    assert (s.data_path, s.port) == (data, 6124)
    again = run("init", "--config", str(cfg), "--json")  # the file exists now: read, not written
    assert again.exit_code == 0 and json.loads(again.stdout) == json.loads(result.stdout)


def test_init_uses_public_url(tmp_path: Path) -> None:
    result = run("init", "--data-dir", str(tmp_path), "--json", env={"WIREXA_PUBLIC_URL": "https://voice.example.com/"})
    info = json.loads(result.stdout)
    assert info["api_url"] == "https://voice.example.com" and info["space_url"] == "voice.example.com"


def test_init_into_an_unwritable_place_is_one_red_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_red_line(run("init", "--data-dir", str(blocker / "sub")))
    assert "init failed" in line or "File exists" in line or "Not a directory" in line


def projects(tmp_path: Path, *args: str) -> Any:
    result = run("projects", *args, "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    return result


def test_projects_commands(tmp_path: Path) -> None:
    created = json.loads(projects(tmp_path, "create", "Acme", "--json").stdout)
    sid, token = created["sid"], created["auth_token"]
    assert created["friendly_name"] == "Acme" and created["credits"] == "unlimited"
    second = json.loads(projects(tmp_path, "create", "Beta", "--json").stdout)
    listed = [json.loads(line) for line in projects(tmp_path, "list", "--json").stdout.splitlines()]
    assert [p["sid"] for p in listed] == [sid, second["sid"]]
    table = projects(tmp_path, "list").stdout
    assert sid in table and "Acme" in table and "unlimited" in table
    shown = json.loads(projects(tmp_path, "show", sid, "--json").stdout)
    assert shown["auth_token"] == token
    assert "Acme" in projects(tmp_path, "show", sid).stdout
    rotated = json.loads(projects(tmp_path, "rotate-token", sid, "--json").stdout)
    assert rotated["auth_token"] != token and len(rotated["auth_token"]) == 32
    assert json.loads(projects(tmp_path, "show", sid, "--json").stdout)["auth_token"] == rotated["auth_token"]
    assert json.loads(projects(tmp_path, "show", second["sid"], "--json").stdout)["auth_token"] == second["auth_token"]


def test_project_name_is_text_not_markup(tmp_path: Path) -> None:
    sid = json.loads(projects(tmp_path, "create", "Acme [test] [bold]x", "--json").stdout)["sid"]
    assert "Acme [test] [bold]x" in projects(tmp_path, "show", sid).stdout
    assert "[test]" in projects(tmp_path, "list").stdout


def test_credits(tmp_path: Path) -> None:
    sid = json.loads(projects(tmp_path, "create", "Acme", "--json").stdout)["sid"]
    assert json.loads(projects(tmp_path, "credits", sid, "--set", "60", "--json").stdout)["credits"] == 60
    assert json.loads(projects(tmp_path, "credits", sid, "--add", "-10", "--json").stdout)["credits"] == 50
    assert json.loads(projects(tmp_path, "credits", sid, "--add", "25", "--json").stdout)["credits"] == 75
    assert json.loads(projects(tmp_path, "credits", sid, "--json").stdout)["credits"] == 75  # no flag: show
    assert "75 call-seconds" in projects(tmp_path, "credits", sid).stdout
    assert json.loads(projects(tmp_path, "credits", sid, "--unlimited", "--json").stdout)["credits"] == "unlimited"
    assert json.loads(projects(tmp_path, "credits", sid, "--set", "0", "--json").stdout)["credits"] == 0
    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(s)
    project = store.read_sync(get_project, sid)
    assert project is not None and project.credits_s == 0
    store.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--set", "1", "--unlimited"], "only one"),
        (["--set", "1", "--add", "2"], "only one"),
        (["--add", "1", "--unlimited"], "only one"),
        (["--set", "-5"], "0 or more"),
    ],
)
def test_credit_flag_errors(tmp_path: Path, flags: list[str], message: str) -> None:
    sid = json.loads(run("init", "--data-dir", str(tmp_path), "--json").stdout)["project_id"]
    assert message in one_red_line(run("projects", "credits", sid, *flags, "--data-dir", str(tmp_path)))
    shown = json.loads(run("projects", "show", sid, "--data-dir", str(tmp_path), "--json").stdout)
    assert shown["credits"] == "unlimited"  # nothing changed


@pytest.mark.parametrize(
    "args",
    [
        ["projects", "credits", "ACnope", "--set", "1"],
        ["projects", "show", "ACnope"],
        ["projects", "rotate-token", "ACnope"],
        ["calls", "show", "CAnope"],
        ["tail-webhooks", "--status", "bogus", "--no-follow"],
        ["recordings", "export", "OUT", "--format", "ogg"],
    ],
)
def test_known_errors_are_one_red_line(tmp_path: Path, args: list[str]) -> None:
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    one_red_line(run(*args, "--data-dir", str(tmp_path)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 'x'\n", "port must be int"),
        ("[nope]\nx = 1\n", "unknown section [nope]"),
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ("port = = 1\n", "cannot read config file"),
    ],
)
def test_bad_config_file_is_one_red_line(tmp_path: Path, text: str, message: str) -> None:
    # A long path: the line must not wrap at the terminal width (COLUMNS=120).
    folder = tmp_path / ("d" * 90)
    folder.mkdir()
    cfg = folder / "bad.toml"
    cfg.write_text(text)
    for args in (["calls", "list"], ["projects", "list"], ["init"], ["serve"]):
        line = one_red_line(run(*args, "--config", str(cfg)))
        assert message in line and str(cfg) in line


def test_bad_environment_is_one_red_line(tmp_path: Path) -> None:
    line = one_red_line(run("calls", "list", "--data-dir", str(tmp_path), env={"WIREXA_PORT": "many"}))
    assert "WIREXA_PORT" in line


def test_missing_config_file_is_one_red_line(tmp_path: Path) -> None:
    assert "not found" in one_red_line(run("projects", "list", "--config", str(tmp_path / "none.toml")))


def seed_calls(tmp_path: Path) -> tuple[ProjectRecord, list[CallRecord], RecordingRecord]:
    import datetime as dt

    s = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(s)
    project = store.write_sync(create_project, "p")
    other = store.write_sync(create_project, "q")
    base = dt.datetime(2026, 1, 1)
    calls = store.write_sync(
        lambda: [
            insert_call(
                account_sid=account,
                to_number="+15005550006",
                from_number="+15005550100",
                status=status,
                direction="outbound-api",
                now=base + dt.timedelta(seconds=i),
                duration_s=7 if status == "completed" else None,
            )
            for i, (account, status) in enumerate(
                [(project.sid, "completed"), (other.sid, "busy"), (project.sid, "queued")]
            )
        ]
    )
    store.write_sync(
        lambda: insert_notification(
            account_sid=project.sid,
            call_sid=calls[0].sid,
            error_code=11200,
            message_text="HTTP retrieval failure",
            request_url="http://h/x",
        )
    )
    wav = tmp_path / "r.wav"
    wav.write_bytes(b"RIFF....WAVE")
    rec = store.write_sync(
        lambda: insert_recording(
            account_sid=project.sid, call_sid=calls[0].sid, status="completed", source="RecordVerb", wav_path=str(wav)
        )
    )
    store.close()
    return project, calls, rec


def test_calls_list_and_show(tmp_path: Path) -> None:
    project, calls, _ = seed_calls(tmp_path)
    d = ["--data-dir", str(tmp_path)]

    def listed(*args: str) -> list[str]:
        result = run("calls", "list", *d, "--json", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["sid"] for line in result.stdout.splitlines()]

    assert listed() == [c.sid for c in reversed(calls)]  # newest first, every project
    assert listed("--project", project.sid) == [calls[2].sid, calls[0].sid]
    assert listed("--status", "busy") == [calls[1].sid]
    assert listed("--limit", "1") == [calls[2].sid]
    table = run("calls", "list", *d).stdout
    assert all(c.sid in table for c in calls) and "7s" in table and "Call SID" in table
    shown = json.loads(run("calls", "show", calls[0].sid, *d, "--json").stdout)
    assert (
        shown["status"] == "completed"
        and shown["duration"] == "7"
        and shown["uri"].startswith(f"/2010-04-01/Accounts/{project.sid}/")
    )
    assert shown["notifications"] == [{"error_code": 11200, "message": "HTTP retrieval failure", "url": "http://h/x"}]
    text = run("calls", "show", calls[0].sid, *d).stdout
    assert calls[0].sid in text and "11200" in text and "HTTP retrieval failure" in text


def test_recordings_export(tmp_path: Path) -> None:
    _, calls, rec = seed_calls(tmp_path)
    exported = run("recordings", "export", str(tmp_path / "out"), "--data-dir", str(tmp_path), "--json")
    assert json.loads(exported.stdout)["path"].endswith(f"{calls[0].sid}_{rec.sid}.wav")
    assert (tmp_path / "out" / f"{calls[0].sid}_{rec.sid}.wav").read_bytes() == b"RIFF....WAVE"


# --- serve, with the engine start patched out ------------------------------------------------------


def test_serve_builds_settings_from_flags_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wirexa.toml").write_text('host = "127.0.0.2"\nport = 7001\n[sip]\nworkers_max = 3\n')
    seen: list[Any] = []

    async def fake_run(settings: Any, reread: Any = None) -> None:
        seen.append(settings)
        if reread is not None:  # what SIGHUP re-reads: the same sources
            assert reread() == settings

    monkeypatch.setattr(serve_cli, "run_until_signal", fake_run)
    result = run("serve", "--data-dir", str(tmp_path), "--port", "7002", env={"WIREXA_SIP_WORKERS_MAX": "5"})
    assert result.exit_code == 0, result.output
    (s,) = seen
    assert (s.host, s.port, s.sip_workers_max, s.data_dir) == ("127.0.0.2", 7002, 5, str(tmp_path))
    assert s.config_file == str(tmp_path / "wirexa.toml")
    seen.clear()
    run("serve", "--data-dir", str(tmp_path), "--host", "127.0.0.3", env={"WIREXA_PORT": "7003"})
    assert (seen[0].host, seen[0].port) == ("127.0.0.3", 7003)


@pytest.mark.parametrize(("healthy", "code"), [(True, 0), (False, 1)])
def test_serve_check_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, healthy: bool, code: int) -> None:
    seen: list[Any] = []

    async def fake_check(settings: Any) -> bool:
        seen.append(settings)
        return healthy

    monkeypatch.setattr(serve_cli, "check", fake_check)
    result = run("serve", "--check", "--data-dir", str(tmp_path), "--port", "7002")
    assert result.exit_code == code
    assert (seen[0].host, seen[0].port) == ("127.0.0.1", 0)  # --check binds a free loopback port


def test_serve_start_failure_is_one_red_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def busy(settings: Any, reread: Any = None) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(serve_cli, "run_until_signal", busy)
    assert "Address already in use" in one_red_line(run("serve", "--data-dir", str(tmp_path)))


# --- help ------------------------------------------------------------------------------------------


def commands() -> list[tuple[str, Any]]:
    """Every command of the tree (typer vendors click: duck-typed, not isinstance click.Group)."""
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        found.append((path, cmd))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(get_command(app), "wirexa")
    return found


def test_every_command_option_and_argument_has_help() -> None:
    missing: list[str] = []
    for path, cmd in commands():
        if not cmd.help and not cmd.short_help and path != "wirexa":
            missing.append(f"{path} (command)")
        for p in cmd.params:
            if p.name == "help" or getattr(p, "hidden", False):
                continue
            if not getattr(p, "help", None):
                missing.append(f"{path} {p.name}")
    assert missing == []
    names = {path for path, _ in commands()}
    assert {
        "wirexa projects credits",
        "wirexa calls show",
        "wirexa serve",
        "wirexa init",
    } <= names  # the walk reaches them
    options = [p for _, cmd in commands() for p in cmd.params if p.param_type_name == "option"]
    assert len(options) > 40


@pytest.mark.parametrize("path", [p for p, _ in commands()])
def test_help_of_every_command(path: str) -> None:
    result = run(*path.split()[1:], "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout
