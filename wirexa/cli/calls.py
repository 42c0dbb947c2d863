"""`wirexa calls list|show`: read calls from the store (works with serve down).

The operator's toll-fraud controls: `stop` / `resume` (the emergency stop, kept in the store so
that it outlives a restart and works with serve down), `hangup` (ends live and queued calls
through the running engine's REST API, as `wirexa call` places them) and `limits` (a project's
dialing permissions, daily minutes and concurrency cap).
"""

from __future__ import annotations

import asyncio
import getpass
import socket
from typing import Annotated, Any

import aiohttp
import typer

from wirexa.api.serializers import call_json
from wirexa.calls import permissions
from wirexa.calls.admission import settings_policy
from wirexa.calls.state import LIVE, RESOURCE_STATUS, CallStatus, stored_statuses
from wirexa.cli import options, tail_webhooks
from wirexa.cli.base import App
from wirexa.cli.call import find_engine
from wirexa.cli.console import Column, console, fail, print_json, render_pairs, render_rows
from wirexa.clock import utcnow
from wirexa.config import Settings
from wirexa.errors import ApiCode
from wirexa.media.quality import Sample
from wirexa.store.bootstrap import open_store
from wirexa.store.db import Store
from wirexa.store.repo import CallRecord, ProjectRecord
from wirexa.store.repo.calls import CallFilter, get_call, list_calls
from wirexa.store.repo.flags import CALLS_STOPPED, get_flag, set_flag
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.projects import get_project, list_projects, project_limits, update_project
from wirexa.store.repo.quality import samples_of, summary_of
from wirexa.store.repo.webhooks import list_webhooks

app = App(
    help="Inspect calls in the store; stop, resume and hang up calls; set a project's call limits.",
    no_args_is_help=True,
)

STATUS_COLORS = {
    "completed": "green",
    "busy": "yellow",
    "no-answer": "yellow",
    "failed": "red",
    "canceled": "red",
    "in-progress": "cyan",
}
# At 80 columns: the SID, status, To and when it was created; the rest from 100 or so.
CALL_COLUMNS = (
    Column("Call SID", keep=True),
    Column("Status", keep=True, colors=STATUS_COLORS),
    Column("From", keep=True, drop=4),
    Column("To", keep=True, drop=1),
    Column("Created", keep=True, drop=2),
    Column("Duration", keep=True, drop=3),
)


def _prefix(account_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}"


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="Only calls with this status.")] = None,
    project: options.ProjectFilter = None,
    limit: Annotated[int, typer.Option("--limit", help="Most calls shown, newest first.", min=1)] = 50,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List calls, newest first."""
    statuses = stored_statuses(status) if status else ()
    if status and not statuses:  # () would mean every status
        fail(f"--status must be one of {', '.join(dict.fromkeys(RESOURCE_STATUS.values()))}, got {status!r}")
    store = options.store(data_dir, config_file)
    projects = [options.project_sid(store, project)] if project else [p.sid for p in store.read_sync(list_projects)]
    calls: list[CallRecord] = []
    for sid in projects:
        page, _ = store.read_sync(list_calls, CallFilter(account_sid=sid, statuses=statuses), limit)
        calls.extend(page)
    calls.sort(key=lambda c: (c.date_created, c.sid), reverse=True)
    calls = calls[:limit]
    if json_out:
        for c in calls:
            print_json(call_json(c, _prefix(c.account_sid)))
        return
    rows = [
        [
            c.sid,
            RESOURCE_STATUS.get(c.status, c.status),
            c.from_number,
            c.to_number,
            str(c.date_created)[:19],
            "" if c.duration_s is None else f"{c.duration_s}s",
        ]
        for c in calls
    ]
    render_rows(CALL_COLUMNS, rows)


@app.command()
def show(
    call_sid: Annotated[str, typer.Argument(help="Call SID, or enough of its start to match one call.")],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one call, its summary (who hung up, post-dial delay, media quality with its flags and
    samples), its notifications and its webhook deliveries (callbacks)."""
    store = options.store(data_dir, config_file)
    call = store.read_sync(get_call, options.call_sid(store, call_sid))
    if call is None:  # deleted in between
        fail(f"no call {call_sid}")
    body = call_json(call, _prefix(call.account_sid))
    notes = store.read_sync(list_notifications, call.sid)
    hooks = store.read_sync(lambda: list_webhooks(call_sid=call.sid, limit=100_000))
    samples = store.read_sync(samples_of, call.sid)
    summary = call_summary(call)
    if json_out:
        body["summary"] = summary
        body["quality_samples"] = [s.to_dict() | {"flags": s.flags()} for s in samples]
        body["notifications"] = [
            {"error_code": n.error_code, "message": n.message_text, "url": n.request_url} for n in notes
        ]
        body["webhooks"] = [tail_webhooks.row_json(w) for w in hooks]
        print_json(body)
        return
    out = console()
    fields = [(key, "" if value is None else str(value)) for key, value in body.items() if key != "subresource_uris"]
    render_pairs(fields, out=out)
    render_pairs(summary_pairs(summary), title="Summary", out=out)
    if samples:
        render_rows(QUALITY_COLUMNS, [quality_cells(s) for s in samples], title="Quality samples", out=out)
    if notes:
        note_rows = [[str(n.error_code), n.message_text, n.request_url or ""] for n in notes]
        render_rows(
            (Column("Notification", keep=True), Column("Message", cut=True), Column("URL", keep=True, below=True)),
            note_rows,
            title="Notifications",
            out=out,
        )
    render_rows(
        tail_webhooks.columns(with_call=False, url_below=True),
        [tail_webhooks.cells(w, with_call=False) for w in hooks],
        title="Webhooks",
        out=out,
    )


