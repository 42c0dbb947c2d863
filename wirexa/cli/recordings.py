"""`wirexa recordings list|export`: recordings from the store, copied out as WAV and/or MP3 to a
directory or a bucket, resumably."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich import filesize
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wirexa.calls.statuses import RecordingStatus
from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.config import Settings
from wirexa.media.recording import convert_mp3
from wirexa.media.storage import (
    LocalStorage,
    ObjectInfo,
    S3Storage,
    Storage,
    locator,
    parse_s3_url,
    recording_key,
    remote_from_settings,
    sha256_file,
)
from wirexa.store.bootstrap import open_store
from wirexa.store.db import Store
from wirexa.store.repo import RecordingRecord, TimeBound
from wirexa.store.repo.projects import list_projects
from wirexa.store.repo.recordings import list_recordings

app = App(help="List and export recordings.", no_args_is_help=True)

CallOption = Annotated[
    str | None, typer.Option("--call", help="Only recordings of this call (its SID or a unique start of one).")
]


def _resolve(store: Store, call: str | None, project: str | None) -> tuple[str | None, str | None]:
    """--call and --project as whole SIDs (each may be typed as a unique start); one red line otherwise.
    A deleted call's recordings are kept: its whole SID still selects them."""

    def kept(sid: str) -> bool:
        accounts = [p.sid for p in store.read_sync(list_projects)]
        return any(store.read_sync(list_recordings, a, 1, 0, None, sid)[0] for a in accounts)

    return (
        None if call is None else options.call_sid(store, call, kept),
        None if project is None else options.project_sid(store, project),
    )


def _recordings(store: Store, call: str | None, project: str | None, limit: int) -> list[RecordingRecord]:
    projects = [project] if project else [p.sid for p in store.read_sync(list_projects)]
    out: list[RecordingRecord] = []
    for sid in projects:
        page, _ = store.read_sync(list_recordings, sid, limit, 0, None, call)
        out.extend(page)
    out.sort(key=lambda r: (r.date_created, r.sid), reverse=True)
    return out[:limit]


