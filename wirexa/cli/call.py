"""`wirexa call`: place a call through the running engine's REST API, as a customer would, and
(by default) wait for its end, for shell scripts: exit 0 only when the call completed.

The engine is the one serving the same data directory: `<data_dir>/engine.json` (written by
`wirexa serve`, with the port it really listens on), else the configured port (`--port`,
WIREXA_PORT, the config file) if an engine answers /health there.

Exit codes: 0 completed (or created, with --no-wait); 1 an error (no engine, a rejected request);
3 busy, 4 no-answer, 5 failed, 6 canceled; 7 still live when --timeout ran out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any
from xml.sax.saxutils import escape

import aiohttp
import typer
from rich.status import Status

from wirexa.calls import state
from wirexa.cli import engine_file, options
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.cli.init import urls
from wirexa.config import Settings
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.projects import get_project

ENDED = tuple(str(s) for s in state.FINAL)
EXIT_CODES = {"completed": 0, "busy": 3, "no-answer": 4, "failed": 5, "canceled": 6}
EXIT_STILL_LIVE = 7
POLL_S = 0.5


class Api:
    """The engine's REST API for one project (blocking calls, one short-lived session each)."""

    def __init__(self, api_url: str, account_sid: str, token: str) -> None:
        self.api_url = api_url
        self.base = f"{api_url}/2010-04-01/Accounts/{account_sid}"
        self.auth = aiohttp.BasicAuth(account_sid, token)

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
                async with session.request(method, self.base + path, auth=self.auth, data=data) as resp:
                    return resp.status, await resp.json(content_type=None)

        return asyncio.run(go())


def healthy(api_url: str) -> bool:
    async def go() -> bool:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
                async with session.get(f"{api_url}/health") as resp:
                    return resp.status in (200, 503) and "version" in await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False

    return asyncio.run(go())


def find_engine(s: Settings) -> str:
    """The API URL of the engine serving this data directory; one red line when none runs."""
    info = engine_file.live(s)
    if info is not None:
        if healthy(info.api_url):
            return info.api_url
        fail(
            f"the engine of {s.data_path} (pid {info.pid}) does not answer at {info.api_url}/health; is it still starting?"
        )
    api_url, _ = urls(s)
    if healthy(api_url):
        return api_url
    fail(engine_file.not_running(s, api_url))


