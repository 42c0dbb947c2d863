"""`wirexa numbers` and `wirexa phones` through CliRunner on a data dir's store: register, list,
show, update and remove numbers; add, list and remove desk phones; bad input as one red line
(exit 2), several projects needing --project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wirexa import config
from wirexa.cli.main import _register_optional, app
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.numbers import find_route
from wirexa.store.repo.phones import find_phone
from wirexa.store.repo.projects import create_project

_register_optional()
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def red_line(result: Any, code: int = 2) -> str:
    """A refused command: exit `code`, one 'Error:' line on stderr, no traceback, nothing on stdout."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    return lines[0]  # type: ignore[no-any-return]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run("init", "--data-dir", str(tmp_path), "--json").exit_code == 0
    return tmp_path


def store_of(data: Path) -> Any:
    return open_store(config.load(overrides={"data_dir": str(data)}, env={}))


def test_numbers_add_list_show_update_remove(data: Path) -> None:
    d = ("--data-dir", str(data))
    result = run("numbers", "add", "+14155550100", "--voice-url", "http://127.0.0.1:9/voice", "--json", *d)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["phone_number"] == "+14155550100" and body["friendly_name"] == "(415) 555-0100"
    assert body["voice_url"] == "http://127.0.0.1:9/voice" and body["sid"].startswith("PN")
    store = store_of(data)
    route = store.read_sync(find_route, "+14155550100")
    assert (
        route is not None and route.voice_url == "http://127.0.0.1:9/voice" and route.account_sid == body["account_sid"]
    )
    result = run("numbers", "add", "+18005550199", "--voice-url", "https://example.com/ivr", "--voice-method", "get",
                 "--fallback-url", "https://example.com/fb", "--status-callback", "https://example.com/st",
                 "--friendly-name", "Sales", *d)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Sales" in result.stdout and "GET https://example.com/ivr" in result.stdout
    listed = run("numbers", "list", *d)
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["Number", "SID"] and len(lines) == 3
    assert lines[1].startswith("+18005550199\t") and lines[2].startswith("+14155550100\t")
    as_json = [json.loads(line) for line in run("numbers", "list", "--json", *d).stdout.splitlines()]
    assert [n["type"] for n in as_json] == ["toll-free", "local"]
    shown = run("numbers", "show", body["sid"][:8], "--json", *d)
    assert json.loads(shown.stdout)["sid"] == body["sid"]
    result = run("numbers", "update", "+14155550100", "--voice-url", "http://127.0.0.1:9/v2",
                 "--fallback-url", "http://127.0.0.1:9/fb", "--json", *d)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["voice_fallback_url"] == "http://127.0.0.1:9/fb"
    assert store.read_sync(find_route, "+14155550100").voice_url == "http://127.0.0.1:9/v2"
    result = run("numbers", "update", "+14155550100", "--fallback-url", "", "--friendly-name", "", "--json", *d)
    updated = json.loads(result.stdout)
    assert updated["voice_fallback_url"] is None and updated["friendly_name"] == "(415) 555-0100"
    result = run("numbers", "remove", "+14155550100", *d)
    assert result.exit_code == 0 and "Removed +14155550100" in result.stdout
    assert store.read_sync(find_route, "+14155550100") is None
    assert "no number +14155550100 is registered" in red_line(run("numbers", "show", "+14155550100", *d), code=1)
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("numbers", "add", "4155550100", "--voice-url", "http://x/v"), "is not a phone number in E.164 form"),
        (("numbers", "add", "+14155550100"), "--voice-url is required"),
        (("numbers", "add", "+14155550100", "--voice-url", "ftp://x"), "--voice-url must be an http:// or https://"),
        (("numbers", "add", "+14155550100", "--voice-url", "http://x/v", "--voice-method", "PUT"), "GET or POST"),
        (("numbers", "add", "+14155550100", "--voice-url", "http://x/v", "--friendly-name", "x" * 65), "64 characters"),
        (("numbers", "update", "+14155550100", "--voice-url", ""), "--voice-url cannot be empty"),
        (("numbers", "show", "12345"), "no number 12345"),
        (("numbers", "add", "+1415", "--bogus"), "No such option: --bogus"),
        (("phones", "add", "al ice"), "is not a phone name"),
        (("phones", "add", "wirexa-sandbox"), "reserved for the sandbox caller"),
        (("phones", "add", "alice", "--password", "short"), "--password must be 8 to 128 printable"),
        (("phones", "add", "alice", "--password", "x" * 129), "--password must be 8 to 128 printable"),
    ],
)
def test_bad_input_is_one_red_line(data: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--data-dir", str(data))
    code = 1 if message.startswith("no number") else 2
    assert message in red_line(result, code=code)


def test_several_projects_need_project(data: Path) -> None:
    d = ("--data-dir", str(data))
    store = store_of(data)
    other = store.write_sync(create_project, "other")
    store.close()
    assert "say which with --project" in red_line(
        run("numbers", "add", "+14155550100", "--voice-url", "http://x/v", *d)
    )
    assert "say which with --project" in red_line(run("phones", "add", "alice", *d))
    result = run(
        "numbers", "add", "+14155550100", "--voice-url", "http://x/v", "--project", other.sid[:10], "--json", *d
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["account_sid"] == other.sid
    first = [p for p in run("projects", "list", "--json", *d).stdout.splitlines() if other.sid not in p]
    mine = json.loads(first[0])["sid"]
    again = run("numbers", "add", "+14155550100", "--voice-url", "http://x/v", "--project", mine, *d)
    assert "+14155550100 is registered already" in red_line(again, code=1)


def test_phones_add_list_remove(data: Path) -> None:
    d = ("--data-dir", str(data))
    result = run("phones", "add", "alice", *d)
    assert result.exit_code == 0, result.output
    assert "Password: " in result.stdout and "shown this once" in result.stdout
    assert "<Dial><Sip>sip:alice@wirexa</Sip></Dial>" in result.stdout
    password = next(line for line in result.stdout.splitlines() if line.startswith("Password: ")).split()[1]
    store = store_of(data)
    alice = store.read_sync(find_phone, "alice")
    assert alice is not None and alice.password == password and len(password) >= 16
    result = run("phones", "add", "bob", "--password", "correct-horse", "--json", *d)
    bob = json.loads(result.stdout)
    assert (bob["username"], bob["password"], bob["sip_uri"]) == ("bob", "correct-horse", "sip:bob@wirexa")
    assert "exists already" in red_line(run("phones", "add", "bob", *d), code=1)
    listed = run("phones", "list", *d)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["Name", "alice", "bob"]
    assert "correct-horse" not in listed.stdout and password not in listed.stdout
    assert [json.loads(line)["username"] for line in run("phones", "list", "--json", *d).stdout.splitlines()] == [
        "alice",
        "bob",
    ]
    assert run("phones", "remove", "alice", *d).exit_code == 0
    assert store.read_sync(find_phone, "alice") is None
    assert "no phone named alice" in red_line(run("phones", "remove", "alice", *d), code=1)
    store.close()
