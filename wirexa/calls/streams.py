"""CallStreams: the Media Streams of one live call, as the engine sees them (issue 24).

Theory of operation. The audio of a stream never comes here: the worker that holds the call
opens the WebSocket and moves the frames (sip/streaming.py, sip/stream_hub.py). This class keeps
what the customer sees of each stream, by StreamSid (`MZ...`): its name, whether it is the
call's bidirectional one (<Connect><Stream>, at most one) or a fork (<Start><Stream> or the
Streams API, at most MAX_FORKS at a time), its status and its status callback. It sends
start_stream / stop_stream to the worker, and turns the worker's StreamChanged events into
what they mean for the customer:
- "started": the `stream-started` status callback;
- "error": a notification with Twilio's 319xx code, and the `stream-error` callback (StreamError);
- "warning": a notification (31924 a malformed message, 31931 audio discarded); the stream goes on;
- "stopped": the `stream-stopped` callback; for the bidirectional stream, the interpreter's
  StreamEnded (its <Connect> is over: the TwiML after it runs, or its action is requested).
"stopped" is the last word on a stream: a stream is forgotten then, and anything after it (a
late event, a stop for a stream already gone) changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from wirexa.calls.ports import CallSid, MediaStream, SidSource, SipPort, StreamChanged
from wirexa.calls.records import CallRecord, NewNotification
from wirexa.errors import SipError
from wirexa.laml import events as E
from wirexa.notices import Notice

log = logging.getLogger(__name__)

MAX_FORKS = 4  # unidirectional streams at a time on a call (Twilio: "up to four tracks")
TRACKS = {"inbound_track": ("inbound",), "outbound_track": ("outbound",), "both_tracks": ("inbound", "outbound")}
# Twilio documents no code for a stream beyond the call's limits (or a duplicate name): its
# generic "Bad request" (20001), with a message that says which limit.
STREAM_LIMIT = int(Notice.STREAM_LIMIT)

Signer = Callable[[str, str], str]  # (auth token, url) -> X-Twilio-Signature
StreamCallback = Callable[[CallRecord, str, str, list[tuple[str, str]]], Awaitable[None]]  # call, url, method, params
Notifier = Callable[[NewNotification], Awaitable[None]]
Now = Callable[[], dt.datetime]  # UTC, naive


class StreamRefused(Exception):
    """A stream that cannot start or stop: the API's 400/404 (Twilio's code), or a notification."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclasses.dataclass(slots=True)
class StreamInfo:
    """One stream of the call as the API shows it (Twilio's Stream resource)."""

    sid: str
    name: str
    url: str
    bidirectional: bool
    status: Literal["in-progress", "stopped"] = "in-progress"
    op_id: int = 0  # the <Connect>'s, for StreamEnded
    status_callback: str | None = None
    status_callback_method: str = "POST"
    error_code: int | None = None
    date_updated: dt.datetime | None = None


