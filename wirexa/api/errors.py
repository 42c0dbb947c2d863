"""Middleware that renders every error as Twilio's error JSON (plus the doc's `detail`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from wirexa.api.serializers import error_json
from wirexa.errors import ApiError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Twilio codes for plain HTTP failures that aiohttp raises itself.
HTTP_CODES = {404: 20404, 405: 20004, 413: 413, 401: 20003}


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_json(exc.code, exc.message, exc.status), status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="Wirexa API"'} if exc.status == 401 else None
        return error_response(exc, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"The requested resource {request.path} was not found"
        elif exc.status == 413:
            message = "Request body too large"
        elif exc.status == 405:
            message = f"Method {request.method} not allowed for {request.path}"
        else:
            message = exc.reason
        code = HTTP_CODES.get(exc.status, exc.status)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return web.json_response(error_json(code, message, exc.status), status=exc.status, headers=headers)
    except Exception:  # noqa: BLE001 - the one catch-all of the API: log, never leak a traceback
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_json(20500, "Internal server error", 500), status=500)
