"""make_app: the aiohttp application for the REST API (no module globals; state under AppKeys)."""

from __future__ import annotations

import logging

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from wirexa.api.context import SERVICES, ApiServices
from wirexa.api.errors import HTTP_CODES, error_middleware, input_guard
from wirexa.api.forward import install as install_forwarding
from wirexa.api.routes import (
    accounts,
    applications,
    calls,
    conferences,
    events,
    health,
    keys,
    notifications,
    numbers,
    queues,
    recordings,
    streams,
    transcriptions,
    usage,
)
from wirexa.api.serializers import error_json
from wirexa.errors import ApiCode

log = logging.getLogger(__name__)


def make_app(services: ApiServices) -> web.Application:
    """Build the API app around ready services (runtime.py owns their lifecycle)."""
    app = web.Application(
        middlewares=[error_middleware, input_guard],
        client_max_size=int(services.settings.api_max_body_bytes),
    )
    app[SERVICES] = services
    install_forwarding(app)  # a live call's changes go to the engine holding it (several engines)
    health.add_routes(app)
    calls.add_routes(app)
    recordings.add_routes(app)
    transcriptions.add_routes(app)
    notifications.add_routes(app)
    numbers.add_routes(app)
    applications.add_routes(app)
    keys.add_routes(app)
    accounts.add_routes(app)
    events.add_routes(app)
    usage.add_routes(app)
    streams.add_routes(app)
    queues.add_routes(app)
    conferences.add_routes(app)
    if services.settings.console_enabled:  # the web console, at /console/ (wirexa/console/)
        from wirexa.console.app import make_console

        app.add_subapp("/console", make_console(services.settings.console_session_hours))
    return app


class _Connection(RequestHandler):
    """aiohttp's connection handler, but what its HTTP parser refuses before the app sees a
    request (a request line or header over 8190 bytes, too many headers, a bad method, a broken
    chunk) is answered with Twilio's error JSON, and logged as one line, not a traceback."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for an answer, the connection drops
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        if isinstance(exc, http_exceptions.LineTooLong):
            text = "Request line or header too long"
        elif isinstance(exc, http_exceptions.BadHttpMethod):
            text = "Bad HTTP method"
        elif status >= 500:
            text = "Internal server error"
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:
            text = "Bad HTTP request"
        if status < 500:
            log.info("refused a malformed HTTP request from %s: %s", request.remote, exc or message)
        code = HTTP_CODES.get(status, ApiCode.INTERNAL_SERVER_ERROR if status >= 500 else status)
        response = web.json_response(error_json(code, text, status), status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state, one method more: aiohttp builds the Server itself
        return server


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0 = any free port); returns the runner (cleanup() stops it) and the port."""
    runner: web.AppRunner = _Runner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []
    return runner, (sockets[0].getsockname()[1] if sockets else port)