def call_summary(call: CallRecord) -> dict[str, Any]:
    """What Voice Insights' call summary would say: who hung up, the post-dial delay, AMD's
    confidence, and the media quality (per direction, with its flags; None: never sampled)."""
    quality = summary_of(call)
    return {
        "hangup_by": call.hangup_by,
        "post_dial_delay_ms": call.post_dial_delay_ms,
        "answered_by": call.answered_by,
        "amd_confidence": call.amd_confidence,
        "quality": quality.to_dict() if quality is not None else None,
        "quality_flags": quality.flags() if quality is not None else [],
    }


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def summary_pairs(summary: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [
        ("hangup_by", summary["hangup_by"] or ""),
        ("post_dial_delay", _num(summary["post_dial_delay_ms"], " ms")),
    ]
    if summary["amd_confidence"] is not None:
        pairs.append(("amd", f"{summary['answered_by']} (confidence {summary['amd_confidence']:.2f})"))
    q = summary["quality"]
    if q is None:
        return [*pairs, ("quality", "not sampled")]
    for name in ("inbound", "outbound"):
        d = q[name]
        pairs.append(
            (
                f"quality {name}",
                f"loss {_num(d['loss_pct'], '%')} (worst {_num(d['loss_max_pct'], '%')}), "
                f"jitter avg {_num(d['jitter_avg_ms'], ' ms')} max {_num(d['jitter_max_ms'], ' ms')}, "
                f"MOS avg {_num(d['mos_avg'])} min {_num(d['mos_min'])} ({d['samples']} samples)",
            )
        )
    pairs.append(("round trip", f"avg {_num(q['rtt_avg_ms'], ' ms')} max {_num(q['rtt_max_ms'], ' ms')}"))
    pairs.append(("quality flags", " ".join(summary["quality_flags"]) or "none"))
    return pairs


QUALITY_COLUMNS = (
    Column("#", keep=True),
    Column("At s", keep=True),
    Column("RTT ms", keep=True),
    Column("In loss %", keep=True),
    Column("In jitter ms", keep=True),
    Column("In MOS", keep=True),
    Column("Out loss %", keep=True),
    Column("Out jitter ms", keep=True),
    Column("Out MOS", keep=True),
    Column("Flags", cut=True),
)


def quality_cells(s: Sample) -> list[str]:
    return [
        str(s.seq) + ("*" if s.final else ""),
        f"{s.offset_s:.1f}",
        _num(s.rtt_ms),
        _num(s.inbound.loss_pct),
        _num(s.inbound.jitter_ms),
        _num(s.inbound.mos),
        _num(s.outbound.loss_pct),
        _num(s.outbound.jitter_ms),
        _num(s.outbound.mos),
        " ".join(s.flags()),
    ]


# --- toll-fraud controls -------------------------------------------------------------------------

Port = Annotated[
    int | None,
    typer.Option("--port", help="API port of the engine, when it has no engine.json.", envvar="WIREXA_PORT"),
]
HANGUP_CONCURRENCY = 16
HANGUP_PASSES = 5  # calls a <Dial> or the dispatcher started while we hung up are caught next pass


def _stop_state(store: Store) -> str | None:
    return store.read_sync(get_flag, CALLS_STOPPED)


@app.command()
def stop(
    reason: Annotated[str, typer.Option("--reason", help="Why, for whoever runs `calls resume`.")] = "",
    hangup_all: Annotated[
        bool, typer.Option("--hangup", help="Also hang up every live and queued call (the engine must run).")
    ] = False,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    port: Port = None,
    json_out: options.Json = False,
) -> None:
    """Emergency stop: the engine refuses new calls (503 / 20503) and places no queued call or
    <Dial> leg until `wirexa calls resume`; kept across restarts. Live calls go on (see --hangup)."""
    s = options.settings(data_dir, config_file, port=port)
    store = open_store(s)
    try:
        value = _stop_state(store)
        if value is None:
            value = f"since {utcnow().isoformat(timespec='seconds')}Z by {getpass.getuser()}@{socket.gethostname()}"
            value += f": {reason}" if reason else ""
            store.write_sync(set_flag, CALLS_STOPPED, value)
    finally:
        store.close()
    if not json_out:
        console().print(
            f"Calls stopped ({value}). New calls are refused; `wirexa calls resume` lifts it.", markup=False
        )
    result = _hangup(s, None, all_=True, project=None, quiet=json_out) if hangup_all else None
    if json_out:
        print_json({"stopped": True, "since": value, **({"hangup": result} if result is not None else {})})
    if result is not None and result["errors"]:
        raise typer.Exit(1)


@app.command()
def resume(
    data_dir: options.DataDir = None, config_file: options.ConfigFile = None, json_out: options.Json = False
) -> None:
    """Lift the emergency stop: new calls are accepted and queued calls are placed again."""
    store = options.store(data_dir, config_file)
    try:
        value = _stop_state(store)
        if value is not None:
            store.write_sync(set_flag, CALLS_STOPPED, None)
    finally:
        store.close()
    if json_out:
        print_json({"stopped": False, "was": value})
    elif value is None:
        console().print("Calls were not stopped.")
    else:
        console().print(f"Calls resumed (stopped {value}).", markup=False)


@app.command()
def hangup(
    call_sid: Annotated[
        str | None, typer.Argument(help="The call to hang up (or cancel, when queued): its SID or a unique start.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every live and queued call (of --project, else all).")] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="With --all: only this project's calls (ID or unique start).")
    ] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    port: Port = None,
    json_out: options.Json = False,
) -> None:
    """Hang up live calls and cancel queued ones through the running engine's API (each gets its
    final status and callbacks). Exit 1 when a call could not be ended."""
    if (call_sid is None) == (not all_):
        fail("give a CALL_SID or --all (not both)")
    if project is not None and not all_:
        fail("--project goes with --all")
    s = options.settings(data_dir, config_file, port=port)
    result = _hangup(s, call_sid, all_=all_, project=project, quiet=json_out)
    if json_out:
        print_json(result)
    if result["errors"]:
        raise typer.Exit(1)


