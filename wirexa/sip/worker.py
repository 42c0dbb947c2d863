"""The media worker program: one pjsua2 Endpoint holding up to 4 calls, driven over stdin/stdout.

Started by pool.py as `wirexa _sip-worker ...` (or `python -m wirexa.sip.worker ...`). All
pjsua2 work happens on the main thread (endpoint.CommandLoop); the per-call timers (ring
timeout, end of playback, recording silence and length, DTMF pacing) run in its tick, so no
frame callback ever runs Python: recording silence is read from the conference bridge's
receive level of the call's port every tick.

A command it cannot carry out (a WAV pjmedia cannot open, a recorder it cannot create) is
answered with the protocol's error event naming the command and its play or recording id, and
no completion event: the engine's session turns it into a notification and the next verb.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from wirexa.media.amd import AmdMode, AmdParams
from wirexa.media.amd_vad import AmdTap
from wirexa.media.audio import wav_header_complete
from wirexa.sip import endpoint
from wirexa.sip import protocol as proto
from wirexa.sip.endpoint import (
    CommandLoop,
    account_config,
    audio_format,
    audio_media_of,
    create_endpoint,
    emit,
    frame_bytes,
    hold_thread_state,
)
from wirexa.sip.guard import pin_udp_socket, split_hostport
from wirexa.sip.protocol import dtmf_plan, end_reason
from wirexa.sip.relay import RelayHub
from wirexa.sip.relay_commands import RelayClose, RelayCommand, RelayOpen

log = logging.getLogger(__name__)

SOUND_LEVEL = 3  # receive level (percent) above which a tick counts as sound for Record
# While calls are up the main thread wakes at the next due moment (Worker.next_due), when a
# command or SIP packet comes, when the clock thread has a result (AMD, end of a stream), and
# otherwise every WORKER_POLL_MS: it samples Record's silence and runs the DTMF callbacks pjsua2
# queued from the media thread. At 20 ms, that polling was half of a busy worker's CPU
# (docs/PJSUA2_FINDINGS.md, "The main thread with calls up").
WORKER_POLL_MS = 100


def file_complete(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(12)
        return wav_header_complete(header, os.path.getsize(path))
    except OSError:
        return False


def describe(exc: BaseException) -> str:
    """One line for an error event: pjsua2's own text for a pj.Error, else type and message."""
    info = getattr(exc, "info", None)
    if callable(info):
        return str(info())
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"{name}: {exc}"


def wav_seconds(path: str) -> float:
    with wave.open(path) as w:
        return float(w.getnframes()) / float(w.getframerate())


@dataclass
class Playback:
    play_id: str
    player: Any  # an AudioMediaPlayer, or a StreamPort
    ends_at: float | None  # None = loops until stopped (or, for a stream, until it has played)


@dataclass
class Recording:
    rec_id: str
    path: str
    recorder: Any | None
    started: float
    max_s: float
    silence_s: float
    keys: str
    last_sound: float
    mixed: Any = None  # the other party's AudioMedia when recording a bridge
    # Call recordings (Record=true, the Recordings API); see Worker.wire().
    whole: bool = False
    track: str = "inbound"
    out: Any = None  # the outbound track's recorder (dual channel)
    out_path: str = ""
    paused: str = ""  # "" | "skip" | "silence"
    paused_at: float = 0.0
    skipped_s: float = 0.0  # paused time left out of the file (skip)
    links: dict[tuple[int, int], tuple[Any, Any]] = field(default_factory=dict)  # (src, sink) ports -> media


@dataclass
class CallState:
    sid: str
    call: Any
    ring_deadline: float
    answered: bool = False
    ringing_sent: bool = False
    local_reason: str | None = None
    media: Any = None
    playback: Playback | None = None
    pending_play: proto.Play | None = None
    pending_size: int | None = None  # a stream_end that came before the stream could start
    recordings: dict[str, Recording] = field(default_factory=dict)  # by rec_id
    pending_records: list[proto.Record] = field(default_factory=list)  # until media is up
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    dtmf_done_at: float | None = None
    peers: set[str] = field(default_factory=set)
    disconnected: bool = False  # the call's conference port is gone: never touch st.media again
    amd: AmdParams | None = None  # answering-machine detection asked for this call
    amd_port: Any = None  # its tap in the bridge, from media active until the decision


