"""What `wirexa serve` prints once up: where the API listens, how to run this CLI when its folder is
not on PATH (a checkout's .venv/bin after scripts/serve), and the sandbox's config file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from wirexa import config
from wirexa.cli import serve

CLI = Path(sys.executable).parent / "wirexa"  # the console script of the environment running the tests


def settings(data_dir: Path) -> config.Settings:
    return config.load(overrides={"data_dir": str(data_dir)}, env={})


def test_the_cli_is_named_when_its_folder_is_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    lines = serve.banner(settings(tmp_path), ["http://127.0.0.1:5000"], None)
    assert lines[0].startswith("Wirexa listening on http://127.0.0.1:5000")
    assert lines[1] == f"CLI: {CLI} (not on PATH), e.g. {CLI} calls list --data-dir {tmp_path}"
    assert len(lines) == 2  # no sandbox carrier: nothing about its file


def test_another_wirexa_on_path_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "bin"
    other.mkdir()
    (other / "wirexa").write_text("#!/bin/sh\n")
    (other / "wirexa").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:/usr/bin")
    hint = serve.cli_hint(settings(tmp_path))
    assert hint is not None and f"`wirexa` on PATH is another one, {other / 'wirexa'}" in hint


def test_nothing_to_say_when_wirexa_on_path_is_this_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{CLI.parent}{os.pathsep}/usr/bin")
    assert serve.cli_hint(settings(tmp_path)) is None


def test_the_sandbox_file_in_use_or_where_to_write_one(tmp_path: Path) -> None:
    s = settings(tmp_path)
    where = tmp_path / "sandbox.toml"
    built_in = serve.banner(s, ["http://127.0.0.1:5000"], "")[-1]
    assert built_in == f"Sandbox callees: the built-in ones (to change them, write {where})"
    assert serve.banner(s, ["http://127.0.0.1:5000"], str(where))[-1].startswith(f"Sandbox callees: {where}  (")
