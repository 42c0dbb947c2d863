"""make_app: the aiohttp application for the REST API (no module globals; state under AppKeys)."""

from __future__ import annotations

from aiohttp import web

from wirexa.api.context import SERVICES, ApiServices
from wirexa.api.errors import error_middleware
from wirexa.api.routes import calls, health, notifications, recordings


def make_app(services: ApiServices) -> web.Application:
    """Build the API app around ready services (runtime.py owns their lifecycle)."""
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=int(services.settings.api_max_body_bytes),
    )
    app[SERVICES] = services
    health.add_routes(app)
    calls.add_routes(app)
    recordings.add_routes(app)
    notifications.add_routes(app)
    return app


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0 = any free port); returns the runner (cleanup() stops it) and the port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []
    return runner, (sockets[0].getsockname()[1] if sockets else port)
