"""cli/engine_file.py's messages: "no engine is running" names the whole command that starts one
(the data dir and config options inside the backticks), and the options that select an engine."""

from __future__ import annotations

from pathlib import Path

from wirexa import config
from wirexa.cli import engine_file


def settings(**overrides: str) -> config.Settings:
    return config.load(overrides=overrides, env={})


def test_not_running_quotes_the_whole_start_command(tmp_path: Path) -> None:
    s = settings(data_dir=str(tmp_path))
    message = engine_file.not_running(s, "http://127.0.0.1:5000")
    assert message.startswith(f"no engine is running for data dir {tmp_path} (no live {tmp_path / 'engine.json'}")
    assert message.endswith(f"start one with `wirexa serve --data-dir {tmp_path}`"), message
    assert message.count("`") == 2


def test_the_default_data_dir_needs_no_option() -> None:
    s = settings()
    assert engine_file.selection_args(s) == []
    assert engine_file.not_running(s, "http://127.0.0.1:5000").endswith("start one with `wirexa serve`")


def test_a_config_file_elsewhere_is_named_and_odd_paths_are_quoted(tmp_path: Path) -> None:
    folder = tmp_path / "my data"
    cfg = tmp_path / "etc" / "wirexa.toml"
    cfg.parent.mkdir()
    cfg.write_text("")
    s = config.load(cfg, overrides={"data_dir": str(folder)}, env={})
    assert engine_file.selection_args(s) == ["--data-dir", str(folder), "--config", str(cfg)]
    assert f"`wirexa serve --data-dir '{folder}' --config {cfg}`" in engine_file.not_running(s, "http://x")
    own = folder / "wirexa.toml"
    folder.mkdir()
    own.write_text("")
    assert engine_file.selection_args(config.load(own, overrides={"data_dir": str(folder)}, env={})) == [
        "--data-dir",
        str(folder),
    ]
