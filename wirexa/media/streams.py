"""PURE: Twilio Media Streams on the wire: the messages Wirexa sends, the server's messages, the play buffer.

Theory of operation. A Media Stream carries a call's audio over a WebSocket in Twilio's protocol
(Twilio's Media Streams, every message as Twilio documents it). Inside Wirexa audio is 16-bit signed little-endian
PCM, 8 kHz mono, in 20 ms frames of FRAME_BYTES; on the wire it is mu-law 8 kHz, base64, in JSON
text frames. This module holds the three protocol pieces, with no I/O, clock or thread of its own:
- `Encoder`: Twilio -> server messages of one stream (connected, start, media, dtmf, mark, stop),
  with the sequence numbers, chunk counters and timestamps Twilio sends. One thread uses it (the
  stream hub's loop), in the order the messages go on the wire;
- `parse_server_message`: server -> Twilio messages (media, mark, clear) of a bidirectional
  stream, each checked as Twilio checks it; anything else is a ProtocolError (the caller reports
  Twilio's 31924 once per stream);
- `Playout`: the bidirectional stream's play buffer with its marks. Two threads share it: the hub's
  loop writes (add_audio, add_mark, clear, done_marks) and the media clock thread reads
  (take_frame). One lock guards it, held only for O(1) work per call, because take_frame runs on
  the thread that clocks every call of the worker.
The module imports threading for Playout's lock only; it starts no thread.
"""

from __future__ import annotations

import binascii
import json
import threading
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

with warnings.catch_warnings():
    # audioop (C speed G.711) is deprecated in 3.11 and removed in 3.13; it warns on import, and
    # the tests turn warnings into errors. Replacing it is a task for the move past 3.12.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

FRAME_BYTES = 320  # 20 ms of 16-bit PCM at 8 kHz
FRAME_MS = 20
MAX_BUFFER_S = 600  # Twilio's limit of buffered server audio (31931 "Media Discarded" beyond it)
BYTES_PER_MS = FRAME_BYTES // FRAME_MS  # 16
TRACKS = ("inbound", "outbound")
SILENCE_FRAME = bytes(FRAME_BYTES)
# Audio file headers a media payload must not carry (Twilio: "must not contain audio file header bytes").
FILE_HEADERS = (b"RIFF", b".snd")


