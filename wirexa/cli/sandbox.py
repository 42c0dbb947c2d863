"""`wirexa sandbox show CALLSID`: what a sandbox callee heard (WAV path, duration, level) and its log.
`wirexa sandbox callees`: the callees the engine's sandbox carrier answers as (same sandbox.toml), and
which file that is, or where one would be read when there is none.
`wirexa sandbox dial-in TO`: call the engine's inbound port as a caller would (sip/sandbox_caller.py
does the SIP in a process of its own) and print what the caller heard and the call's SID."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import glob
import json
import math
import re
import socket
import struct
import subprocess
import tomllib
import wave
from pathlib import Path
from typing import Annotated, Any

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_pairs, render_rows
from wirexa.config import Settings
from wirexa.errors import WirexaError
from wirexa.media.audio import rms_dbfs
from wirexa.sip.sandbox_config import (
    SandboxConfigError,
    behaviour_for,
    describe,
    load_config,
    network_settings,
    sandbox_config_file,
    sandbox_config_path,
)

app = App(help="Inspect the built-in sandbox carrier.", no_args_is_help=True)


def wav_summary(path: Path) -> dict[str, Any]:
    """Duration, RMS level and share of 20 ms frames with sound, of a 16-bit mono WAV."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = w.readframes(w.getnframes())
    frame = rate // 50 * 2
    frames = [pcm[i : i + frame] for i in range(0, len(pcm) - frame + 1, frame)]
    active = sum(1 for f in frames if rms_dbfs(f) > -45.0)
    level = rms_dbfs(pcm)
    return {
        "duration_s": round(len(pcm) / 2 / rate, 2),
        "rms_dbfs": None if math.isinf(level) else round(level, 1),
        "speech_fraction": round(active / len(frames), 2) if frames else 0.0,
    }


@app.command()
def show(
    call_sid: Annotated[
        str, typer.Argument(help="Call SID the sandbox answered, or enough of its start to match one call.")
    ],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Print a sandbox call's event log and the WAV of what the callee heard."""
    s = options.settings(data_dir, config_file)
    folder = Path(s.data_path) / "sandbox"
    name = Path(call_sid).name  # a file name, never a path out of the folder
    log_path = folder / f"{name}.json"
    if not log_path.is_file():
        # glob.escape: what was typed is a prefix, not a pattern.
        found = (
            sorted(p.stem for p in folder.glob(glob.escape(name) + "*.json"))[: options.PREFIX_MATCHES] if name else []
        )
        if not found:
            fail(f"the sandbox has no call {call_sid} (looked in {folder})")
        log_path = folder / f"{options.unique_prefix(name, found, 'call')}.json"
    body = json.loads(log_path.read_text())
    wav = Path(body["wav"])
    body["audio"] = wav_summary(wav) if wav.is_file() and wav.stat().st_size > 44 else None
    if json_out:
        print_json(body)
        return
    out = console()
    out.print(f"Call {body['call_sid']} to {body['number']} ({body['behaviour']})")
    rows = [
        [f"{e['t']:.2f}", e["event"], ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))]
        for e in body["events"]
    ]
    render_rows((Column("t (s)"), Column("Event", keep=True), Column("Details")), rows, out=out)
    audio = body["audio"]
    if audio is None:
        out.print(f"WAV: {wav} (no audio)")
    else:
        out.print(
            f"WAV: {wav}  duration {audio['duration_s']} s, level {audio['rms_dbfs']} dBFS, speech in {int(audio['speech_fraction'] * 100)}% of frames"
        )


