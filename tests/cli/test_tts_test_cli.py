"""`wirexa tts test` as a listing: plain tab-separated lines into a pipe (a table on a terminal), and
the rendered WAV kept at one place in the data directory, with nothing left in the system's temp
directory run after run."""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path

import pytest

from tests.cli.test_cli import run

BOX = set("╭╮╰╯│┃━─┏┓┗┛┡┩└┘┌┐")


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp directory, as tempfile sees it, pointed at an empty folder of this test."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_into_a_pipe_it_prints_plain_lines_and_leaves_no_temp_dir(tmp_path: Path, system_tmp: Path) -> None:
    data = tmp_path / "data"
    paths = []
    for _ in range(2):
        result = run("tts", "test", "hi", "--data-dir", str(data))
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert not BOX & set(result.stdout), result.stdout
        assert lines[0].split("\t") == ["Provider", "Configured"]
        rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines[1:] if "\t" in line}
        assert rows["espeak"] == ["yes"] and rows["polly"] == ["no"]
        last = lines[-1]
        assert last.startswith("rendered by espeak"), last
        paths.append(Path(last.rsplit(": ", 1)[1]))
    assert list(system_tmp.iterdir()) == []  # a run leaves nothing behind in the temp dir
    assert paths[0] == paths[1] == data / "tts-test" / "last.wav"  # one stable place, overwritten
    with wave.open(str(paths[1])) as w:
        assert w.getnframes() > 0
    assert sorted(p.name for p in (data / "tts-test").iterdir()) == ["last.wav"]


def test_each_into_a_pipe_adds_its_column(tmp_path: Path, system_tmp: Path) -> None:
    result = run("tts", "test", "hi", "--each", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["Provider", "Configured", "Test synthesis"]
    assert "espeak\tyes\tok" in lines and "polly\tno\t-" in lines
    assert list(system_tmp.iterdir()) == []


def test_on_a_terminal_it_is_a_table(tmp_path: Path, system_tmp: Path) -> None:
    result = run("tts", "test", "hi", "--data-dir", str(tmp_path), env={"TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "\t" not in result.stdout and "Provider" in result.stdout and "espeak" in result.stdout
    assert "rendered by espeak (voice " in result.stdout and str(tmp_path / "tts-test" / "last.wav") in result.stdout
