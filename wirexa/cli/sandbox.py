"""`wirexa sandbox show CALLSID`: what a sandbox callee heard (WAV path, duration, level) and its log.
`wirexa sandbox callees`: the callees the engine's sandbox carrier answers as (same sandbox.toml), and
which file that is, or where one would be read when there is none."""

from __future__ import annotations

import glob
import json
import math
import tomllib
import wave
from pathlib import Path
from typing import Annotated, Any

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.media.audio import rms_dbfs
from wirexa.sip.sandbox_config import (
    SandboxConfigError,
    behaviour_for,
    describe,
    load_config,
    sandbox_config_file,
    sandbox_config_path,
)

app = App(help="Inspect the built-in sandbox carrier.", no_args_is_help=True)


def wav_summary(path: Path) -> dict[str, Any]:
    """Duration, RMS level and share of 20 ms frames with sound, of a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = w.readframes(w.getnframes())
    frame = rate // 50 * 2
    frames = [pcm[i : i + frame] for i in range(0, len(pcm) - frame + 1, frame)]
    active = sum(1 for f in frames if rms_dbfs(f) > -45.0)
    level = rms_dbfs(pcm)
    return {
        "duration_s": round(len(pcm) / 2 / rate, 2),
        "rms_dbfs": None if math.isinf(level) else round(level, 1),
        "speech_fraction": round(active / len(frames), 2) if frames else 0.0,
    }


@app.command()
def show(
    call_sid: Annotated[
        str, typer.Argument(help="Call SID the sandbox answered, or enough of its start to match one call.")
    ],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Print a sandbox call's event log and the WAV of what the callee heard."""
    s = options.settings(data_dir, config_file)
    folder = Path(s.data_path) / "sandbox"
    name = Path(call_sid).name  # a file name, never a path out of the folder
    log_path = folder / f"{name}.json"
    if not log_path.is_file():
        # glob.escape: what was typed is a prefix, not a pattern.
        found = (
            sorted(p.stem for p in folder.glob(glob.escape(name) + "*.json"))[: options.PREFIX_MATCHES] if name else []
        )
        if not found:
            fail(f"the sandbox has no call {call_sid} (looked in {folder})")
        log_path = folder / f"{options.unique_prefix(name, found, 'call')}.json"
    body = json.loads(log_path.read_text())
    wav = Path(body["wav"])
    body["audio"] = wav_summary(wav) if wav.is_file() and wav.stat().st_size > 44 else None
    if json_out:
        print_json(body)
        return
    out = console()
    out.print(f"Call {body['call_sid']} to {body['number']} ({body['behaviour']})")
    rows = [
        [f"{e['t']:.2f}", e["event"], ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))]
        for e in body["events"]
    ]
    render_rows((Column("t (s)"), Column("Event", keep=True), Column("Details")), rows, out=out)
    audio = body["audio"]
    if audio is None:
        out.print(f"WAV: {wav} (no audio)")
    else:
        out.print(
            f"WAV: {wav}  duration {audio['duration_s']} s, level {audio['rms_dbfs']} dBFS, speech in {int(audio['speech_fraction'] * 100)}% of frames"
        )


@app.command()
def callees(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the sandbox's callees: each configured number, then every other number (the default),
    and the sandbox.toml they come from (or where to put one)."""
    s = options.settings(data_dir, config_file)
    path = sandbox_config_path(s)
    where = path or str(sandbox_config_file(s))
    try:
        default, numbers = load_config(path)
    except (OSError, tomllib.TOMLDecodeError, SandboxConfigError) as exc:
        fail(f"{exc}" if isinstance(exc, SandboxConfigError) else f"sandbox config {path}: {exc}")
    entries = [(n, behaviour_for(n, default, numbers)) for n in sorted(numbers)] + [("*", default)]
    if json_out:
        print_json(
            {
                "config": where,  # the file in use, or where one would be read
                "config_exists": bool(path),
                "callees": [
                    {
                        "number": n,
                        "answer": b["answer"],
                        "behaves_as": describe(b)[0],
                        "settings": dict(sorted(b.items())),
                    }
                    for n, b in entries
                ],
            }
        )
        return
    out = console()
    rows = [[("any other" if n == "*" else n), *_described(b)] for n, b in entries]
    render_rows((Column("Number", keep=True), Column("Behaves as"), Column("Settings")), rows, out=out)
    if out.is_terminal:  # (into a pipe: the rows only; --json names the file too)
        if path:
            out.print(f"From {path}.", markup=False)
        else:
            out.print(f"Built-in callees: no {where} (write one there to change them).", markup=False)


def _described(behaviour: dict[str, Any]) -> list[str]:
    what, settings = describe(behaviour)
    return [what, ", ".join(settings)]
