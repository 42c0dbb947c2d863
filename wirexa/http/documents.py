"""Fetch a call's XML document from the customer's backend, with Twilio's limits and codes.

Implements the session's Fetcher port. A fetch belongs to its call (timeout, FallbackUrl,
11200-family errors reported as notifications); it is never an outbox job.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import aiohttp

import wirexa
from wirexa.errors import DocumentError
from wirexa.notices import Notice
from wirexa.urls import wire_url

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_REDIRECTS = 5

# (auth token, url, params) -> X-Twilio-Signature value
Signer = Callable[[str, str, Sequence[tuple[str, str]]], str]


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """One fetch and what came back, for the call's Events: status, content type and body are
    None when no response came (no connection, a timeout); `body` is at most max_bytes + 1."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    status: int | None
    content_type: str | None
    body: bytes | None
    duration_ms: int


# Told of every fetch on the loop, after it ends; must return at once (runtime: the call events log).
ExchangeSink = Callable[[Exchange], None]


async def read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or its first limit + 1 bytes when it is longer (the caller refuses it).
    One StreamReader.read(n) returns what has arrived, up to n: a large body comes in many."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    content_type: str | None
    body: bytes
    url: str


class DocumentFetcher:
    """Loop-only; owns one aiohttp ClientSession. Use as an async context manager."""

    def __init__(
        self,
        signer: Signer,
        timeout_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        on_exchange: ExchangeSink | None = None,
    ) -> None:
        self.signer = signer
        self.on_exchange = on_exchange
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DocumentFetcher:
        self._session = aiohttp.ClientSession(
            timeout=self.timeout,
            headers={"User-Agent": f"Wirexa/{wirexa.__version__}"},
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str, method: str, params: Sequence[tuple[str, str]], auth_token: str) -> Fetched:
        """Request the document; raises DocumentError(11100/11200/11205/11210/11215/11750)."""
        assert self._session is not None, "DocumentFetcher used outside its context"
        limit = self.max_bytes
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DocumentError(Notice.INVALID_URL, f"Invalid URL format: {url}", url)
        method = method.upper()
        # GET: the params are in the URL's query and the signature covers only the URL.
        data = None if method == "GET" else list(params)
        try:
            target = wire_url(url, params if data is None else ())
        except ValueError as exc:
            raise DocumentError(Notice.INVALID_URL, f"Invalid URL format: {url}", url) from exc
        # As Twilio does, sign without the URL's credentials (sent as Basic auth, not in the URL).
        signature = self.signer(auth_token, str(target.with_user(None)), data or ())
        headers = {
            "X-Twilio-Signature": signature,
            "X-SignalWire-Signature": signature,
            "Accept": "text/xml, application/xml, text/html, text/plain, audio/*;q=0.5",
        }
        started = time.monotonic()
        status: int | None = None
        content_type: str | None = None
        body: bytes | None = None
        try:
            async with self._session.request(
                method, target, data=data, headers=headers, allow_redirects=True, max_redirects=MAX_REDIRECTS
            ) as resp:
                status, content_type = resp.status, resp.headers.get("Content-Type")
                body = await read_capped(resp.content, limit)
                if len(body) > limit:
                    raise DocumentError(Notice.RESPONSE_TOO_LARGE, f"Response body exceeds {limit} bytes", url)
                if not 200 <= resp.status < 300:
                    raise DocumentError(
                        Notice.HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: status {resp.status}", url
                    )
                return Fetched(resp.status, resp.headers.get("Content-Type"), body, str(resp.url))
        except DocumentError:
            raise
        except aiohttp.TooManyRedirects as exc:
            raise DocumentError(Notice.HTTP_TOO_MANY_REDIRECTS, "Too many HTTP redirects", url) from exc
        except aiohttp.ClientConnectorDNSError as exc:
            raise DocumentError(Notice.HTTP_BAD_HOST_NAME, f"HTTP bad host name: {parts.hostname}", url) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, socket.gaierror):
                raise DocumentError(Notice.HTTP_BAD_HOST_NAME, f"HTTP bad host name: {parts.hostname}", url) from exc
            raise DocumentError(
                Notice.HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {exc.os_error}", url
            ) from exc
        except TimeoutError as exc:
            raise DocumentError(Notice.HTTP_RETRIEVAL_FAILURE, "HTTP retrieval failure: timed out", url) from exc
        except aiohttp.ClientError as exc:
            raise DocumentError(Notice.HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: {exc}", url) from exc
        finally:
            if self.on_exchange is not None:
                elapsed_ms = int((time.monotonic() - started) * 1000)
                exchange = Exchange(method, url, tuple(params), status, content_type, body, elapsed_ms)
                try:
                    self.on_exchange(exchange)
                except Exception:  # noqa: BLE001 - the request log must not fail the call's fetch
                    log.exception("could not log the fetch of %s", url)