class StreamPort(pj.AudioMediaPort):  # type: ignore[misc]
    """A prompt that is still arriving: plays headerless 8 kHz 16-bit mono PCM from a file the
    engine is appending to (TTS streamed by a provider), 20 ms a frame, silence while the next
    bytes are not there yet. `total` (set by stream_end from the main thread) is the final size;
    `finished` flips once that many bytes have been played, and the main thread's tick reports it.

    Threading: onFrameRequested runs on the clock thread shared by every call of the worker: it
    reads the file in 8 kB pieces (one small read every 256 ms), takes each frame at an offset
    into that piece, and copies 320 bytes into a ByteVector made once (a memmove into its
    storage, not a per-byte SWIG copy)."""

    FRAME = 320
    CHUNK = 8192

    def __init__(self, path: str, wake: Callable[[], None]) -> None:
        super().__init__()
        self.wake = wake  # the main thread's tick ends the play: wake it rather than wait for its poll
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close() when the play ends
        self.buf = b""
        self.at = 0  # where the next frame starts in buf (sliced once per refill, not per frame)
        self.pos = 0  # bytes handed to the bridge
        self.total: int | None = None
        self.finished = False
        self.vector = pj.ByteVector(self.FRAME)
        self.addr = int(ctypes.c_void_p.from_address(int(self.vector.this)).value or 0)

    def onFrameRequested(self, frame: Any) -> None:
        hold_thread_state()
        data = b""
        if not self.finished:
            if len(self.buf) - self.at < self.FRAME:  # refill: what is left plus the next piece
                self.buf = self.buf[self.at :] + self.file.read(self.CHUNK)
                self.at = 0
            data = self.buf[self.at : self.at + self.FRAME]
            if self.total is not None and self.pos + len(data) >= self.total:
                data = data[: max(0, self.total - self.pos)]
                self.finished = True
                self.wake()
            elif len(data) < self.FRAME and self.total is None:
                data = data[: len(data) & ~1]  # whole samples only; the rest waits for its pair
            self.at += len(data)
            self.pos += len(data)
        ctypes.memmove(self.addr, data.ljust(self.FRAME, b"\0"), self.FRAME)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = self.vector
        frame.size = self.FRAME

    def close(self) -> None:
        self.file.close()


def stream_port(sid: str, play_id: str, path: str, wake: Callable[[], None]) -> StreamPort:
    port = StreamPort(path, wake)
    fmt = audio_format()
    try:
        port.createPort(f"tts-{sid}-{play_id}"[:60], fmt)
    except pj.Error:
        port.close()
        raise
    return port


class AmdPort(pj.AudioMediaPort):  # type: ignore[misc]
    """Answering-machine detection on one call: a bridge port that receives the far end's
    20 ms frames and feeds them to the call's AmdTap (webrtcvad + media/amd.py).

    Threading: onFrameReceived runs on the null sound device's clock thread, which serves every
    call of this worker, so it does only the tap's few microseconds of work and, once decided,
    nothing at all. The port's frames are 100 ms (FRAME_US): the bridge buffers five of the
    call's 20 ms frames per callback, which cuts the tap's cost per call from ~0.12% to ~0.05%
    of a core (the Python callback, not the VAD, was most of it) for at most 80 ms more latency
    (measured with 40 taps on one tone, docs/PJSUA2_FINDINGS.md). It touches no pjsua2 object
    but the frame; the decision (an attribute written once) wakes the main thread, whose tick
    emits it and takes the port out of the bridge."""

    FRAME_US = 100_000

    def __init__(self, params: AmdParams, wake: Callable[[], None]) -> None:
        super().__init__()
        self.tap = AmdTap(params)
        self.wake = wake
        self.decision: Any = None

    def onFrameReceived(self, frame: Any) -> None:
        hold_thread_state()
        if self.decision is None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self.decision = self.tap.feed_block(frame_bytes(frame.buf))
            if self.decision is not None:
                self.wake()


def amd_params(cmd: proto.MakeCall) -> AmdParams | None:
    if not cmd.amd:
        return None
    return AmdParams(
        mode=AmdMode(cmd.amd),
        timeout_ms=cmd.amd_timeout_ms,
        speech_threshold_ms=cmd.amd_speech_ms,
        speech_end_threshold_ms=cmd.amd_speech_end_ms,
        silence_timeout_ms=cmd.amd_silence_ms,
    )