def _live_calls(store: Store, account_sids: list[str]) -> list[CallRecord]:
    """Every live call (queued included) of these projects; the ones already placed first."""
    statuses = tuple(sorted(str(st) for st in LIVE))
    out: list[CallRecord] = []
    for sid in account_sids:
        after: str | None = None
        while True:
            page, more = store.read_sync(list_calls, CallFilter(account_sid=sid, statuses=statuses), 1000, 0, after)
            out += page
            if not more or not page:
                break
            after = page[-1].sid
    out.sort(key=lambda c: c.status == CallStatus.QUEUED)
    return out


def _hangup(s: Settings, call_sid: str | None, *, all_: bool, project: str | None, quiet: bool) -> dict[str, Any]:
    store = open_store(s)
    try:
        projects = {p.sid: p for p in store.read_sync(list_projects)}
        if project is not None:
            project = options.project_sid(store, project)
        if call_sid is not None:
            call = store.read_sync(get_call, options.call_sid(store, call_sid))
            if call is None:  # deleted in between
                fail(f"no call {call_sid}")
            targets = [call]
        else:
            targets = _live_calls(store, [project] if project else list(projects))
        api_url = find_engine(s)
        ended: dict[str, str] = {}
        errors: dict[str, str] = {}
        for _ in range(HANGUP_PASSES if all_ else 1):
            todo = [c for c in targets if c.sid not in ended and c.sid not in errors]
            if not todo:
                break
            done, failed = asyncio.run(_end_calls(api_url, projects, todo))
            ended.update(done)
            errors.update(failed)
            if not all_:
                break
            targets = _live_calls(store, [project] if project else list(projects))
    finally:
        store.close()
    if not quiet:
        out = console()
        counts: dict[str, int] = {}
        for status in ended.values():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no live calls"
        out.print(f"Ended {len(ended)} call(s): {summary}.", markup=False)
        for sid, error in errors.items():
            console(stderr=True).print(f"{sid}: {error}", markup=False)
    return {"ended": ended, "errors": errors}