def pcm_to_ulaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM (an even number of bytes) -> G.711 mu-law, one byte per sample."""
    return audioop.lin2ulaw(pcm, 2)


def ulaw_to_pcm(ulaw: bytes) -> bytes:
    """G.711 mu-law -> 16-bit little-endian PCM, two bytes per sample."""
    return audioop.ulaw2lin(ulaw, 2)


def _js(value: str) -> str:
    """A JSON string literal."""
    return json.dumps(value, ensure_ascii=False)


class Encoder:
    """The Twilio -> server messages of one stream, as JSON text (key order as Twilio's).

    `sequenceNumber` is a string from "1" (on `start`), one more per message; `connected` has
    none. Media `chunk` counts per track from "1"; `timestamp` is ms since the stream started.
    One thread only (the messages must be encoded in the order they are sent)."""

    def __init__(
        self,
        stream_sid: str,
        account_sid: str,
        call_sid: str,
        tracks: tuple[str, ...],
        custom_parameters: tuple[tuple[str, str], ...],
    ) -> None:
        if not tracks or any(t not in TRACKS for t in tracks) or len(set(tracks)) != len(tracks):
            raise ValueError(f"tracks must be inbound and/or outbound, got {tracks!r}")
        self.stream_sid = stream_sid
        self.account_sid = account_sid
        self.call_sid = call_sid
        self.tracks = tracks
        self.custom_parameters = custom_parameters
        self.sequence = 0
        self.chunks = dict.fromkeys(tracks, 0)
        self._sid = _js(stream_sid)
        # media() runs 50 times a second per track: one %-template per track, filled with
        # (sequence, chunk, timestamp, payload); none of those needs JSON escaping.
        self._media = {
            track: '{"event":"media","sequenceNumber":"%d","media":{"track":"'
            + track
            + '","chunk":"%d","timestamp":"%d","payload":"%s"},"streamSid":'
            + self._sid.replace("%", "%%")
            + "}"
            for track in tracks
        }

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    def connected(self) -> str:
        return '{"event":"connected","protocol":"Call","version":"1.0.0"}'

    def start(self) -> str:
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": list(self.tracks),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": dict(self.custom_parameters),
        }
        return self._dumps({"event": "start", "sequenceNumber": str(self._next()), "start": start})

    def media(self, track: str, pcm: bytes, timestamp_ms: int | None = None) -> str:
        """One frame of `track` (PCM in, mu-law on the wire). Without `timestamp_ms`, the
        timestamp is the track's (chunk - 1) * 20 ms. KeyError for a track the stream lacks."""
        template = self._media[track]
        chunk = self.chunks[track] = self.chunks[track] + 1
        self.sequence += 1
        payload = binascii.b2a_base64(audioop.lin2ulaw(pcm, 2), newline=False).decode("ascii")
        if timestamp_ms is None:
            timestamp_ms = (chunk - 1) * FRAME_MS
        return template % (self.sequence, chunk, timestamp_ms, payload)

    def dtmf(self, digit: str) -> str:
        return (
            f'{{"event":"dtmf","streamSid":{self._sid},"sequenceNumber":"{self._next()}",'
            f'"dtmf":{{"track":"inbound_track","digit":{_js(digit)}}}}}'
        )

    def mark(self, name: str) -> str:
        """The echo of a server's mark."""
        return f'{{"event":"mark","sequenceNumber":"{self._next()}","streamSid":{self._sid},"mark":{{"name":{_js(name)}}}}}'

    def stop(self) -> str:
        stop = {"accountSid": self.account_sid, "callSid": self.call_sid}
        return self._dumps({"event": "stop", "sequenceNumber": str(self._next()), "stop": stop})

    def _dumps(self, message: dict[str, object]) -> str:
        message["streamSid"] = self.stream_sid
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ServerMedia:
    pcm: bytes


@dataclass(frozen=True, slots=True)
class ServerMark:
    name: str


@dataclass(frozen=True, slots=True)
class ServerClear:
    pass


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A message Twilio would reject (31924 "Protocol Error"); `message` says why, for the notification."""

    message: str


ServerMessage: TypeAlias = ServerMedia | ServerMark | ServerClear | ProtocolError


def _excerpt(text: str | bytes, limit: int = 80) -> str:
    shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return repr(shown[:limit] + ("..." if len(shown) > limit else ""))


def parse_server_message(text: str | bytes, stream_sid: str) -> ServerMessage:
    """One WebSocket message from the server of a bidirectional stream (UTF-8 JSON text).
    Valid: media (payload: base64 mu-law of any size, no audio file header), mark (name), clear;
    a `streamSid`, when present, must be ours. Anything else is a ProtocolError."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return ProtocolError(f"the message is not JSON: {_excerpt(text)}")
    if not isinstance(message, dict):
        return ProtocolError(f"the message is not a JSON object: {_excerpt(text)}")
    if "streamSid" in message and message["streamSid"] != stream_sid:
        return ProtocolError(f"streamSid {message['streamSid']!r} is not this stream's ({stream_sid})")
    event = message.get("event")
    if event == "media":
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            return ProtocolError("a media message needs media.payload, a base64 string")
        try:
            ulaw = binascii.a2b_base64(payload.encode("ascii"), strict_mode=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            return ProtocolError(f"media.payload is not base64 ({exc})")
        if ulaw.startswith(FILE_HEADERS):
            return ProtocolError(
                f"media.payload starts with an audio file header ({ulaw[:4]!r}): send raw mu-law 8000 Hz, no header"
            )
        return ServerMedia(audioop.ulaw2lin(ulaw, 2))
    if event == "mark":
        mark = message.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            return ProtocolError("a mark message needs mark.name, a string")
        return ServerMark(name)
    if event == "clear":
        return ServerClear()
    return ProtocolError(f"event {event!r} is not media, mark or clear: {_excerpt(text)}")


class Playout:
    """The play buffer of a bidirectional stream: the server's audio in order, and its marks.

    Threads: add_audio, add_mark, clear and done_marks from one writer (the hub's loop);
    take_frame from the media clock thread; buffered_ms from anyone. `notify()` is called, outside
    the lock, from whichever thread made a mark done (take_frame or add_mark); it must be cheap.

    Positions count bytes since the stream began: `_queued` is the end of everything added,
    `_played` the end of everything handed out by take_frame (or dropped by clear). A mark waits
    at the `_queued` position it was added at and is done when `_played` reaches it."""

    def __init__(self, notify: Callable[[], None] | None = None, max_buffer_s: float = MAX_BUFFER_S) -> None:
        self._notify = notify
        self._max_bytes = int(max_buffer_s * 1000) * BYTES_PER_MS
        self._lock = threading.Lock()
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of _chunks[0] already handed out
        self._queued = 0
        self._played = 0
        self._pending: deque[tuple[int, str]] = deque()  # (position, name), positions ascending
        self._done: list[str] = []

    @property
    def buffered_ms(self) -> int:
        """Audio waiting to be played, in ms (rounded down)."""
        return (self._queued - self._played) // BYTES_PER_MS

    def add_audio(self, pcm: bytes) -> bool:
        """Queue PCM (an even number of bytes, any length). False, and the audio is dropped,
        when the buffer would then hold more than max_buffer_s (the caller reports 31931 once)."""
        if not pcm:
            return True
        with self._lock:
            if self._queued - self._played + len(pcm) > self._max_bytes:
                return False
            self._chunks.append(pcm)
            self._queued += len(pcm)
        return True

    def add_mark(self, name: str) -> None:
        """A mark after the audio queued so far: done at once when nothing is buffered."""
        with self._lock:
            if self._queued == self._played:
                self._done.append(name)
                done = True
            else:
                self._pending.append((self._queued, name))
                done = False
        if done and self._notify is not None:
            self._notify()

    def clear(self) -> list[str]:
        """Drop every buffered byte at once. Returns, in order, every mark not yet returned by
        done_marks (done or pending): the caller echoes them all now."""
        with self._lock:
            self._chunks.clear()
            self._offset = 0
            self._played = self._queued
            names = self._done + [name for _, name in self._pending]
            self._done = []
            self._pending.clear()
        return names

    def take_frame(self) -> bytes | None:
        """Clock thread: the next FRAME_BYTES of audio (a shorter tail padded with silence), or
        None when nothing is buffered."""
        with self._lock:
            if self._queued == self._played:
                return None
            chunks = self._chunks
            head = chunks[0]
            offset = self._offset
            if offset == 0 and len(head) == FRAME_BYTES:  # the usual case: one 20 ms message
                chunks.popleft()
                frame = head
            else:
                parts = []
                need = FRAME_BYTES
                while need and chunks:
                    head = chunks[0]
                    part = head[offset : offset + need]
                    parts.append(part)
                    need -= len(part)
                    offset += len(part)
                    if offset == len(head):
                        chunks.popleft()
                        offset = 0
                self._offset = offset
                frame = b"".join(parts)
            self._played += len(frame)
            pending = self._pending
            done = False
            while pending and pending[0][0] <= self._played:
                self._done.append(pending.popleft()[1])
                done = True
        if len(frame) < FRAME_BYTES:
            frame += SILENCE_FRAME[len(frame) :]
        if done and self._notify is not None:
            self._notify()
        return frame

    def done_marks(self) -> list[str]:
        """Marks whose audio has all been handed out, in order, each returned once."""
        with self._lock:
            done, self._done = self._done, []
        return done
