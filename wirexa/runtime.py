"""Composition root: builds every service from Settings and owns the start/stop order.

Start order: port preflight -> store (migrate) -> webhook delivery -> SIP (sandbox carrier,
worker pool) -> call dispatcher -> REST API. Each long-lived part is an async context manager
entered on one AsyncExitStack, so a startup failure unwinds only what started, and shutdown runs
in reverse, after the SIP supervisors have been told to stop restarting what exits.

The preflight comes first because a second engine started beside a running one must not
touch anything of it: before it opens the store (the dispatcher finalizes every live call
there), claims webhook rows or starts a process writing to <data_dir>/logs, it checks that the
API port and the sandbox carrier's fixed ports are free, and fails with ConfigError naming the
port and the setting to change. (The SIP workers need no check: the pool skips busy ports.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from wirexa.api.app import make_app, start_server
from wirexa.api.auth import RateLimiter
from wirexa.api.context import ApiServices
from wirexa.calls.admission import Admission, allowed_caller_ids
from wirexa.calls.conference import Conferences
from wirexa.calls.conference_recording import RoomRecorder
from wirexa.calls.media import MediaPrep
from wirexa.calls.ports import CallStore, SipPort
from wirexa.calls.queues import Queues
from wirexa.calls.service import CallController, CallService, NullController
from wirexa.calls.session import SessionDeps
from wirexa.clock import SystemClock, new_sid, utcnow
from wirexa.cluster.membership import Membership, http_url_of, node_id_of
from wirexa.config import Settings
from wirexa.errors import ConfigError
from wirexa.http.audio import AudioCache
from wirexa.http.documents import DocumentFetcher
from wirexa.media.audio import hold_music_pcm, tone_pcm, wav_bytes
from wirexa.media.recording import merge_channels, repair_in_thread, trim_silence
from wirexa.media.recording_jobs import RecordingMedia, RetentionJanitor, recover_recordings
from wirexa.media.storage import locator, remote_from_settings
from wirexa.media.stt.chain import SttChain
from wirexa.media.transcriptions import TranscriptionJob
from wirexa.media.tts.chain import TtsChain
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.conferences import StoreConferences
from wirexa.store.db import Store
from wirexa.store.events import CallEventJanitor, CallEventLog
from wirexa.store.queues import StoreQueues
from wirexa.store.recordings import StoreRecordings
from wirexa.store.transcriptions import StoreTranscriptions
from wirexa.webhooks import outbox, signing
from wirexa.webhooks.delivery import DeliveryWorker

if TYPE_CHECKING:  # imported when SIP starts (with_sip)
    from wirexa.calls.dispatcher import Dispatcher
    from wirexa.sip.bridge import SipBridge
    from wirexa.sip.front import Registrar
    from wirexa.sip.front_net import Front

log = logging.getLogger(__name__)

# After a kill -9 of an engine its orphaned sandbox processes keep their ports until they read
# EOF on stdin and shut down (~2 s measured on 2 busy cores); a restart waits that long for them.
SANDBOX_PORT_WAIT_S = 5.0
SANDBOX_CALLER = "wirexa-sandbox"  # the sandbox caller's digest username at the inbound front
HANGUP_WAIT_S = 5.0  # after the shutdown grace: how long hung-up calls get to end in SIP
WEBHOOK_FLUSH_S = 5.0  # then: how long their final callbacks get to go out


class RegisteredPhones:
    """calls.session.Phones over the inbound front's registrar (none before the front starts): a
    phone registered over UDP is rung at the address its REGISTER came from (through a NAT, not
    its private Contact); one registered over TCP or TLS at its Contact (a worker cannot reuse the
    front's connection, and the phone's source port of it is no listening port)."""

    def __init__(self) -> None:
        self.registrar: Registrar | None = None

    def reach(self, username: str) -> list[str]:
        if self.registrar is None:
            return []
        targets = []
        for binding in self.registrar.contacts(username):
            if binding.transport != "udp":
                targets.append(binding.uri)
                continue
            user = binding.uri.split(":", 1)[-1].split("@")[0] if "@" in binding.uri else username
            targets.append(f"sip:{user}@{binding.source}")
        return targets


def sandbox_caller_secret(s: Settings) -> str:
    """The sandbox caller's password at the inbound front (`wirexa sandbox dial-in` reads it):
    made once, kept in <data_dir>/sandbox/caller.secret (mode 0600)."""
    path = s.data_path / "sandbox" / "caller.secret"
    if path.exists():
        secret = path.read_text().strip()
        if secret:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = uuid.uuid4().hex
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def port_free(host: str, port: int, *, udp: bool = False) -> bool:
    """True when host:port can be bound right now over TCP (and UDP as well with `udp`).

    TCP is probed with SO_REUSEADDR, as the API binds it, so connections of a stopped engine
    lingering in TIME_WAIT do not count as "in use"; a listening socket does. Only EADDRINUSE
    means busy: other bind errors are left for the real bind to report."""
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for kind in kinds:
        try:
            infos = socket.getaddrinfo(host or None, port, type=kind, flags=socket.AI_PASSIVE)
        except socket.gaierror:
            return True  # not ours to judge: the real bind reports the bad host
        for family, type_, proto, _, address in infos:
            with socket.socket(family, type_, proto) as sock:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(address)
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        return False
    return True


def free_port_pair(host: str, avoid: Iterable[int] = ()) -> int:
    """A port free for both UDP and TCP on host (a SIP transport binds both), chosen by the OS;
    none of `avoid` (ports picked before and not bound yet)."""
    taken = set(avoid)
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken and port_free(host, port, udp=True):
            return port
    raise ConfigError(f"found no free SIP port on {host}")


async def _wait_free(host: str, ports: Iterable[int], wait_s: float) -> int | None:
    """The first of `ports` still busy (UDP or TCP) after up to wait_s seconds, else None."""
    deadline = time.monotonic() + wait_s
    for port in ports:
        while not port_free(host, port, udp=True):
            if time.monotonic() >= deadline:
                return port
            await asyncio.sleep(0.1)
    return None


class Engine:
    """The whole engine in one process tree; `async with Engine(settings) as engine:`.

    `with_sip=False` runs the API, store and webhooks only (API tests).
    After entry, `engine.port` is the bound API port (useful with port 0) and `engine.urls`
    the addresses it really listens on. Raises ConfigError when a fixed port is taken.
    """

    def __init__(self, settings: Settings, *, with_sip: bool = True, with_api: bool = True) -> None:
        self.settings = settings
        self.with_sip = with_sip
        self.with_api = with_api
        self.node_id = node_id_of(settings)  # [cluster] node_id, default the host name
        self.membership: Membership | None = None  # this engine's row among the engines on the database
        self.store: Store | None = None
        self.services: ApiServices | None = None
        self.port: int | None = None
        self.urls: list[str] = []  # http://address:port the API really listens on, after entry
        self.sip: SipBridge | None = None
        self.delivery: DeliveryWorker | None = None
        self.dispatcher: Dispatcher | None = None
        self.front: Front | None = None  # the inbound SIP front ([sip] inbound_port)
        self.phones = RegisteredPhones()  # its registrar, for <Dial><Client>
        self.media: MediaPrep | None = None
        self.queues: Queues | None = None  # live call queues (calls/queues.py), with SIP
        self.conferences: Conferences | None = None  # live conference rooms (calls/conference.py), with SIP
        self.stt: SttChain | None = None  # the speech recognizers (media/stt/chain.py), with SIP
        self.call_events: CallEventLog | None = None
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

    async def _preflight(self) -> None:
        """Fail fast (ConfigError, one line: the port and the setting) when a fixed port is taken."""
        s = self.settings
        if self.with_api and s.port and not port_free(s.host, s.port):
            raise ConfigError(
                f"port {s.port} on {s.host} is in use (another wirexa serve?): "
                "choose another with --port, WIREXA_PORT or port in the config file"
            )
        if self.with_sip and not s.sip_trunk_host and s.sandbox_enabled:
            from wirexa.sip.sandbox_carrier import sandbox_ports

            # The sandbox's callees speak with espeak-ng and ffmpeg from their first call on.
            missing = [tool for tool in (s.tts_espeak_binary, "ffmpeg") if shutil.which(tool) is None]
            if missing:
                raise ConfigError(
                    f"the sandbox carrier needs {' and '.join(missing)}, not found on PATH: "
                    "apt-get install espeak-ng ffmpeg (see `wirexa doctor`)"
                )

            busy = await _wait_free(s.sip_bind_host, sandbox_ports(s), SANDBOX_PORT_WAIT_S)
            if busy is not None:
                raise ConfigError(
                    f"port {busy} of the sandbox carrier on {s.sip_bind_host} is in use (another wirexa serve?): "
                    "choose another base with WIREXA_SANDBOX_PORT_BASE or port_base in [sandbox]"
                )

        if self.with_sip and s.sip_inbound_port and not port_free(s.sip_bind_host, s.sip_inbound_port, udp=True):
            raise ConfigError(
                f"the inbound SIP port {s.sip_inbound_port} on {s.sip_bind_host} is in use (another wirexa serve, or a"
                " PBX?): choose another with WIREXA_SIP_INBOUND_PORT or inbound_port in [sip] (0 = no inbound calls)"
            )

    def _stop_supervising(self) -> None:
        """First step of shutdown: processes that exit from now on are not restarted."""
        parts = (self.sip.sandbox, self.sip.pool) if self.sip is not None else ()
        for part in parts:
            if part is not None:
                part.begin_shutdown()

    async def _start(self) -> None:
        s = self.settings
        await self._preflight()
        store = open_store(s)
        self.store = store
        self._stack.callback(store.close)
        ensure_project(store)
        # Register among the engines sharing the database (one, on SQLite) before anything
        # finalizes what a dead run left: only calls no live engine owns are finalized.
        membership = self.membership = await self._stack.enter_async_context(Membership(store, s))

        self.delivery = await self._stack.enter_async_context(DeliveryWorker(store, s, worker_id=self.node_id))
        # Call Events: the document fetches' log (the delivery worker stores its own attempts) and
        # the janitor that deletes events after [store] call_events_days.
        self.call_events = await self._stack.enter_async_context(CallEventLog(store))
        await self._stack.enter_async_context(CallEventJanitor(store, days=s.store_call_events_days))

        # Recordings: close what a dead engine left open (before any call can record), then
        # the media job (MP3, callback, upload) and the retention janitor.
        remote = remote_from_settings(s)
        rows = StoreRecordings(
            store, recording_callbacks=outbox.recording_callbacks(s.base_url), wake_webhooks=self.delivery.wake
        )
        if self.with_sip:
            await recover_recordings(rows, await rows.orphans(self.node_id))
        media_job = await self._stack.enter_async_context(
            RecordingMedia(rows, remote=remote, keep_local=s.recordings_s3_keep_local)
        )
        await self._stack.enter_async_context(
            RetentionJanitor(rows, days=s.recordings_retention_days, locate=locator(s, remote))
        )
        # Transcriptions of <Record transcribe> recordings: those a stopped engine left in
        # progress are done first, then each one as its recording is saved. The job has its own
        # chain (its own decoders: a transcription never waits for a live call's recognizer).
        transcription_stt = SttChain.from_settings(s)
        self._stack.push_async_callback(transcription_stt.aclose)
        transcriber = await self._stack.enter_async_context(
            TranscriptionJob(
                StoreTranscriptions(
                    store,
                    callbacks=outbox.transcription_callbacks(s.base_url),
                    wake_webhooks=self.delivery.wake,
                ),
                transcription_stt.recognize,
                locate=locator(s, remote),
            )
        )

        def recording_saved() -> None:
            media_job.wake()
            transcriber.wake()

        clock = SystemClock()
        calls = StoreCalls(
            store,
            status_callbacks=outbox.call_status_callbacks,
            recording_callbacks=outbox.recording_callbacks(s.base_url),
            amd_callbacks=outbox.amd_callbacks,
            wake_webhooks=self.delivery.wake,
            recording_saved=recording_saved,
        )
        controller: CallController = NullController(calls, clock)
        admission = Admission.from_settings(s, calls, clock)  # one policy for the API and the dispatcher
        if self.with_sip:
            from wirexa.calls.dispatcher import Dispatcher
            from wirexa.sip.bridge import SipBridge

            self.sip = await self._stack.enter_async_context(SipBridge(s))
            deps = await self._session_deps(calls, self.sip, clock)
            self.dispatcher = await self._stack.enter_async_context(
                Dispatcher(s, deps, node_id=self.node_id, admission=admission)
            )
            controller = self.dispatcher
            self._join_cluster(membership, self.dispatcher, rows)
            if s.sip_inbound_port:
                await self._start_inbound(store, calls, admission)

        self.services = ApiServices(
            store=store,
            settings=s,
            calls=CallService(calls, controller, admission),
            limiter=RateLimiter(s.api_rate_limit_per_s, s.api_rate_limit_burst),
            sip=self.sip,
            queues=self.queues,
            conferences=self.conferences,
        )
        if self.with_api:
            await self._start_api(self.services)
        if self.sip is not None:
            self._stack.callback(self._stop_supervising)  # pushed last: the first step of shutdown

    @staticmethod
    def _join_cluster(membership: Membership, dispatcher: Dispatcher, rows: StoreRecordings) -> None:
        """The dispatcher claims under this run's generation, is stopped when the run is fenced,
        sweeps (with the recordings) what dead engines left live, and hangs up its calls of
        projects closed through another engine."""
        dispatcher.generation = membership.generation
        membership.on_registered.append(lambda generation: setattr(dispatcher, "generation", generation))
        membership.on_fenced.append(dispatcher.fenced)
        membership.live_calls = lambda: len(dispatcher.sessions)

        async def sweep() -> None:
            await dispatcher.sweep()
            await recover_recordings(rows, await rows.orphans(None))
            await dispatcher.hang_up_closed()

        membership.on_sweep.append(sweep)

    async def _start_inbound(self, store: Store, calls: CallStore, admission: Admission) -> None:
        """Inbound calls: the router takes the INVITEs the workers hold, and the front on [sip]
        inbound_port lets in the carrier, the desk phones and the sandbox caller."""
        from wirexa.calls.inbound import InboundRouter, Numbering
        from wirexa.sip.front import Credential
        from wirexa.sip.front_net import Front
        from wirexa.store.directory import StoreDirectory

        s = self.settings
        assert self.sip is not None and self.dispatcher is not None
        directory = StoreDirectory(store, s)
        router = InboundRouter(Numbering.from_settings(s), directory, calls, admission, self.dispatcher, self.sip)
        router.attach()
        self._stack.push_async_callback(router.close)
        sandbox_secret = sandbox_caller_secret(s)

        async def lookup_user(username: str) -> Credential | None:
            if username == SANDBOX_CALLER:
                return Credential(username, sandbox_secret, "sandbox")
            password = await directory.phone_password(username)
            return None if password is None else Credential(username, password, "phone")

        front = Front(
            s,
            self.sip.inbound_target,
            lookup_user,
            worker_full=self.sip.inbound_full,
            waiting=self.sip.inbound_waiting,
            # Kamailio's OPTIONS get 503 while the engine drains: it leaves the dispatcher set.
            draining=lambda: self.membership is not None and self.membership.draining,
        )
        await front.start()
        self._stack.push_async_callback(front.close)
        self.front = front
        self.phones.registrar = front.registrar

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    async def _session_deps(self, calls: CallStore, sip: SipPort, clock: SystemClock) -> SessionDeps:
        """What live calls work with: the store, SIP, the document fetcher, the TTS chain, the
        <Play> audio cache, the recording trimmer and the beep."""
        s = self.settings
        cache = s.data_path / "cache"
        fetcher = await self._stack.enter_async_context(
            DocumentFetcher(
                signing.signature,
                timeout_s=s.calls_document_timeout_s,
                on_exchange=self.call_events.document if self.call_events is not None else None,
            )
        )
        audio = await self._stack.enter_async_context(AudioCache(cache / "audio"))
        tts = TtsChain.from_settings(s, cache / "tts")
        self._stack.push_async_callback(tts.aclose)
        self.stt = SttChain.from_settings(s)
        self._stack.push_async_callback(self.stt.aclose)
        beep = cache / "beep-1000hz.wav"
        if not beep.exists():
            beep.parent.mkdir(parents=True, exist_ok=True)
            beep.write_bytes(wav_bytes(tone_pcm(1000, 400)))
        hold = cache / "queue-hold-music.wav"
        if not hold.exists():
            hold.write_bytes(wav_bytes(hold_music_pcm()))
        s.recordings_path.mkdir(parents=True, exist_ok=True)
        self.media = MediaPrep(fetcher, tts, audio)
        self.queues = Queues(StoreQueues(self._store(), self.node_id), sip, clock, self.media, hold)
        self._stack.push_async_callback(self.queues.aclose)
        recorder = RoomRecorder(calls, sip, clock, new_sid, trim_silence, repair_in_thread, s.recordings_path)
        self.conferences = Conferences(
            sip, clock, new_sid, calls, hold, beep, StoreConferences(self._store(), self.node_id), recorder=recorder
        )
        return SessionDeps(
            store=calls,
            sip=sip,
            media=self.media,
            clock=clock,
            new_sid=new_sid,
            trim=trim_silence,
            merge=merge_channels,
            repair=repair_in_thread,
            recordings_dir=s.recordings_path,
            base_url=s.base_url,
            beep_wav=beep,
            max_fetches=s.calls_max_redirects,
            phones=self.phones,
            phones_domain=s.sip_domain,
            caller_ids=allowed_caller_ids(s),
            sign=signing.signature,
            queues=self.queues,
            conferences=self.conferences,
            stt=self.stt,
        )

    async def drain(self, grace_s: float, hurry: asyncio.Event | None = None) -> None:
        """A graceful stop, before __aexit__: no queued call starts any more, live calls go on for
        up to grace_s (less when `hurry` is set), then the rest are hung up; their final callbacks
        get a moment to go out. Loop-only."""
        if self.membership is not None:
            await self.membership.drain()
        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        dispatcher.drain()
        live = len(dispatcher.sessions)
        if live:
            log.info("waiting up to %.0f s for %d live call(s) to end", grace_s, live)
            idle = asyncio.ensure_future(dispatcher.wait_idle(grace_s))
            waits: set[asyncio.Future[bool]] = {idle}
            if hurry is not None:
                waits.add(asyncio.ensure_future(_set(hurry)))
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            left = list(dispatcher.sessions)
            if left:
                log.warning("hanging up %d call(s) still live after the grace period", len(left))
                for session in left:
                    await session.hangup()
                await dispatcher.wait_idle(HANGUP_WAIT_S)
        await self._flush_webhooks(WEBHOOK_FLUSH_S)

    async def _flush_webhooks(self, wait_s: float) -> None:
        """Give callback rows that are due now (the calls just finalized) up to wait_s to go out."""
        if self.store is None or self.delivery is None:
            return
        from wirexa.store.repo.webhooks import next_webhook_due

        self.delivery.wake()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            due = await self.store.read(next_webhook_due)
            if due is None or due > utcnow():
                return
            await asyncio.sleep(0.1)

    async def reload(self, settings: Settings) -> list[str]:
        """SIGHUP: apply the re-read config's TTS settings and sandbox callees without dropping
        a call; returns the names of changed settings that need a restart instead. Loop-only."""
        old = self.settings
        changed = [f.name for f in dataclasses.fields(Settings) if getattr(old, f.name) != getattr(settings, f.name)]
        applied = [n for n in changed if n.startswith("tts_") or n == "sandbox_config"]
        if self.media is not None and any(n.startswith("tts_") for n in changed):
            # Renders already under way finish on the old chain, which is closed at shutdown.
            chain = TtsChain.from_settings(settings, settings.data_path / "cache" / "tts")
            self._stack.push_async_callback(chain.aclose)
            self.media.tts = chain
            log.info("reload: TTS providers now %s", ", ".join(n for n, ok in chain.status() if ok))
        sandbox = self.sip.sandbox if self.sip is not None else None
        if sandbox is not None:
            from wirexa.sip.sandbox_carrier import sandbox_config_path

            await sandbox.reload(sandbox_config_path(settings))  # logs the outcome; never raises
        self.settings = dataclasses.replace(old, **{n: getattr(settings, n) for n in applied})
        rest = [n for n in changed if n not in applied]
        if rest:
            log.warning("reload: changed settings that need a restart: %s", ", ".join(rest))
        log.info("reload done (%d setting(s) applied)", len(applied))
        return rest

    async def _start_api(self, services: ApiServices) -> None:
        runner, self.port = await start_server(make_app(services), self.settings.host, self.settings.port)
        self._stack.push_async_callback(runner.cleanup)
        self.urls = [_url(address) for address in runner.addresses]
        log.info("REST API listening on %s", ", ".join(self.urls))
        if self.membership is not None:
            await self.membership.advertise(http_url_of(self.settings, self.port))


async def _set(event: asyncio.Event) -> bool:
    """True once `event` is set: a task to wait for beside others that return a bool."""
    return await event.wait()


def _url(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """http://host:port of a bound socket address ((host, port) or (host, port, flow, scope))."""
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