async def _end_calls(
    api_url: str, projects: dict[str, ProjectRecord], calls: list[CallRecord]
) -> tuple[dict[str, str], dict[str, str]]:
    """POST Status=completed for each call (the API cancels the ones not answered yet); returns
    (sid -> status it ended with, sid -> error)."""
    ended: dict[str, str] = {}
    errors: dict[str, str] = {}
    gate = asyncio.Semaphore(HANGUP_CONCURRENCY)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def end(call: CallRecord) -> None:
            p = projects.get(call.account_sid)
            if p is None:
                errors[call.sid] = "its project is gone"
                return
            url = f"{api_url}/2010-04-01/Accounts/{p.sid}/Calls/{call.sid}.json"
            async with gate:
                try:
                    async with session.post(
                        url, data={"Status": "completed"}, auth=aiohttp.BasicAuth(p.sid, p.auth_token)
                    ) as resp:
                        body = await resp.json(content_type=None)
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    errors[call.sid] = f"cannot reach the engine at {api_url}: {exc or type(exc).__name__}"
                    return
            if resp.status == 200:
                ended[call.sid] = str(body.get("status"))
            elif resp.status == 400 and body.get("code") == ApiCode.INVALID_CALL_STATE:
                ended[call.sid] = "already ended"  # it ended while we looked
            else:
                errors[call.sid] = f"{body.get('code')}: {body.get('message')}"

        await asyncio.gather(*(end(c) for c in calls))
    return ended, errors


@app.command()
def limits(
    project: options.ProjectArg,
    countries: Annotated[
        str | None,
        typer.Option(
            "--countries",
            help="Destinations it may dial: E.164 country codes or prefixes, comma-separated (1, 44, 1876; * = "
            "anywhere); 'default' = the engine's calls.allowed_countries.",
        ),
    ] = None,
    daily_minutes: Annotated[
        str | None,
        typer.Option(
            "--daily-minutes",
            help="Call-minutes a UTC day (0 = unlimited); 'default' = the engine's calls.daily_minutes.",
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(
            "--max-concurrent", help="Live calls and <Dial> legs at once (0 = only the engine-wide cap).", min=0
        ),
    ] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show or set a project's toll-fraud limits: dialing permissions (others get 21215), daily
    call-minutes (20005 beyond) and concurrent calls (more wait queued; <Dial> legs are refused)."""
    s = options.settings(data_dir, config_file)
    changes: dict[str, Any] = {}
    if countries is not None:
        if countries.strip().lower() == "default":
            changes["allowed_countries"] = None
        else:
            try:
                changes["allowed_countries"] = ",".join(permissions.parse_prefixes(countries))
            except ValueError as exc:
                fail(f"--countries: {exc}")
    if daily_minutes is not None:
        if daily_minutes.strip().lower() == "default":
            changes["daily_minutes"] = None
        elif daily_minutes.strip().isdigit():
            changes["daily_minutes"] = int(daily_minutes)
        else:
            fail(f"--daily-minutes must be a number of minutes or 'default', got {daily_minutes!r}")
    if max_concurrent is not None:
        changes["max_concurrent"] = max_concurrent or None
    store = open_store(s)
    try:
        project = options.project_sid(store, project)
        if changes:
            store.write_sync(lambda: update_project(project, **changes))
        own = store.read_sync(project_limits, project)
        record = store.read_sync(get_project, project)
    finally:
        store.close()
    assert record is not None
    pol = settings_policy(s)
    shown = {
        "project": project,
        "allowed_countries": ",".join(permissions.prefixes_for(own, pol)),
        "allowed_countries_source": "project" if own.allowed_countries is not None else "engine default",
        "daily_minutes": permissions.daily_cap_s(own, pol) // 60 or "unlimited",
        "daily_minutes_source": "project" if own.daily_minutes is not None else "engine default",
        "max_concurrent": record.max_concurrent or f"engine-wide {s.calls_max_concurrent}",
    }
    if json_out:
        print_json(shown)
        return
    render_pairs([(k, str(v)) for k, v in shown.items()], headers=("Limit", "Value"))