def call(
    to: Annotated[str, typer.Argument(help="Number to call (E.164, e.g. +15005550006) or a sip: URI.")],
    from_: Annotated[str, typer.Option("--from", help="Caller ID (E.164).")] = "+15005550100",
    url: Annotated[str | None, typer.Option("--url", help="URL returning the call's XML.")] = None,
    twiml: Annotated[str | None, typer.Option("--twiml", help="Inline XML document.")] = None,
    say: Annotated[str | None, typer.Option("--say", help="Shortcut: a document that says this text.")] = None,
    status_callback: Annotated[str | None, typer.Option("--status-callback", help="URL for status callbacks.")] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until the call ends (a live status line meanwhile); exit 0 only if it completed.",
        ),
    ] = True,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="With --wait: give up after this many seconds (exit 7).", min=1)
    ] = 3600,
    project: Annotated[str | None, typer.Option("--project", help="Project ID; default: the first project.")] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="API port of the engine, when it has no engine.json.", envvar="WIREXA_PORT"),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (the call, its SIP code and recording URLs).")
    ] = False,
) -> None:
    """Create a call through the engine's API (the engine must be running); exit 0 only for a
    completed call: 3 busy, 4 no-answer, 5 failed, 6 canceled, 7 --timeout ran out, 1 an error."""
    s = options.settings(data_dir, config_file, port=port)
    store = open_store(s)
    try:
        proj = store.read_sync(get_project, project) if project else ensure_project(store)
    finally:
        store.close()
    if proj is None:
        fail(f"no project {project}")
    if say is not None:
        twiml = f"<Response><Say>{escape(say)}</Say></Response>"
    if not url and not twiml:
        twiml = "<Response><Say>Hello from Wirexa.</Say></Response>"
    api = Api(find_engine(s), proj.sid, proj.auth_token)
    data = {"To": to, "From": from_}
    if url:
        data["Url"] = url
    if twiml:
        data["Twiml"] = twiml
    if status_callback:
        data["StatusCallback"] = status_callback
    try:
        status, body = api.request("POST", "/Calls.json", data)
        if status != 201:
            fail(f"{body.get('code')}: {body.get('message')}")
    except (TimeoutError, aiohttp.ClientError) as exc:
        fail(f"cannot reach the engine at {api.api_url}: {exc or type(exc).__name__}")
    recordings: list[str] = []
    try:
        if wait:
            body = _wait(api, body, timeout_s, json_out)
        if body.get("status") in ENDED:
            recordings = _recordings(api, body["sid"])
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The engine stopped (a graceful stop ends live calls first): the store has the outcome.
        stored = _stored_call(s, body["sid"])
        if stored is None or stored.get("status") not in ENDED:
            fail(
                f"lost the engine at {api.api_url} while the call was {body.get('status')}: {exc or type(exc).__name__}"
            )
        body = stored
    sip_code = _sip_code(s, body["sid"])
    code = EXIT_CODES.get(str(body.get("status")), EXIT_STILL_LIVE) if wait else 0
    if json_out:
        print_json({**body, "sip_response_code": sip_code, "recordings": recordings})
    else:
        rows = [
            ["Call SID", body["sid"]],
            ["Status", str(body.get("status"))],
            ["From -> To", f"{body.get('from')} -> {body.get('to')}"],
            ["Duration", "" if body.get("duration") is None else f"{body['duration']} s"],
            ["SIP code", "" if sip_code is None else str(sip_code)],
            ["AnsweredBy", body.get("answered_by") or ""],
            *(["Recording", r] for r in recordings),
        ]
        render_rows((Column("Field"), Column("Value")), rows)
        if wait and code == EXIT_STILL_LIVE:
            console(stderr=True).print(f"still {body.get('status')} after {timeout_s:g} s (--timeout)", markup=False)
    raise typer.Exit(code)


def _wait(api: Api, body: dict[str, Any], timeout_s: float, quiet: bool) -> dict[str, Any]:
    """Poll the call until it ends (or timeout_s); a live status line on a terminal's stderr."""
    err = console(stderr=True)
    started = time.monotonic()
    deadline = started + timeout_s

    def line(b: dict[str, Any]) -> str:
        return f"{b['sid']}  {b.get('status')}  {b.get('from')} -> {b.get('to')}  {int(time.monotonic() - started)} s"

    def poll() -> dict[str, Any]:
        nonlocal body
        while body.get("status") not in ENDED and time.monotonic() < deadline:
            time.sleep(POLL_S)
            status, fresh = api.request("GET", f"/Calls/{body['sid']}.json")
            if status == 200:
                body = fresh
                if live is not None:
                    live.update(line(body))
        return body

    live: Status | None = None
    if err.is_terminal and not quiet:
        with err.status(line(body)) as live:
            return poll()
    return poll()


def _recordings(api: Api, call_sid: str) -> list[str]:
    """Media URLs (MP3) of the call's recordings."""
    status, body = api.request("GET", f"/Calls/{call_sid}/Recordings.json")
    if status != 200:
        return []
    return [f"{api.base}/Recordings/{r['sid']}.mp3" for r in body.get("recordings", [])]


def _stored_call(s: Settings, call_sid: str) -> dict[str, Any] | None:
    """The call as the API would show it, read from the store."""
    from wirexa.api.serializers import call_json

    store = open_store(s)
    try:
        call = store.read_sync(get_call, call_sid)
    finally:
        store.close()
    return None if call is None else call_json(call, f"/2010-04-01/Accounts/{call.account_sid}")


def _sip_code(s: Settings, call_sid: str) -> int | None:
    """The final SIP response code, from the store (the REST resource has no field for it)."""
    try:
        store = open_store(s)
    except Exception:  # noqa: BLE001 - a nicety: the result stands without it
        return None
    try:
        call = store.read_sync(get_call, call_sid)
    finally:
        store.close()
    return None if call is None else call.sip_response_code