class WorkerAccount(pj.Account):  # type: ignore[misc]
    """The worker's account: reports its trunk registration, and refuses what a worker never
    takes: incoming calls and subscriptions (poll thread, mainThreadOnly). Strangers never get
    this far (guard.py answers them first); these come from an allowed peer, e.g. the trunk."""

    def onRegState(self, prm: Any) -> None:
        emit(proto.Registration(int(prm.code), str(prm.reason), bool(self.getInfo().regIsActive)))

    def onIncomingCall(self, prm: Any) -> None:
        # pjsua2's default (no Call object made) answers 500 after pjsua has set up media; say
        # what it is instead: this number takes no calls. No Call object, so nothing to bury.
        refuse_incoming_call(int(prm.callId), str(prm.rdata.srcAddress))

    def onIncomingSubscribe(self, prm: Any) -> None:
        prm.code = REFUSE_INCOMING  # pjsua would accept a presence subscription and send NOTIFYs


REFUSE_INCOMING = 403
_pjsua_call_hangup = endpoint._LIB.pjsua_call_hangup
_pjsua_call_hangup.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
_pjsua_call_hangup.restype = ctypes.c_int


def pin_stream(call: Any, index: int) -> None:
    """RTP only from the far end's SDP address (issue 15): pjmedia otherwise takes audio from any
    source and, after 10 packets from a new one in a row, sends the call's audio there (a flood
    hijacks the call). Connecting the stream's RTP and RTCP sockets to the far end makes the
    kernel drop everyone else's packets. Runs for every stream created (a re-INVITE's too)."""
    try:
        tp = call.getMedTransportInfo(index)
        si = call.getStreamInfo(index)
    except pj.Error as exc:
        log.warning("RTP source not pinned: %s", describe(exc))
        return
    for local, remote in ((tp.localRtpName, si.remoteRtpAddress), (tp.localRtcpName, si.remoteRtcpAddress)):
        here, there = split_hostport(local), split_hostport(remote)
        if here is None or there is None or not pin_udp_socket(here[1], there):
            log.warning("RTP source not pinned: local %s, remote %s", local, remote)


def refuse_incoming_call(call_id: int, source: str) -> None:
    """Answer an incoming INVITE 403 through pjsua's C API (the call id is pjsua's)."""
    host, _, port = source.rpartition(":")
    if endpoint.GUARD is not None:
        endpoint.GUARD.refusals.refused(host, int(port) if port.isdigit() else 0, "INVITE", "a worker takes no calls")
    _pjsua_call_hangup(call_id, REFUSE_INCOMING, None, None)


