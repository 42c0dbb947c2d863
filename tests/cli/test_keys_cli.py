"""`wirexa keys create|list|remove PROJECT` through CliRunner on a data dir's store: the secret
printed once (and kept only as a hash), listing, removal by SID or a unique start of one, bad
input as one red line; the key authenticating against the in-process API until it is removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cli.test_numbers_cli import red_line
from tests.conftest import basic, start_api
from wirexa import config
from wirexa.cli.main import _register_optional, app
from wirexa.store.bootstrap import open_store
from wirexa.store.models import ApiKey
from wirexa.store.repo.keys import get_key, secret_matches
from wirexa.store.repo.projects import create_project, get_project

_register_optional()
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    assert run("init", "--data-dir", str(tmp_path), "--json").exit_code == 0
    return tmp_path


def project_of(data: Path) -> str:
    result = run("projects", "list", "--json", "--data-dir", str(data))
    return str(json.loads(result.stdout.splitlines()[0])["sid"])


async def test_create_list_remove(data: Path) -> None:
    d = ("--data-dir", str(data))
    project = project_of(data)
    result = run("keys", "create", project[:10], "--name", "deploy", "--json", *d)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["sid"].startswith("SK") and len(made["secret"]) == 32 and made["project"] == project
    result = run("keys", "create", project, *d)
    assert result.exit_code == 0, result.output
    assert "Secret:" in result.stdout and "shown this once" in result.stdout
    second = result.stdout.split("SID:")[1].split()[0]
    settings = config.load(overrides={"data_dir": str(data)}, env={})
    store = open_store(settings)
    try:
        row = ApiKey.get_by_id(made["sid"])
        assert made["secret"] not in row.secret_hash and secret_matches(made["secret"], row.secret_hash)
        # The key works against the API as the project's token does.
        owner = store.read_sync(get_project, project)
        assert owner is not None
        api = await start_api(store, settings, owner)
        try:
            resp = await api.client.get(f"{api.base}/Calls.json", headers=basic(made["sid"], made["secret"]))
            assert resp.status == 200
            listed = run("keys", "list", project, "--json", *d)
            rows = [json.loads(line) for line in listed.stdout.splitlines()]
            assert [(r["sid"], r["friendly_name"]) for r in rows] == [(second, None), (made["sid"], "deploy")]
            assert all("secret" not in r for r in rows)
            plain = run("keys", "list", project, *d)
            assert made["sid"] in plain.stdout and "deploy" in plain.stdout and made["secret"] not in plain.stdout
            result = run("keys", "remove", project, made["sid"][:12], *d)
            assert result.exit_code == 0, result.output
            assert store.read_sync(get_key, made["sid"]) is None
            # Removed by another process: the engine refuses it from the next request on.
            resp = await api.client.get(f"{api.base}/Calls.json", headers=basic(made["sid"], made["secret"]))
            assert resp.status == 401
        finally:
            await api.client.close()
    finally:
        store.close()


def test_bad_input(data: Path) -> None:
    d = ("--data-dir", str(data))
    project = project_of(data)
    assert "no project" in red_line(run("keys", "create", "ACnope", *d), 1)
    assert "64" in red_line(run("keys", "create", project, "--name", "x" * 65, *d), 1)
    assert "no key" in red_line(run("keys", "remove", project, "SKnope", *d), 1)
    store = open_store(config.load(overrides={"data_dir": str(data)}, env={}))
    try:
        other = store.write_sync(create_project, "other")
    finally:
        store.close()
    theirs = json.loads(run("keys", "create", other.sid, "--json", *d).stdout)
    assert "not a key of project" in red_line(run("keys", "remove", project, theirs["sid"], *d), 1)
    assert run("keys", "list", project, "--json", *d).stdout == ""
