"""`wirexa call`: place a call through the running engine's REST API, as a customer would."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any
from xml.sax.saxutils import escape

import aiohttp
import typer

from wirexa.calls import state
from wirexa.cli import options
from wirexa.cli.console import console, fail, print_json
from wirexa.cli.init import urls
from wirexa.store import repo
from wirexa.store.bootstrap import ensure_project, open_store

ENDED = tuple(str(s) for s in state.FINAL)


async def _request(method: str, url: str, auth: aiohttp.BasicAuth, data: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        async with session.request(method, url, auth=auth, data=data) as resp:
            return resp.status, await resp.json(content_type=None)


def call(
    to: Annotated[str, typer.Argument(help="Number to call (E.164, e.g. +15005550006) or a sip: URI.")],
    from_: Annotated[str, typer.Option("--from", help="Caller ID (E.164).")] = "+15005550100",
    url: Annotated[str | None, typer.Option("--url", help="URL returning the call's XML.")] = None,
    twiml: Annotated[str | None, typer.Option("--twiml", help="Inline XML document.")] = None,
    say: Annotated[str | None, typer.Option("--say", help="Shortcut: a document that says this text.")] = None,
    status_callback: Annotated[str | None, typer.Option("--status-callback", help="URL for status callbacks.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the call ends and print its final state.")] = True,
    project: Annotated[str | None, typer.Option("--project", help="Project ID; default: the first project.")] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Create a call through the engine's API (the engine must be running)."""
    s = options.settings(data_dir, config_file)
    store = open_store(s)
    proj = store.read_sync(repo.get_project, project) if project else ensure_project(store)
    store.close()
    if proj is None:
        fail(f"no project {project}")
    if say is not None:
        twiml = f"<Response><Say>{escape(say)}</Say></Response>"
    if not url and not twiml:
        twiml = "<Response><Say>Hello from Wirexa.</Say></Response>"
    api_url, _ = urls(s)
    base = f"{api_url}/2010-04-01/Accounts/{proj.sid}/Calls"
    auth = aiohttp.BasicAuth(proj.sid, proj.auth_token)
    data = {"To": to, "From": from_}
    if url:
        data["Url"] = url
    if twiml:
        data["Twiml"] = twiml
    if status_callback:
        data["StatusCallback"] = status_callback
    try:
        status, body = asyncio.run(_request("POST", base + ".json", auth, data))
        if status != 201:
            fail(f"{body.get('code')}: {body.get('message')}")
        sid = body["sid"]
        if wait:
            deadline = time.monotonic() + 900
            while body.get("status") not in ENDED and time.monotonic() < deadline:
                time.sleep(0.5)
                _, body = asyncio.run(_request("GET", f"{base}/{sid}.json", auth))
    except (TimeoutError, aiohttp.ClientError) as exc:
        fail(f"cannot reach the engine at {api_url}: {exc or type(exc).__name__} (is `wirexa serve` running?)")
    if json_out:
        print_json(body)
    else:
        console().print(f"{body['sid']}  {body['status']}  {body['from']} -> {body['to']}  duration={body.get('duration')}")
