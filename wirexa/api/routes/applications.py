"""Applications (AP...): voice URLs under a name, run by the numbers that name one
(VoiceApplicationSid) and by calls created with an ApplicationSid. The messaging settings of
Twilio's Application are refused with a 400 naming them (Wirexa does not handle messaging)."""

from __future__ import annotations

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.api.routes.numbers import VOICE_PARAMS, check_fallback, parse_voice_settings, refuse_unsupported
from wirexa.api.serializers import application_json
from wirexa.store.repo.applications import (
    ApplicationRecord,
    delete_application,
    get_application,
    insert_application,
    list_applications,
)
from wirexa.store.repo.applications import update_application as store_update_application

_NO_MESSAGING = "Wirexa does not handle messaging"
REFUSED: dict[str, tuple[str | None, str]] = {
    name: (None, _NO_MESSAGING)
    for name in (
        "SmsUrl",
        "SmsMethod",
        "SmsFallbackUrl",
        "SmsFallbackMethod",
        "SmsStatusCallback",
        "MessageStatusCallback",
    )
}
REFUSED["PublicApplicationConnectEnabled"] = ("false", "Wirexa has no Stripe Connect")


async def create_application(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    form = await ctx.form(request)
    refuse_unsupported(form, REFUSED)
    fields = parse_voice_settings(form, VOICE_PARAMS)
    check_fallback(fields.get("voice_url"), fields.get("voice_fallback_url"))
    app = await ctx.services(request).store.write(lambda: insert_application(project.sid, **fields))
    return web.json_response(application_json(app, ctx.prefix(request)), status=201)


async def list_applications_(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    q = request.query
    paging = ctx.parse_paging(q)
    apps, more = await ctx.services(request).store.read(
        list_applications, project.sid, paging.page_size, paging.page, paging.after_sid, q.get("FriendlyName") or None
    )
    pfx = ctx.prefix(request)
    return ctx.page_response(
        request,
        "applications",
        [application_json(a, pfx) for a in apps],
        paging,
        apps[-1].sid if more and apps else None,
    )


async def fetch_application(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    app = await ctx.services(request).store.lookup(get_application, request.match_info["sid"], project.sid)
    if app is None:
        raise ctx.not_found(request)
    return web.json_response(application_json(app, ctx.prefix(request)))


async def update_application(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    sid = request.match_info["sid"]
    form = await ctx.form(request)
    refuse_unsupported(form, REFUSED)
    fields = parse_voice_settings(form, VOICE_PARAMS)

    def update() -> ApplicationRecord | None:
        current = get_application(sid, project.sid)
        if current is None:
            return None
        check_fallback(
            fields.get("voice_url", current.voice_url), fields.get("voice_fallback_url", current.voice_fallback_url)
        )
        return store_update_application(sid, **fields) if fields else current

    app = await ctx.services(request).store.write(update)
    if app is None:
        raise ctx.not_found(request)
    return web.json_response(application_json(app, ctx.prefix(request)))


async def delete_application_(request: web.Request) -> web.Response:
    """Delete it; the numbers that named it run their own voice URLs again."""
    project = await ctx.require_project(request)
    sid = request.match_info["sid"]

    def delete() -> bool:
        return get_application(sid, project.sid) is not None and delete_application(sid)

    if not await ctx.services(request).store.write(delete):
        raise ctx.not_found(request)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Applications"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_application)
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_applications_)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_application)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_application)
        app.router.add_route("DELETE", f"{base}/{ctx.SID}{ctx.JSON_EXT}", delete_application_)
