"""The sandbox carrier program: a pjsua2 UAS on loopback that answers as the telephone network.

Each process answers up to 4 calls. The dialed number (the Request-URI user) picks a callee
behaviour from sandbox.toml beside the config file (or the built-in defaults of sandbox_config.py): busy (486), decline
(603), fail (503), ring (180, never answers), or an answering party — a person (one ring,
"Hello?", then a short reply after each prompt of the caller, a <Record> beep included, up to
reply_max times), an answering machine (a ~10 s greeting, a 1 kHz beep, silence), silence, or
any WAV file (played once, then silence; again and again with loop = true; a file that is not
8 kHz mono 16-bit PCM is converted by ffmpeg when the config is loaded, and one ffmpeg cannot read
stops the load with an error naming it). A Reload command re-reads the config for calls that
arrive from then on; calls already in progress keep their behaviour. A party can press digits (after the caller's first prompt ends, or N seconds
after answering) and hang up after N seconds. Everything the callee hears is
recorded to <data>/sandbox/<CallSid>.wav, and its event log goes to <CallSid>.json (the
engine names the call in an X-Wirexa-CallSid header). Threading as in endpoint.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pjsua2 as pj

from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.sip import protocol as proto
from wirexa.sip.endpoint import CommandLoop, account_config, audio_media_of, create_endpoint, emit
from wirexa.sip.sandbox_config import (
    DEFAULT_BEHAVIOUR,
    DEFAULT_NUMBERS,
    FINAL_CODES,
    SandboxConfigError,
    behaviour_for,
    is_file_answer,
    is_reply_file,
    load_config,
    network_settings,
    replies,
)
from wirexa.sip.wavfiles import convert_8k, is_8k_pcm
from wirexa.sip.worker import file_complete

__all__ = [
    "DEFAULT_BEHAVIOUR",
    "DEFAULT_NUMBERS",
    "FINAL_CODES",
    "Sandbox",
    "behaviour_for",
    "load_config",
    "main",
    "replies",
]

log = logging.getLogger(__name__)

MACHINE_GREETING = (
    "Hi, you have reached the voicemail of Alex Morgan. I can not take your call right now. "
    "Please leave your name, your number and a short message after the tone."
)

SOUND_LEVEL = 3
PROMPT_MIN_SOUND_S = 0.3
PROMPT_END_SILENCE_S = 0.8
PLAY = "_play"  # a file answer's behaviour: the playable (8 kHz mono 16-bit) copy of the file
REPLY_PLAY = "_reply_play"  # a file reply's: the same for the recorded utterance


@dataclass
class Callee:
    call: Any
    sid: str
    number: str
    behaviour: dict[str, Any]
    started: float
    log_path: Path
    wav_path: Path
    answer_at: float | None = None
    answered_at: float | None = None
    media: Any = None
    recorder: Any = None
    player: Any = None
    sound_s: float = 0.0
    silence_since: float | None = None
    pressed: bool = False
    reply_at: float | None = None
    replies: int = 0
    speaking_until: float = 0.0  # when the reply being played ends
    press_at: float | None = None
    hangup_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False
    closing_deadline: float = 0.0
    invited_at: float = field(default_factory=time.time)  # wall clock (Unix time) of the INVITE

    def log(self, event: str, **extra: Any) -> None:
        self.events.append({"t": round(time.monotonic() - self.started, 3), "event": event, **extra})
        body = {
            "call_sid": self.sid,
            "number": self.number,
            "behaviour": self.behaviour.get("answer"),
            "wav": str(self.wav_path),
            "invited_at": self.invited_at,
            "events": self.events,
        }
        tmp = self.log_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=1))
        tmp.replace(self.log_path)


class SandboxCall(pj.Call):  # type: ignore[misc]
    def __init__(self, sandbox: Sandbox, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.sandbox = sandbox
        self.key = call_id

    def onCallState(self, prm: Any) -> None:
        self.sandbox.on_state(self.key)

    def onCallMediaState(self, prm: Any) -> None:
        self.sandbox.on_media(self.key)

    def onDtmfDigit(self, prm: Any) -> None:
        callee = self.sandbox.callees.get(self.key)
        if callee is not None:
            callee.log("digit received", digit=prm.digit)


class SandboxAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.sandbox = sandbox

    def onIncomingCall(self, prm: Any) -> None:
        self.sandbox.on_incoming(self, prm)


class Sandbox:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(args.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.voices = self.data_dir / "voices"
        self.voices.mkdir(exist_ok=True)
        self.default, self.numbers = self.load(args.config)
        self.loss_pct = int(network_settings(args.config)["loss_pct"])
        self.ep = create_endpoint(
            port=args.port,
            bind=args.bind,
            rtp_port=args.rtp_port,
            log_file=args.log_file,
            user_agent="Wirexa-Sandbox",
            bind_wait_s=15.0,  # the carrier's ports are fixed (the workers dial them): wait for them
            tx_drop_pct=self.loss_pct,
        )
        self.account = SandboxAccount(self)
        self.account.create(account_config(f"sip:sandbox@{args.bind}:{args.port}", args.bind, args.rtp_port), True)
        self.callees: dict[int, Callee] = {}
        self.closing: list[Callee] = []
        self.loop = CommandLoop(self.ep, self.handle, self.tick)

    # --- config and audio assets ---------------------------------------------------------------

    def load(self, path: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """load_config(), each file answer with a playable copy under PLAY (a SandboxConfigError
        naming the file when there can be none)."""
        default, numbers = load_config(path)
        for behaviour in (default, *numbers.values()):
            if "answer" in behaviour and is_file_answer(behaviour["answer"]):
                behaviour[PLAY] = str(self.playable(Path(behaviour["answer"])))
            if is_reply_file(behaviour.get("reply")):
                behaviour[REPLY_PLAY] = str(self.playable(Path(behaviour["reply"])))
        return default, numbers

    def playable(self, src: Path) -> Path:
        """src when it is what the bridge plays as it is (8 kHz mono 16-bit PCM WAV), else a copy
        converted by ffmpeg, cached by the file's path, size and modification time."""
        if is_8k_pcm(src):
            return src
        st = src.stat()
        key = hashlib.sha1(
            f"{src.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode(), usedforsecurity=False
        ).hexdigest()[:12]
        path = self.voices / f"file-{re.sub(r'[^A-Za-z0-9]+', '-', src.stem)[:30]}-{key}.wav"
        if path.exists():
            return path
        tmp = path.with_suffix(f".{os.getpid()}.tmp.wav")
        why = convert_8k(src, tmp)
        if why is not None:
            raise SandboxConfigError(f"sandbox callee file {src} cannot be played (ffmpeg could not convert it: {why})")
        tmp.replace(path)
        log.info("converted %s to 8 kHz mono 16-bit for playing: %s", src, path)
        return path

    def speech(self, text: str, name: str) -> Path:
        """A WAV (8 kHz mono) of `text` by espeak-ng, cached by name."""
        path = self.voices / f"{name}.wav"
        if path.exists():
            return path
        raw = path.with_suffix(f".{os.getpid()}.raw.wav")
        subprocess.run(
            [self.args.espeak, "-v", "en-us", "-s", "160", "-w", str(raw), "--", text], check=True, capture_output=True
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp.wav")
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(raw),
                "-ar",
                "8000",
                "-ac",
                "1",
                "-sample_fmt",
                "s16",
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        raw.unlink(missing_ok=True)
        tmp.replace(path)
        return path

    def machine_greeting(self) -> Path:
        path = self.voices / "machine-greeting-beep.wav"
        if path.exists():
            return path
        spoken = self.speech(MACHINE_GREETING, "machine-greeting")
        with wave.open(str(spoken)) as w:
            pcm = w.readframes(w.getnframes())
        pcm += tone_pcm(0, 300) + tone_pcm(1000, 500) + tone_pcm(0, 200)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.wav")
        tmp.write_bytes(wav_bytes(pcm))
        tmp.replace(path)
        return path

    def spoken(self, text: str, kind: str) -> Path:
        """speech() under a name readable in the voices folder and unique to the text."""
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower())[:40].strip("-")
        return self.speech(text, f"{kind}-{slug}-{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]}")

    def reply_for(self, behaviour: dict[str, Any]) -> Path | None:
        """What a person says after the caller's prompt, or None when this callee never replies."""
        if not replies(behaviour):
            return None
        if REPLY_PLAY in behaviour:  # a recorded utterance: its playable copy
            return Path(behaviour[REPLY_PLAY])
        return self.spoken(str(behaviour["reply"]), "reply")

    def greeting_for(self, behaviour: dict[str, Any]) -> Path | None:
        answer = str(behaviour["answer"])
        if answer == "human":
            return self.spoken(str(behaviour.get("greeting") or "Hello?"), "human")
        if answer == "machine":
            return self.machine_greeting()
        if answer == "silence" or PLAY not in behaviour:
            return None  # silence, or a callee that never answers (busy, ring, fail ...)
        return Path(behaviour[PLAY])  # a file: its playable copy

    # --- pjsua2 callbacks (main thread) ------------------------------------------------------

    def on_incoming(self, account: Any, prm: Any) -> None:
        msg = prm.rdata.wholeMsg
        first = msg.split("\r\n", 1)[0] if "\r\n" in msg else msg.split("\n", 1)[0]
        m = re.match(r"INVITE\s+sips?:([^@;>\s]+)@", first)
        number = m.group(1) if m else "unknown"
        m = re.search(r"^X-Wirexa-CallSid:\s*(\S+)", msg, re.MULTILINE | re.IGNORECASE)
        sid = m.group(1) if m else f"sandbox-{prm.callId}-{int(time.time())}"
        call = SandboxCall(self, account, prm.callId)
        behaviour = behaviour_for(number, self.default, self.numbers)
        now = time.monotonic()
        callee = Callee(call, sid, number, behaviour, now, self.data_dir / f"{sid}.json", self.data_dir / f"{sid}.wav")
        self.callees[prm.callId] = callee
        callee.log("invite", number=number)
        answer = str(behaviour["answer"])
        op = pj.CallOpParam()
        if answer in FINAL_CODES:
            op.statusCode = FINAL_CODES[answer]
            call.answer(op)
            callee.log("rejected", code=op.statusCode)
            return
        op.statusCode = 180
        call.answer(op)
        callee.log("ringing")
        if answer != "ring":
            callee.answer_at = now + float(behaviour["ring_s"])

    def on_state(self, key: int) -> None:
        callee = self.callees.get(key)
        if callee is None:
            return
        info = callee.call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and callee.answered_at is None:
            callee.answered_at = time.monotonic()
            callee.log("answered")
            b = callee.behaviour
            if b.get("press") and b.get("press_after") != "prompt":
                callee.press_at = callee.answered_at + float(b["press_after"])
            if replies(b) and b.get("reply_after") != "prompt":
                callee.reply_at = callee.answered_at + float(b["reply_after"])
            if float(b.get("hangup_after_s") or 0) > 0:
                callee.hangup_at = callee.answered_at + float(b["hangup_after_s"])
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            callee.ended = True
            # The call's conference port is already gone: drop, never stopTransmit, its media.
            callee.media = None
            self.loop.bury(callee.player)
            callee.player = None
            callee.log(
                "hung up",
                code=info.lastStatusCode,
                by="callee" if callee.hangup_at and time.monotonic() >= callee.hangup_at else "caller",
            )
            # The recorder writes the WAV header when destroyed: do that in the next tick,
            # outside this callback, then log that the file is complete.
            self.closing.append(callee)
            del self.callees[key]
            self.loop.release(callee.call)  # not bury(): a new incoming call may take its id
            callee.call = None

    def on_media(self, key: int) -> None:
        callee = self.callees.get(key)
        if callee is None or callee.media is not None:
            return
        media = audio_media_of(callee.call)
        if media is None:
            return
        callee.media = media
        media.startTransmit(self.ep.audDevManager().getPlaybackDevMedia())
        callee.recorder = pj.AudioMediaRecorder()
        callee.recorder.createRecorder(str(callee.wav_path))
        media.startTransmit(callee.recorder)
        greeting = self.greeting_for(callee.behaviour)
        if greeting is not None:
            loop = is_file_answer(callee.behaviour["answer"]) and bool(callee.behaviour.get("loop"))
            callee.player = pj.AudioMediaPlayer()
            callee.player.createPlayer(str(greeting), 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
            callee.player.startTransmit(media)
            callee.log("greeting", file=str(greeting), loop=loop)

    # --- timers (main thread) ------------------------------------------------------------------

    def tick(self, now: float) -> None:
        still = []
        for callee in self.closing:
            if callee.recorder is not None:
                callee.recorder = None  # pjmedia closes the file on its clock thread soon
                callee.closing_deadline = now + 2.0
            if file_complete(str(callee.wav_path)) or now >= callee.closing_deadline:
                callee.log("wav saved" if callee.wav_path.exists() else "no audio")
            else:
                still.append(callee)
        self.closing = still
        for callee in list(self.callees.values()):
            if callee.ended:
                continue
            try:
                self.tick_callee(callee, now)
            except pj.Error as exc:
                # Typically "INVITE session already terminated": the caller gave up first.
                log.info("[%s] %s", callee.sid, exc.info())
                callee.answer_at = callee.press_at = callee.hangup_at = callee.reply_at = None

    def tick_callee(self, callee: Callee, now: float) -> None:
        if callee.answer_at is not None and now >= callee.answer_at:
            callee.answer_at = None
            op = pj.CallOpParam()
            op.statusCode = 200
            callee.call.answer(op)
        b = callee.behaviour
        if callee.media is not None and (self._waits_to_press(callee) or self._waits_to_reply(callee)):
            self._watch_prompt(callee, now)
        if callee.press_at is not None and now >= callee.press_at:
            callee.press_at = None
            callee.pressed = True  # a callee presses its digits once
            self._press(callee, str(b["press"]))
        if (
            callee.reply_at is not None
            and now >= max(callee.reply_at, callee.speaking_until)
            and callee.media is not None
        ):
            callee.reply_at = None
            self._reply(callee, now)
        if callee.hangup_at is not None and now >= callee.hangup_at:
            callee.hangup_at = now + 3600
            callee.log("hanging up")
            callee.call.hangup(pj.CallOpParam())

    @staticmethod
    def _waits_to_press(callee: Callee) -> bool:
        b = callee.behaviour
        return (
            bool(b.get("press")) and b.get("press_after") == "prompt" and not callee.pressed and callee.press_at is None
        )

    @staticmethod
    def _waits_to_reply(callee: Callee) -> bool:
        b = callee.behaviour
        return replies(b) and b.get("reply_after") == "prompt" and callee.replies < int(b["reply_max"])

    def _watch_prompt(self, callee: Callee, now: float) -> None:
        """Detect the end of each prompt of the caller (some sound, then silence) from the received
        level; the first one schedules the digits, each one a reply."""
        # The far end's audio is the conference port's tx level (see worker.tick_call).
        level = callee.media.getTxLevel()
        if level > SOUND_LEVEL:
            callee.sound_s += min(self.loop.elapsed, 0.1)  # ticks come every ~20 ms during calls
            callee.silence_since = None
        elif callee.sound_s >= PROMPT_MIN_SOUND_S:
            if callee.silence_since is None:
                callee.silence_since = now
            elif now - callee.silence_since >= PROMPT_END_SILENCE_S:
                callee.log("prompt ended")
                ended = callee.silence_since
                callee.sound_s, callee.silence_since = 0.0, None  # listen for the next prompt
                if self._waits_to_press(callee):
                    callee.press_at = ended + float(callee.behaviour["press_delay_s"])
                if self._waits_to_reply(callee) and callee.reply_at is None:
                    callee.reply_at = ended + float(callee.behaviour["reply_delay_s"])

    def _reply(self, callee: Callee, now: float) -> None:
        """Say the reply, in place of whatever this callee was still playing."""
        path = self.reply_for(callee.behaviour)
        if path is None:
            return
        if callee.player is not None:
            callee.player.stopTransmit(callee.media)
            self.loop.bury(callee.player)
        callee.player = pj.AudioMediaPlayer()
        callee.player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
        callee.player.startTransmit(callee.media)
        with wave.open(str(path)) as w:
            callee.speaking_until = now + w.getnframes() / w.getframerate()
        callee.replies += 1
        callee.log("replied", file=str(path))

    def _press(self, callee: Callee, digits: str) -> None:
        try:
            callee.call.dialDtmf(digits)
            method = "rfc2833"
        except pj.Error:
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digits
            callee.call.sendDtmf(prm)
            method = "info"
        callee.log("digits sent", digits=digits, method=method)

    def handle(self, cmd: proto.Command) -> None:
        """The carrier takes pings, reloads (and shutdown, which the CommandLoop handles). A reload
        that fails raises: the loop answers it with an error event, and the old callees stay."""
        match cmd:
            case proto.Ping(n=n):
                emit(proto.Pong(n, len(self.callees)))
            case proto.Reload(config=config):
                loss = int(network_settings(config)["loss_pct"])
                if loss != self.loss_pct:  # pjsua reads it once, at libInit
                    raise SandboxConfigError(
                        f"[network] loss_pct {loss} differs from the running carrier's {self.loss_pct}: "
                        "it changes at the engine's next start"
                    )
                self.default, self.numbers = self.load(config)
                self.args.config = config
                log.info("callees re-read from %s", config or "the built-in defaults")
            case proto.Shutdown():
                pass
            case _:
                raise ValueError(f"the sandbox carrier takes no {cmd.NAME!r} command")

    def run(self) -> None:
        # Render the voices before saying ready, so the first call does not wait for espeak.
        self.greeting_for(self.default)
        self.reply_for(self.default)
        self.machine_greeting()
        emit(proto.Ready(self.args.port, os.getpid()))
        try:
            self.loop.run()
        finally:
            self.loop.shutdown()


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="wirexa _sandbox")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--config", default="")
    ap.add_argument("--log-file", required=True)
    ap.add_argument("--espeak", default="espeak-ng")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        filename=args.log_file + ".py.log", level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    Sandbox(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