class CallStreams:
    """The streams of one call. Loop-only; the session's task calls everything."""

    def __init__(
        self,
        sip: SipPort,
        new_sid: SidSource,
        sign: Signer | None,
        callback: StreamCallback,
        notify: Notifier,
        now: Now,
    ) -> None:
        self.sip = sip
        self.new_sid = new_sid
        self.sign = sign
        self.callback = callback
        self.notify = notify
        self.now = now
        self.streams: dict[str, StreamInfo] = {}  # running ones, by StreamSid
        self.last: dict[str, StreamInfo] = {}  # every stream the call had, by StreamSid (the API's answers)

    def running(self, name_or_sid: str) -> StreamInfo | None:
        for info in self.streams.values():
            if name_or_sid in (info.sid, info.name):
                return info
        return None

    def find(self, name_or_sid: str) -> StreamInfo | None:
        """A stream of this call by sid or name, running or stopped (the latest of that name)."""
        found = self.running(name_or_sid)
        if found is not None:
            return found
        named = [i for i in self.last.values() if name_or_sid in (i.sid, i.name)]
        return named[-1] if named else None

    async def start(
        self,
        call: CallRecord,
        auth_token: str,
        *,
        url: str,
        name: str = "",
        track: str = "inbound_track",
        bidirectional: bool = False,
        parameters: tuple[tuple[str, str], ...] = (),
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        op_id: int = 0,
    ) -> StreamInfo:
        """Ask the call's worker to open a stream; raises StreamRefused (nothing started) when
        the call already has its bidirectional stream, MAX_FORKS forks, or a stream of that name."""
        if bidirectional and any(i.bidirectional for i in self.streams.values()):
            raise StreamRefused(STREAM_LIMIT, "the call already has a bidirectional stream (<Connect><Stream>)")
        if not bidirectional and sum(not i.bidirectional for i in self.streams.values()) >= MAX_FORKS:
            raise StreamRefused(STREAM_LIMIT, f"the call already has {MAX_FORKS} unidirectional streams")
        if name and self.running(name) is not None:
            raise StreamRefused(STREAM_LIMIT, f"the call already has a stream named {name!r}")
        sid = self.new_sid("MZ")
        info = StreamInfo(
            sid,
            name or sid,
            url,
            bidirectional,
            op_id=op_id,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
            date_updated=self.now(),
        )
        headers: tuple[tuple[str, str], ...] = ()
        if self.sign is not None and auth_token:
            sig = self.sign(auth_token, url)
            headers = (("X-Twilio-Signature", sig), ("X-SignalWire-Signature", sig))
        stream = MediaStream(
            sid,
            call.account_sid,
            url,
            TRACKS["inbound_track" if bidirectional else track],
            bidirectional,
            parameters,
            headers,
        )
        self.streams[sid] = info
        self.last[sid] = info
        try:
            await self.sip.start_stream(CallSid(call.sid), stream)
        except SipError as exc:
            del self.streams[sid]
            info.status = "stopped"
            raise StreamRefused(STREAM_LIMIT, f"the stream could not start: {exc}") from exc
        return info

    async def stop(self, call: CallRecord, name_or_sid: str) -> StreamInfo | None:
        """Stop a running stream (its "stopped" from the worker ends it here); None when no
        stream of that name or sid runs."""
        info = self.running(name_or_sid)
        if info is None:
            return None
        try:
            await self.sip.stop_stream(CallSid(call.sid), info.sid)
        except SipError as exc:
            log.warning("[%s] stop of stream %s failed: %s", call.sid, info.sid, exc)
        return info

    async def stop_bidirectional(self, call: CallRecord) -> None:
        for info in list(self.streams.values()):
            if info.bidirectional:
                await self.stop(call, info.sid)

    async def changed(self, call: CallRecord, ev: StreamChanged) -> E.StreamEnded | None:
        """The worker's news of a stream: callbacks, notifications; StreamEnded when the
        call's bidirectional stream is over."""
        info = self.streams.get(ev.stream_sid)
        if info is None:
            return None  # stopped already (or never ours): final stays final
        if ev.kind == "started":
            await self._callback(call, info, "stream-started")
        elif ev.kind == "warning":
            await self.notify(NewNotification(call.account_sid, call.sid, ev.code, ev.message, info.url, log_level=1))
        elif ev.kind == "error":
            info.error_code = ev.code or info.error_code
            await self.notify(NewNotification(call.account_sid, call.sid, ev.code, ev.message, info.url))
            await self._callback(call, info, "stream-error", ev.message)
        elif ev.kind == "stopped":
            del self.streams[info.sid]
            info.status = "stopped"
            info.date_updated = self.now()
            await self._callback(call, info, "stream-stopped")
            if info.bidirectional and info.op_id:
                return E.StreamEnded(info.op_id, info.sid, info.error_code)
        return None

    async def failed(self, call: CallRecord, stream_sid: str, message: str) -> E.StreamEnded | None:
        """The worker could not take the start_stream at all (its error event)."""
        ev = StreamChanged(CallSid(call.sid), stream_sid, "error", STREAM_LIMIT, message)
        await self.changed(call, ev)
        return await self.changed(call, dataclasses.replace(ev, kind="stopped", code=0))

    async def call_ended(self, call: CallRecord) -> None:
        """The call is over and its worker with it may never report: every stream still here
        is stopped now (its stream-stopped callback goes out once)."""
        for sid in list(self.streams):
            await self.changed(call, StreamChanged(CallSid(call.sid), sid, "stopped", 0, "the call ended"))

    async def _callback(self, call: CallRecord, info: StreamInfo, event: str, error: str = "") -> None:
        if not info.status_callback:
            return
        params = [
            ("AccountSid", call.account_sid),
            ("CallSid", call.sid),
            ("StreamSid", info.sid),
            ("StreamName", info.name),
            ("StreamEvent", event),
        ]
        if error:
            params.append(("StreamError", error))
        params.append(("Timestamp", self.now().replace(microsecond=0).isoformat() + "Z"))
        await self.callback(call, info.status_callback, info.status_callback_method, params)
