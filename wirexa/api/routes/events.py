"""Call Events (`GET .../Calls/{CallSid}/Events.json`): the request and response of every HTTP
request the engine made for a call, oldest first, one per attempt, in Twilio's shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.events import CallEventRecord, page_events
from wirexa.timefmt import rfc2822


def parameters_json(params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The request's parameters as an object; a name sent more than once maps to its values' list."""
    out: dict[str, Any] = {}
    for name, value in params:
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def event_json(event: CallEventRecord) -> dict[str, Any]:
    """Twilio's call event: `request` {method, url, parameters} and `response` {response_code,
    content_type, response_body, request_duration (ms), date_created}; a request that got no
    response (no connection, a timeout) has a null code, type and body."""
    return {
        "request": {"method": event.method, "url": event.url, "parameters": parameters_json(event.parameters)},
        "response": {
            "response_code": event.response_code,
            "content_type": event.content_type,
            "response_body": event.response_body,
            "request_duration": event.request_duration_ms,
            "date_created": rfc2822(event.date_created),
        },
    }


async def list_call_events(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    svc = ctx.services(request)
    call = await svc.store.lookup(get_call, request.match_info["call"], project.sid)
    if call is None:
        raise ctx.not_found(request)
    q = request.query
    paging = ctx.parse_paging(q)
    after = int(paging.after_sid) if paging.after_sid and paging.after_sid.isdigit() else None
    events, more = await svc.store.read(page_events, call.sid, paging.page_size, paging.page, after)
    return ctx.page_response(
        request, "events", [event_json(e) for e in events], paging, events[-1].id if more and events else None
    )


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        path = version + "/Accounts/{account}/Calls/{call:[^/.]+}/Events"
        app.router.add_route("GET", f"{path}{ctx.JSON_EXT}", list_call_events)
