"""The sandbox caller (`_dial-in`): a pjsua2 UAC that calls the engine's inbound port as a caller from
the phone network would, so `wirexa sandbox dial-in` can test an IVR without a carrier.

The program runs in a process of its own (one Endpoint per process; threading as in endpoint.py),
started by `start()` below as `python -m wirexa.sip.entry _dial-in ...` (`wirexa _dial-in` frozen). It
sends one INVITE (Request-URI sip:<to>@<host>:<port>, From sip:<from>@sandbox) with an empty
Authorization naming CALLER_USERNAME (so the front, which refuses strangers, challenges it) and
answers the front's 407 digest challenge (realm: [sip] domain) with the password the engine keeps in
<data_dir>/sandbox/caller.secret. Once the engine answers it records everything it hears to a WAV,
and at its "turn" it presses the digits, then says the text or plays the WAV it was given.

Its turn is when the first prompt it hears ends (at least PROMPT_MIN_SOUND_S of sound, then
PROMPT_END_SILENCE_S of silence), or NO_PROMPT_S after the answer when no sound has started by
then. Digits go as RFC 2833 events (SIP INFO when the engine's SDP has no telephone-event), one
group at a time: "," is a pause of 1 s and "w" one of 0.5 s (Twilio's sendDigits pause). It hangs
up `hangup_after_s` after the answer, else it waits for the engine to hang up, at most CALL_CAP_S;
an unanswered call is given up (CANCEL) after RING_CAP_S.

stdout carries one JSON object a line: progress events ({"event": "ringing", "t": 0.01}, ...) and
last {"event": "result", ...} (DialIn.result()), or {"event": "error", "message": ...} when it
could not start (bad --press, audio espeak-ng or ffmpeg cannot make). stdin takes the CommandLoop's commands: a
Shutdown (or EOF) hangs up and still reports the result.
"""

from __future__ import annotations

import argparse
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
from typing import IO, Any

import pjsua2 as pj

from wirexa.sip import protocol as proto
from wirexa.sip.endpoint import CommandLoop, account_config, audio_media_of, create_endpoint
from wirexa.sip.pool import worker_argv
from wirexa.sip.recorder import file_complete
from wirexa.sip.wavfiles import convert_8k, is_8k_pcm, last_line

log = logging.getLogger(__name__)

CALLER_USERNAME = "wirexa-sandbox"
DEFAULT_FROM = "+15005550100"
PAUSES_S = {",": 1.0, "w": 0.5, "W": 0.5}
DIGITS = "0123456789*#ABCD"
DIGIT_S = 0.24  # pjsua sends a digit string at one digit per ~240 ms (FINDINGS)

SOUND_LEVEL = 3  # getTxLevel() above this: the engine is saying something (as the sandbox carrier)
PROMPT_MIN_SOUND_S = 0.3
PROMPT_END_SILENCE_S = 0.8
NO_PROMPT_S = 2.0
RING_CAP_S = 60.0
CALL_CAP_S = 120.0
CLOSE_WAIT_S = 2.0  # for the recorder to write the WAV's header after the call


def secret_path(data_dir: Path) -> Path:
    """Where the engine keeps the sandbox caller's digest password (it writes it at start)."""
    return data_dir / "sandbox" / "caller.secret"


def parse_press(press: str) -> list[str | float]:
    """`--press` as steps: digit groups (str) and pauses in seconds (float). "1,2#" ->
    ["1", 1.0, "2#"]. Raises ValueError naming the first character that is neither."""
    steps: list[str | float] = []
    for ch in press.replace(" ", ""):
        if ch in PAUSES_S:
            steps.append(PAUSES_S[ch])
        elif ch.upper() in DIGITS:
            if steps and isinstance(steps[-1], str):
                steps[-1] += ch.upper()
            else:
                steps.append(ch.upper())
        else:
            raise ValueError(f"--press takes digits 0-9, *, #, A-D and pauses ',' (1 s) or 'w' (0.5 s), not {ch!r}")
    return steps


@dataclass
class Caller:
    """The state of the one call this process makes (main thread only)."""

    args: argparse.Namespace
    out: IO[bytes]
    started: float = field(default_factory=time.monotonic)
    invited_at: float = field(default_factory=time.time)  # wall clock of the INVITE
    call: Any = None
    media: Any = None
    recorder: Any = None
    player: Any = None
    answered_at: float | None = None
    ended_at: float | None = None
    turn_at: float | None = None  # when the caller's turn comes (digits, then speech)
    took_turn: bool = False
    sound_s: float = 0.0
    silence_since: float | None = None
    steps: list[str | float] = field(default_factory=list)
    next_step_at: float | None = None
    speak_after_digits: bool = True
    hangup_at: float | None = None
    hung_up_by: str = ""
    code: int = 0
    reason: str = ""
    call_sid: str | None = None  # from an X-Wirexa-CallSid header, when the engine sends one
    digits_sent: str = ""
    dtmf_method: str = ""
    spoke: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str, **extra: Any) -> None:
        entry = {"event": name, "t": round(time.monotonic() - self.started, 3), **extra}
        self.events.append(entry)
        self.out.write(json.dumps(entry).encode() + b"\n")
        self.out.flush()


