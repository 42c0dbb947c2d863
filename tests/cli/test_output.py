"""What the CLI prints for people to copy: whole SIDs, numbers and URLs at any width, plain lines in a
pipe, unique SID prefixes in `show` commands, a call's webhooks in `calls show`, help without type
noise, and usage errors as one red line with exit 2 (issues 8, 9 and 11)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest

from tests.cli.test_cli import commands, one_red_line, run, seed_calls
from wirexa import config
from wirexa.store.bootstrap import open_store
from wirexa.store.repo import ProjectRecord, WebhookRecord
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.webhooks import insert_webhook

README = Path(__file__).resolve().parents[2] / "README.md"
BOX = set("╭╮╰╯│┃━─┏┓┗┛┡┩└┘┌┐")
LONG_URL = "https://hooks.example.com/voice/status-callbacks/customer-12345/receive?token=abcdef0123456789"
# rich reads TTY_COMPATIBLE: the output is a terminal although CliRunner's stdout is not a tty.
# (Not TERM=dumb: rich pins a dumb terminal to 80 columns.)
TERMINAL = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1"}


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    """stdout of a successful run, without the style escapes a terminal gets."""
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)


def plain_rows(text: str) -> list[list[str]]:
    """A listing printed to a pipe: a header line then one tab-separated line per row, no box."""
    assert not BOX & set(text) and "…" not in text, text
    return [line.split("\t") for line in text.splitlines()]


def seed_webhooks(tmp_path: Path, call_sid: str, account_sid: str) -> list[WebhookRecord]:
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    rows = [
        store.write_sync(
            lambda event=event: insert_webhook(
                account_sid=account_sid,
                call_sid=call_sid,
                kind="call-status",
                event=event,
                url=LONG_URL,
                method="POST",
                params=[("CallStatus", event)],
            )
        )
        for event in ("initiated", "completed")
    ]
    store.close()
    return rows


def insert_calls(tmp_path: Path, sids: list[str]) -> ProjectRecord:
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    project = store.write_sync(create_project, "p")
    for sid in sids:
        store.write_sync(
            lambda sid=sid: insert_call(
                sid=sid,
                account_sid=project.sid,
                to_number="+15005550006",
                from_number="+15005550100",
                status="completed",
                direction="outbound-api",
            )
        )
    store.close()
    return project


# --- nothing a user copies is cut -----------------------------------------------------------------


def test_calls_list_in_a_pipe_at_80_columns_is_plain_lines_with_whole_sids(tmp_path: Path) -> None:
    _, calls, _ = seed_calls(tmp_path)
    rows = plain_rows(ok("calls", "list", "--data-dir", str(tmp_path), env={"COLUMNS": "80"}))
    assert rows[0] == ["Call SID", "Status", "From", "To", "Created", "Duration"]
    assert [r[0] for r in rows[1:]] == [c.sid for c in reversed(calls)]
    assert all(len(r[0]) == 34 for r in rows[1:])
    assert rows[-1][1:4] == ["completed", "+15005550100", "+15005550006"] and rows[-1][5] == "7s"


def test_tail_webhooks_in_a_pipe_at_80_columns_keeps_sids_and_urls(tmp_path: Path) -> None:
    project, calls, _ = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)
    rows = plain_rows(ok("tail-webhooks", "--no-follow", "--data-dir", str(tmp_path), env={"COLUMNS": "80"}))
    assert rows[0][:4] == ["Time", "Call", "Event", "URL"] and "Status" in rows[0]
    status = rows[0].index("Status")
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        (calls[0].sid, "initiated", LONG_URL),
        (calls[0].sid, "completed", LONG_URL),
    ]
    assert rows[1][status] == "pending"


def test_recordings_and_projects_lists_in_a_pipe_keep_sids(tmp_path: Path) -> None:
    project, calls, rec = seed_calls(tmp_path)
    d = ["--data-dir", str(tmp_path)]
    recordings = plain_rows(ok("recordings", "list", *d, env={"COLUMNS": "80"}))
    assert recordings[0][:3] == ["Recording SID", "Call SID", "Status"]
    assert recordings[1][:3] == [rec.sid, calls[0].sid, "completed"]
    projects = plain_rows(ok("projects", "list", *d, env={"COLUMNS": "80"}))
    assert projects[0][:2] == ["Project ID", "Name"] and projects[1][:3] == [project.sid, "p", "active"]


@pytest.mark.parametrize("columns", ["80", "100", "200"])
def test_terminal_listings_never_cut_anything(tmp_path: Path, columns: str) -> None:
    """On a terminal SIDs, numbers and statuses are whole on one line at any width (one line per
    row with the columns that fit); a URL is whole on one line, one of its own if need be
    (tests/cli/test_layout.py has the layouts at 80 and 120 columns)."""
    project, calls, rec = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)
    env = {**TERMINAL, "COLUMNS": columns}
    d = ["--data-dir", str(tmp_path)]
    outputs = {
        "calls": ok("calls", "list", *d, env=env),
        "webhooks": ok("tail-webhooks", "--no-follow", *d, env=env),
        "recordings": ok("recordings", "list", *d, env=env),
        "projects": ok("projects", "list", *d, env=env),
        "show": ok("calls", "show", calls[0].sid, *d, env=env),
    }
    for name, text in outputs.items():
        assert "…" not in text and "..." not in text, (name, text)
        # Only a word longer than the line (a URL) is wider, on a line of its own.
        assert all(len(line) <= int(columns) or len(line.split()) == 1 for line in text.splitlines()), (name, text)
    whole = {
        "calls": [c.sid for c in calls] + ["+15005550006", "completed", "busy", "queued"],  # From: only if it fits
        "webhooks": [calls[0].sid, "initiated", "completed", "pending"],
        "recordings": [rec.sid, calls[0].sid] + (["completed"] if columns != "80" else []),  # 81 columns with it
        "projects": [project.sid],
        "show": [calls[0].sid, project.sid, "+15005550006", "11200", "initiated", "pending"],
    }
    for name, values in whole.items():
        assert all(v in outputs[name] for v in values), (name, outputs[name])
    assert all(line.split()[:2] == ["Call", "SID"] for line in outputs["calls"].splitlines()[:1])  # a table
    assert LONG_URL in outputs["show"].split()
    if columns == "200":
        assert LONG_URL in outputs["webhooks"].split() and "+15005550100" in outputs["calls"]
    else:  # no room for it beside the SID: left out, not folded
        assert "https:" not in outputs["webhooks"]


def test_calls_show_in_a_pipe_is_plain_lines(tmp_path: Path) -> None:
    _, calls, _ = seed_calls(tmp_path)
    text = ok("calls", "show", calls[0].sid, "--data-dir", str(tmp_path), env={"COLUMNS": "40"})
    rows = plain_rows(text)
    assert ["sid", calls[0].sid] in rows and ["status", "completed"] in rows


# --- unique SID prefixes in show commands -----------------------------------------------------------


def test_calls_show_accepts_a_unique_prefix(tmp_path: Path) -> None:
    _, calls, _ = seed_calls(tmp_path)
    shown = json.loads(ok("calls", "show", calls[1].sid[:12], "--data-dir", str(tmp_path), "--json"))
    assert shown["sid"] == calls[1].sid
    assert calls[1].sid in ok("calls", "show", calls[1].sid[:12], "--data-dir", str(tmp_path))


def test_calls_show_ambiguous_and_unknown_prefix(tmp_path: Path) -> None:
    a, b = "CAdeadbeef" + "0" * 24, "CAdeadbeef" + "1" * 24
    insert_calls(tmp_path, [a, b])
    d = ["--data-dir", str(tmp_path)]
    line = one_red_line(run("calls", "show", "CAdeadbeef", *d))
    assert "matches 2 calls" in line and a in line and b in line
    assert json.loads(ok("calls", "show", "CAdeadbeef1", *d, "--json"))["sid"] == b
    assert json.loads(ok("calls", "show", a, *d, "--json"))["sid"] == a
    assert "no call CAfeed" in one_red_line(run("calls", "show", "CAfeed", *d))
    assert "no call CAdeadbeef%" in one_red_line(run("calls", "show", "CAdeadbeef%", *d))  # no SQL wildcards
    assert "no call cadeadbeef" in one_red_line(run("calls", "show", "cadeadbeef", *d))  # case matters


def test_projects_show_accepts_a_unique_prefix(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path)]
    first = json.loads(ok("projects", "create", "Acme", *d, "--json"))
    json.loads(ok("projects", "create", "Beta", *d, "--json"))
    assert json.loads(ok("projects", "show", first["sid"][:14], *d, "--json"))["friendly_name"] == "Acme"
    assert "matches 2 projects" in one_red_line(run("projects", "show", "AC", *d))
    assert "no project ACnope" in one_red_line(run("projects", "show", "ACnope", *d))


def test_sandbox_show_accepts_a_unique_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox"
    folder.mkdir()
    for sid in ("CA" + "ab" * 16, "CA" + "ac" * 16):
        log = {
            "call_sid": sid,
            "number": "+15005550006",
            "behaviour": "answer",
            "events": [{"t": 0.5, "event": "answered"}],
            "wav": str(tmp_path / "none.wav"),
        }
        (folder / f"{sid}.json").write_text(json.dumps(log))
    d = ["--data-dir", str(tmp_path)]
    assert json.loads(ok("sandbox", "show", "CAabab", *d, "--json"))["call_sid"] == "CA" + "ab" * 16
    assert "matches 2 calls" in one_red_line(run("sandbox", "show", "CAa", *d))
    assert "no call" in one_red_line(run("sandbox", "show", "CAff", *d))


# --- calls show lists the call's webhooks -----------------------------------------------------------


def test_calls_show_lists_its_webhooks(tmp_path: Path) -> None:
    project, calls, _ = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)
    seed_webhooks(tmp_path, calls[2].sid, project.sid)  # another call's: not shown
    d = ["--data-dir", str(tmp_path)]
    shown = json.loads(ok("calls", "show", calls[0].sid, *d, "--json"))
    hooks = [(w["event"], w["url"], w["method"], w["attempts"], w["status"]) for w in shown["webhooks"]]
    assert hooks == [("initiated", LONG_URL, "POST", 0, "pending"), ("completed", LONG_URL, "POST", 0, "pending")]
    assert json.loads(ok("calls", "show", calls[1].sid, *d, "--json"))["webhooks"] == []
    rows = plain_rows(ok("calls", "show", calls[0].sid, *d))
    header = rows.index(["Time", "Event", "URL", "Attempt", "Result", "Status", "Next retry"])
    assert [r[1:4] for r in rows[header + 1 :]] == [["initiated", LONG_URL, "0"], ["completed", LONG_URL, "0"]]
    assert rows[header + 1][5] == "pending" and rows[header - 1] == [""]  # set off by an empty line
    table = ok("calls", "show", calls[0].sid, *d, env={**TERMINAL, "COLUMNS": "200"})
    assert LONG_URL in table and "initiated" in table and "Webhooks" in table


# --- help and usage errors ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p, _ in commands()])
def test_help_shows_no_type_noise(path: str) -> None:
    result = run(*path.split()[1:], "--help")
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert not re.search(r"[{}]", usage), usage


def test_call_usage_names_its_argument() -> None:
    usage = next(line for line in run("call", "--help").stdout.splitlines() if "Usage:" in line)
    assert usage.split() == ["Usage:", "wirexa", "call", "[OPTIONS]", "TO"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calls", "list", "--bogus"], "No such option: --bogus"),
        (["calls", "list", "--limit", "x"], "--limit"),
        (["calls", "list", "--limit", "0"], "--limit"),
        (["calls", "show"], "Missing argument"),
        (["nope"], "No such command"),
        (["--bogus"], "No such option"),
        (["call", "+15005550006", "--json", "extra"], "unexpected extra argument"),
    ],
)
def test_usage_errors_are_one_red_line_and_exit_2(args: list[str], message: str) -> None:
    result: Any = run(*args)
    assert result.exit_code == 2, result.output
    assert not BOX & set(result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "--help" in lines[0] and result.stdout == ""


def test_readme_documents_the_exit_codes() -> None:
    text = README.read_text(encoding="utf-8")
    assert "usage errors" in text.lower() and "exit 2" in text and "exit 1" in text


def test_tail_webhooks_follow_into_a_pipe_streams_plain_lines(tmp_path: Path) -> None:
    """The real console script with stdout a pipe: a header, then a line per delivery as it is
    seen (rich's Live would print nothing until it stops)."""
    import select
    import subprocess
    import sys
    import time

    project, calls, _ = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)
    out = b""
    with subprocess.Popen(
        [sys.executable, "-m", "wirexa", "tail-webhooks", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"},
    ) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while out.count(b"\n") < 3 and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = cast(io.BufferedReader, proc.stdout).read1(65536)
                if not chunk:
                    break
                out += chunk
        proc.terminate()
    rows = plain_rows(out.decode())
    assert rows[0][:4] == ["Time", "Call", "Event", "URL"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        (calls[0].sid, "initiated", LONG_URL),
        (calls[0].sid, "completed", LONG_URL),
    ]
