"""`wirexa recordings list|export`: recordings from the store, copied out as WAV or MP3."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.store import repo
from wirexa.store.bootstrap import open_store
from wirexa.store.db import Store

app = App(help="List and export recordings.", no_args_is_help=True)


def _recordings(store: Store, call: str | None, project: str | None, limit: int) -> list[repo.RecordingRecord]:
    projects = [project] if project else [p.sid for p in store.read_sync(repo.list_projects)]
    out: list[repo.RecordingRecord] = []
    for sid in projects:
        page, _ = store.read_sync(repo.list_recordings, sid, limit, 0, None, call)
        out.extend(page)
    out.sort(key=lambda r: (r.date_created, r.sid), reverse=True)
    return out[:limit]


@app.command("list")
def list_(
    call: Annotated[str | None, typer.Option("--call", help="Only recordings of this call.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project ID; default: every project.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recordings shown, newest first.", min=1)] = 50,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List recordings, newest first."""
    store = open_store(options.settings(data_dir, config_file))
    recs = _recordings(store, call, project, limit)
    if json_out:
        for r in recs:
            print_json({"sid": r.sid, "call_sid": r.call_sid, "status": r.status, "duration": r.duration_s, "source": r.source, "wav": r.wav_path})
        return
    columns = (Column("Recording SID", keep=True), Column("Call SID", keep=True), Column("Status", keep=True), Column("Duration"), Column("Source"), Column("Created"))
    rows = [[r.sid, r.call_sid, r.status, "" if r.duration_s is None else f"{r.duration_s}s", r.source, str(r.date_created)[:19]] for r in recs]
    render_rows(columns, rows)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Directory to write the files into (created if missing).")],
    call: Annotated[str | None, typer.Option("--call", help="Only recordings of this call.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project ID; default: every project.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="wav or mp3.")] = "wav",
    limit: Annotated[int, typer.Option("--limit", help="Most recordings exported, newest first.", min=1)] = 1000,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Copy completed recordings to OUT as <CallSid>_<RecordingSid>.wav|.mp3."""
    if fmt not in ("wav", "mp3"):
        fail(f"--format must be wav or mp3, got {fmt!r}")
    store = open_store(options.settings(data_dir, config_file))
    recs = [r for r in _recordings(store, call, project, limit) if r.status == "completed" and r.wav_path]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {out}: {exc}")
    written = []
    for r in recs:
        src = Path(r.wav_path or "")
        if not src.exists():
            console(stderr=True).print(f"[yellow]skipped {r.sid}: {src} is missing[/yellow]")
            continue
        # File names come from sids only, never from customer input (threat model).
        dest = out / f"{r.call_sid}_{r.sid}.{fmt}"
        if fmt == "wav":
            shutil.copyfile(src, dest)
        else:
            ffmpeg = shutil.which("ffmpeg")
            if ffmpeg is None:
                fail("ffmpeg is needed for --format mp3 (apt-get install ffmpeg)")
            proc = subprocess.run(
                [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-codec:a", "libmp3lame", "-qscale:a", "4", str(dest)],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                fail(f"ffmpeg failed on {src}: {proc.stderr.strip()[:200]}")
        written.append(dest)
        if json_out:
            print_json({"sid": r.sid, "call_sid": r.call_sid, "path": str(dest)})
    if not json_out:
        console().print(f"exported {len(written)} recording(s) to {out}")