class WorkerCall(pj.Call):  # type: ignore[misc]
    def __init__(self, worker: Worker, account: Any, sid: str) -> None:
        super().__init__(account)
        self.worker = worker
        self.sid = sid

    def onCallState(self, prm: Any) -> None:
        self.worker.on_state(self.sid)

    def onCallMediaState(self, prm: Any) -> None:
        self.worker.on_media(self.sid)

    def onDtmfDigit(self, prm: Any) -> None:
        self.worker.on_digit(self.sid, prm.digit)

    def onStreamCreated(self, prm: Any) -> None:
        pin_stream(self, int(prm.streamIdx))


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ep = create_endpoint(
            port=args.port,
            bind=args.bind,
            rtp_port=args.rtp_port,
            log_file=args.log_file,
            max_calls=args.max_calls,
            tls=args.tls,
            bind_wait_s=2.0,  # short: the pool moves on to another index (port) instead
            allow=[*args.allow, *([args.registrar] if args.registrar else [])],
        )
        # Registering with a trunk: the address of record is the trunk user at the trunk.
        uri = args.aor or f"sip:wirexa@{args.bind}:{args.port}"
        acfg = account_config(uri, args.bind, args.rtp_port)
        if args.username:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.username, 0, args.password or ""))
        if args.registrar:
            acfg.regConfig.registrarUri = args.registrar
            acfg.regConfig.registerOnAdd = True
        else:
            acfg.regConfig.registerOnAdd = False
        self.account = WorkerAccount()
        self.account.create(acfg, True)
        self.calls: dict[str, CallState] = {}
        # recordings being closed: (deadline, their files, the event to send once they are complete)
        self.finishing: list[tuple[float, tuple[str, ...], proto.RecordDone]] = []
        # conference slot 0, the null sound device: silence every 20 ms (see sources())
        self.silence = self.ep.audDevManager().getCaptureDevMedia()
        self.loop = CommandLoop(self.ep, self.handle, self.tick, active_ms=WORKER_POLL_MS, due=self.next_due)
        self.relays = RelayHub(self.loop.bury)  # bridges to calls in other workers (pool.py)
        self.loop.on_relay = self.relay

    # --- commands (main thread) ---------------------------------------------------------------

    def handle(self, cmd: proto.Command) -> None:
        match cmd:
            case proto.Ping(n=n):
                emit(proto.Pong(n, len(self.calls)))
            case proto.MakeCall():
                self.make_call(cmd)
            case proto.Bridge(a=a, b=b):
                self.bridge(a, b, True)
            case proto.Unbridge(a=a, b=b):
                self.bridge(a, b, False)
            case proto.Shutdown():
                pass  # the CommandLoop stops on it
            case proto.Reload():
                raise ValueError("a SIP worker takes no reload command (the sandbox carrier's)")
            case _:
                st = self.calls.get(cmd.sid)
                if st is not None:  # else the call already ended: its ended event went out
                    self.call_command(st, cmd)

    def relay(self, cmd: RelayCommand) -> None:
        """Bridge a call with a call of another worker (relay.py); raises what CommandLoop reports."""
        st = self.calls.get(cmd.sid)
        match cmd:
            case RelayOpen():
                if st is None or st.disconnected or st.media is None:
                    raise ValueError(f"call {cmd.sid} has no live audio")
                self.relays.open(cmd, st.media)
                self.rewire(st)
            case RelayClose(sid=sid, peer=peer):
                relayed = self.relays.media_of(sid, peer)
                # Closing buries the port (destroyed later), so the recordings can still be
                # disconnected from it just after; one mixing it (<Dial record>) loses it.
                self.relays.close(sid, peer, media_gone=st is None or st.disconnected)
                if st is not None:
                    for rec in st.recordings.values():
                        if relayed is not None and rec.mixed is relayed:
                            rec.mixed = None
                    self.rewire(st)

    def rewire(self, st: CallState) -> None:
        """The sources of the call's recordings changed (a relay came or went)."""
        for rec in list(st.recordings.values()):
            self.wire(st, rec)

    def call_command(self, st: CallState, cmd: proto.CallCommand) -> None:
        match cmd:
            case proto.Hangup():
                self.hangup(st, "cancel")
            case proto.Play():
                self.play(st, cmd)
            case proto.StreamEnd(play_id=play_id, size=size):
                pb = st.playback
                if pb is not None and pb.play_id == play_id and isinstance(pb.player, StreamPort):
                    pb.player.total = size
                elif st.pending_play is not None and st.pending_play.play_id == play_id:
                    st.pending_size = size
            case proto.StopPlay():
                self.stop_play(st, "stopped")
            case proto.SendDtmf(digits=digits):
                now = time.monotonic()
                st.dtmf = dtmf_plan(digits, now)
                last_t, last_run = st.dtmf[-1] if st.dtmf else (now, "")
                st.dtmf_done_at = last_t + 0.25 * len(last_run)
            case proto.Record():
                if st.media is None:
                    st.pending_records.append(cmd)
                else:
                    self.record(st, cmd)
            case proto.StopRecord(rec_id=rec_id):
                st.pending_records = [
                    r for r in st.pending_records if not (r.rec_id == rec_id or (not rec_id and not r.whole))
                ]
                for rec in list(st.recordings.values()):
                    if rec.rec_id == rec_id or (not rec_id and not rec.whole):
                        self.finish_recording(st, rec, "stopped")
            case proto.PauseRecord(rec_id=rec_id, behavior=behavior):
                paused = st.recordings.get(rec_id)
                if paused is not None and not paused.paused:
                    paused.paused, paused.paused_at = behavior, time.monotonic()
                    self.wire(st, paused)
            case proto.ResumeRecord(rec_id=rec_id):
                resumed = st.recordings.get(rec_id)
                if resumed is not None and resumed.paused:
                    if resumed.paused == "skip":
                        resumed.skipped_s += time.monotonic() - resumed.paused_at
                    resumed.paused = ""
                    self.wire(st, resumed)

    def make_call(self, cmd: proto.MakeCall) -> None:
        sid = cmd.sid
        call = WorkerCall(self, self.account, sid)
        prm = pj.CallOpParam(True)
        prm.txOption.localUri = cmd.from_uri
        for name, value in cmd.headers:
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            prm.txOption.headers.append(h)
        h = pj.SipHeader()
        h.hName, h.hValue = "X-Wirexa-CallSid", sid
        prm.txOption.headers.append(h)
        st = CallState(sid, call, time.monotonic() + cmd.timeout, amd=amd_params(cmd))
        self.calls[sid] = st
        try:
            call.makeCall(cmd.to, prm)
        except pj.Error as exc:
            del self.calls[sid]
            self.loop.bury(call)
            emit(proto.Ended(sid, "failed", None, "local", exc.info()))
            return
        emit(proto.Initiated(sid))

    def hangup(self, st: CallState, why: str) -> None:
        if st.local_reason is None:
            st.local_reason = why
        try:
            st.call.hangup(pj.CallOpParam())
        except pj.Error as exc:
            log.warning("[%s] hangup failed: %s", st.sid, exc.info())

    def play(self, st: CallState, cmd: proto.Play) -> None:
        """Start a playback, or answer an error event (never play_done) when the file is
        missing or neither Python's wave module nor pjmedia's player can read it."""
        self.stop_play(st, "stopped")
        if st.media is None:
            st.pending_play = cmd
            return
        player: Any = None
        try:
            if cmd.stream:
                player = stream_port(st.sid, cmd.play_id, cmd.path, self.loop.wake)
                player.total, st.pending_size = st.pending_size, None
                ends = None
            else:
                seconds = wav_seconds(cmd.path)
                player = pj.AudioMediaPlayer()
                player.createPlayer(cmd.path, 0)  # 0 = loop; we stop it after `loop` rounds
                ends = time.monotonic() + seconds * cmd.loop if cmd.loop > 0 else None
            player.startTransmit(st.media)
        except (OSError, EOFError, ArithmeticError, wave.Error, pj.Error) as exc:
            self.drop_player(player)
            self.fail(st, cmd, f"cannot play {cmd.path}: {describe(exc)}")
            return
        st.playback = Playback(cmd.play_id, player, ends)
        self.wire_all(st)

    def drop_player(self, player: Any) -> None:
        if isinstance(player, StreamPort):
            player.close()
        self.loop.bury(player)

    def fail(self, st: CallState, cmd: proto.Command, message: str) -> None:
        log.warning("[%s] %s failed: %s", st.sid, cmd.NAME, message)
        emit(proto.failure(cmd, message))

    def stop_play(self, st: CallState, how: proto.PlayHow) -> None:
        pb, st.playback = st.playback, None
        st.pending_play = None
        st.pending_size = None
        if pb is None:
            return
        self.wire_all(st)  # take the prompt out of the call's outbound recordings
        try:
            if st.media is not None and not st.disconnected:
                pb.player.stopTransmit(st.media)
        except pj.Error:
            pass
        self.drop_player(pb.player)
        emit(proto.PlayDone(st.sid, pb.play_id, how))

    def record(self, st: CallState, cmd: proto.Record) -> None:
        """Start a recording, or answer an error event (never record_done) when the file
        cannot be created. A <Record> (not `whole`) replaces the call's previous one; call
        recordings run side by side, each into its own file."""
        if not cmd.whole:
            for old in [r for r in st.recordings.values() if not r.whole]:
                self.finish_recording(st, old, "stopped")
        if cmd.rec_id in st.recordings:
            self.fail(st, cmd, f"recording {cmd.rec_id} is already running")
            return
        other = self.calls.get(cmd.mix_with or "")
        relayed = self.relays.media_of(st.sid, cmd.mix_with)  # mix_with is in another worker
        recorder = out = None
        try:
            os.makedirs(os.path.dirname(cmd.path) or ".", exist_ok=True)
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(cmd.path)
            if cmd.out_path:
                out = pj.AudioMediaRecorder()
                out.createRecorder(cmd.out_path)
        except (OSError, pj.Error) as exc:
            self.loop.bury(recorder)
            self.loop.bury(out)
            self.fail(st, cmd, f"cannot record to {cmd.path}: {describe(exc)}")
            return
        now = time.monotonic()
        rec = Recording(
            cmd.rec_id,
            cmd.path,
            recorder,
            now,
            cmd.max_s or 86400.0,
            0.0 if cmd.whole else cmd.silence_s,
            "" if cmd.whole else cmd.keys,
            now,
            other.media if other is not None and not other.disconnected else relayed,
            whole=cmd.whole,
            track=cmd.track if cmd.whole else "inbound",
            out=out,
            out_path=cmd.out_path,
        )
        st.recordings[cmd.rec_id] = rec
        try:
            self.wire(st, rec)
        except pj.Error as exc:
            self.unwire(st, rec)
            del st.recordings[cmd.rec_id]
            self.loop.bury(recorder)  # dropping it also takes it out of the bridge
            self.loop.bury(out)
            self.fail(st, cmd, f"cannot record to {cmd.path}: {describe(exc)}")

    def sources(self, st: CallState, rec: Recording) -> list[tuple[Any, Any]]:
        """The (source, recorder) links `rec` wants now. The inbound track is the call's own
        port (what the far end says); the outbound track is what the bridge sends the call:
        its prompt and the calls bridged to it. A call recording also takes the null device's
        silence (conference slot 0) into each file, so the file keeps time while no party is
        connected or while paused with `silence`; paused with `skip`, nothing is connected and
        the bridge writes nothing (measured: a recorder with no source gets no frames)."""
        links: list[tuple[Any, Any]] = []
        if rec.paused == "skip" or st.disconnected or st.media is None:
            return links
        out = rec.out if rec.out is not None else rec.recorder
        if not rec.paused:
            if rec.track in ("inbound", "both"):
                links.append((st.media, rec.recorder))
            if rec.mixed is not None:
                links.append((rec.mixed, rec.recorder))
            if rec.track in ("outbound", "both"):
                if st.playback is not None:
                    links.append((st.playback.player, out))
                for peer in st.peers:
                    other = self.calls.get(peer)
                    if other is not None and other.media is not None and not other.disconnected:
                        links.append((other.media, out))
                links += [(port, out) for port in self.relays.ports_of(st.sid)]
        if rec.whole:
            links.append((self.silence, rec.recorder))
            if rec.out is not None:
                links.append((self.silence, rec.out))
        return links

    def wire(self, st: CallState, rec: Recording) -> None:
        """Connect and disconnect `rec`'s sources to what sources() says now."""
        want = {(src.getPortId(), sink.getPortId()): (src, sink) for src, sink in self.sources(st, rec)}
        for key, (src, sink) in list(rec.links.items()):
            if key not in want:
                del rec.links[key]
                try:
                    src.stopTransmit(sink)
                except pj.Error:
                    pass
        for key, (src, sink) in want.items():
            if key not in rec.links:
                src.startTransmit(sink)
                rec.links[key] = (src, sink)

    def unwire(self, st: CallState, rec: Recording) -> None:
        for src, sink in rec.links.values():
            try:
                if not st.disconnected:
                    src.stopTransmit(sink)
            except pj.Error:
                pass
        rec.links.clear()

    def wire_all(self, st: CallState) -> None:
        """A call's prompt or bridge changed: rewire its recordings with an outbound track."""
        for rec in st.recordings.values():
            if rec.whole and rec.track != "inbound":
                try:
                    self.wire(st, rec)
                except pj.Error as exc:
                    log.warning(
                        "[%s] recording %s could not follow the call's audio: %s", st.sid, rec.rec_id, describe(exc)
                    )

    def finish_recording(self, st: CallState, rec: Recording, how: proto.RecordHow, digit: str | None = None) -> None:
        if st.recordings.pop(rec.rec_id, None) is None:
            return
        self.unwire(st, rec)
        now = time.monotonic()
        skipped = rec.skipped_s + (now - rec.paused_at if rec.paused == "skip" else 0.0)
        ms = int((now - rec.started - skipped) * 1000)
        # Dropping the recorder removes its port from the bridge; pjmedia does that on the
        # clock thread a moment later and only then writes the final WAV header. Report the
        # recording once the file is complete (tick checks), so the engine never reads half a file.
        self.loop.bury(rec.recorder)
        self.loop.bury(rec.out)
        rec.recorder = rec.out = None
        paths = (rec.path, rec.out_path) if rec.out_path else (rec.path,)
        self.finishing.append((now + 2.0, paths, proto.RecordDone(st.sid, rec.rec_id, rec.path, ms, how, digit)))

    def bridge(self, a: str, b: str, on: bool) -> None:
        sa, sb = self.calls.get(a), self.calls.get(b)
        if sa is None or sb is None or sa.media is None or sb.media is None:
            return
        if sa.disconnected or sb.disconnected:
            # pjsua disconnects a dead call's port itself; touching it asserts in pjmedia.
            sa.peers.discard(b)
            sb.peers.discard(a)
            return
        if on:
            sa.media.startTransmit(sb.media)
            sb.media.startTransmit(sa.media)
            sa.peers.add(b)
            sb.peers.add(a)
        else:
            for x, y in ((sa, sb), (sb, sa)):
                try:
                    x.media.stopTransmit(y.media)
                except pj.Error:
                    pass
            sa.peers.discard(b)
            sb.peers.discard(a)
        self.wire_all(sa)
        self.wire_all(sb)

    # --- callbacks (main thread, inside libHandleEvents) -----------------------------------------

    def on_state(self, sid: str) -> None:
        st = self.calls.get(sid)
        if st is None:
            return
        info = st.call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY and not st.ringing_sent and info.lastStatusCode in (180, 183):
            st.ringing_sent = True
            emit(proto.Ringing(sid, info.lastStatusCode))
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not st.answered:
            st.answered = True
            emit(proto.Answered(sid, 200))
            if st.amd is not None and st.media is not None and st.amd_port is None:
                self.start_amd(st)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            st.disconnected = True
            self.stop_amd(st)  # undecided: the engine reports it (no event from here)
            self.stop_play(st, "stopped")
            for rec in list(st.recordings.values()):
                self.finish_recording(st, rec, "hangup")
            for peer in list(st.peers):
                self.bridge(sid, peer, False)
            self.relays.close_call(sid)
            code = info.lastStatusCode or None
            reason = end_reason(st.answered, code, st.local_reason)
            by: proto.HangupBy = "local" if st.local_reason else "remote"
            del self.calls[sid]
            self.loop.release(st.call)
            emit(proto.Ended(sid, reason, code, by))

    def on_media(self, sid: str) -> None:
        st = self.calls.get(sid)
        if st is None:
            return
        media = audio_media_of(st.call)
        if media is None or st.media is not None:
            return
        st.media = media
        # RFC 2833 digits only flow while the call's port is connected in the bridge: keep it
        # connected to the (null) playback device.
        media.startTransmit(self.ep.audDevManager().getPlaybackDevMedia())
        if st.pending_play is not None:
            play, st.pending_play = st.pending_play, None
            self.play(st, play)
        pending, st.pending_records = st.pending_records, []
        for cmd in pending:
            self.record(st, cmd)
        if st.amd is not None and st.answered and st.amd_port is None:
            self.start_amd(st)

    def start_amd(self, st: CallState) -> None:
        """Tap the far end's audio into the call's detector (from the first frame after answer)."""
        assert st.amd is not None
        port = AmdPort(st.amd, self.loop.wake)
        fmt = audio_format(AmdPort.FRAME_US)
        try:
            port.createPort(f"amd-{st.sid}", fmt)
            st.media.startTransmit(port)
        except pj.Error as exc:
            log.error("[%s] AMD could not start: %s", st.sid, exc.info())
            self.loop.bury(port)
            emit(proto.AmdResult(st.sid, "unknown", 0.0, 0))
            st.amd = None
            return
        st.amd_port = port

    def stop_amd(self, st: CallState) -> None:
        port, st.amd_port, st.amd = st.amd_port, None, None
        if port is None:
            return
        if not st.disconnected and st.media is not None:
            try:
                st.media.stopTransmit(port)
            except pj.Error:
                pass
        self.loop.bury(port)

    def on_digit(self, sid: str, digit: str) -> None:
        st = self.calls.get(sid)
        if st is None:
            return
        emit(proto.Digit(sid, digit))
        for rec in list(st.recordings.values()):
            if digit in rec.keys:
                self.finish_recording(st, rec, "key", digit)

    # --- timers (main thread) -------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.finishing:
            pending = []
            for deadline, paths, event in self.finishing:
                if all(file_complete(p) for p in paths) or now >= deadline:
                    emit(event)
                else:
                    pending.append((deadline, paths, event))
            self.finishing = pending
        for st in list(self.calls.values()):
            try:
                self.tick_call(st, now)
            except pj.Error as exc:  # one call's failure must not hold up the others
                log.warning("[%s] tick failed: %s", st.sid, exc.info())

    def next_due(self) -> float | None:
        """The earliest moment a tick has something to do at a known time (the loop sleeps until
        then, or WORKER_POLL_MS at most): a ring timeout, the end of a prompt, a digit to send,
        a recording's length or silence limit, a closing recording's deadline."""
        due = [d for d, _, _ in self.finishing]
        for st in self.calls.values():
            if not st.answered and st.local_reason is None:
                due.append(st.ring_deadline)
            if st.playback is not None and st.playback.ends_at is not None:
                due.append(st.playback.ends_at)
            if st.dtmf:
                due.append(st.dtmf[0][0])
            if st.dtmf_done_at is not None:
                due.append(st.dtmf_done_at)
            for rec in st.recordings.values():
                if not rec.whole:
                    due.append(rec.started + rec.max_s)
                    if rec.silence_s > 0:
                        due.append(rec.last_sound + rec.silence_s)
        return min(due) if due else None

    def tick_call(self, st: CallState, now: float) -> None:
        if not st.answered and st.local_reason is None and now >= st.ring_deadline:
            self.hangup(st, "timeout")
        if st.amd_port is not None and st.amd_port.decision is not None:
            d = st.amd_port.decision
            self.stop_amd(st)
            emit(proto.AmdResult(st.sid, str(d.answered_by), round(float(d.confidence), 3), int(d.detection_ms)))
        pb = st.playback
        if pb is not None and (
            (pb.ends_at is not None and now >= pb.ends_at) or (isinstance(pb.player, StreamPort) and pb.player.finished)
        ):
            self.stop_play(st, "done")
        for rec in list(st.recordings.values()):
            if rec.whole:
                continue  # no limits: it runs until stopped or the call ends
            # Measured on this wheel: the call's conference port reports the far end's audio as
            # its *tx* level (the level it transmits into the bridge); getRxLevel() stays 0.
            level = st.media.getTxLevel() if st.media is not None else 0
            if level > SOUND_LEVEL:
                rec.last_sound = now
            if now - rec.started >= rec.max_s:
                self.finish_recording(st, rec, "max-length")
            elif rec.silence_s > 0 and now - rec.last_sound >= rec.silence_s:
                self.finish_recording(st, rec, "silence")
        while st.dtmf and st.dtmf[0][0] <= now:
            _, run = st.dtmf.pop(0)
            self.send_digits(st, run)
        if st.dtmf_done_at is not None and not st.dtmf and now >= st.dtmf_done_at:
            st.dtmf_done_at = None
            emit(proto.DtmfDone(st.sid))

    def send_digits(self, st: CallState, digits: str) -> None:
        try:
            st.call.dialDtmf(digits)
        except pj.Error:
            # No telephone-event in the remote SDP: fall back to SIP INFO.
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digits
            try:
                st.call.sendDtmf(prm)
            except pj.Error as exc:
                log.warning("[%s] DTMF %s failed: %s", st.sid, digits, exc.info())

    def run(self) -> None:
        emit(proto.Ready(self.args.port, os.getpid()))
        try:
            self.loop.run()
        finally:
            self.loop.shutdown()


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="wirexa _sip-worker")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--log-file", required=True)
    ap.add_argument("--max-calls", type=int, default=4)
    ap.add_argument("--username", default="")
    ap.add_argument("--password", default=os.environ.get("WIREXA_SIP_PASSWORD", ""))
    ap.add_argument("--registrar", default="")
    ap.add_argument("--aor", default="", help="address of record used when registering")
    ap.add_argument("--tls", action="store_true", help="create a TLS transport for a sips/TLS trunk")
    ap.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PEER",
        help="also take SIP requests from this host[:port], address or CIDR network (the trunk); repeatable",
    )
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        filename=args.log_file + ".py.log", level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    Worker(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
