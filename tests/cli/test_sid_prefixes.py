"""Every CLI option and argument that takes a SID takes a unique start of one, through one helper
(options.call_sid / options.project_sid); an ambiguous start and an unknown one are each one red
line on stderr and exit 1 (defects issue, item 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import one_red_line, run
from wirexa import config
from wirexa.cli import calls as calls_cli
from wirexa.store.bootstrap import open_store
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import delete_call, insert_call
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.recordings import insert_recording
from wirexa.store.repo.webhooks import insert_webhook

# Two calls and two projects sharing a start, one call of each project: "CAab" and "ACab" are
# ambiguous, "CAab0" and "ACab0" name one, "CAff" and "ACff" none.
CALL_A, CALL_B = "CAab0" + "0" * 29, "CAab1" + "1" * 29
PROJECT_A, PROJECT_B = "ACab0" + "0" * 29, "ACab1" + "1" * 29
PROJECT_OF = {CALL_A: PROJECT_A, CALL_B: PROJECT_B}


def seed(tmp_path: Path) -> None:
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    for project, call in ((PROJECT_A, CALL_A), (PROJECT_B, CALL_B)):
        store.write_sync(lambda project=project: create_project("p", sid=project))
        store.write_sync(
            lambda project=project, call=call: insert_call(
                sid=call,
                account_sid=project,
                to_number="+15005550006",
                from_number="+15005550100",
                status="in-progress",
                direction="outbound-api",
            )
        )
        store.write_sync(
            lambda project=project, call=call: insert_webhook(
                account_sid=project,
                call_sid=call,
                kind="call-status",
                event="initiated",
                url="https://example.com/status",
                method="POST",
                params=[("CallStatus", "initiated")],
            )
        )
        wav = tmp_path / f"{call}.wav"
        wav.write_bytes(b"RIFF....WAVE")
        store.write_sync(
            lambda project=project, call=call, wav=wav: insert_recording(
                account_sid=project, call_sid=call, status="completed", source="RecordVerb", wav_path=str(wav)
            )
        )
    store.close()


def json_lines(*args: str) -> list[dict[str, Any]]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


# (command line with SID standing for the typed SID, a function of the --json output naming the call
# or project it picked)
CALL_OPTIONS = [
    (["tail-webhooks", "--no-follow", "--call", "SID"], lambda out: {w["call_sid"] for w in out}),
    (["recordings", "list", "--call", "SID"], lambda out: {r["call_sid"] for r in out}),
    (["recordings", "export", "OUT", "--call", "SID"], lambda out: {r["call_sid"] for r in out}),
    (["calls", "show", "SID"], lambda out: {out[0]["sid"]}),
]
PROJECT_OPTIONS = [
    (["calls", "list", "--project", "SID"], lambda out: {c["account_sid"] for c in out}),
    (["recordings", "list", "--project", "SID"], lambda out: {PROJECT_OF[r["call_sid"]] for r in out}),
    (["recordings", "export", "OUT", "--project", "SID"], lambda out: {PROJECT_OF[r["call_sid"]] for r in out}),
    (["projects", "show", "SID"], lambda out: {out[0]["sid"]}),
    (["projects", "credits", "SID"], lambda out: {out[0]["sid"]}),
    (["calls", "limits", "SID"], lambda out: {out[0]["project"]}),
]


def args_for(template: list[str], sid: str, tmp_path: Path) -> list[str]:
    out = str(tmp_path / "out" / sid)
    return [out if a == "OUT" else sid if a == "SID" else a for a in template] + ["--data-dir", str(tmp_path)]


@pytest.mark.parametrize(("template", "picked"), CALL_OPTIONS, ids=[" ".join(t) for t, _ in CALL_OPTIONS])
def test_call_sid_options_take_a_unique_prefix(tmp_path: Path, template: list[str], picked: Any) -> None:
    seed(tmp_path)
    assert picked(json_lines(*args_for(template, "CAab1", tmp_path))) == {CALL_B}
    assert picked(json_lines(*args_for(template, CALL_A, tmp_path))) == {CALL_A}  # a whole SID still works
    line = one_red_line(run(*args_for(template, "CAab", tmp_path)))
    assert "CAab matches 2 calls" in line and CALL_A in line and CALL_B in line
    assert "no call CAff" in one_red_line(run(*args_for(template, "CAff", tmp_path)))


@pytest.mark.parametrize(("template", "picked"), PROJECT_OPTIONS, ids=[" ".join(t) for t, _ in PROJECT_OPTIONS])
def test_project_sid_options_take_a_unique_prefix(tmp_path: Path, template: list[str], picked: Any) -> None:
    seed(tmp_path)
    assert picked(json_lines(*args_for(template, "ACab1", tmp_path))) == {PROJECT_B}
    assert picked(json_lines(*args_for(template, PROJECT_A, tmp_path))) == {PROJECT_A}
    line = one_red_line(run(*args_for(template, "ACab", tmp_path)))
    assert "ACab matches 2 projects" in line and PROJECT_A in line and PROJECT_B in line
    assert "no project ACff" in one_red_line(run(*args_for(template, "ACff", tmp_path)))


def test_projects_rotate_token_takes_a_unique_prefix(tmp_path: Path) -> None:
    seed(tmp_path)
    d = ["--data-dir", str(tmp_path)]
    (rotated,) = json_lines("projects", "rotate-token", "ACab0", *d)
    assert rotated["sid"] == PROJECT_A
    assert "matches 2 projects" in one_red_line(run("projects", "rotate-token", "ACab", *d))
    assert "no project ACff" in one_red_line(run("projects", "rotate-token", "ACff", *d))


def test_calls_hangup_takes_unique_prefixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tmp_path)
    ended: list[list[str]] = []

    async def end_calls(api_url: str, projects: Any, calls: list[CallRecord]) -> tuple[dict[str, str], dict[str, str]]:
        ended.append([c.sid for c in calls])
        return {c.sid: "completed" for c in calls}, {}

    monkeypatch.setattr(calls_cli, "find_engine", lambda s: "http://127.0.0.1:9")
    monkeypatch.setattr(calls_cli, "_end_calls", end_calls)
    d = ["--data-dir", str(tmp_path)]
    assert json_lines("calls", "hangup", "CAab1", *d)[0]["ended"] == {CALL_B: "completed"}
    assert json_lines("calls", "hangup", "--all", "--project", "ACab0", *d)[0]["ended"] == {CALL_A: "completed"}
    assert ended == [[CALL_B], [CALL_A]]
    assert "matches 2 calls" in one_red_line(run("calls", "hangup", "CAab", *d))
    assert "no call CAff" in one_red_line(run("calls", "hangup", "CAff", *d))
    assert "matches 2 projects" in one_red_line(run("calls", "hangup", "--all", "--project", "ACab", *d))
    assert "no project ACff" in one_red_line(run("calls", "hangup", "--all", "--project", "ACff", *d))


def test_a_deleted_calls_deliveries_and_recordings_keep_its_whole_sid(tmp_path: Path) -> None:
    """The outbox and the recordings outlive a call deleted through the API: its whole SID still
    selects them (a start of it no longer does)."""
    seed(tmp_path)
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    store.write_sync(delete_call, CALL_A)
    store.close()
    d = ["--data-dir", str(tmp_path)]
    assert {w["call_sid"] for w in json_lines("tail-webhooks", "--no-follow", "--call", CALL_A, *d)} == {CALL_A}
    assert {w["call_sid"] for w in json_lines("tail-webhooks", "--no-follow", "--call", "CAab", *d)} == {CALL_B}
    assert {r["call_sid"] for r in json_lines("recordings", "list", "--call", CALL_A, *d)} == {CALL_A}
    assert "no call CAab0" in one_red_line(run("recordings", "list", "--call", "CAab0", *d))
    assert "no call" in one_red_line(run("tail-webhooks", "--no-follow", "--call", "CA" + "f" * 32, *d))
