"""The media worker program: one pjsua2 Endpoint holding up to 4 calls, driven over stdin/stdout.

Started by pool.py as `wirexa _sip-worker ...` (or `python -m wirexa.sip.worker ...`). This module
is the program's core: it routes the engine's commands to the calls (dialogs.py), keeps the
calls' media as a graph (mediagraph.py) whose link changes applier.py makes, and runs the per-call
timers (ring timeout, end of playback, recording silence and length, DTMF pacing) in the main
thread's tick. All pjsua2 work happens on the main thread (endpoint.CommandLoop); the code that
runs on the bridge's clock thread is in ports.py, and taps do their work on their own thread
(tap.py). Recording silence is read from the conference bridge's level of the call's port every
tick, and an answered call's RTP/RTCP statistics every QUALITY_EVERY_S and as its audio stream
goes (protocol.Quality). Events go to an injected sink (endpoint.emit, stdout, in the real program).

A command it cannot carry out (a WAV pjmedia cannot open, a recorder it cannot create) is
answered with the protocol's error event naming the command and its play or recording id, and
no completion event: the engine's session turns it into a notification and the next verb.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import logging
import os
import sys
import time
import wave
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from wirexa.media.amd import FRAME_BYTES
from wirexa.media.amd_vad import AmdTap, Vad
from wirexa.media.speaker import SpeakerDetector
from wirexa.sip import endpoint
from wirexa.sip import mediagraph as mg
from wirexa.sip import protocol as proto
from wirexa.sip.applier import Applier
from wirexa.sip.dialogs import Dialog, Playback, WorkerAccount, log_refusal, outbound
from wirexa.sip.endpoint import (
    JB_DISCARD,
    CommandLoop,
    Sink,
    account_config,
    audio_media_of,
    create_endpoint,
    describe,
)
from wirexa.sip.ports import StreamPort, TapPort, stream_port
from wirexa.sip.protocol import dtmf_plan, end_reason
from wirexa.sip.recorder import Recorders
from wirexa.sip.recorder import file_complete as file_complete  # the sandbox carrier's import
from wirexa.sip.relay import RelayHub
from wirexa.sip.streaming import Streams
from wirexa.sip.tap import Tap, TapThread

log = logging.getLogger(__name__)

# While calls are up the main thread wakes at the next due moment (Worker.next_due), when a
# command or SIP packet comes, when the clock thread or a tap has a result (an AMD decision, the
# end of a stream), and otherwise every WORKER_POLL_MS: it samples Record's silence and runs the
# DTMF callbacks pjsua2 queued from the media thread. At 20 ms, that polling was half of a busy
# worker's CPU (docs/PJSUA2_FINDINGS.md, "The main thread with calls up").
WORKER_POLL_MS = 100
AMD_TAP = "amd"
LISTEN_TAP = "listen-"  # + the listen id: a speech recognition's tap on the caller
SPEECH_TAP = "speech-"  # + the room: a conference participant's speaker-event tap
# An incoming INVITE the engine has not answered by then is refused 403 here (the engine is
# gone or stuck; the caller's side would otherwise wait for its own timer).
INCOMING_WAIT_S = 10.0
MAX_AUTH_ACCOUNTS = 4  # accounts with a call's own credentials (pjsua holds 8 in all)
# How often an answered call's RTP/RTCP statistics are read and sent (protocol.Quality). One
# reading (getStreamStat and the fields we send) costs ~12-25 us of the main thread.
QUALITY_EVERY_S = 5.0


def wav_seconds(path: str) -> float:
    with wave.open(path) as w:
        return float(w.getnframes()) / float(w.getframerate())


class Worker:
    """The worker's calls and media. Main thread only (commands, pjsua2 callbacks, the tick)."""

    def __init__(self, args: argparse.Namespace, emit: Sink = endpoint.emit) -> None:
        self.args = args
        self.emit = emit
        self.ep = create_endpoint(
            port=args.port,
            bind=args.bind,
            rtp_port=args.rtp_port,
            log_file=args.log_file,
            max_calls=args.max_calls,
            tls=args.tls,
            bind_wait_s=2.0,  # short: the pool moves on to another index (port) instead
            allow=[*args.allow, *([args.registrar] if args.registrar else [])],
            public_address=args.public_address,
            jitter_discard=args.jitter_discard,
        )
        # Registering with a trunk: the address of record is the trunk user at the trunk.
        uri = args.aor or f"sip:wirexa@{args.bind}:{args.port}"
        acfg = account_config(
            uri, args.bind, args.rtp_port, public_rtp_address=args.public_rtp_address or args.public_address
        )
        if args.proxy:
            acfg.sipConfig.proxies.append(args.proxy)  # [sip] outbound_proxy: a preloaded Route
        if args.username:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args.username, 0, args.password or ""))
        if args.registrar:
            acfg.regConfig.registrarUri = args.registrar
            acfg.regConfig.registerOnAdd = True
        else:
            acfg.regConfig.registerOnAdd = False
        self.account = WorkerAccount(self, emit)
        self.account.create(acfg, True)
        self.uri = uri
        # Accounts holding a call's own digest credentials (MakeCall.auth_*), by (user, password),
        # least recently used first; and which one each call placed with one uses.
        self.auth_accounts: dict[tuple[str, str], Any] = {}
        self.auth_of: dict[str, tuple[str, str]] = {}
        self.calls: dict[str, Dialog] = {}  # by CallSid
        self.incoming: dict[str, Dialog] = {}  # inbound dialogs the engine has not taken, by dialog_id
        self.graph = mg.MediaGraph()
        self.applier = Applier()
        # conference slot 0, the null sound device: silence every 20 ms (the graph's SILENCE)
        self.applier.add(mg.SILENCE, self.ep.audDevManager().getCaptureDevMedia())
        self.applier.add(mg.DEVICE, self.ep.audDevManager().getPlaybackDevMedia())
        self.loop = CommandLoop(self.ep, self.handle, self.tick, active_ms=WORKER_POLL_MS, due=self.next_due, emit=emit)
        self.relays = RelayHub(self.loop.bury)  # bridges to calls in other workers (pool.py)
        self.recorders = Recorders(self.graph, self.applier, self.loop.bury, emit)
        self.taps = TapThread(self.loop.wake)
        self.streams = Streams(self.graph, self.applier, self.loop.bury, self.loop.wake, emit)

    def link(self, changes: list[mg.Change], *, strict: bool = False) -> None:
        self.applier.apply(changes, strict=strict)

    # --- commands (main thread) ---------------------------------------------------------------

    def handle(self, cmd: proto.Command) -> None:
        match cmd:
            case proto.Ping(n=n):
                self.emit(proto.Pong(n, len(self.calls)))
            case proto.MakeCall():
                self.make_call(cmd)
            case proto.Accept(dialog_id=dialog_id, call_sid=call_sid):
                self.accept(dialog_id, call_sid)
            case proto.Reject(dialog_id=dialog_id, sip_code=code, why=why):
                self.reject(dialog_id, code, why)
            case proto.Bridge(a=a, b=b):
                self.bridge(a, b, True)
            case proto.Unbridge(a=a, b=b):
                self.bridge(a, b, False)
            case proto.RelayOpen():
                self.relay_open(cmd)
            case proto.RelayClose(call_sid=sid, peer=peer):
                self.drop_pending_room(sid, peer)
                self.relay_close(sid, peer)
            case proto.RoomJoin() | proto.RoomMember():
                self.room_member(cmd)
            case proto.RoomLeave(call_sid=sid, room=room):
                self.drop_pending_room(sid, room)
                node = mg.call_port(sid)
                self.link(self.graph.leave(room, node) + self.graph.coach(node, None) + self.graph.mute(node, False))
            case proto.RemoteOpen():
                self.remote_open(cmd)
            case proto.RemoteClose(call_sid=sid, room=room):
                self.remote_close(sid, room)
            case proto.RoomRecord():
                self.recorders.room_start(cmd)
            case proto.RoomRecordStop(rec_id=rec_id):
                self.recorders.room_stop(rec_id)
            case proto.Shutdown():
                pass  # the CommandLoop stops on it
            case proto.Reload():
                raise ValueError("a SIP worker takes no reload command (the sandbox carrier's)")
            case _:
                st = self.calls.get(cmd.call_sid)
                if st is not None:  # else the call already ended: its ended event went out
                    self.call_command(st, cmd)

    def call_command(self, st: Dialog, cmd: proto.CallCommand) -> None:
        match cmd:
            case proto.Hangup(code=code):
                if code and st.direction == "inbound" and not st.answered:
                    self.hangup(st, "reject", code)
                else:
                    self.hangup(st, "cancel")
            case proto.Answer():
                self.answer(st)
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
                self.recorders.stop(st, rec_id)
            case proto.PauseRecord(rec_id=rec_id, behavior=behavior):
                self.recorders.pause(st, rec_id, behavior)
            case proto.ResumeRecord(rec_id=rec_id):
                self.recorders.resume(st, rec_id)
            case proto.StartStream():
                if st.media is None:
                    st.pending_streams.append(cmd)
                else:
                    self.streams.start(st, cmd)
            case proto.StopStream(stream_sid=stream_sid):
                if any(c.stream_sid == stream_sid for c in st.pending_streams):  # never opened
                    st.pending_streams = [c for c in st.pending_streams if c.stream_sid != stream_sid]
                    self.emit(proto.Stream(st.call_sid, stream_sid, "stopped", 0, "stopped"))
                self.streams.stop(st, stream_sid)
            case proto.Listen(listen_id=listen_id):
                if st.media is None:
                    st.pending_listens.append(listen_id)
                else:
                    self.listen(st, listen_id)
            case proto.Unlisten(listen_id=listen_id):
                if listen_id in st.pending_listens:
                    st.pending_listens.remove(listen_id)
                self.stop_tap(st, LISTEN_TAP + listen_id)
            case proto.WatchSpeech(room=room):
                if st.media is None:
                    st.pending_speech.append(room)
                else:
                    self.watch_speech(st, room)
            case proto.UnwatchSpeech(room=room):
                if room in st.pending_speech:
                    st.pending_speech.remove(room)
                self.stop_tap(st, SPEECH_TAP + room)

    def account_for(self, cmd: proto.MakeCall) -> Any:
        """The account a call is placed with: the worker's (the trunk's credentials), or one that
        answers the far end's challenge with the call's own (kept for the next call with them;
        MAX_AUTH_ACCOUNTS at most, an idle one dropped for a new one)."""
        if not cmd.auth_username:
            return self.account
        key = (cmd.auth_username, cmd.auth_password)
        account = self.auth_accounts.pop(key, None)
        if account is None:
            busy = set(self.auth_of.values())
            while len(self.auth_accounts) >= MAX_AUTH_ACCOUNTS:
                idle = next((k for k in self.auth_accounts if k not in busy), None)
                if idle is None:
                    break
                self.loop.bury(self.auth_accounts.pop(idle))
            args = self.args
            acfg = account_config(
                self.uri, args.bind, args.rtp_port, public_rtp_address=args.public_rtp_address or args.public_address
            )
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", cmd.auth_username, 0, cmd.auth_password))
            if args.proxy:
                acfg.sipConfig.proxies.append(args.proxy)
            acfg.regConfig.registerOnAdd = False
            account = WorkerAccount(self, self.emit)
            account.create(acfg, False)
        self.auth_accounts[key] = account  # the most recently used last
        self.auth_of[cmd.call_sid] = key
        return account

    def make_call(self, cmd: proto.MakeCall) -> None:
        try:
            account = self.account_for(cmd)
        except pj.Error as exc:
            self.emit(proto.Ended(cmd.call_sid, "failed", None, "local", exc.info()))
            return
        st, prm = outbound(self, account, cmd, time.monotonic() + cmd.timeout_s)
        self.calls[cmd.call_sid] = st
        try:
            st.call.makeCall(cmd.to_uri, prm)
        except pj.Error as exc:
            self.auth_of.pop(cmd.call_sid, None)
            del self.calls[cmd.call_sid]
            self.loop.bury(st.call)
            self.emit(proto.Ended(cmd.call_sid, "failed", None, "local", exc.info()))
            return
        self.emit(proto.Initiated(cmd.call_sid))

    def accept(self, dialog_id: str, call_sid: str) -> None:
        """The engine takes the held INVITE `dialog_id` as its call `call_sid`: ring the caller
        (180) and report the dialog under `call_sid` from now on. The engine decides how long it
        rings (it answers, or hangs up): no ring timeout here."""
        held = self.incoming.pop(dialog_id, None)
        if held is None or held.local_reason is not None:  # the caller gave up, or we refused it
            self.emit(proto.Ended(call_sid, "canceled", None, "remote"))
            return
        held.call_sid = held.call.call_sid = call_sid
        self.calls[call_sid] = held
        prm = pj.CallOpParam()
        prm.statusCode = 180
        try:
            held.call.answer(prm)
        except pj.Error as exc:  # its INVITE session is gone (the caller left): the call ends now
            log.warning("[%s] ringing the caller failed: %s", call_sid, exc.info())
            del self.calls[call_sid]
            self.loop.release(held.call)
            self.emit(proto.Ended(call_sid, "canceled", None, "remote", exc.info()))

    def answer(self, st: Dialog) -> None:
        """Answer an accepted inbound call (200 OK with our SDP); `answered` goes out when the
        caller's ACK confirms the dialog (on_state)."""
        if st.direction != "inbound" or st.answered or st.local_reason is not None:
            return
        prm = pj.CallOpParam()
        prm.statusCode = 200
        try:
            st.call.answer(prm)
        except pj.Error as exc:
            log.warning("[%s] answer failed: %s", st.call_sid, exc.info())
            self.hangup(st, "failed")

    def reject(self, dialog_id: str, code: int, why: str) -> None:
        """Answer a held incoming INVITE with a final `code` (already ended or answered: nothing)."""
        st = self.incoming.get(dialog_id)
        if st is None or st.local_reason is not None:
            return
        st.local_reason = "rejected"
        log_refusal(st.source, why or f"refused {code}")
        prm = pj.CallOpParam()
        prm.statusCode = code
        try:
            st.call.hangup(prm)
        except pj.Error as exc:
            log.warning("[%s] reject failed: %s", dialog_id, exc.info())

    def hangup(self, st: Dialog, why: str, code: int = 0) -> None:
        if st.local_reason is None:
            st.local_reason = why
        prm = pj.CallOpParam()
        if code:
            prm.statusCode = code
        try:
            st.call.hangup(prm)
        except pj.Error as exc:
            log.warning("[%s] hangup failed: %s", st.call_sid, exc.info())

    def fail(self, st: Dialog, cmd: proto.Command, message: str) -> None:
        log.warning("[%s] %s failed: %s", st.call_sid, cmd.NAME, message)
        self.emit(proto.failure(cmd, message))

    # --- prompts ----------------------------------------------------------------------------------

    def play(self, st: Dialog, cmd: proto.Play) -> None:
        """Start a playback, or answer an error event (never play_done) when the file is
        missing or neither Python's wave module nor pjmedia's player can read it."""
        self.stop_play(st, "stopped")
        if st.media is None:
            st.pending_play = cmd
            return
        sid = st.call_sid
        player: Any = None
        try:
            if cmd.stream:
                player = stream_port(sid, cmd.play_id, cmd.path, self.loop.wake)
                player.total, st.pending_size = st.pending_size, None
                ends = None
            else:
                seconds = wav_seconds(cmd.path)
                player = pj.AudioMediaPlayer()
                player.createPlayer(cmd.path, 0)  # 0 = loop; we stop it after `loop` rounds
                ends = time.monotonic() + seconds * cmd.loop if cmd.loop > 0 else None
            self.applier.add(mg.player(sid), player)
            self.link(self.graph.play(sid), strict=True)
        except (OSError, EOFError, ArithmeticError, wave.Error, pj.Error) as exc:
            self.link(self.graph.stop_play(sid))
            self.applier.drop(mg.player(sid))
            self.drop_player(player)
            self.fail(st, cmd, f"cannot play {cmd.path}: {describe(exc)}")
            return
        st.playback = Playback(cmd.play_id, player, ends)

    def drop_player(self, player: Any) -> None:
        if isinstance(player, StreamPort):
            player.close()
        self.loop.bury(player)

    def stop_play(self, st: Dialog, how: proto.PlayHow) -> None:
        pb, st.playback = st.playback, None
        st.pending_play = None
        st.pending_size = None
        if pb is None:
            return
        # out of the call's outbound recordings and the call (nothing to do once the call is gone)
        self.link(self.graph.stop_play(st.call_sid))
        self.applier.drop(mg.player(st.call_sid))
        self.drop_player(pb.player)
        self.emit(proto.PlayDone(st.call_sid, pb.play_id, how))

    # --- recordings (recorder.py) ----------------------------------------------------------------

    def record(self, st: Dialog, cmd: proto.Record) -> None:
        sid = st.call_sid
        mixed: mg.Node | None = None  # mix_with is a call of this worker, or relayed from another
        if cmd.mix_with and self.graph.live(cmd.mix_with):
            mixed = mg.call_port(cmd.mix_with)
        elif cmd.mix_with and self.relays.has(sid, cmd.mix_with):
            mixed = mg.relay(sid, cmd.mix_with)
        self.recorders.start(st, cmd, mixed)

    # --- bridges and relays -----------------------------------------------------------------------

    def bridge(self, a: str, b: str, on: bool) -> None:
        """Two calls of this worker hear each other (or stop). A call without live audio, or
        already ended, is ignored: its end took it out of every room."""
        sa, sb = self.calls.get(a), self.calls.get(b)
        if sa is None or sb is None or not sa.live or not sb.live:
            return
        if not on:
            self.link(self.graph.unbridge(a, b))
            return
        try:
            self.link(self.graph.bridge(a, b), strict=True)
        except pj.Error:
            self.link(self.graph.unbridge(a, b))
            raise

    def relay_open(self, cmd: proto.RelayOpen) -> None:
        """Bridge a call with a call of another worker (relay.py); raises what CommandLoop reports."""
        st = self.calls.get(cmd.call_sid)
        if st is not None and st.media is None and not st.disconnected:
            st.pending_rooms.append(cmd)  # opened the moment its media is up
            return
        if st is None or not st.live:
            raise ValueError(f"call {cmd.call_sid} has no live audio")
        self.relay_close(cmd.call_sid, cmd.peer)
        port = self.relays.open(cmd)
        node = mg.relay(cmd.call_sid, cmd.peer)
        self.applier.add(node, port)
        try:
            self.link(self.graph.open_relay(cmd.call_sid, cmd.peer), strict=True)
        except Exception:
            self.link(self.graph.close_relay(cmd.call_sid, cmd.peer))
            self.applier.drop(node)
            self.relays.close(cmd.call_sid, cmd.peer)
            raise

    def relay_close(self, sid: str, peer: str) -> None:
        """Take the relay out (a recording mixing it, a <Dial record>, loses it) and close it.
        Its links are gone already when its call ended."""
        self.link(self.graph.close_relay(sid, peer))
        self.applier.drop(mg.relay(sid, peer))
        self.relays.close(sid, peer)

    # --- conference rooms (this worker their home; remote members over relays, pool.py) --------

    def drop_pending_room(self, sid: str, room: str) -> None:
        """A join or relay still waiting for the call's media is not wanted any more."""
        st = self.calls.get(sid)
        if st is not None:
            st.pending_rooms = [
                c for c in st.pending_rooms if (c.room if isinstance(c, proto.RoomJoin) else c.peer) != room
            ]

    def member_node(self, sid: str, room: str) -> mg.Node:
        """A room member's node: the call's port if the call is here, else its remote port."""
        return mg.call_port(sid) if self.graph.live(sid) else mg.remote(sid, room)

    def room_member(self, cmd: proto.RoomJoin | proto.RoomMember | proto.RemoteOpen) -> None:
        """Set a member's mute and coach, then (RoomJoin, RemoteOpen) put it in the room: muted
        and coaching before joining, so no link it should not have is ever made. Raises
        ValueError (CommandLoop reports it) for a RoomJoin of a call without live audio."""
        node = mg.remote(cmd.call_sid, cmd.room) if isinstance(cmd, proto.RemoteOpen) else mg.call_port(cmd.call_sid)
        if isinstance(cmd, proto.RoomJoin):
            st = self.calls.get(cmd.call_sid)
            if st is not None and st.media is None and not st.disconnected:
                st.pending_rooms.append(cmd)  # joined the moment its media is up
                return
            if st is None or not st.live:
                raise ValueError(f"call {cmd.call_sid} has no live audio")
        elif isinstance(cmd, proto.RoomMember):
            node = self.member_node(cmd.call_sid, cmd.room)
        coached = self.member_node(cmd.coach, cmd.room) if cmd.coach else None
        changes = self.graph.mute(node, cmd.muted) + self.graph.coach(node, coached)
        if not isinstance(cmd, proto.RoomMember):
            changes += self.graph.join(cmd.room, node)
        self.link(changes)

    def remote_open(self, cmd: proto.RemoteOpen) -> None:
        """A call of another worker joins a room of this one through a relay port (relay.py)."""
        self.remote_close(cmd.call_sid, cmd.room)
        port = self.relays.open(proto.RelayOpen(cmd.call_sid, cmd.room, cmd.listen_port, cmd.peer_port))
        node = mg.remote(cmd.call_sid, cmd.room)
        self.applier.add(node, port)
        self.graph.open_remote(cmd.call_sid, cmd.room)
        try:
            self.room_member(cmd)
        except Exception:
            self.remote_close(cmd.call_sid, cmd.room)
            raise

    def remote_close(self, sid: str, room: str) -> None:
        """The remote member leaves its room; its relay port closes."""
        self.link(self.graph.close_remote(sid, room))
        self.applier.drop(mg.remote(sid, room))
        self.relays.close(sid, room)

    # --- taps (tap.py): consumers of a track whose work runs on the tap thread ------------------

    def start_tap(
        self, st: Dialog, name: str, feed: Callable[[bytes], Any], track: mg.Track = "inbound"
    ) -> Tap[Any] | None:
        """Attach `feed` to a track of the call (its audio is up); its first non-None result
        lands in the tap's `result` and wakes the main thread. None (logged) when pjmedia
        cannot add the tap's port."""
        sid = st.call_sid
        tap: Tap[Any] = Tap(sid, name, feed)
        port = TapPort(tap)
        node = mg.tap(sid, name)
        try:
            port.create(f"{name}-{sid}")
            self.applier.add(node, port)
            self.taps.add(tap)
            self.link(self.graph.start_tap(sid, name, track), strict=True)
        except pj.Error as exc:
            log.error("[%s] tap %s could not start: %s", sid, name, describe(exc))
            self.link(self.graph.stop_tap(sid, name))
            self.applier.drop(node)
            self.taps.remove(tap)
            self.loop.bury(port)
            return None
        st.taps[name] = tap
        return tap

    def stop_tap(self, st: Dialog, name: str) -> None:
        tap = st.taps.pop(name, None)
        if tap is None:
            return
        self.taps.remove(tap)
        if tap.dropped:
            log.warning("[%s] tap %s fell behind: %d blocks dropped", st.call_sid, name, tap.dropped)
        self.link(self.graph.stop_tap(st.call_sid, name))
        self.loop.bury(self.applier.drop(mg.tap(st.call_sid, name)))

    def listen(self, st: Dialog, listen_id: str) -> None:
        """Tap the caller's audio for speech recognition: each 100 ms block goes out as a `heard`
        event from the tap thread (emit is thread-safe) with webrtcvad's verdict on each 20 ms
        frame (AMD's detector and mode), and the engine does the rest (calls/speech.py)."""
        sid, emit, vad = st.call_sid, self.emit, Vad()

        def feed(pcm: bytes) -> None:
            voiced = "".join(
                "1" if vad.is_speech(pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")) else "0"
                for i in range(0, len(pcm), FRAME_BYTES)
            )
            emit(proto.Heard(sid, listen_id, base64.b64encode(pcm).decode("ascii"), voiced))

        if self.start_tap(st, LISTEN_TAP + listen_id, feed) is None:
            self.emit(proto.CommandError("the caller's audio could not be tapped", sid, proto.Listen.NAME, listen_id))

    def watch_speech(self, st: Dialog, room: str) -> None:
        """Tap the far end's audio for a conference's speaker events: webrtcvad on each 20 ms
        frame (AMD's detector and mode) feeds media/speaker.py on the tap thread, and only its
        transitions go out, as `speaking` events (emit is thread-safe)."""
        sid, emit, vad, detector = st.call_sid, self.emit, Vad(), SpeakerDetector()

        def feed(pcm: bytes) -> None:
            for i in range(0, len(pcm), FRAME_BYTES):
                changed = detector.feed(vad.is_speech(pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")))
                if changed is not None:
                    emit(proto.Speaking(sid, room, changed))

        if SPEECH_TAP + room in st.taps:
            return
        if self.start_tap(st, SPEECH_TAP + room, feed) is None:
            self.emit(proto.failure(proto.WatchSpeech(sid, room), "the participant's audio could not be tapped"))

    def start_amd(self, st: Dialog) -> None:
        """Tap the far end's audio into the call's detector (from the first frame after answer)."""
        assert st.amd is not None
        if self.start_tap(st, AMD_TAP, AmdTap(st.amd).feed_block) is None:
            self.emit(proto.AmdResult(st.call_sid, "unknown", 0.0, 0))
            st.amd = None

    def stop_amd(self, st: Dialog) -> None:
        st.amd = None
        self.stop_tap(st, AMD_TAP)

    # --- callbacks (main thread, inside libHandleEvents) -----------------------------------------

    def on_incoming(self, call: Any, source: str, message: str) -> None:
        """An INVITE from an allowed peer: hold it as an inbound dialog and ask the engine."""
        info = call.getInfo()
        st = Dialog(call.call_sid, call, time.monotonic() + INCOMING_WAIT_S, direction="inbound", source=source)
        self.incoming[st.call_sid] = st
        request_uri, headers = proto.incoming_fields(message)
        # RTP latching (dialogs.pin_stream) takes audio from the caller's real host too: the one
        # the front saw (X-Wirexa-Source), else the INVITE's own source.
        sender = next((value for name, value in headers if name == "X-Wirexa-Source"), source)
        call.signal_hosts = (proto.source_host(sender),)
        self.emit(proto.Incoming(st.call_sid, str(info.remoteUri), str(info.localUri), source, request_uri, headers))

    def on_state(self, sid: str, message: str = "") -> None:
        held = self.incoming.get(sid)
        if held is not None:
            if held.call.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
                del self.incoming[sid]
                self.loop.release(held.call)
            return
        st = self.calls.get(sid)
        if st is None:
            return
        info = st.call.getInfo()
        if message.startswith("SIP/2.0 2") and st.direction != "inbound" and not st.answered:
            st.answer_headers = proto.x_headers(message)  # the 200 OK's: SipHeader_X-... params
        if info.state == pj.PJSIP_INV_STATE_EARLY and not st.ringing_sent and info.lastStatusCode in (180, 183):
            st.ringing_sent = True
            self.emit(proto.Ringing(sid, info.lastStatusCode))
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not st.answered:
            st.answered = True
            st.quality_due = time.monotonic() + QUALITY_EVERY_S
            self.emit(proto.Answered(sid, 200, st.answer_headers))
            if st.amd is not None and st.media is not None and AMD_TAP not in st.taps:
                self.start_amd(st)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            st.disconnected = True
            # pjsua took the call's port out of the bridge: its links are gone, nothing to undo
            self.link(self.graph.remove_call(sid))
            self.stop_amd(st)  # undecided: the engine reports it (no event from here)
            for name in list(st.taps):
                self.stop_tap(st, name)
            self.stop_play(st, "stopped")
            self.streams.hangup(st)
            for unopened in st.pending_streams:  # never opened: their one word is "stopped"
                self.emit(proto.Stream(sid, unopened.stream_sid, "stopped", 0, "the call ended"))
            st.pending_streams = []
            self.recorders.hangup(st)
            for peer in self.relays.peers_of(sid):
                self.relay_close(sid, peer)
            self.applier.drop_call(sid)
            self.final_quality(st)
            code = info.lastStatusCode or None
            reason = end_reason(st.answered, code, st.local_reason, inbound=st.direction == "inbound")
            by: proto.HangupBy = "local" if st.local_reason else "remote"
            del self.calls[sid]
            self.auth_of.pop(sid, None)
            self.loop.release(st.call)
            self.emit(proto.Ended(sid, reason, code, by))

    def on_media(self, sid: str) -> None:
        st = self.calls.get(sid)
        if st is None:
            return
        media = audio_media_of(st.call)
        if media is None or st.media is not None:
            return
        st.media = media
        # The graph connects the call's port to the (null) playback device: RFC 2833 digits
        # only flow while the port is connected in the bridge.
        self.applier.add(mg.call_port(sid), media)
        self.link(self.graph.add_call(sid))
        if st.pending_play is not None:
            play, st.pending_play = st.pending_play, None
            self.play(st, play)
        pending, st.pending_records = st.pending_records, []
        for cmd in pending:
            self.record(st, cmd)
        streams, st.pending_streams = st.pending_streams, []
        for start in streams:
            self.streams.start(st, start)
        listens, st.pending_listens = st.pending_listens, []
        for listen_id in listens:
            self.listen(st, listen_id)
        watches, st.pending_speech = st.pending_speech, []
        for room in watches:
            self.watch_speech(st, room)
        rooms, st.pending_rooms = st.pending_rooms, []
        for join in rooms:
            try:
                if isinstance(join, proto.RelayOpen):
                    self.relay_open(join)
                else:
                    self.room_member(join)
            except Exception as exc:  # as CommandLoop reports a command that failed: its session is told
                log.warning("[%s] %s failed once its media was up: %s", sid, join.NAME, exc)
                self.emit(proto.failure(join, str(exc)))
        if st.amd is not None and st.answered and AMD_TAP not in st.taps:
            self.start_amd(st)

    def on_stream_gone(self, sid: str) -> None:
        """The call's audio stream is about to go: read its statistics while they still answer
        (no longer at DISCONNECTED), and keep the reading for the call's end. The call's state
        does not yet say whether it is ending (a BYE) or changing its media (a re-INVITE), so
        nothing is sent here: the end sends it as the final reading, a call that goes on is read
        again at its next tick (a new stream's counters start from 0 again)."""
        st = self.calls.get(sid)
        if st is not None and st.answered and st.quality_due is not None:
            self.sample_quality(st, send=False)

    def sample_quality(self, st: Dialog, send: bool = True) -> None:
        """Read the call's stream statistics (protocol.Quality) and send them, or with `send`
        False keep them for the call's end. A stream that cannot be read (no audio yet, or gone)
        gives nothing."""
        try:
            stat = st.call.getStreamStat(0)
        except pj.Error:
            return
        rtcp = stat.rtcp
        rx, tx = rtcp.rxStat, rtcp.txStat
        reading = proto.Quality(
            st.call_sid,
            int(rx.pkt),
            int(rx.loss),
            int(rx.jitterUsec.last),
            int(tx.pkt),
            int(tx.loss),
            int(tx.jitterUsec.last),
            int(rtcp.rttUsec.last),
            int(stat.jbuf.avgDelayMsec),
        )
        st.quality_last = reading
        st.quality_unsent = not send
        if send:
            self.emit(reading)

    def final_quality(self, st: Dialog) -> None:
        """An answered call ends: the reading taken as its stream went away (on_stream_gone) is
        sent as the final one; when there is none, the last tick's reading already said it all."""
        if st.quality_due is None or not st.answered:
            return
        st.quality_due = None
        if st.quality_last is not None and st.quality_unsent:
            self.emit(dataclasses.replace(st.quality_last, final=True))

    def on_digit(self, sid: str, digit: str) -> None:
        st = self.calls.get(sid)
        if st is None:
            return
        self.emit(proto.Digit(sid, digit))
        self.recorders.digit(st, digit)
        self.streams.digit(st, digit)

    # --- timers (main thread) -------------------------------------------------------------------

    def tick(self, now: float) -> None:
        self.recorders.report(now)
        self.streams.poll()
        for held in list(self.incoming.values()):
            if held.local_reason is None and now >= held.ring_deadline:
                self.reject(held.call_sid, 403, "the engine did not answer the INVITE")
        for st in list(self.calls.values()):
            try:
                self.tick_call(st, now)
            except pj.Error as exc:  # one call's failure must not hold up the others
                log.warning("[%s] tick failed: %s", st.call_sid, exc.info())

    def next_due(self) -> float | None:
        """The earliest moment a tick has something to do at a known time (the loop sleeps until
        then, or WORKER_POLL_MS at most): a ring timeout, the end of a prompt, a digit to send,
        a recording's length or silence limit, a closing recording's deadline, a quality reading."""
        due = self.recorders.closing.due()
        due += [held.ring_deadline for held in self.incoming.values() if held.local_reason is None]
        for st in self.calls.values():
            if st.direction == "outbound" and not st.answered and st.local_reason is None:
                due.append(st.ring_deadline)
            if st.playback is not None and st.playback.ends_at is not None:
                due.append(st.playback.ends_at)
            if st.dtmf:
                due.append(st.dtmf[0][0])
            if st.dtmf_done_at is not None:
                due.append(st.dtmf_done_at)
            if st.quality_due is not None:
                due.append(st.quality_due)
            due += self.recorders.due(st)
        return min(due) if due else None

    def tick_call(self, st: Dialog, now: float) -> None:
        if st.direction == "outbound" and not st.answered and st.local_reason is None and now >= st.ring_deadline:
            self.hangup(st, "timeout")
        amd = st.taps.get(AMD_TAP)
        if amd is not None and amd.result is not None:
            d = amd.result
            self.stop_amd(st)
            self.emit(
                proto.AmdResult(st.call_sid, str(d.answered_by), round(float(d.confidence), 3), int(d.detection_ms))
            )
        pb = st.playback
        if pb is not None and (
            (pb.ends_at is not None and now >= pb.ends_at) or (isinstance(pb.player, StreamPort) and pb.player.finished)
        ):
            self.stop_play(st, "done")
        self.recorders.check_limits(st, now)
        if st.quality_due is not None and now >= st.quality_due:
            st.quality_due = now + QUALITY_EVERY_S
            if st.media is not None and not st.disconnected:
                self.sample_quality(st)
        while st.dtmf and st.dtmf[0][0] <= now:
            _, run = st.dtmf.pop(0)
            self.send_digits(st, run)
        if st.dtmf_done_at is not None and not st.dtmf and now >= st.dtmf_done_at:
            st.dtmf_done_at = None
            self.emit(proto.DtmfDone(st.call_sid))

    def send_digits(self, st: Dialog, digits: str) -> None:
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
                log.warning("[%s] DTMF %s failed: %s", st.call_sid, digits, exc.info())

    def run(self) -> None:
        self.emit(proto.Ready(self.args.port, os.getpid()))
        try:
            self.loop.run()
        finally:
            self.taps.stop()
            self.streams.shutdown()
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
    ap.add_argument(
        "--proxy", default="", help="outbound proxy URI (;lr) every outbound request is routed through (a Route)"
    )
    ap.add_argument("--public-address", default="", help="behind NAT: the address put in Contact and Via")
    ap.add_argument("--jitter-discard", default="static", choices=sorted(JB_DISCARD), help="[sip] jitter_discard")
    ap.add_argument("--public-rtp-address", default="", help="behind NAT: the SDP's address (else --public-address)")
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