@app.command()
def callees(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the sandbox's callees: each configured number, then every other number (the default),
    and the sandbox.toml they come from (or where to put one)."""
    s = options.settings(data_dir, config_file)
    path = sandbox_config_path(s)
    where = path or str(sandbox_config_file(s))
    try:
        default, numbers = load_config(path)
        network = network_settings(path)
    except (OSError, tomllib.TOMLDecodeError, SandboxConfigError) as exc:
        fail(f"{exc}" if isinstance(exc, SandboxConfigError) else f"sandbox config {path}: {exc}")
    entries = [(n, behaviour_for(n, default, numbers)) for n in sorted(numbers)] + [("*", default)]
    if json_out:
        print_json(
            {
                "config": where,  # the file in use, or where one would be read
                "config_exists": bool(path),
                "network": network,  # [network]: loss_pct of the callees' RTP dropped
                "callees": [
                    {
                        "number": n,
                        "answer": b["answer"],
                        "behaves_as": describe(b)[0],
                        "settings": dict(sorted(b.items())),
                    }
                    for n, b in entries
                ],
            }
        )
        return
    out = console()
    rows = [[("any other" if n == "*" else n), *_described(b)] for n, b in entries]
    render_rows((Column("Number", keep=True), Column("Behaves as"), Column("Settings")), rows, out=out)
    if out.is_terminal:  # (into a pipe: the rows only; --json names the file too)
        if network["loss_pct"]:
            out.print(f"Network: {network['loss_pct']}% of the callees' RTP packets are dropped.", markup=False)
        if path:
            out.print(f"From {path}.", markup=False)
        else:
            out.print(f"Built-in callees: no {where} (write one there to change them).", markup=False)


def _described(behaviour: dict[str, Any]) -> list[str]:
    what, settings = describe(behaviour)
    return [what, ", ".join(settings)]


# --- dial-in -------------------------------------------------------------------------------------

NUMBER_RE = re.compile(r"^[A-Za-z0-9+*._-]{1,64}$")  # what a SIP URI's user part carries unescaped
DTMF_METHODS = {"rfc2833": "RFC 2833", "info": "SIP INFO"}


def heard_summary(path: Path) -> dict[str, Any]:
    """wav_summary() and the peak level (dBFS; None for digital silence) of a 16-bit mono WAV."""
    summary = wav_summary(path)
    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
    n = len(pcm) // 2
    peak = max((abs(s) for (s,) in struct.iter_unpack("<h", pcm[: n * 2])), default=0)
    summary["peak_dbfs"] = round(20 * math.log10(peak / 32768), 1) if peak else None
    return summary


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def find_inbound_call(settings: Settings, to: str, from_number: str, since: float) -> str | None:
    """The SID of the newest `inbound` call from `from_number` to `to` created since `since`
    (Unix time, less a little for clocks), read from the engine's store; None when there is none
    (the engine refused the call before making a record, or its store is elsewhere)."""
    from wirexa.store.bootstrap import open_store
    from wirexa.store.repo.calls import CallFilter, list_calls
    from wirexa.store.repo.projects import list_projects

    def created(c: Any) -> float:
        when: dt.datetime = c.date_created
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()

    try:
        store = open_store(settings)
    except (WirexaError, OSError):
        return None
    try:
        found = []
        for project in store.read_sync(list_projects):
            page, _ = store.read_sync(list_calls, CallFilter(account_sid=project.sid), 20)
            found += [
                c
                for c in page
                if c.direction == "inbound"
                and created(c) >= since - 2.0
                and _digits(c.to_number).endswith(_digits(to)[-10:])
                and _digits(c.from_number).endswith(_digits(from_number)[-10:])
            ]
    except WirexaError:
        return None
    finally:
        store.close()
    return max(found, key=created).sid if found else None


def _listening(host: str, port: int) -> bool | None:
    """Whether something holds UDP host:port (binding it fails as in use); None when this box
    cannot tell (the address is not one of its own)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            return True if exc.errno == errno.EADDRINUSE else None
    return False


def _refusal(result: dict[str, Any], secret: Path, where: str) -> str:
    """The one line for a call the engine did not answer."""
    code, reason = int(result.get("code") or 0), str(result.get("reason") or "")
    if result.get("hung_up_by") == "caller":
        gave_up = next((e for e in result.get("events", []) if e["event"] == "giving up"), None)
        if gave_up is not None:
            return f"the engine did not answer within {gave_up['after_s']:g} s (it rang at {where})"
        return "the call was hung up before the engine answered"
    if code == 407:
        return (
            f"the engine refused the call: 407 {reason} (it did not accept the sandbox caller's password in {secret})"
        )
    if code == 408:
        return f"no answer from the engine at {where}: 408 {reason} (is it running?)"
    if code:
        return f"the engine refused the call: {code} {reason}"
    return f"the call could not be placed: {reason or 'no reason given'}"


def _read_events(proc: Any, status: Any, prefix: str = "") -> dict[str, Any] | None:
    """The program's lines until its result (None if it died without one); each progress event
    updates `status` (a rich status, or None)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict):
            continue
        if line.get("event") in ("result", "error"):
            return line
        if status is not None and line.get("event"):
            status.update(f"{prefix}: {line['event']} …")
    return None


@app.command("dial-in")
def dial_in(
    to: Annotated[str, typer.Argument(help="The number to call, as a caller dials it (one of `wirexa numbers list`).")],
    from_number: Annotated[
        str | None, typer.Option("--from", help="The caller's number (the INVITE's From user). [default: +15005550100]")
    ] = None,
    press: Annotated[
        str,
        typer.Option(
            help="Digits to press (RFC 2833) when the first prompt heard ends, or 2 s after the answer when"
            " none has started: 0-9 * # A-D; ',' pauses 1 s, 'w' 0.5 s (Twilio's sendDigits pause)."
        ),
    ] = "",
    say: Annotated[
        str | None, typer.Option(help="Text the caller says (espeak-ng) at the same moment, after its digits.")
    ] = None,
    play: Annotated[
        Path | None,
        typer.Option(
            help="Audio file the caller plays at the same moment, after its digits (ffmpeg converts"
            " anything but 8 kHz mono 16-bit PCM WAV)."
        ),
    ] = None,
    hangup_after: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Hang up this many seconds after the answer (0: wait for the engine to hang up, at most 120 s).",
        ),
    ] = 0.0,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Call the running engine's inbound port as a caller from the phone network would (a real
    SIP INVITE, digest-authenticated as the sandbox caller), and print what the caller heard: the
    recording's path, duration and level, and the call's SID."""
    from wirexa.sip import sandbox_caller

    s = options.settings(data_dir, config_file)
    from_number = from_number or sandbox_caller.DEFAULT_FROM
    for name, value in (("TO", to), ("--from", from_number)):
        if not NUMBER_RE.match(value):
            fail(f"{name} must be a number or SIP user (letters, digits, + * . _ -), got {value!r}")
    try:
        sandbox_caller.parse_press(press)
    except ValueError as exc:
        fail(str(exc))
    if say is not None and play is not None:
        fail("give --say or --play, not both")
    if say is not None and not say.strip():
        fail("--say needs some text")
    if play is not None and not play.is_file():
        fail(f"--play: no file {play}")
    if not int(s.sip_inbound_port):
        fail("the engine takes no inbound calls ([sip] inbound_port is 0): set one to dial in")
    host = s.sip_bind_host if s.sip_bind_host not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104
    port = int(s.sip_inbound_port)
    where = f"udp {host}:{port}"
    secret = sandbox_caller.secret_path(s.data_path)
    if not secret.is_file():
        fail(f"the engine is not running or has no inbound port (no {secret}): start it with `wirexa serve`")
    if _listening(host, port) is False:
        fail(f"the engine is not running: nothing listens on {where}")
    folder, logs = s.data_path / "sandbox", s.data_path / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    wav = folder / f"dial-in-{stamp}.wav"
    n = 1
    while wav.exists():
        n += 1
        wav = folder / f"dial-in-{stamp}-{n}.wav"
    args: dict[str, str | float] = {
        "to": to,
        "from_number": from_number,
        "host": host,
        "port": port,
        "bind": host,
        "secret_file": str(secret),
        "realm": s.sip_domain,
        "press": press,
        "hangup_after": hangup_after,
        "wav": str(wav),
        "log_file": str(logs / "dial-in.log"),
        "espeak": s.tts_espeak_binary,
    }
    if say is not None:
        args["say"] = say
    if play is not None:
        args["play"] = str(play.resolve())
    err = console(stderr=True)
    proc = sandbox_caller.start(args, logs / "dial-in.stderr")
    result: dict[str, Any] | None = None
    try:
        calling = f"Calling {to} at {where}"
        with err.status(f"{calling} …") if err.is_terminal else contextlib.nullcontext() as status:
            try:
                result = _read_events(proc, status, calling)
            except KeyboardInterrupt:  # hang up, and still say what was heard
                assert proc.stdin is not None
                with contextlib.suppress(OSError):
                    proc.stdin.write(sandbox_caller.stop_request())
                    proc.stdin.flush()
                result = _read_events(proc, None)
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # EOF: it hangs up, if it still has a call
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # never leave it running
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if result is None:
        fail(f"the sandbox caller stopped without a result (exit {proc.returncode}; see {logs / 'dial-in.stderr'})")
    if result["event"] == "error":
        fail(str(result["message"]))
    if not result["answered"]:
        fail(_refusal(result, secret, where))
    result["call_sid"] = result.get("call_sid") or find_inbound_call(s, to, from_number, float(result["invited_at"]))
    heard = Path(result["wav"]) if result.get("wav") else None
    audio = heard_summary(heard) if heard is not None and heard.is_file() and heard.stat().st_size > 44 else None
    summary = {
        "call_sid": result["call_sid"],
        "to": to,
        "from": from_number,
        "uri": result["uri"],
        "answered": True,
        "hung_up_by": result["hung_up_by"],
        "talk_s": result["talk_s"],
        "digits_sent": result["digits_sent"],
        "dtmf_method": result["dtmf_method"],
        "said": say if result["spoke"] == "say" else None,
        "played": str(play) if result["spoke"] == "play" else None,
        "wav": str(heard) if heard is not None else None,
        "audio": audio,
        "events": result["events"],
    }
    if json_out:
        print_json(summary)
        return
    _render_dial_in(summary)


def _render_dial_in(summary: dict[str, Any]) -> None:
    audio = summary["audio"]
    by = {"engine": "the engine", "caller": "the caller"}.get(summary["hung_up_by"] or "", "nobody")
    level = (
        "no audio"
        if audio is None
        else "silence"
        if audio["rms_dbfs"] is None
        else f"{audio['rms_dbfs']} dBFS RMS, peak {audio['peak_dbfs']} dBFS, sound in"
        f" {int(audio['speech_fraction'] * 100)}% of 20 ms frames"
    )
    pressed = summary["digits_sent"]
    rows = [
        ("Call SID", summary["call_sid"] or "not found in the engine's store"),
        ("To", summary["to"]),
        ("From", summary["from"]),
        ("Answered", f"yes; hung up by {by} after {summary['talk_s']} s"),
        (
            "Pressed",
            f"{pressed} ({DTMF_METHODS.get(summary['dtmf_method'], summary['dtmf_method'])})" if pressed else "",
        ),
        ("Said", summary["said"] or ""),
        ("Played", summary["played"] or ""),
        ("Heard", summary["wav"] or "nothing recorded"),
        ("Duration", f"{audio['duration_s']} s" if audio else ""),
        ("Level", level),
    ]
    render_pairs(rows, title=f"Dial-in to {summary['to']}")
