"""/health: engine status, version, database and SIP state."""

from __future__ import annotations

from aiohttp import web

import wirexa
from wirexa.api import context as ctx


async def health(request: web.Request) -> web.Response:
    svc = ctx.services(request)
    db_ok = await svc.store.read(svc.store.ping)
    body: dict[str, object] = {
        "status": "ok" if db_ok else "degraded",
        "version": wirexa.__version__,
        "database": "ok" if db_ok else "error",
        "sip": svc.sip.health() if svc.sip is not None else {"state": "disabled"},
    }
    return web.json_response(body, status=200 if db_ok else 503)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
