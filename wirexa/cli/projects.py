"""`wirexa projects ...`: list, create, show, rotate-token, credits. Subaccounts (projects with a
parent, made through the API's Accounts resource) are listed with their parent."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Annotated, Any

import typer
from rich.markup import escape

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.store.db import Store
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.projects import create_project, get_project, list_projects, update_project

app = App(help="Manage projects (accounts): credentials, credits and limits.", no_args_is_help=True)


def _get(store: Store, typed: str) -> ProjectRecord:
    """The project `typed` (its SID or a unique start of one) names; one red line otherwise."""
    project = store.read_sync(get_project, options.project_sid(store, typed))
    if project is None:  # deleted in between
        fail(f"no project {typed}")
    return project


def _as_json(p: ProjectRecord) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d["credits"] = "unlimited" if p.credits_s is None else p.credits_s
    return d


def _show(p: ProjectRecord, json_out: bool) -> None:
    if json_out:
        print_json(_as_json(p))
        return
    out = console()
    out.print(f"Project ID:  [bold]{p.sid}[/bold]")
    out.print(f"Name:        {escape(p.friendly_name)}")
    out.print(f"Auth Token:  {p.auth_token}")
    out.print(f"Status:      {p.status}")
    if p.parent_sid is not None:
        out.print(f"Parent:      {p.parent_sid} (a subaccount)")
    out.print(f"Credits:     {'unlimited' if p.credits_s is None else f'{p.credits_s} call-seconds'}")


@app.command("list")
def list_(
    data_dir: options.DataDir = None, config_file: options.ConfigFile = None, json_out: options.Json = False
) -> None:
    """List projects."""
    store = options.store(data_dir, config_file)
    projects = store.read_sync(list_projects)
    if json_out:
        for p in projects:
            print_json(_as_json(p))
        return
    columns = (
        Column("Project ID", keep=True),
        Column("Name", cut=True),
        Column("Status", keep=True, drop=1),
        Column("Credits", keep=True, drop=2),
        Column("Created", keep=True, drop=3),
        Column("Parent", keep=True, drop=4),
    )
    rows = [
        [
            p.sid,
            p.friendly_name,
            p.status,
            "unlimited" if p.credits_s is None else str(p.credits_s),
            str(p.date_created)[:19],
            p.parent_sid or "",
        ]
        for p in projects
    ]
    render_rows(columns, rows)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Friendly name of the project.")] = "Project",
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Create a project and print its Project ID and Auth Token."""
    store = options.store(data_dir, config_file)
    _show(store.write_sync(create_project, name), json_out)


@app.command()
def show(
    project: options.ProjectArg,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one project with its credentials."""
    _show(_get(options.store(data_dir, config_file), project), json_out)


@app.command("rotate-token")
def rotate_token(
    project: options.ProjectArg,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Give a project a new Auth Token (the old one stops working at once)."""
    store = options.store(data_dir, config_file)
    current = _get(store, project)
    _show(
        store.write_sync(lambda: update_project(current.sid, auth_token=secrets.token_hex(16))) or current,
        json_out,
    )


@app.command()
def credits(
    project: options.ProjectArg,
    set_: Annotated[int | None, typer.Option("--set", help="Set the balance to N call-seconds.")] = None,
    add: Annotated[int | None, typer.Option("--add", help="Add N call-seconds (negative to deduct).")] = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", help="Remove the balance: calls are never refused for credits.")
    ] = False,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show or change a project's credit balance (call-seconds; unlimited by default)."""
    if sum(x is not None and x is not False for x in (set_, add, unlimited or None)) > 1:
        fail("give only one of --set, --add, --unlimited")
    if set_ is not None and set_ < 0:
        fail("--set needs a balance of 0 or more")
    store = options.store(data_dir, config_file)
    current = _get(store, project)
    sid = current.sid
    if unlimited:
        current = store.write_sync(lambda: update_project(sid, credits_s=None)) or current
    elif set_ is not None:
        current = store.write_sync(lambda: update_project(sid, credits_s=set_)) or current
    elif add is not None:
        new = (current.credits_s or 0) + add
        current = store.write_sync(lambda: update_project(sid, credits_s=new)) or current
    _show(current, json_out)
