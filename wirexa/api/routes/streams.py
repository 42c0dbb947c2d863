"""Calls/{CallSid}/Streams: start a unidirectional Media Stream on a live call, stop one.

Twilio's Stream resource has two operations: create (POST .../Streams.json, 201) and update
(POST .../Streams/{Sid}.json with Status=stopped; {Sid} is the MZ sid or the stream's name).
There is no fetch or list. A bidirectional stream (<Connect><Stream>) cannot be started here,
as on Twilio. The audio runs in the SIP worker that holds the call (calls/streams.py).
"""

from __future__ import annotations

import re
import urllib.parse

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.parameters import refuse
from wirexa.calls.records import CallRecord, ProjectRecord
from wirexa.calls.service import TRACKS, StreamInfo
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo.calls import get_call
from wirexa.timefmt import rfc2822

MAX_PARAMETERS = 99  # Parameter1.Name ... Parameter99.Value
_PARAMETER = re.compile(r"^Parameter([0-9]+)\.(Name|Value)$")


def stream_json(info: StreamInfo, call: CallRecord, prefix: str) -> dict[str, object]:
    return {
        "account_sid": call.account_sid,
        "call_sid": call.sid,
        "sid": info.sid,
        "name": info.name,
        "status": info.status,
        "date_updated": rfc2822(info.date_updated),
        "uri": f"{prefix}/Calls/{call.sid}/Streams/{info.sid}.json",
    }


def stream_url(value: str | None) -> str:
    """A ws:// or wss:// URL (Twilio: wss only; Wirexa also takes ws for agents on the LAN)."""
    url = (value or "").strip()
    if not url:
        raise BadRequest("Missing required parameter Url in the post body", code=ApiCode.INVALID_PARAMETER)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise BadRequest(f"Url is not a valid ws:// or wss:// URL: {url!r}", code=ApiCode.INVALID_URL)
    return url


def custom_parameters(form: MultiMapping[str]) -> tuple[tuple[str, str], ...]:
    """Parameter1.Name/Value ... Parameter99.Name/Value, in number order; a Value without its
    Name, a number out of range, or a name+value of 500 characters or more is a 400."""
    names: dict[int, str] = {}
    values: dict[int, str] = {}
    for key, value in form.items():
        m = _PARAMETER.match(key)
        if m is None:
            continue
        n = int(m.group(1))
        if not 1 <= n <= MAX_PARAMETERS:
            raise BadRequest(f"{key}: parameters are numbered 1 to {MAX_PARAMETERS}", code=ApiCode.INVALID_PARAMETER)
        (names if m.group(2) == "Name" else values)[n] = value
    out: list[tuple[str, str]] = []
    for n in sorted(set(names) | set(values)):
        name = names.get(n, "").strip()
        if not name:
            raise BadRequest(f"Parameter{n}.Value is given without Parameter{n}.Name", code=ApiCode.INVALID_PARAMETER)
        value = values.get(n, "")
        if len(name) + len(value) >= 500:
            raise BadRequest(
                f"Parameter{n}.Name and Parameter{n}.Value together must be under 500 characters",
                code=ApiCode.INVALID_PARAMETER,
            )
        out.append((name, value))
    return tuple(out)


async def _call_of(request: web.Request, project: ProjectRecord) -> CallRecord:
    call = await ctx.services(request).store.read(get_call, request.match_info["call"], project.sid)
    if call is None:
        raise ctx.not_found(request)
    return call


async def create_stream(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    form = await ctx.form(request)
    refuse(form, "CreateStream")
    url = stream_url(form.get("Url"))
    track = ctx.parse_enum(form.get("Track"), "Track", tuple(TRACKS), "inbound_track", code=ApiCode.INVALID_PARAMETER)
    info = await ctx.services(request).calls.start_stream(
        call,
        url=url,
        name=(form.get("Name") or "").strip(),
        track=track,
        parameters=custom_parameters(form),
        status_callback=ctx.opt_url(form, "StatusCallback"),
        status_callback_method=ctx.parse_method(form.get("StatusCallbackMethod"), "StatusCallbackMethod"),
    )
    return web.json_response(stream_json(info, call, ctx.prefix(request)), status=201)


async def update_stream(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    form = await ctx.form(request)
    refuse(form, "UpdateStream")
    status = (form.get("Status") or "").strip()
    if not status:
        raise BadRequest("Missing required parameter Status in the post body", code=ApiCode.INVALID_PARAMETER)
    if status != "stopped":
        raise BadRequest(f"Status must be 'stopped', not {status!r}", code=ApiCode.INVALID_PARAMETER)
    info = await ctx.services(request).calls.stop_stream(call, request.match_info["stream"], request.path)
    body = stream_json(info, call, ctx.prefix(request))
    body["status"] = "stopped"  # stopping: the worker's "stopped" follows at once
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Calls/{call}/Streams"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_stream)
        app.router.add_route("POST", base + "/{stream:[^/]+?}" + ctx.JSON_EXT, update_stream)
