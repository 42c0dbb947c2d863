"""Composition root: builds every service from Settings and owns the start/stop order.

Start order: store (migrate) -> webhook delivery -> SIP (sandbox carrier, worker pool) ->
call dispatcher -> REST API. Each long-lived part is an async context manager entered on one
AsyncExitStack, so a startup failure unwinds only what started, and shutdown runs in reverse.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from typing import Any

from wirexa.api.app import make_app, start_server
from wirexa.api.auth import RateLimiter
from wirexa.api.context import ApiServices
from wirexa.calls.service import CallController, CallService, NullController
from wirexa.calls.session import SessionDeps
from wirexa.http.audio import AudioCache
from wirexa.http.documents import DocumentFetcher
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.tts.chain import TtsChain
from wirexa.media.tts.espeak import EspeakTts
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.db import Store
from wirexa.webhooks import outbox, signing
from wirexa.webhooks.delivery import DeliveryWorker

log = logging.getLogger(__name__)


class Engine:
    """The whole engine in one process tree; `async with Engine(settings) as engine:`.

    `with_sip=False` runs the API, store and webhooks only (API tests, `serve --check`).
    After entry, `engine.port` is the bound API port (useful with port 0).
    """

    def __init__(self, settings: Any, *, with_sip: bool = True, with_api: bool = True) -> None:
        self.settings = settings
        self.with_sip = with_sip
        self.with_api = with_api
        self.node_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.store: Store | None = None
        self.services: ApiServices | None = None
        self.port: int | None = None
        self.sip: Any = None
        self.delivery: Any = None
        self.dispatcher: Any = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Engine:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        s = self.settings
        store = open_store(s)
        self.store = store
        self._stack.callback(store.close)
        ensure_project(store)

        self.delivery = await self._stack.enter_async_context(DeliveryWorker(store, s, worker_id=self.node_id))

        controller: CallController = NullController(store)
        if self.with_sip:
            from wirexa.calls.dispatcher import Dispatcher
            from wirexa.sip.bridge import SipBridge

            deps = await self._session_deps()
            self.sip = await self._stack.enter_async_context(SipBridge(s))
            self.dispatcher = await self._stack.enter_async_context(
                Dispatcher(
                    store,
                    s,
                    self.sip,
                    webhooks=self.delivery,
                    status_callbacks=outbox.call_status_callbacks,
                    node_id=self.node_id,
                    deps=deps,
                )
            )
            controller = self.dispatcher

        allowed = frozenset(n.strip() for n in s.sip_trunk_allowed_caller_ids.split(",") if n.strip())
        self.services = ApiServices(
            store=store,
            settings=s,
            calls=CallService(store, controller, allowed if s.sip_trunk_host else frozenset()),
            limiter=RateLimiter(s.api_rate_limit_per_s, s.api_rate_limit_burst),
            sip=self.sip,
        )
        if self.with_api:
            await self._start_api(make_app(self.services))

    async def _session_deps(self) -> SessionDeps:
        """The I/O of live calls: document fetcher, TTS chain, <Play> audio cache, beep."""
        s = self.settings
        cache = s.data_path / "cache"
        fetcher = await self._stack.enter_async_context(
            DocumentFetcher(signing.signature, timeout_s=s.calls_document_timeout_s)
        )
        audio = await self._stack.enter_async_context(AudioCache(cache / "audio"))
        tts = TtsChain(cache / "tts", [EspeakTts(s.tts_espeak_binary)])
        beep = cache / "beep-1000hz.wav"
        if not beep.exists():
            beep.parent.mkdir(parents=True, exist_ok=True)
            beep.write_bytes(wav_bytes(tone_pcm(1000, 400)))
        s.recordings_path.mkdir(parents=True, exist_ok=True)
        return SessionDeps(
            fetcher=fetcher,
            tts=tts,
            audio=audio,
            recordings_dir=s.recordings_path,
            base_url=s.base_url,
            beep_wav=beep,
            recording_callbacks=outbox.recording_callbacks(s.base_url),
            max_fetches=s.calls_max_redirects,
        )

    async def _start_api(self, app: Any) -> None:
        runner, self.port = await start_server(app, self.settings.host, self.settings.port)
        self._stack.push_async_callback(runner.cleanup)
        log.info("REST API listening on http://%s:%s", self.settings.host, self.port)
