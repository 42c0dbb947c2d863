"""SipBridge: calls.ports.SipPort over the worker pool, with trunk routing or the sandbox carrier.

With `sip.trunk_host` set, numbers are rewritten per the trunk settings (prefix, leading +,
From domain, P-Asserted-Identity) and sent to the trunk; the workers authenticate with the
trunk's digest credentials (and REGISTER when asked). Without a trunk the built-in sandbox
carrier runs on loopback and every call goes to it; calls are spread over its processes by
their current load (each process answers 4 calls). A `sip:` To is dialed as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from wirexa.calls.ports import CallEnded, CallSid, Dialout, InboundInvite, MediaStream, RecordingFinished, SipEvent
from wirexa.calls.sipuri import split_headers
from wirexa.config import Settings
from wirexa.errors import SipError
from wirexa.media.amd import AmdMode
from wirexa.sip import protocol as proto
from wirexa.sip.pool import CALLS_PER_WORKER, WorkerPool
from wirexa.sip.sandbox_carrier import SandboxCarrier

log = logging.getLogger(__name__)

SANDBOX_HOST = "sandbox.wirexa.invalid"
SLOT_GRACE_S = 1.5


def proxy_uri(spec: str) -> str:
    """`[sip] outbound_proxy` as the Route URI pjsua preloads: sip: prefixed, loose routing (;lr)."""
    uri = spec.strip()
    if not uri.startswith(("sip:", "sips:")):
        uri = "sip:" + uri
    params = [part.split("=", 1)[0].strip().lower() for part in uri.split(";")[1:]]
    return uri if "lr" in params else uri + ";lr"


def _track(track: str) -> proto.RecordTrack:
    return "inbound" if track == "inbound" else "outbound" if track == "outbound" else "both"


class SipBridge:
    """Async context manager; every method runs on the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.trunk = bool(settings.sip_trunk_host)
        self._sink: Callable[[SipEvent], None] | None = None
        self._stack = contextlib.AsyncExitStack()
        self.sandbox: SandboxCarrier | None = None
        self.pool: WorkerPool | None = None
        self._sandbox_of: dict[str, int] = {}

    async def __aenter__(self) -> SipBridge:
        try:
            s = self.settings
            if not self.trunk:
                if not s.sandbox_enabled:
                    raise SipError("no SIP trunk is configured and the sandbox carrier is disabled")
                self.sandbox = await self._stack.enter_async_context(SandboxCarrier(s))
            extra: list[str] = []
            if self.trunk and s.sip_trunk_transport.lower() == "tls":
                extra.append("--tls")
            if self.trunk and s.sip_trunk_username:
                extra += ["--username", s.sip_trunk_username]
            if self.trunk and s.sip_trunk_register:
                domain = s.sip_trunk_from_domain or s.sip_trunk_host.split(":")[0]
                extra += [
                    "--registrar",
                    f"sip:{s.sip_trunk_host}{self._transport_param()}",
                    "--aor",
                    f"sip:{s.sip_trunk_username or 'wirexa'}@{domain}",
                ]
            if self.trunk and s.sip_outbound_proxy.strip():
                # Requests to the trunk go through the proxy (Kamailio in front of several engines:
                # the carrier sees one source address); the proxy relays the carrier's in-dialog
                # requests and answers, so the workers take requests from it too.
                proxy = proxy_uri(s.sip_outbound_proxy)
                extra += ["--proxy", proxy, "--allow", proxy]
            self.pool = await self._stack.enter_async_context(WorkerPool(s, self._on_event, extra))
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    # --- SipPort ---------------------------------------------------------------------------------

    def set_event_sink(self, sink: Callable[[SipEvent], None]) -> None:
        self._sink = sink

    def _on_event(self, event: SipEvent) -> None:
        if isinstance(event, CallEnded) and event.call_sid in self._sandbox_of:
            # The sandbox process frees its call slot a moment after our side sees the end;
            # keep counting it briefly so a new INVITE does not meet the library's 486.
            asyncio.get_running_loop().call_later(SLOT_GRACE_S, self._sandbox_of.pop, event.call_sid, None)
        if self._sink is not None:
            self._sink(event)

    def _transport_param(self) -> str:
        t = self.settings.sip_trunk_transport.lower()
        return "" if t == "udp" else f";transport={t}"

    def resolve(self, number: str, caller_id: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        s = self.settings
        uri_headers: tuple[tuple[str, str], ...] = ()
        if number.lower().startswith(("sip:", "sips:")):
            try:
                to_uri, uri_headers = split_headers(number)  # X- headers only (checked at create)
            except ValueError as exc:
                raise SipError(str(exc)) from None
        elif self.trunk:
            digits = number[1:] if s.sip_trunk_strip_plus and number.startswith("+") else number
            to_uri = f"sip:{s.sip_trunk_dial_prefix}{digits}@{s.sip_trunk_host}{self._transport_param()}"
        else:
            to_uri = f"sip:{number}@{SANDBOX_HOST}"
        domain = s.sip_trunk_from_domain or (s.sip_trunk_host.split(":")[0] if self.trunk else s.sip_bind_host)
        user = caller_id[4:].split("@")[0] if caller_id.lower().startswith("sip:") else caller_id
        from_uri = f"sip:{user}@{domain}"
        headers: tuple[tuple[str, str], ...] = uri_headers
        if self.trunk and s.sip_trunk_pai:
            headers = (*headers, ("P-Asserted-Identity", f"<{from_uri}>"))
        return to_uri, from_uri, headers

    def can_start(self, legs: int = 1) -> bool:
        if self.pool is None or self.pool.capacity_left() < 1:
            return False
        if self.sandbox is not None:
            return len(self._sandbox_of) + legs <= self.sandbox.capacity
        return True

    async def start_call(self, dial: Dialout) -> None:
        if self.pool is None:
            raise SipError("the SIP engine is not running")
        to_uri = dial.to_uri
        if SANDBOX_HOST in to_uri:
            assert self.sandbox is not None
            index = self._pick_sandbox()
            self._sandbox_of[dial.call_sid] = index
            to_uri = to_uri.replace(SANDBOX_HOST, f"{self.settings.sip_bind_host}:{self.sandbox.port(index)}")
        command = proto.MakeCall(dial.call_sid, to_uri, dial.from_uri, dial.timeout_s, dial.headers)
        if dial.auth is not None:
            command = dataclasses.replace(command, auth_username=dial.auth[0], auth_password=dial.auth[1])
        if dial.amd is not None:
            command = dataclasses.replace(
                command,
                amd=AmdMode.DETECT_MESSAGE_END if dial.amd.detect_message_end else AmdMode.ENABLE,
                amd_timeout_ms=dial.amd.timeout_ms,
                amd_speech_threshold_ms=dial.amd.speech_threshold_ms,
                amd_speech_end_threshold_ms=dial.amd.speech_end_threshold_ms,
                amd_silence_timeout_ms=dial.amd.silence_timeout_ms,
            )
        try:
            await self.pool.place(dial.call_sid, dial.parent_call_sid, command)
        except SipError:
            self._sandbox_of.pop(dial.call_sid, None)
            raise

    def _pick_sandbox(self) -> int:
        assert self.sandbox is not None
        load = dict.fromkeys(range(self.sandbox.processes), 0)
        for index in self._sandbox_of.values():
            load[index] = load.get(index, 0) + 1
        index = min(load, key=lambda i: (load[i], i))
        if load[index] >= CALLS_PER_WORKER:
            raise SipError("the sandbox carrier is full")
        return index

    async def _send(self, call_sid: CallSid, command: proto.Command) -> None:
        if self.pool is not None:
            await self.pool.send(call_sid, command)

    async def hangup(self, call_sid: CallSid, code: int = 0) -> None:
        await self._send(call_sid, proto.Hangup(call_sid, code))

    async def answer(self, call_sid: CallSid) -> None:
        await self._send(call_sid, proto.Answer(call_sid))

    # Inbound: the incoming INVITEs the workers hold, for whoever routes them to a call.

    def set_incoming_handler(self, handler: Callable[[InboundInvite], None] | None) -> None:
        """`handler` gets each incoming INVITE (loop); it must accept or refuse it, else the
        worker refuses it after its INCOMING_WAIT_S. None: every one is refused 403."""
        if self.pool is None:
            return
        if handler is None:
            self.pool.on_incoming = None
            return

        def hand_over(msg: proto.Incoming, handler: Callable[[InboundInvite], None] = handler) -> None:
            handler(InboundInvite(msg.dialog_id, msg.from_uri, msg.to_uri, msg.source, msg.request_uri, msg.headers))

        self.pool.on_incoming = hand_over

    def inbound_target(self) -> tuple[str, int] | None:
        """Where the inbound front sends an INVITE (a worker with a free slot), or None: full."""
        return self.pool.inbound_target() if self.pool is not None else None

    def inbound_waiting(self, count: int) -> None:
        if self.pool is not None:
            self.pool.inbound_waiting(count)

    def inbound_full(self, address: tuple[str, int]) -> None:
        """The worker at `address` answered the front's INVITE 486 (its library was full)."""
        if self.pool is not None:
            self.pool.inbound_full(address)

    async def accept(self, dialog_id: str, call_sid: CallSid) -> None:
        """Take a held INVITE as the call `call_sid` (a CallSid the engine minted); raises SipError."""
        if self.pool is None:
            raise SipError("the SIP engine is not running")
        await self.pool.accept(dialog_id, call_sid)

    async def refuse(self, dialog_id: str, code: int, why: str) -> None:
        if self.pool is not None:
            await self.pool.refuse(dialog_id, code, why)

    async def play(self, call_sid: CallSid, play_id: str, path: str, loop: int = 1, stream: bool = False) -> None:
        await self._send(call_sid, proto.Play(call_sid, play_id, path, loop, stream))

    async def end_stream(self, call_sid: CallSid, play_id: str, size: int) -> None:
        await self._send(call_sid, proto.StreamEnd(call_sid, play_id, size))

    async def stop_play(self, call_sid: CallSid) -> None:
        await self._send(call_sid, proto.StopPlay(call_sid))

    async def send_dtmf(self, call_sid: CallSid, digits: str) -> None:
        await self._send(call_sid, proto.SendDtmf(call_sid, digits))

    async def start_recording(
        self,
        call_sid: CallSid,
        rec_id: str,
        path: str,
        max_length_s: float,
        silence_timeout_s: float,
        finish_on_key: str,
        mix_with: CallSid | None = None,
    ) -> None:
        await self._send(
            call_sid, proto.Record(call_sid, rec_id, path, max_length_s, silence_timeout_s, finish_on_key, mix_with)
        )

    async def stop_recording(self, call_sid: CallSid, rec_id: str = "") -> None:
        await self._send(call_sid, proto.StopRecord(call_sid, rec_id))

    async def start_call_recording(
        self, call_sid: CallSid, rec_id: str, path: str, track: str, out_path: str = ""
    ) -> None:
        await self._send(
            call_sid,
            proto.Record(call_sid, rec_id, path, 0.0, 0.0, "", None, True, _track(track), out_path),
        )

    async def pause_recording(self, call_sid: CallSid, rec_id: str, behavior: str) -> None:
        await self._send(call_sid, proto.PauseRecord(call_sid, rec_id, "silence" if behavior == "silence" else "skip"))

    async def resume_recording(self, call_sid: CallSid, rec_id: str) -> None:
        await self._send(call_sid, proto.ResumeRecord(call_sid, rec_id))

    async def start_stream(self, call_sid: CallSid, stream: MediaStream) -> None:
        await self._send(
            call_sid,
            proto.StartStream(
                call_sid,
                stream.stream_sid,
                stream.account_sid,
                stream.url,
                stream.tracks,
                stream.bidirectional,
                stream.parameters,
                stream.headers,
            ),
        )

    async def stop_stream(self, call_sid: CallSid, stream_sid: str) -> None:
        await self._send(call_sid, proto.StopStream(call_sid, stream_sid))

    async def listen(self, call_sid: CallSid, listen_id: str) -> None:
        await self._send(call_sid, proto.Listen(call_sid, listen_id))

    async def unlisten(self, call_sid: CallSid, listen_id: str) -> None:
        await self._send(call_sid, proto.Unlisten(call_sid, listen_id))

    async def watch_speech(self, call_sid: CallSid, room: str) -> None:
        await self._send(call_sid, proto.WatchSpeech(call_sid, room))

    async def unwatch_speech(self, call_sid: CallSid, room: str) -> None:
        await self._send(call_sid, proto.UnwatchSpeech(call_sid, room))

    async def bridge(self, a: CallSid, b: CallSid) -> None:
        await self._send(a, proto.Bridge(a, b))

    async def unbridge(self, a: CallSid, b: CallSid) -> None:
        await self._send(a, proto.Unbridge(a, b))

    async def room_join(self, room: str, call_sid: CallSid, muted: bool = False, coach: str = "") -> None:
        if self.pool is None:
            raise SipError("the SIP worker pool is not running")
        await self.pool.room_join(room, call_sid, muted, coach)

    async def room_member(self, room: str, call_sid: CallSid, muted: bool, coach: str = "") -> None:
        if self.pool is not None:
            await self.pool.room_member(room, call_sid, muted, coach)

    async def room_leave(self, room: str, call_sid: CallSid) -> None:
        if self.pool is not None:
            await self.pool.room_leave(room, call_sid)

    def room_over(self, room: str) -> None:
        if self.pool is not None:
            self.pool.room_over(room)

    async def room_record(self, room: str, rec_id: str, path: str) -> None:
        if self.pool is None:
            raise SipError("the SIP worker pool is not running")
        await self.pool.room_record(room, rec_id, path)

    async def room_record_stop(self, room: str, rec_id: str) -> RecordingFinished | None:
        return await self.pool.room_record_stop(room, rec_id) if self.pool is not None else None

    def health(self) -> dict[str, object]:
        body: dict[str, object] = {"state": "running" if self.pool is not None else "stopped"}
        if self.pool is not None:
            body.update(self.pool.health())
        if self.trunk:
            body["trunk"] = {
                "host": self.settings.sip_trunk_host,
                "transport": self.settings.sip_trunk_transport,
                "register": self.settings.sip_trunk_register,
            }
        elif self.sandbox is not None:
            body["sandbox"] = self.sandbox.health()
        return body
