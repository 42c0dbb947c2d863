"""`wirexa console set-password` through CliRunner: the hash it writes logs the admin in."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from wirexa.cli.main import app
from wirexa.console.auth import password_path, read_password, verify_password

runner = CliRunner()


def test_set_password_from_stdin_and_from_the_prompt(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["console", "set-password", "--data-dir", str(tmp_path), "--password-stdin"], input="a long password\n"
    )
    assert result.exit_code == 0, result.output
    assert f"Admin password set (scrypt hash in {password_path(tmp_path)})" in result.output
    assert verify_password("a long password", read_password(tmp_path))
    assert password_path(tmp_path).stat().st_mode & 0o777 == 0o600
    result = runner.invoke(
        app, ["console", "set-password", "--data-dir", str(tmp_path)], input="another password\nanother password\n"
    )
    assert result.exit_code == 0, result.output
    assert verify_password("another password", read_password(tmp_path))
    assert not verify_password("a long password", read_password(tmp_path))


def test_a_short_password_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["console", "set-password", "--data-dir", str(tmp_path), "--password-stdin"], input="short\n"
    )
    assert result.exit_code == 1 and "10 characters or more" in result.output
    assert read_password(tmp_path) is None
