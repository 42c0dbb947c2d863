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
import logging
import os
import sys
import time
import wave
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from wirexa.media.amd import AmdMode, AmdParams
from wirexa.media.amd_vad import AmdTap
from wirexa.media.audio import wav_header_complete
from wirexa.sip import protocol as proto
from wirexa.sip.endpoint import CommandLoop, account_config, audio_media_of, create_endpoint, emit, frame_bytes
from wirexa.sip.protocol import dtmf_plan, end_reason

log = logging.getLogger(__name__)

SOUND_LEVEL = 3  # receive level (percent) above which a tick counts as sound for Record


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
    player: Any
    ends_at: float | None  # None = loops until stopped


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
    recording: Recording | None = None
    pending_record: proto.Record | None = None
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    dtmf_done_at: float | None = None
    peers: set[str] = field(default_factory=set)
    disconnected: bool = False  # the call's conference port is gone: never touch st.media again
    amd: AmdParams | None = None  # answering-machine detection asked for this call
    amd_port: Any = None  # its tap in the bridge, from media active until the decision


class AmdPort(pj.AudioMediaPort):  # type: ignore[misc]
    """Answering-machine detection on one call: a bridge port that receives the far end's
    20 ms frames and feeds them to the call's AmdTap (webrtcvad + media/amd.py).

    Threading: onFrameReceived runs on the null sound device's clock thread, which serves every
    call of this worker, so it does only the tap's few microseconds of work and, once decided,
    nothing at all. It touches no pjsua2 object but the frame; the decision is picked up by the
    main thread's tick (an attribute written once), which emits it and takes the port out of
    the bridge."""

    def __init__(self, params: AmdParams) -> None:
        super().__init__()
        self.tap = AmdTap(params)
        self.decision: Any = None

    def onFrameReceived(self, frame: Any) -> None:
        if self.decision is None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            self.decision = self.tap.feed(frame_bytes(frame.buf))


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
    """The worker's account: reports its trunk registration (poll thread, mainThreadOnly)."""

    def onRegState(self, prm: Any) -> None:
        emit(proto.Registration(int(prm.code), str(prm.reason), bool(self.getInfo().regIsActive)))


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
        self.finishing: list[tuple[float, proto.RecordDone]] = []  # recordings being closed
        self.loop = CommandLoop(self.ep, self.handle, self.tick)

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

    def call_command(self, st: CallState, cmd: proto.CallCommand) -> None:
        match cmd:
            case proto.Hangup():
                self.hangup(st, "cancel")
            case proto.Play():
                self.play(st, cmd)
            case proto.StopPlay():
                self.stop_play(st, "stopped")
            case proto.SendDtmf(digits=digits):
                now = time.monotonic()
                st.dtmf = dtmf_plan(digits, now)
                last_t, last_run = st.dtmf[-1] if st.dtmf else (now, "")
                st.dtmf_done_at = last_t + 0.25 * len(last_run)
            case proto.Record():
                if st.media is None:
                    st.pending_record = cmd
                else:
                    self.record(st, cmd)
            case proto.StopRecord():
                self.finish_recording(st, "stopped")

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
        player = None
        try:
            seconds = wav_seconds(cmd.path)
            player = pj.AudioMediaPlayer()
            player.createPlayer(cmd.path, 0)  # 0 = loop; we stop it after `loop` rounds
            player.startTransmit(st.media)
        except (OSError, EOFError, ArithmeticError, wave.Error, pj.Error) as exc:
            self.loop.bury(player)
            self.fail(st, cmd, f"cannot play {cmd.path}: {describe(exc)}")
            return
        ends = time.monotonic() + seconds * cmd.loop if cmd.loop > 0 else None
        st.playback = Playback(cmd.play_id, player, ends)

    def fail(self, st: CallState, cmd: proto.Command, message: str) -> None:
        log.warning("[%s] %s failed: %s", st.sid, cmd.NAME, message)
        emit(proto.failure(cmd, message))

    def stop_play(self, st: CallState, how: proto.PlayHow) -> None:
        pb, st.playback = st.playback, None
        st.pending_play = None
        if pb is None:
            return
        try:
            if st.media is not None and not st.disconnected:
                pb.player.stopTransmit(st.media)
        except pj.Error:
            pass
        self.loop.bury(pb.player)
        emit(proto.PlayDone(st.sid, pb.play_id, how))

    def record(self, st: CallState, cmd: proto.Record) -> None:
        """Start a recording, or answer an error event (never record_done) when the file
        cannot be created."""
        self.finish_recording(st, "stopped")
        path = cmd.path
        other = self.calls.get(cmd.mix_with or "")
        recorder = None
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(path)
            st.media.startTransmit(recorder)
            if other is not None and other.media is not None:
                other.media.startTransmit(recorder)  # the bridge mixes both parties into the file
        except (OSError, pj.Error) as exc:
            self.loop.bury(recorder)  # dropping it also takes it out of the bridge
            self.fail(st, cmd, f"cannot record to {path}: {describe(exc)}")
            return
        now = time.monotonic()
        st.recording = Recording(
            cmd.rec_id,
            path,
            recorder,
            now,
            cmd.max_s or 86400.0,
            cmd.silence_s,
            cmd.keys,
            now,
            other.media if other is not None else None,
        )

    def finish_recording(self, st: CallState, how: proto.RecordHow, digit: str | None = None) -> None:
        rec, st.recording = st.recording, None
        st.pending_record = None
        if rec is None:
            return
        for media in (st.media, rec.mixed):
            try:
                if media is not None and not st.disconnected:
                    media.stopTransmit(rec.recorder)
            except pj.Error:
                pass
        ms = int((time.monotonic() - rec.started) * 1000)
        # Dropping the recorder removes its port from the bridge; pjmedia does that on the
        # clock thread a moment later and only then writes the final WAV header. Report the
        # recording once the file is complete (tick checks), so the engine never reads half a file.
        rec.recorder = None
        self.finishing.append((time.monotonic() + 2.0, proto.RecordDone(st.sid, rec.rec_id, rec.path, ms, how, digit)))

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
            self.finish_recording(st, "hangup")
            for peer in list(st.peers):
                self.bridge(sid, peer, False)
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
        if st.pending_record is not None:
            cmd, st.pending_record = st.pending_record, None
            self.record(st, cmd)
        if st.amd is not None and st.answered and st.amd_port is None:
            self.start_amd(st)

    def start_amd(self, st: CallState) -> None:
        """Tap the far end's audio into the call's detector (from the first frame after answer)."""
        assert st.amd is not None
        port = AmdPort(st.amd)
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = 8000
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
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
        if st.recording is not None and digit in st.recording.keys:
            self.finish_recording(st, "key", digit)

    # --- timers (main thread) -------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.finishing:
            pending = []
            for deadline, event in self.finishing:
                if file_complete(event.path) or now >= deadline:
                    emit(event)
                else:
                    pending.append((deadline, event))
            self.finishing = pending
        for st in list(self.calls.values()):
            try:
                self.tick_call(st, now)
            except pj.Error as exc:  # one call's failure must not hold up the others
                log.warning("[%s] tick failed: %s", st.sid, exc.info())

    def tick_call(self, st: CallState, now: float) -> None:
        if not st.answered and st.local_reason is None and now >= st.ring_deadline:
            self.hangup(st, "timeout")
        if st.amd_port is not None and st.amd_port.decision is not None:
            d = st.amd_port.decision
            self.stop_amd(st)
            emit(proto.AmdResult(st.sid, str(d.answered_by), round(float(d.confidence), 3), int(d.detection_ms)))
        pb = st.playback
        if pb is not None and pb.ends_at is not None and now >= pb.ends_at:
            self.stop_play(st, "done")
        rec = st.recording
        if rec is not None:
            # Measured on this wheel: the call's conference port reports the far end's audio as
            # its *tx* level (the level it transmits into the bridge); getRxLevel() stays 0.
            level = st.media.getTxLevel() if st.media is not None else 0
            if level > SOUND_LEVEL:
                rec.last_sound = now
            if now - rec.started >= rec.max_s:
                self.finish_recording(st, "max-length")
            elif rec.silence_s > 0 and now - rec.last_sound >= rec.silence_s:
                self.finish_recording(st, "silence")
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
