"""Notifications (Twilio's debugger log: 11200, 12100 ...): account and call level list with the
Log and MessageDate filters, fetch, delete."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.serializers import notification_json
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo import NotificationRecord, ProjectRecord
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.notifications import delete_notification, get_notification, page_notifications

LOG_LEVELS = {"0": 0, "1": 1}  # Twilio's Log: 0 error, 1 warning


def parse_log(query: MultiMapping[str]) -> int | None:
    raw = query.get("Log")
    if raw is None or raw == "":
        return None
    level = LOG_LEVELS.get(raw.strip())
    if level is None:
        raise BadRequest(f"Log must be 0 (error) or 1 (warning), got {raw!r}", code=ApiCode.INVALID_PARAMETER)
    return level


async def _call_sid(request: web.Request, project: ProjectRecord) -> str:
    """The path's call, which must be the project's."""
    call = await ctx.services(request).store.lookup(get_call, request.match_info["call"], project.sid)
    if call is None:
        raise ctx.not_found(request)
    return call.sid


async def _list(request: web.Request, project: ProjectRecord, call_sid: str | None) -> web.Response:
    svc = ctx.services(request)
    q = request.query
    paging = ctx.parse_paging(q)
    notes, more = await svc.store.read(
        page_notifications,
        project.sid,
        paging.page_size,
        paging.page,
        paging.after_sid,
        call_sid,
        parse_log(q),
        ctx.parse_time_filter(q, "MessageDate"),
    )
    pfx = ctx.prefix(request)
    return ctx.page_response(
        request,
        "notifications",
        [notification_json(n, pfx, call_level=call_sid is not None, instance=False) for n in notes],
        paging,
        notes[-1].sid if more and notes else None,
    )


async def _get(request: web.Request, project: ProjectRecord, call_sid: str | None) -> NotificationRecord:
    svc = ctx.services(request)
    note = await svc.store.lookup(get_notification, request.match_info["sid"], project.sid, call_sid)
    if note is None:
        raise ctx.not_found(request)
    return note


async def list_account_notifications(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    return await _list(request, project, None)


async def list_call_notifications(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    return await _list(request, project, await _call_sid(request, project))


async def fetch_account_notification(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    note = await _get(request, project, None)
    return web.json_response(notification_json(note, ctx.prefix(request), call_level=False, instance=True))


async def fetch_call_notification(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    note = await _get(request, project, request.match_info["call"])
    return web.json_response(notification_json(note, ctx.prefix(request), call_level=True, instance=True))


async def delete_account_notification(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    note = await _get(request, project, None)
    await ctx.services(request).store.write(delete_notification, note.sid)
    return web.Response(status=204)


async def delete_call_notification(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    note = await _get(request, project, request.match_info["call"])
    await ctx.services(request).store.write(delete_notification, note.sid)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}"
        for path, list_, fetch, delete in (
            (
                f"{base}/Notifications",
                list_account_notifications,
                fetch_account_notification,
                delete_account_notification,
            ),
            (
                base + "/Calls/{call:[^/.]+}/Notifications",
                list_call_notifications,
                fetch_call_notification,
                delete_call_notification,
            ),
        ):
            app.router.add_route("GET", f"{path}{ctx.JSON_EXT}", list_)
            app.router.add_route("GET", f"{path}/{ctx.SID}{ctx.JSON_EXT}", fetch)
            app.router.add_route("DELETE", f"{path}/{ctx.SID}{ctx.JSON_EXT}", delete)
