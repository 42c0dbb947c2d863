"""`wirexa conferences list|show|end`: a project's conference rooms (<Dial><Conference>).

Rooms are live state of the engine that runs their calls (in memory, like the calls), so every
command asks the running engine of the same data directory through its REST API (the project's
credentials from the store): the live rooms and the latest ended ones. With no engine running
there is nothing to show: one red line says so."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import aiohttp
import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.call import Api, find_engine
from wirexa.cli.console import Column, fail, print_json, render_pairs, render_rows
from wirexa.store.bootstrap import ensure_project
from wirexa.store.repo.projects import get_project

app = App(help="Conference rooms (<Dial><Conference>) of the running engine.", no_args_is_help=True)

RoomArg = Annotated[str, typer.Argument(help="The room's SID (CF...) or its name (a live room's).")]
Project = Annotated[str | None, typer.Option("--project", help="Project ID; default: the first project.")]

ROOM_COLUMNS = (
    Column("Name", keep=True),
    Column("SID", keep=True, drop=2),
    Column("Status", keep=True),
    Column("Ended because", cut=True, drop=3),
    Column("Created", keep=True, drop=1),
)
PARTICIPANT_COLUMNS = (
    Column("Call SID", keep=True),
    Column("Label", keep=True, drop=2),
    Column("Muted", keep=True),
    Column("Hold", keep=True, drop=1),
    Column("Coaching", keep=True, drop=3),
)


def _api(data_dir: Any, config_file: Any, project: str | None) -> Api:
    s = options.settings(data_dir, config_file)
    store = options.store(data_dir, config_file)
    try:
        proj = store.read_sync(get_project, options.project_sid(store, project)) if project else ensure_project(store)
    finally:
        store.close()
    if proj is None:
        fail(f"no project {project}")
    return Api(find_engine(s), proj.sid, proj.auth_token)


def _request(api: Api, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    try:
        status, body = api.request(method, path, data)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        fail(f"the engine did not answer: {exc}")
    if status >= 400:
        fail(str(body.get("message", body)) if isinstance(body, dict) else f"HTTP {status}")
    return body


def _find(api: Api, room: str) -> dict[str, Any]:
    text = room.strip()
    if text.startswith("CF"):
        return _request(api, "GET", f"/Conferences/{text}.json")  # type: ignore[no-any-return]
    body = _get(api, "/Conferences.json", {"FriendlyName": text, "PageSize": "1000"})
    rooms = [r for r in body["conferences"] if r["status"] != "completed"] or body["conferences"]
    if not rooms:
        fail(f"no conference named {text!r}")
    return rooms[0]  # type: ignore[no-any-return]


def _participants(api: Api, sid: str) -> list[dict[str, Any]]:
    body = _get(api, f"/Conferences/{sid}/Participants.json", {"PageSize": "1000"})
    return body["participants"]  # type: ignore[no-any-return]


def _get(api: Api, path: str, query: dict[str, str]) -> Any:
    """GET with a query string (Api.request sends `data` as a form)."""
    return _request(api, "GET", f"{path}?{urlencode(query)}")


@app.command("list")
def list_(
    project: Project = None,
    status: Annotated[
        str | None, typer.Option("--status", help="init, in-progress or completed (default: all).")
    ] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the rooms of the running engine (live and recently ended), newest first."""
    api = _api(data_dir, config_file, project)
    query = {"PageSize": "1000"} | ({"Status": status} if status else {})
    rooms = _get(api, "/Conferences.json", query)["conferences"]
    if json_out:
        for r in rooms:
            print_json(r)
        return
    rows = [
        [r["friendly_name"], r["sid"], r["status"], r["reason_conference_ended"] or "", r["date_created"]]
        for r in rooms
    ]
    render_rows(ROOM_COLUMNS, rows)


@app.command()
def show(
    room: RoomArg,
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one room and its participants."""
    api = _api(data_dir, config_file, project)
    found = _find(api, room)
    parts = _participants(api, found["sid"]) if found["status"] != "completed" else []
    if json_out:
        print_json(found | {"participants": parts})
        return
    render_pairs(
        [
            ("Name", found["friendly_name"]),
            ("SID", found["sid"]),
            ("Status", found["status"]),
            ("Created", found["date_created"]),
            ("Ended because", found["reason_conference_ended"] or "-"),
        ]
    )
    if parts:
        rows = [
            [
                p["call_sid"],
                p["label"] or "",
                str(p["muted"]).lower(),
                str(p["hold"]).lower(),
                p["call_sid_to_coach"] or "",
            ]
            for p in parts
        ]
        render_rows(PARTICIPANT_COLUMNS, rows, title="Participants")


@app.command()
def end(
    room: RoomArg,
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """End a live room: every participant leaves (conference-ended-via-api) and goes on at its <Dial action>."""
    api = _api(data_dir, config_file, project)
    found = _find(api, room)
    if found["status"] == "completed":
        fail(f"conference {found['sid']} has ended already")
    body = _request(api, "POST", f"/Conferences/{found['sid']}.json", {"Status": "completed"})
    if json_out:
        print_json(body)
        return
    typer.echo(f"ended {body['sid']} ({body['friendly_name']})")
