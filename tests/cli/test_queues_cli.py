"""`wirexa queues list|show` through CliRunner on a data dir's store with no engine running: the
queues (by name, SID or a start of one), nobody waiting, --json as the REST API's Queue JSON,
unknown queues as one red line. With an engine and callers waiting: tests/e2e/test_queues_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_numbers_cli import red_line, run, store_of
from wirexa.store.repo.projects import create_project, list_projects
from wirexa.store.repo.queues import insert_queue


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run("init", "--data-dir", str(tmp_path), "--json").exit_code == 0
    return tmp_path


def test_list_and_show_with_serve_down(data: Path) -> None:
    d = ("--data-dir", str(data))
    store = store_of(data)
    project = store.read_sync(list_projects)[0]
    support = store.write_sync(lambda: insert_queue(project.sid, "support", 50))
    assert support is not None
    store.write_sync(lambda: insert_queue(project.sid, "sales"))
    result = run("queues", "list", *d)
    assert result.exit_code == 0, result.output
    assert "support" in result.stdout and "sales" in result.stdout and support.sid in result.stdout
    assert "no engine running" in result.stderr and "-" in result.stdout
    result = run("queues", "list", "--json", *d)
    bodies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [b["friendly_name"] for b in bodies] == ["sales", "support"]
    assert bodies[1]["current_size"] == 0 and bodies[1]["max_size"] == 50
    for typed in ("support", support.sid, support.sid[:12]):
        result = run("queues", "show", typed, "--json", *d)
        assert result.exit_code == 0, (typed, result.output)
        body: Any = json.loads(result.stdout)
        assert body["sid"] == support.sid and body["queue_members"] == []
    result = run("queues", "show", "support", *d)
    assert "no engine running" in result.stdout and "50" in result.stdout


def test_unknown_queue_and_a_name_in_two_projects(data: Path) -> None:
    d = ("--data-dir", str(data))
    assert "no queue named 'nope'" in red_line(run("queues", "show", "nope", *d), code=1)
    assert "no queue QU" in red_line(run("queues", "show", "QU" + "0" * 32, *d), code=1)
    store = store_of(data)
    first = store.read_sync(list_projects)[0]
    other = store.write_sync(lambda: create_project("other"))
    for p in (first, other):
        store.write_sync(lambda p=p: insert_queue(p.sid, "front desk"))
    assert "--project" in red_line(run("queues", "show", "front desk", *d), code=1)
    result = run("queues", "show", "front desk", "--project", other.sid, "--json", *d)
    assert result.exit_code == 0 and json.loads(result.stdout)["account_sid"] == other.sid
