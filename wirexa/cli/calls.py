"""`wirexa calls list|show`: read calls from the store (works with serve down)."""

from __future__ import annotations

from typing import Annotated

import typer

from wirexa.api.serializers import call_json
from wirexa.calls.state import RESOURCE_STATUS, stored_statuses
from wirexa.cli import options, tail_webhooks
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.store import repo
from wirexa.store.bootstrap import open_store

app = App(help="Inspect calls in the store.", no_args_is_help=True)

STATUS_COLORS = {
    "completed": "green",
    "busy": "yellow",
    "no-answer": "yellow",
    "failed": "red",
    "canceled": "red",
    "in-progress": "cyan",
}
CALL_COLUMNS = (
    Column("Call SID", keep=True),
    Column("Status", keep=True, colors=STATUS_COLORS),
    Column("From", keep=True),
    Column("To", keep=True),
    Column("Created"),
    Column("Duration"),
)


def _prefix(account_sid: str) -> str:
    return f"/2010-04-01/Accounts/{account_sid}"


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="Only calls with this status.")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project ID; default: every project.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most calls shown, newest first.", min=1)] = 50,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List calls, newest first."""
    statuses = stored_statuses(status) if status else ()
    if status and not statuses:  # () would mean every status
        fail(f"--status must be one of {', '.join(dict.fromkeys(RESOURCE_STATUS.values()))}, got {status!r}")
    store = open_store(options.settings(data_dir, config_file))
    projects = [project] if project else [p.sid for p in store.read_sync(repo.list_projects)]
    calls: list[repo.CallRecord] = []
    for sid in projects:
        page, _ = store.read_sync(repo.list_calls, repo.CallFilter(account_sid=sid, statuses=statuses), limit)
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
    """Show one call, its notifications and its webhook deliveries (callbacks)."""
    store = open_store(options.settings(data_dir, config_file))
    call = store.read_sync(repo.get_call, call_sid)
    if call is None:
        sid = options.unique_prefix(
            call_sid, store.read_sync(repo.call_sids_with_prefix, call_sid, options.PREFIX_MATCHES), "call"
        )
        call = store.read_sync(repo.get_call, sid)
        if call is None:  # deleted in between
            fail(f"no call {call_sid}")
    body = call_json(call, _prefix(call.account_sid))
    notes = store.read_sync(repo.list_notifications, call.sid)
    hooks = store.read_sync(lambda: repo.list_webhooks(call_sid=call.sid, limit=100_000))
    if json_out:
        body["notifications"] = [
            {"error_code": n.error_code, "message": n.message_text, "url": n.request_url} for n in notes
        ]
        body["webhooks"] = [tail_webhooks.row_json(w) for w in hooks]
        print_json(body)
        return
    out = console()
    fields = [[key, "" if value is None else str(value)] for key, value in body.items() if key != "subresource_uris"]
    render_rows((Column("Field"), Column("Value")), fields, out=out)
    if notes:
        note_rows = [[str(n.error_code), n.message_text, n.request_url or ""] for n in notes]
        render_rows(
            (Column("Notification", keep=True), Column("Message"), Column("URL")),
            note_rows,
            title="Notifications",
            out=out,
        )
    render_rows(
        tail_webhooks.columns(with_call=False),
        [tail_webhooks.cells(w, with_call=False) for w in hooks],
        title="Webhooks",
        out=out,
    )
