"""Fast call-flow harness: real dispatcher, sessions, interpreter and fetcher, a real aiohttp
backend serving the customer's XML, FakeSip for the network and FakeTts for speech."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.clock import SteppedClock
from tests.fakes.sip import FakeSip
from tests.fakes.tts import FakeTts
from wirexa import config
from wirexa.calls.conference import Conferences
from wirexa.calls.conference_recording import RoomRecorder
from wirexa.calls.dispatcher import Dispatcher
from wirexa.calls.media import MediaPrep
from wirexa.calls.queues import Queues
from wirexa.calls.service import CallService, NewCall
from wirexa.calls.session import SessionDeps
from wirexa.clock import new_sid
from wirexa.http.audio import AudioCache
from wirexa.http.documents import DocumentFetcher
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.recording import merge_channels, repair_in_thread, trim_silence
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.conferences import StoreConferences
from wirexa.store.queues import StoreQueues
from wirexa.store.repo import CallRecord, ProjectRecord
from wirexa.store.repo.calls import get_call
from wirexa.webhooks import outbox, signing


@dataclasses.dataclass
class Backend:
    """The customer's web app: path -> XML (str) or a handler; records every request."""

    server: TestServer
    docs: dict[str, Any]
    requests: list[tuple[str, str, dict[str, str]]]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [params for p, _, params in self.requests if p == path]


@dataclasses.dataclass
class Flow:
    store: Any
    sip: FakeSip
    dispatcher: Dispatcher
    calls: CallService
    project: ProjectRecord
    backend: Backend
    tts: FakeTts
    callbacks: list[tuple[str, str, dict[str, str]]]

    async def create(self, to: str = "+15005550006", **kw: Any) -> CallRecord:
        return await self.calls.create(self.project, NewCall(to_number=to, from_number="+15005550100", **kw))

    async def wait_status(
        self, sid: str, statuses: tuple[str, ...], timeout: float = 10.0, *, fire_within_s: float = 0.0
    ) -> CallRecord:
        """Wait until the call is in one of `statuses`; with fire_within_s, fire at once each of
        the session's timers due within that many seconds while waiting."""
        clock = self.dispatcher.clock
        assert isinstance(clock, SteppedClock)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            call = await self.store.read(get_call, sid)
            assert call is not None
            if call.status in statuses:
                return call
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"call {sid} is {call.status}, wanted {statuses}")
            if fire_within_s:
                clock.fire_within(fire_within_s)
            await asyncio.sleep(0.01)

    async def hurry(self, sid: str, statuses: tuple[str, ...], within_s: float = 2.0) -> CallRecord:
        """wait_status, firing at once each session timer due within `within_s` (a <Pause>, a
        <Gather> timeout) for a test whose subject is not how long they last. The session's
        guards (AMD_GUARD_S, RECORDINGS_GUARD_S: 3 s and more) are left to run their course."""
        return await self.wait_status(sid, statuses, fire_within_s=within_s)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.01)

    def events_of(self, sid: str) -> list[str]:
        return [e for s, e, _ in self.callbacks if s == sid]


@pytest.fixture
async def flow(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Flow]:
    """The engine's call side over FakeSip; after the test, no dispatcher pass may have failed
    (the loop survives one, so a broken pass only shows as slower dispatching)."""
    settings = config.load(overrides={"data_dir": str(tmp_path), "calls_cps": 0.0}, env={})
    store = open_store(settings)
    project = ensure_project(store)
    requests: list[tuple[str, str, dict[str, str]]] = []
    docs: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        params = dict(await request.post()) if request.method == "POST" else dict(request.query)
        requests.append((request.path, request.method, {k: str(v) for k, v in params.items()}))
        doc = docs.get(request.path)
        if doc is None:
            return web.Response(status=404, text="no such document")
        if callable(doc):
            return await doc(request)
        if isinstance(doc, bytes):
            return web.Response(body=doc, content_type="audio/wav")
        return web.Response(text=doc, content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    docs["/beep.wav"] = wav_bytes(tone_pcm(1000, 200))
    callbacks: list[tuple[str, str, dict[str, str]]] = []

    def status_callbacks(call: CallRecord, event: str, extra: Mapping[str, str]) -> None:
        callbacks.append((call.sid, event, dict(extra)))

    beep = tmp_path / "beep.wav"
    beep.write_bytes(wav_bytes(tone_pcm(1000, 200)))
    tts = FakeTts(tmp_path / "tts")
    sip = FakeSip()
    calls_store = StoreCalls(
        store,
        status_callbacks=status_callbacks,
        recording_callbacks=lambda rec, call, event: callbacks.append(  # a conference's: its CF sid
            (call.sid if call is not None else str(rec.conference_sid), "recording-" + event, {"RecordingSid": rec.sid})
        ),
        amd_callbacks=outbox.amd_callbacks,  # real outbox rows: tests read them with list_webhooks
    )
    async with (
        DocumentFetcher(lambda token, url, params: "sig", timeout_s=1.0) as fetcher,
        AudioCache(tmp_path / "audio") as audio,
    ):
        media = MediaPrep(fetcher, tts, audio)
        clock = SteppedClock()  # the session's timers: real, and fire_within() for long guards
        queues = Queues(StoreQueues(store), sip, clock, media, beep)  # the beep is the hold music here
        deps = SessionDeps(
            store=calls_store,
            sip=sip,
            media=media,
            clock=clock,
            new_sid=new_sid,
            trim=trim_silence,
            merge=merge_channels,
            repair=repair_in_thread,
            recordings_dir=tmp_path / "recordings",
            base_url="http://127.0.0.1:5000",
            beep_wav=beep,
            sign=signing.signature,
            queues=queues,
            conferences=Conferences(
                sip,
                clock,
                new_sid,
                calls_store,
                beep,
                beep,  # beep: music
                StoreConferences(store),
                recorder=RoomRecorder(
                    calls_store, sip, clock, new_sid, trim_silence, repair_in_thread, tmp_path / "recordings"
                ),
            ),
        )
        dispatcher = Dispatcher(settings, deps, node_id="test")
        async with dispatcher:
            yield Flow(
                store,
                sip,
                dispatcher,
                CallService(calls_store, dispatcher, dispatcher.admission),
                project,
                Backend(server, docs, requests),
                tts,
                callbacks,
            )
        await queues.aclose()
    await server.close()
    store.close()
    assert "dispatcher pass failed" not in caplog.text
