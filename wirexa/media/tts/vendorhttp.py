"""One lazily opened aiohttp ClientSession per REST provider, and HTTP status -> ProviderError."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from wirexa.media.tts.base import ProviderError, failed, redact, voice_rejected


class VendorHttp:
    """Loop-only. Sends one request to a vendor and answers (status, body); connection failures
    become ProviderError. Every text that leaves here goes through `redact(secrets)`."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The chain bounds each render with its own timeout; this one only stops a leak.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        try:
            async with self._client().request(
                method, url, headers=dict(headers), json=json_body, data=data, params=params
            ) as resp:
                return resp.status, await resp.read()
        except aiohttp.ClientError as exc:
            raise failed(self.redact(f"connection to the vendor failed: {type(exc).__name__}: {exc}")) from exc

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        voice: str = "",
    ) -> AsyncIterator[bytes]:
        """Send one request and yield the answer's body as it arrives (chunked or not); a
        non-2xx answer raises `status_error` before anything is yielded."""
        try:
            async with self._client().request(
                method, url, headers=dict(headers), json=json_body, data=data, params=params
            ) as resp:
                if resp.status != 200:
                    raise self.status_error(resp.status, await resp.read(), voice=voice)
                async for chunk in resp.content.iter_any():
                    if chunk:
                        yield chunk
        except aiohttp.ClientError as exc:
            raise failed(self.redact(f"connection to the vendor failed: {type(exc).__name__}: {exc}")) from exc

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def status_error(self, status: int, body: bytes, *, voice: str = "") -> ProviderError:
        """The ProviderError for a non-2xx answer. 401/403: credentials refused; a 400/404 whose
        message names the voice: voice rejected (13511); anything else: vendor failure (13520)."""
        message = self.redact(_message(body))
        if status in (401, 403):
            return failed(f"credentials refused (HTTP {status})")
        if status in (400, 404, 422) and "voice" in message.lower():
            return voice_rejected(f"voice {voice!r} rejected (HTTP {status}): {message}")
        return failed(f"HTTP {status}: {message}" if message else f"HTTP {status}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _message(body: bytes) -> str:
    """The human part of a vendor's error body (JSON `error.message`, `detail.message`, ...)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    for path in (("error", "message"), ("detail", "message"), ("detail",), ("message",), ("error",)):
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str):
            return node[:200]
    return " ".join(text.split())[:200]
