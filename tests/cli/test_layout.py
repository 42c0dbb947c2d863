"""What a person sees on an 80x24 terminal, and on a 120-column one (defects issue, item 9): one
line per doctor check (its fix under it only when it failed), one line per call, recording,
project and delivery with the whole SID and the columns that fit, `calls show` with every URL
whole on one line, and `--help` with room for its descriptions. Into a pipe nothing changes
(tests/cli/test_output.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.test_cli import commands, run, seed_calls
from tests.cli.test_doctor import ports  # noqa: F401 - the fixture
from tests.cli.test_output import LONG_URL, TERMINAL, seed_webhooks
from wirexa import config
from wirexa.cli import doctor
from wirexa.cli.doctor import FAIL, OK, WARN, Check
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.webhooks import insert_webhook

WIDTHS = [80, 120]
SHORT_URL = "https://example.com/status"


def screen(*args: str, width: int, env: dict[str, str] | None = None, code: int = 0) -> list[str]:
    """The lines a terminal `width` columns wide shows (styles stripped); none is wider than that
    unless it is one word on its own (a URL longer than the line)."""
    result = run(*args, env={**TERMINAL, "COLUMNS": str(width), **(env or {})})
    assert result.exit_code == code, result.output
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
    for line in lines:
        assert len(line) <= width or len(line.split()) == 1, (width, line)
    return lines


def rows_with(lines: list[str], value: str) -> list[str]:
    return [line for line in lines if value in line]


# --- listings: one line per row ---------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_calls_list_is_one_line_per_call(tmp_path: Path, width: int) -> None:
    _, calls, _ = seed_calls(tmp_path)
    lines = screen("calls", "list", "--data-dir", str(tmp_path), width=width)
    assert len(lines) == 2 + len(calls), lines  # a header, its rule, a line per call
    header = lines[0].split()
    assert header[:3] == ["Call", "SID", "Status"] and "To" in header
    if width == 80:  # the columns that fit: To and Created, not From or Duration
        assert header == ["Call", "SID", "Status", "To", "Created"]
    for c in calls:
        (line,) = rows_with(lines, c.sid)
        assert line.split()[1] == c.status and "+15005550006" in line
    if width == 120:  # every column
        assert header == ["Call", "SID", "Status", "From", "To", "Created", "Duration"]
        assert re.search(r"completed +\+15005550100 +\+15005550006 +2026-01-01 00:00:00 +7s$", lines[-1])


@pytest.mark.parametrize("width", WIDTHS)
def test_tail_webhooks_is_one_line_per_delivery(tmp_path: Path, width: int) -> None:
    project, calls, _ = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)  # LONG_URL: wider than what is left on the line
    d = ["--data-dir", str(tmp_path)]
    lines = screen("tail-webhooks", "--no-follow", *d, width=width)
    assert len(lines) == 2 + 2, lines
    assert [line.split()[1:3] for line in lines[2:]] == [[calls[0].sid, "initiated"], [calls[0].sid, "completed"]]
    assert "pending" in lines[2] and "waiting" in lines[3]
    assert not any("https:" in line for line in lines)  # a URL that does not fit is left out, not cut
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    store.write_sync(
        lambda: insert_webhook(
            account_sid=project.sid,
            call_sid=calls[1].sid,
            kind="call-status",
            event="ringing",
            url=SHORT_URL,
            method="POST",
            params=[],
        )
    )
    store.close()
    lines = screen("tail-webhooks", "--no-follow", "--call", calls[1].sid, *d, width=width)
    assert len(lines) == 3 and calls[1].sid in lines[2]
    if width == 120:
        assert "URL" in lines[0].split() and SHORT_URL in lines[2].split()


@pytest.mark.parametrize("width", WIDTHS)
def test_recordings_and_projects_are_one_line_each(tmp_path: Path, width: int) -> None:
    project, calls, rec = seed_calls(tmp_path)
    d = ["--data-dir", str(tmp_path)]
    lines = screen("recordings", "list", *d, width=width)
    assert len(lines) == 3 and lines[2].split()[:2] == [rec.sid, calls[0].sid]
    lines = screen("projects", "list", *d, width=width)
    assert len(lines) == 4 and lines[2].split()[:3] == [project.sid, "p", "active"]


def test_a_long_name_is_cut_to_fit_never_a_sid(tmp_path: Path) -> None:
    """Free text (a project's name) is cut with an ellipsis to keep its row on one line."""
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    project = store.write_sync(create_project, "A very long project name " * 4)
    store.close()
    lines = screen("projects", "list", "--data-dir", str(tmp_path), width=80)
    assert len(lines) == 3 and lines[2].startswith(project.sid + " ") and "…" in lines[2]


# --- calls show: key/value, URLs whole --------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_calls_show_keeps_every_url_whole_on_one_line(tmp_path: Path, width: int) -> None:
    project, calls, _ = seed_calls(tmp_path)
    seed_webhooks(tmp_path, calls[0].sid, project.sid)
    sid = calls[0].sid
    uri = f"/2010-04-01/Accounts/{project.sid}/Calls/{sid}.json"
    lines = screen("calls", "show", sid, "--data-dir", str(tmp_path), width=width)
    assert re.fullmatch(rf"sid +{sid}", lines[0].rstrip()), lines[0]
    assert any(line.split() == ["status", "completed"] for line in lines)
    (uri_line,) = rows_with(lines, uri)  # on the `uri` line when it fits, else on its own
    assert uri_line.split() == (["uri", uri] if width == 120 else [uri])
    if width == 80:
        assert lines[lines.index(uri_line) - 1].split() == ["uri"]
    assert len(rows_with(lines, LONG_URL)) == 2  # both deliveries' URL, whole
    assert not any("https://" in line and LONG_URL not in line for line in lines)  # no piece of one
    deliveries = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert [line.split()[1] for line in deliveries] == ["initiated", "completed"]
    assert rows_with(lines, "11200")[0].split()[:3] == ["11200", "HTTP", "retrieval"]


def test_calls_show_at_80_columns_fits_a_screen_or_so(tmp_path: Path) -> None:
    """No empty cells, no `Field  Value` header: the fields with a value, one line each."""
    project, calls, _ = seed_calls(tmp_path)
    lines = screen("calls", "show", calls[0].sid, "--data-dir", str(tmp_path), width=80)
    shown = json.loads(run("calls", "show", calls[0].sid, "--data-dir", str(tmp_path), "--json").stdout)
    fields = [k for k, v in shown.items() if v not in (None, "") and not isinstance(v, dict | list)]
    assert [line.split()[0] for line in lines[: len(fields) + 1] if line.split()[0] != shown["uri"]] == fields


# --- doctor: one line per check ---------------------------------------------------------------------


def doctor_blocks(lines: list[str]) -> dict[str, tuple[str, list[str]]]:
    """{check name: (status, its lines)}: a check's line and the lines under it."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.split()[0] in ("ok", "warn", "fail"):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    names = max(len(b[0][6:].split("  ")[0]) for b in blocks)  # `ok    name  detail`: names padded alike
    return {b[0][6 : 6 + names].rstrip(): (b[0][:4].strip(), b) for b in blocks}


PASSING = [
    Check("config", OK, "/etc/wirexa/wirexa.toml parsed"),
    Check("capacity", OK, "199 calls at once (50 workers x 4 calls, calls.max_concurrent 199; " + "x" * 150),
    *(Check(f"check {n}", OK, f"detail {n}") for n in range(13)),
]
LONG_PATH = "/var/lib/" + "a-long-directory-name-" * 6


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_screen_is_one_line_per_passing_check(width: int) -> None:
    lines = [line.plain for line in doctor.screen_lines(PASSING, width)]
    assert len(lines) == len(PASSING) and all(len(line) <= width for line in lines)
    assert lines[0] == "ok    config    /etc/wirexa/wirexa.toml parsed"
    assert (
        lines[1].startswith("ok    capacity  199 calls at once") and lines[1].endswith("…") and len(lines[1]) == width
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_screen_shows_a_failures_whole_detail_and_its_fix_under_it(width: int) -> None:
    failed = [
        PASSING[0],
        Check("data directory", FAIL, f"{LONG_PATH} does not exist", f"run `wirexa init --data-dir {LONG_PATH}`"),
        Check("RTP ports", WARN, "20000 in use " * 8, "choose another base with WIREXA_SIP_RTP_PORT_BASE"),
        PASSING[2],
    ]
    lines = [line.plain for line in doctor.screen_lines(failed, width)]
    blocks = doctor_blocks(lines)
    assert list(blocks) == [c.name for c in failed]
    for check in failed:
        status, block = blocks[check.name]
        assert status == check.status and (len(block) == 1) == (check.status == OK), block
        if check.status != OK:
            text = " ".join(" ".join(block)[4:].split()).removeprefix(check.name + " ")
            assert text == " ".join(f"{check.detail} fix: {check.fix}".split()), block  # nothing cut or broken
            assert any(line.split()[:1] == ["fix:"] for line in block)
    assert LONG_PATH in lines and LONG_PATH + "`" in lines  # a path too long for the line: whole, on its own
    assert all(len(line) <= width or len(line.split()) == 1 for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_on_a_terminal(tmp_path: Path, ports: dict[str, str], width: int) -> None:  # noqa: F811
    """The real checks: one line each when they pass; a failure has its fix under it."""
    assert run("init", "--data-dir", str(tmp_path / "ok"), env=ports).exit_code == 0
    for data_dir, code in ((tmp_path / "ok", 0), (tmp_path / "none", 1)):
        d = ["doctor", "--data-dir", str(data_dir)]
        checks = json.loads(run(*d, "--json", env=ports).stdout)["checks"]
        result = run(*d, env={**TERMINAL, "COLUMNS": str(width), **ports})
        lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
        blocks = doctor_blocks(lines)
        assert list(blocks) == [c["name"] for c in checks], lines
        assert all(len(block) == 1 for status, block in blocks.values() if status == "ok"), lines
        assert all(len(line) <= width or len(line.split()) == 1 for line in lines)
        if code == 0:
            assert sum(status == "ok" for status, _ in blocks.values()) >= len(checks) - 3  # ports others may hold
        else:
            assert result.exit_code == 1
            status, block = blocks["data directory"]
            assert status == "fail" and " ".join(block[-1].split()).endswith(str(tmp_path / "none") + "`")
            assert any(line.split()[:1] == ["fix:"] for line in block)


# --- help -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", [p for p, _ in commands()])
def test_help_leaves_room_for_descriptions(path: str, width: int) -> None:
    """In each panel the descriptions start by column 45, so they get 33 columns or more at 80."""
    lines = screen(*path.split()[1:], "--help", width=width)
    assert all(len(line) <= width for line in lines)
    # Where a description goes on (its next line, its default): where the descriptions start.
    starts = {len(line) - len(line[1:].lstrip()) for line in lines if re.match(r"│ {3,}\S", line)}
    assert max(starts, default=0) <= 45, (path, starts)


def test_help_shows_the_default_of_a_flag_pair_and_text_in_brackets() -> None:
    call = " ".join(" ".join(screen("call", "--help", width=80)).split())
    assert "--wait/--no-wait" in call and "[default: wait]" in call and "<float> [x>=1]" in call
    export = " ".join(" ".join(screen("recordings", "export", "--help", width=80)).replace("│", " ").split())
    assert "default: [recordings] s3_endpoint_url" in export
    assert "are skipped. A different file" in export  # one paragraph, not a line per source line