@app.command("list")
def list_(
    call: CallOption = None,
    project: options.ProjectFilter = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recordings shown, newest first.", min=1)] = 50,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List recordings, newest first."""
    store = options.store(data_dir, config_file)
    recs = _recordings(store, *_resolve(store, call, project), limit)
    if json_out:
        for r in recs:
            print_json(
                {
                    "sid": r.sid,
                    "call_sid": r.call_sid,
                    "conference_sid": r.conference_sid,
                    "status": r.status,
                    "duration": r.duration_s,
                    "source": r.source,
                    "wav": r.wav_path,
                }
            )
        return
    columns = (
        Column("Recording SID", keep=True),
        Column("Call SID", keep=True, drop=1),  # a conference's recording: its Conference SID
        Column("Status", keep=True, drop=2),
        Column("Duration", keep=True, drop=3),
        Column("Source", keep=True, drop=5),
        Column("Created", keep=True, drop=4),
    )
    rows = [
        [
            r.sid,
            r.call_sid or r.conference_sid or "",
            r.status,
            "" if r.duration_s is None else f"{r.duration_s}s",
            r.source,
            str(r.date_created)[:19],
        ]
        for r in recs
    ]
    render_rows(columns, rows)


def _when(text: str | None, flag: str) -> dt.datetime | None:
    """--since/--until: an ISO date or date-time, UTC unless it names its offset."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{flag} must be an ISO date or date-time (2026-03-01, 2026-03-01T12:00), got {text!r}")
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _to_export(
    store: Store,
    call: str | None,
    project: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
) -> list[RecordingRecord]:
    """Completed recordings in [since, until), oldest first (a resumed export goes the same way)."""
    bounds: list[TimeBound] = []
    if since is not None:
        bounds.append((">", since, False))
    if until is not None:
        bounds.append(("<", until, False))
    projects = [project] if project else [p.sid for p in store.read_sync(list_projects)]
    out: list[RecordingRecord] = []
    for sid in projects:
        after: str | None = None
        while True:
            page, more = store.read_sync(list_recordings, sid, 500, 0, after, call, bounds)
            out.extend(r for r in page if r.status == RecordingStatus.COMPLETED and (r.wav_path or r.storage_url))
            if not more or not page:
                break
            after = page[-1].sid
    out.sort(key=lambda r: (r.date_created, r.sid))
    return out[:limit]


@dataclasses.dataclass(slots=True)
class _Tally:
    exported: int = 0
    same: int = 0
    conflicts: int = 0
    missing: int = 0
    bytes: int = 0


class _Exporter:
    """Copies recording files to a Storage (a directory or a bucket), never over a different file
    unless told to: an existing file with the same size and SHA-256 counts as exported already,
    so a second run resumes where the first stopped."""

    def __init__(self, settings: Settings, target: Storage, overwrite: bool, work: Path) -> None:
        self.settings = settings
        self.target = target
        self.overwrite = overwrite
        self.work = work
        self.remote = remote_from_settings(settings)
        self.locate = locator(settings, self.remote)
        self.tally = _Tally()

    async def source(self, rec: RecordingRecord, ext: str) -> Path | None:
        """A local file with the recording's WAV or MP3: its own, the bucket's copy, or (MP3) made now."""
        wav = Path(rec.wav_path) if rec.wav_path else None
        local = (
            wav
            if ext == ".wav"
            else (Path(rec.mp3_path) if rec.mp3_path else (wav.with_suffix(".mp3") if wav else None))
        )
        if local is not None and local.exists():
            return local
        if rec.storage_url:
            remote = self.locate(rec.storage_url)
            key = recording_key(rec.account_sid, rec.sid, ext)
            if await remote.stat(key) is not None:
                dest = self.work / f"{rec.sid}{ext}"
                await remote.get(key, dest)
                return dest
        if ext == ".mp3":
            src_wav = await self.source(rec, ".wav")
            if src_wav is not None:
                mp3 = self.work / f"{rec.sid}.mp3"
                if await convert_mp3(src_wav, mp3):
                    return mp3
                raise ExportError(f"ffmpeg could not make the MP3 of {rec.sid}")
        return None

    async def copy(self, rec: RecordingRecord, ext: str) -> tuple[str, str, int]:
        """Export one file; (outcome, where, bytes): exported | same | conflict | missing."""
        # File names come from sids only, never from customer input (threat model).
        name = f"{rec.call_sid}_{rec.sid}{ext}"
        where = self.target.url(name)
        src = await self.source(rec, ext)
        if src is None:
            self.tally.missing += 1
            return "missing", where, 0
        size = src.stat().st_size
        digest = await asyncio.to_thread(sha256_file, src)
        there = await self.target.stat(name)
        if there is not None and there.sha256 is None and there.size == size:
            # A file this command did not write (no checksum kept with it): read it to compare.
            probe = self.work / f"probe-{rec.sid}{ext}"
            await self.target.get(name, probe)
            there = ObjectInfo(there.size, await asyncio.to_thread(sha256_file, probe))
            probe.unlink(missing_ok=True)
        if there is not None and (there.size, there.sha256) == (size, digest):
            self.tally.same += 1
            return "same", where, size
        if there is not None and not self.overwrite:
            self.tally.conflicts += 1
            return "conflict", where, 0
        await self.target.put(src, name, digest)
        self.tally.exported += 1
        self.tally.bytes += size
        return "exported", where, size


class ExportError(Exception):
    pass


def _target(out: str, settings: Settings, endpoint_url: str | None) -> Storage:
    if out.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_url(out)
        except ValueError as exc:
            fail(str(exc))
        return S3Storage(
            bucket,
            prefix,
            region=settings.recordings_s3_region,
            endpoint_url=settings.recordings_s3_endpoint_url if endpoint_url is None else endpoint_url,
        )
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {out}: {exc}")
    return LocalStorage(path)


@app.command()
def export(
    out: Annotated[
        str, typer.Argument(help="Directory (created if missing) or s3://bucket/prefix to write the files to.")
    ],
    call: CallOption = None,
    project: options.ProjectFilter = None,
    fmt: Annotated[str, typer.Option("--format", help="wav, mp3 or both.")] = "wav",
    since: Annotated[
        str | None, typer.Option("--since", help="Only recordings created at or after this ISO date/time (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only recordings created before this ISO date/time (UTC).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a different file of the same name (default: skip it, in red).")
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="S3 endpoint of an s3:// target; default: \\[recordings] s3_endpoint_url."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recordings exported, oldest first.", min=1)] = 1_000_000,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Copy completed recordings to OUT as <CallSid>_<RecordingSid>.wav|.mp3.

    Re-running resumes: files already there with the same size and SHA-256 are skipped. A
    different file of the same name is never replaced without --overwrite (exit 1)."""
    if fmt not in ("wav", "mp3", "both"):
        fail(f"--format must be wav, mp3 or both, got {fmt!r}")
    exts = {"wav": [".wav"], "mp3": [".mp3"], "both": [".wav", ".mp3"]}[fmt]
    settings = options.settings(data_dir, config_file)
    start, end = _when(since, "--since"), _when(until, "--until")
    store = open_store(settings)
    call, project = _resolve(store, call, project)
    recs = _to_export(store, call, project, start, end, limit)
    target = _target(out, settings, endpoint_url)
    with tempfile.TemporaryDirectory(prefix="wirexa-export-") as work:
        exporter = _Exporter(settings, target, overwrite, Path(work))
        try:
            asyncio.run(_run(exporter, recs, exts, json_out))
        except ExportError as exc:
            fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - boto3/OS errors: one red line, not a traceback
            fail(f"export to {target.root} failed: {type(exc).__name__}: {exc}")
    t = exporter.tally
    if not json_out:
        console().print(
            f"exported {t.exported} file(s) ({filesize.decimal(t.bytes)}) to {target.root}; "
            f"{t.same} already there, {t.conflicts} different file(s) kept, {t.missing} missing"
        )
    if t.conflicts:
        raise typer.Exit(1)


async def _run(exporter: _Exporter, recs: list[RecordingRecord], exts: list[str], json_out: bool) -> None:
    err = console(stderr=True)
    out = console()
    jobs = [(r, ext) for r in recs for ext in exts]
    progress = None
    if out.is_terminal and not json_out:
        progress = Progress(
            TextColumn("[bold]export"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[moved]}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        progress.start()
    task = progress.add_task("export", total=len(jobs), moved="0 bytes") if progress else None
    try:
        for rec, ext in jobs:
            outcome, where, size = await exporter.copy(rec, ext)
            if outcome == "conflict":
                err.print(f"[red]skipped {escape(where)}: a different file is there (--overwrite replaces it)[/red]")
            elif outcome == "missing":
                err.print(f"[yellow]skipped {rec.sid}{ext}: its file is missing[/yellow]")
            if json_out:
                print_json({"sid": rec.sid, "call_sid": rec.call_sid, "path": where, "result": outcome, "bytes": size})
            elif progress is None:
                out.file.write(f"{outcome}\t{where}\t{size}\n")
                out.file.flush()
            if progress is not None and task is not None:
                progress.update(task, advance=1, moved=filesize.decimal(exporter.tally.bytes))
    finally:
        if progress is not None:
            progress.stop()