class DialInCall(pj.Call):  # type: ignore[misc]
    def __init__(self, program: DialIn, account: Any) -> None:
        super().__init__(account)
        self.program = program

    def onCallState(self, prm: Any) -> None:
        self.program.on_state(prm)

    def onCallMediaState(self, prm: Any) -> None:
        self.program.on_media()


class DialIn:
    """The program: one Endpoint, one account with the sandbox caller's credentials, one call."""

    def __init__(self, args: argparse.Namespace, out: IO[bytes]) -> None:
        self.args = args
        self.c = Caller(args, out)
        self.c.steps = parse_press(args.press)
        self.audio = self.prepare_audio()  # before the call: espeak-ng / ffmpeg take a while
        password = Path(args.secret_file).read_text().strip()
        self.ep = create_endpoint(
            port=0, bind=args.bind, rtp_port=0, log_file=args.log_file, tcp=False, user_agent="Wirexa-Sandbox-Caller"
        )
        acfg = account_config(f"sip:{args.from_number}@sandbox", args.bind, 0, 0)
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", args.realm, CALLER_USERNAME, 0, password))
        # The first INVITE carries an empty Authorization naming the user: the front challenges
        # (407) only a request that names a user it knows, and refuses a stranger (403).
        acfg.sipConfig.authInitialEmpty = True
        self.account = pj.Account()
        self.account.create(acfg)
        self.loop = CommandLoop(self.ep, self.handle, self.tick, due=self.due)
        self.closing_until: float | None = None

    # --- audio assets ----------------------------------------------------------------------

    def prepare_audio(self) -> Path | None:
        """The 8 kHz mono 16-bit WAV the caller says (--say, by espeak-ng) or plays (--play,
        converted by ffmpeg unless it is one already), or None."""
        folder = Path(self.args.wav).parent
        if self.args.say:
            raw = folder / f".dial-in-{os.getpid()}.say.wav"
            done = subprocess.run(
                [self.args.espeak, "-v", "en-us", "-s", "160", "-w", str(raw), "--", self.args.say],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"espeak-ng could not say the text: {last_line(done.stderr, done.returncode)}")
            return self.convert(raw, folder / f".dial-in-{os.getpid()}.say8k.wav", remove=True)
        if self.args.play:
            src = Path(self.args.play)
            if is_8k_pcm(src):
                return src
            return self.convert(src, folder / f".dial-in-{os.getpid()}.play8k.wav")
        return None

    def convert(self, src: Path, dst: Path, remove: bool = False) -> Path:
        why = convert_8k(src, dst)
        if remove:
            src.unlink(missing_ok=True)
        if why is not None:
            raise RuntimeError(f"{src} cannot be played (ffmpeg: {why})")
        return dst

    # --- pjsua2 callbacks (main thread) -----------------------------------------------------

    def on_state(self, prm: Any) -> None:
        c = self.c
        if c.call is None:
            return
        info = c.call.getInfo()
        self._note_sid(prm)
        if info.state == pj.PJSIP_INV_STATE_EARLY and not any(e["event"] == "ringing" for e in c.events):
            c.event("ringing", code=info.lastStatusCode)
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and c.answered_at is None:
            c.answered_at = time.monotonic()
            c.event("answered")
            c.turn_at = c.answered_at + NO_PROMPT_S  # unless a prompt starts before then
            if self.args.hangup_after > 0:
                c.hangup_at = c.answered_at + self.args.hangup_after
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and c.ended_at is None:
            c.ended_at = time.monotonic()
            c.code, c.reason = int(info.lastStatusCode), str(info.lastReason)
            if not c.hung_up_by:
                c.hung_up_by = "engine" if c.answered_at is not None else ""
            c.event("ended", code=c.code, reason=c.reason, by=c.hung_up_by or None)
            c.media = None  # the call's conference port is gone: drop, never stopTransmit
            self.loop.bury(c.player)
            c.player = None
            self.loop.release(c.call)
            c.call = None

    def _note_sid(self, prm: Any) -> None:
        """Keep an X-Wirexa-CallSid the engine put on a response (none today: the CLI then asks
        the store)."""
        if self.c.call_sid is not None:
            return
        try:
            msg = str(prm.e.body.tsxState.src.rdata.wholeMsg)
        except (AttributeError, pj.Error):
            return
        m = re.search(r"^X-Wirexa-CallSid:\s*(\S+)", msg, re.MULTILINE | re.IGNORECASE)
        if m:
            self.c.call_sid = m.group(1)

    def on_media(self) -> None:
        c = self.c
        if c.call is None or c.media is not None:
            return
        media = audio_media_of(c.call)
        if media is None:
            return
        c.media = media
        # Connected to the (null) playback device too: no digits go out while nothing is.
        media.startTransmit(self.ep.audDevManager().getPlaybackDevMedia())
        c.recorder = pj.AudioMediaRecorder()
        c.recorder.createRecorder(self.args.wav)
        media.startTransmit(c.recorder)

    # --- timers (main thread) ---------------------------------------------------------------

    def start_call(self) -> None:
        c = self.c
        c.call = DialInCall(self, self.account)
        prm = pj.CallOpParam(True)
        uri = f"sip:{self.args.to}@{self.args.host}:{self.args.port}"
        c.event("inviting", uri=uri, from_number=self.args.from_number)
        c.call.makeCall(uri, prm)

    def due(self) -> float | None:
        c = self.c
        times = [t for t in (c.turn_at, c.next_step_at, c.hangup_at) if t is not None]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        c = self.c
        if c.ended_at is not None:
            self._close(now)
            return
        if c.call is None:
            return
        try:
            self._tick_call(now)
        except pj.Error as exc:  # the engine hung up between the state callback and this tick
            log.info("dial-in: %s", exc.info())

    def _tick_call(self, now: float) -> None:
        c = self.c
        if c.answered_at is None:
            if now - c.started >= RING_CAP_S:
                c.hung_up_by = "caller"
                c.event("giving up", after_s=RING_CAP_S)
                c.call.hangup(pj.CallOpParam())
            return
        if c.media is not None and not c.took_turn:
            self._watch_prompt(now)
        if c.turn_at is not None and now >= c.turn_at:
            c.turn_at = None
            c.took_turn = True
            c.event("turn")
            c.next_step_at = now
        if c.next_step_at is not None and now >= c.next_step_at:
            self._next_step(now)
        cap = c.answered_at + CALL_CAP_S
        if (c.hangup_at is not None and now >= c.hangup_at) or now >= cap:
            c.hangup_at = None
            c.hung_up_by = "caller"
            c.event("hanging up", after_s=round(now - c.answered_at, 2))
            c.call.hangup(pj.CallOpParam())

    def _watch_prompt(self, now: float) -> None:
        """The end of the first prompt (some sound, then silence) from the received level, as the
        sandbox carrier hears the engine's prompts; sound before NO_PROMPT_S postpones the turn."""
        c = self.c
        level = c.media.getTxLevel()  # the far end's audio is the conference port's tx level
        if level > SOUND_LEVEL:
            c.sound_s += min(self.loop.elapsed, 0.1)
            c.silence_since = None
            if c.turn_at is not None:
                c.turn_at = None  # a prompt is playing: the turn comes when it ends
        elif c.sound_s >= PROMPT_MIN_SOUND_S:
            if c.silence_since is None:
                c.silence_since = now
            elif now - c.silence_since >= PROMPT_END_SILENCE_S and c.turn_at is None:
                c.event("prompt ended")
                c.turn_at = now

    def _next_step(self, now: float) -> None:
        c = self.c
        if not c.steps:
            c.next_step_at = None
            self._speak(now)
            return
        step = c.steps.pop(0)
        if isinstance(step, float):
            c.next_step_at = now + step
            return
        c.dtmf_method = self._press(step)
        c.digits_sent += step
        c.event("digits sent", digits=step, method=c.dtmf_method)
        c.next_step_at = now + DIGIT_S * len(step)

    def _press(self, digits: str) -> str:
        try:
            self.c.call.dialDtmf(digits)
            return "rfc2833"
        except pj.Error:  # no telephone-event in the engine's SDP
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digits
            self.c.call.sendDtmf(prm)
            return "info"

    def _speak(self, now: float) -> None:
        c = self.c
        if self.audio is None or c.media is None or c.spoke:
            return
        c.player = pj.AudioMediaPlayer()
        c.player.createPlayer(str(self.audio), pj.PJMEDIA_FILE_NO_LOOP)
        c.player.startTransmit(c.media)
        c.spoke = "say" if self.args.say else "play"
        with wave.open(str(self.audio)) as w:
            c.event("speaking", file=str(self.audio), duration_s=round(w.getnframes() / w.getframerate(), 2))

    def _close(self, now: float) -> None:
        """After the call: let the recorder write its WAV header, then stop the loop."""
        c = self.c
        if self.closing_until is None:
            c.recorder = None  # pjmedia closes the file on its clock thread soon
            self.closing_until = now + CLOSE_WAIT_S
        if file_complete(self.args.wav) or now >= self.closing_until or c.answered_at is None:
            self.loop.running = False

    def handle(self, cmd: proto.Command) -> None:
        match cmd:
            case proto.Ping():
                pass  # the caller's parent never pings; taken for the loop's sake
            case _:
                raise ValueError(f"the sandbox caller takes no {cmd.NAME!r} command")

    def result(self) -> dict[str, Any]:
        c = self.c
        answered = c.answered_at is not None
        end = c.ended_at if c.ended_at is not None else time.monotonic()
        return {
            "event": "result",
            "to": self.args.to,
            "from": self.args.from_number,
            "uri": f"sip:{self.args.to}@{self.args.host}:{self.args.port}",
            "invited_at": c.invited_at,
            "answered": answered,
            "code": c.code,
            "reason": c.reason,
            "hung_up_by": c.hung_up_by or None,
            "talk_s": round(end - c.answered_at, 2) if c.answered_at is not None else None,
            "digits_sent": c.digits_sent,
            "dtmf_method": c.dtmf_method or None,
            "spoke": c.spoke or None,
            "wav": self.args.wav if answered and Path(self.args.wav).exists() else None,
            "call_sid": c.call_sid,
            "events": c.events,
        }

    def run(self) -> dict[str, Any]:
        try:
            self.start_call()
        except pj.Error as exc:
            self.c.code, self.c.reason = 0, str(exc.info())
            self.c.event("failed", reason=self.c.reason)
            self.loop.shutdown()
            return self.result()
        try:
            self.loop.run()
            if self.c.call is not None:  # told to stop (Shutdown, EOF): hang up, finish the WAV
                self.c.hung_up_by = "caller"
                self.c.event("hanging up", on="request")
                self.c.call.hangup(pj.CallOpParam())
                deadline = time.monotonic() + 2.0
                while self.c.ended_at is None and time.monotonic() < deadline:
                    self.ep.libHandleEvents(20)
                self.c.recorder = None
                deadline = time.monotonic() + CLOSE_WAIT_S
                while not file_complete(self.args.wav) and time.monotonic() < deadline and self.c.answered_at:
                    self.ep.libHandleEvents(20)
        finally:
            self.c.recorder = None
            self.loop.shutdown()
            if self.audio is not None and self.audio.name.startswith(".dial-in-"):
                self.audio.unlink(missing_ok=True)
        return self.result()


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="wirexa _dial-in")
    ap.add_argument("--to", required=True)
    ap.add_argument("--from", dest="from_number", default=DEFAULT_FROM)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--realm", default="wirexa")  # the front's digest realm: [sip] domain
    ap.add_argument("--press", default="")
    ap.add_argument("--say", default="")
    ap.add_argument("--play", default="")
    ap.add_argument("--hangup-after", type=float, default=0.0)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--log-file", required=True)
    ap.add_argument("--espeak", default="espeak-ng")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        filename=args.log_file + ".py.log", level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    out = sys.stdout.buffer
    try:
        program = DialIn(args, out)
    except (RuntimeError, OSError, ValueError) as exc:
        out.write(json.dumps({"event": "error", "message": str(exc)}).encode() + b"\n")
        out.flush()
        return 1
    out.write(json.dumps(program.run()).encode() + b"\n")
    out.flush()
    return 0


# --- the CLI's side: start the program, read what it reports ------------------------------------


def argv(**options: str | float) -> list[str]:
    """The command line of the `_dial-in` program with these options (names as parse_args's,
    underscores for dashes; "from_number" is --from)."""
    out: list[str] = []
    for name, value in options.items():
        flag = "--from" if name == "from_number" else "--" + name.replace("_", "-")
        out += [flag, str(value)]
    return worker_argv("_dial-in", *out)


def start(options: dict[str, str | float], stderr_log: Path) -> subprocess.Popen[bytes]:
    """Start the `_dial-in` program; its stdout gives events, its stdin takes commands. In a
    process group of its own (a terminal's Ctrl-C goes to the CLI, which asks it to hang up)."""
    with open(stderr_log, "ab") as stderr:
        return subprocess.Popen(
            argv(**options), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, process_group=0
        )


def stop_request() -> bytes:
    """What the CLI writes to the program's stdin to make it hang up and report."""
    return proto.Shutdown().to_json()
