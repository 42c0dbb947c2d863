"""`wirexa queues list|show`: a project's call queues (created by the Queues API or by <Enqueue>).

The queues themselves are read from the store (works with serve down); who waits in them is live
state of the running engine, so their sizes, average waits and members are asked of the engine
of the same data directory through its API. With no engine running every queue is empty, and the
listing says so."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import aiohttp
import typer

from wirexa.api.serializers import queue_json
from wirexa.cli import engine_file, options
from wirexa.cli.base import App
from wirexa.cli.console import Column, fail, print_json, render_pairs, render_rows
from wirexa.config import Settings
from wirexa.store.db import Store
from wirexa.store.repo.projects import get_project
from wirexa.store.repo.queues import QueueRecord, get_queue, list_queues, queue_by_name, queue_sids_with_prefix

app = App(help="Call queues: callers waiting (<Enqueue>) for an agent (<Dial><Queue>).", no_args_is_help=True)

QueueArg = Annotated[str, typer.Argument(help="The queue's name, its SID (QU...) or a unique start of the SID.")]
Project = Annotated[
    str | None, typer.Option("--project", help="Project ID (or a unique start of one): its queues only.")
]
NO_ENGINE = "no engine running: nobody waits"


def _live(s: Settings, store: Store, queue: QueueRecord, members: bool) -> dict[str, Any] | None:
    """The running engine's view of the queue (the Queue JSON, with `queue_members` when asked);
    None when no engine serves this data directory."""
    info = engine_file.live(s)
    project = store.read_sync(get_project, queue.account_sid)
    if info is None or project is None:
        return None
    base = f"{info.api_url}/2010-04-01/Accounts/{queue.account_sid}/Queues/{queue.sid}"
    auth = aiohttp.BasicAuth(project.sid, project.auth_token)

    async def go() -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession(auth=auth, timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.get(f"{base}.json") as resp:
                    if resp.status != 200:
                        return None
                    body: dict[str, Any] = await resp.json()
                if members:
                    async with session.get(f"{base}/Members.json", params={"PageSize": "1000"}) as resp:
                        body["queue_members"] = (await resp.json())["queue_members"] if resp.status == 200 else []
                return body
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None

    return asyncio.run(go())


def _find(store: Store, typed: str, project: str | None) -> QueueRecord:
    text = typed.strip()
    if project is not None:
        named = store.read_sync(queue_by_name, project, text)
        if named is not None:
            return named
    elif not text.startswith("QU"):
        queues, _ = store.read_sync(list_queues, None, 100_000)
        named_all = [q for q in queues if q.friendly_name == text]
        if len(named_all) == 1:
            return named_all[0]
        if len(named_all) > 1:
            fail(f"{len(named_all)} projects have a queue named {text!r}: say which with --project")
        fail(f"no queue named {text!r}")
    found = store.read_sync(get_queue, options.resolve_sid(store, text, "queue", queue_sids_with_prefix))
    if found is None or (project is not None and found.account_sid != project):
        fail(f"no queue {typed}")
    return found


def _json(queue: QueueRecord, live: dict[str, Any] | None) -> dict[str, Any]:
    base = queue_json(queue, f"/2010-04-01/Accounts/{queue.account_sid}", 0, 0)
    if live is not None:
        base.update({k: live[k] for k in ("current_size", "average_wait_time") if k in live})
        if "queue_members" in live:
            base["queue_members"] = live["queue_members"]
    return base


QUEUE_COLUMNS = (
    Column("Name", keep=True),
    Column("SID", keep=True, drop=2),
    Column("Waiting", keep=True),
    Column("Avg wait (s)", keep=True, drop=1),
    Column("Max size", keep=True, drop=3),
    Column("Project", keep=True, drop=4),
)


@app.command("list")
def list_(
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the queues, newest first, with how many callers wait in each (asked of the running engine)."""
    s = options.settings(data_dir, config_file)
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project) if project else None
    queues, _ = store.read_sync(list_queues, account, 100_000)
    lives = [_live(s, store, q, members=False) for q in queues]
    if json_out:
        for q, live in zip(queues, lives, strict=True):
            print_json(_json(q, live))
        return
    rows = [
        [
            q.friendly_name,
            q.sid,
            str(live["current_size"]) if live else "-",
            str(live["average_wait_time"]) if live else "-",
            str(q.max_size),
            q.account_sid,
        ]
        for q, live in zip(queues, lives, strict=True)
    ]
    render_rows(QUEUE_COLUMNS, rows)
    if queues and engine_file.live(s) is None:
        typer.echo(f"({NO_ENGINE})", err=True)  # not a row: a pipe reading the listing does not see it


@app.command()
def show(
    queue: QueueArg,
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one queue and the callers waiting in it, in order (asked of the running engine)."""
    s = options.settings(data_dir, config_file)
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project) if project else None
    found = _find(store, queue, account)
    live = _live(s, store, found, members=True)
    if json_out:
        print_json(_json(found, live) | ({} if live else {"queue_members": []}))
        return
    render_pairs(
        [
            ("Name", found.friendly_name),
            ("SID", found.sid),
            ("Project", found.account_sid),
            ("Max size", str(found.max_size)),
            ("Waiting", str(live["current_size"]) if live else NO_ENGINE),
            ("Average wait (s)", str(live["average_wait_time"]) if live else "-"),
            ("Created", str(found.date_created)[:19]),
        ]
    )
    members = live.get("queue_members", []) if live else []
    if members:
        render_rows(
            (Column("Position", keep=True), Column("Call SID", keep=True), Column("Waiting (s)", keep=True)),
            [[str(m["position"]), m["call_sid"], str(m["wait_time"])] for m in members],
            title="Members",
        )
