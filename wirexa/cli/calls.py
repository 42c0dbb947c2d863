"""`wirexa calls list|show`: read calls from the store (works with serve down)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from wirexa.api.serializers import call_json
from wirexa.cli import options
from wirexa.cli.console import console, fail, print_json
from wirexa.store import repo
from wirexa.store.bootstrap import open_store

app = typer.Typer(help="Inspect calls in the store.", no_args_is_help=True)


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
    store = open_store(options.settings(data_dir, config_file))
    projects = [project] if project else [p.sid for p in store.read_sync(repo.list_projects)]
    calls: list[repo.CallRecord] = []
    for sid in projects:
        page, _ = store.read_sync(repo.list_calls, repo.CallFilter(account_sid=sid, statuses=(status,) if status else ()), limit)
        calls.extend(page)
    calls.sort(key=lambda c: (c.date_created, c.sid), reverse=True)
    calls = calls[:limit]
    if json_out:
        for c in calls:
            print_json(call_json(c, _prefix(c.account_sid)))
        return
    table = Table("Call SID", "Status", "From", "To", "Created", "Duration")
    for c in calls:
        table.add_row(c.sid, c.status, c.from_number, c.to_number, str(c.date_created)[:19], "" if c.duration_s is None else f"{c.duration_s}s")
    console().print(table)


@app.command()
def show(
    call_sid: Annotated[str, typer.Argument(help="Call SID.")],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one call, its notifications and its callbacks."""
    store = open_store(options.settings(data_dir, config_file))
    call = store.read_sync(repo.get_call, call_sid)
    if call is None:
        fail(f"no call {call_sid}")
    body = call_json(call, _prefix(call.account_sid))
    notes = store.read_sync(repo.list_notifications, call_sid)
    if json_out:
        body["notifications"] = [{"error_code": n.error_code, "message": n.message_text, "url": n.request_url} for n in notes]
        print_json(body)
        return
    table = Table("Field", "Value", show_header=False)
    for key, value in body.items():
        if key != "subresource_uris":
            table.add_row(key, "" if value is None else str(value))
    out = console()
    out.print(table)
    for n in notes:
        out.print(f"[yellow]notification {n.error_code}[/yellow] {n.message_text} {n.request_url or ''}")
